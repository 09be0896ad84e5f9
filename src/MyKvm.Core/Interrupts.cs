namespace MyKvm.Core;

/// <summary>
/// One interrupt request line from a device to an interrupt controller input.
/// Edge-triggered devices raise then lower it (<see cref="IrqLineExtensions.Pulse"/>).
/// </summary>
public interface IIrqLine
{
    void Set(bool level);
}

public static class IrqLineExtensions
{
    public static void Pulse(this IIrqLine line)
    {
        line.Set(true);
        line.Set(false);
    }
}

/// <summary>An IRQ line that goes nowhere (for devices whose interrupt is not wired, and tests).</summary>
public sealed class NullIrqLine : IIrqLine
{
    public static readonly NullIrqLine Instance = new();
    public void Set(bool level) { }
}

/// <summary>
/// What a CPU sees of the interrupt controller: the INTR pin (through <see cref="CpuSignals"/>)
/// and the interrupt-acknowledge cycle that yields a vector (the 8259A's INTA, or the LAPIC's
/// highest-priority IRR bit).
/// </summary>
public interface IInterruptController
{
    /// <summary>True while an unmasked interrupt is waiting to be acknowledged.</summary>
    bool InterruptPending { get; }

    /// <summary>The INTA cycle: returns the vector to deliver (the spurious vector if nothing is left).</summary>
    byte Acknowledge();
}

/// <summary>
/// An interrupt controller that is part of the CPU: the local APIC. Besides the INTA cycle it owns CR8 (TPR[7:4],
/// Intel SDM Vol. 3A §10.8.6.1) and a few MSRs (IA32_APIC_BASE 0x1B, IA32_TSC_DEADLINE 0x6E0). A backend finds it
/// as <see cref="CpuSignals.Controller"/> and passes it MOV CR8 and the RDMSR/WRMSR of every MSR it owns.
/// </summary>
public interface ILocalInterruptController : IInterruptController
{
    /// <summary>MOV to/from CR8: the task-priority class (0–15).</summary>
    ulong Cr8 { get; set; }

    /// <summary>True for the MSRs this controller implements (the CPU must then not handle them itself).</summary>
    bool OwnsMsr(uint msr);

    /// <summary>RDMSR of an owned MSR.</summary>
    ulong ReadMsr(uint msr);

    /// <summary>WRMSR of an owned MSR; false means the value is invalid and the CPU raises #GP(0).</summary>
    bool WriteMsr(uint msr, ulong value);
}

/// <summary>
/// Asynchronous signals to a vCPU, checked by the software CPU before every instruction with one read
/// (so devices and the host never call into the CPU). The interrupt controller drives <see cref="Intr"/>;
/// the machine sets <see cref="Stop"/> to end the run and <see cref="Attention"/> to make
/// <c>Run</c> return early so host events (input, timers in real-time mode) are handled.
/// </summary>
public sealed class CpuSignals
{
    public const int Intr = 1, Nmi = 2, Stop = 4, Attention = 8, Init = 16;

    private int _flags;

    public int Flags => Volatile.Read(ref _flags);

    public void Set(int bits) => Interlocked.Or(ref _flags, bits);
    public void Clear(int bits) => Interlocked.And(ref _flags, ~bits);
    public void SetIntr(bool asserted)
    {
        if (asserted) Set(Intr); else Clear(Intr);
    }

    /// <summary>Invoked (from any thread) after a bit is set, so a blocked backend (KVM in KVM_RUN, a halted vCPU) can be kicked.</summary>
    public Action? Kick { get; set; }

    public void Raise(int bits)
    {
        Set(bits);
        Kick?.Invoke();
    }

    /// <summary>The controller that answers the INTA cycle when <see cref="Intr"/> is set.</summary>
    public IInterruptController? Controller { get; set; }
}

/// <summary>How devices end or reset the machine (debug-exit port, i8042 reset, 0xCF9, ACPI poweroff).</summary>
public interface IMachineControl
{
    /// <summary>Stops the machine; the mykvm process exits with <paramref name="exitCode"/>.</summary>
    void RequestExit(int exitCode, string reason);

    /// <summary>A guest-requested system reset.</summary>
    void RequestReset(string reason);
}
