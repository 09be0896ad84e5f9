namespace MyKvm.Core;

public enum VcpuExitReason
{
    /// <summary>The instruction budget (software CPU) or time slice ran out; nothing happened.</summary>
    BudgetExhausted,
    /// <summary>HLT with interrupts enabled: the vCPU waits for the next interrupt.</summary>
    Halted,
    /// <summary>HLT with interrupts disabled: nothing but NMI or reset can wake the vCPU.</summary>
    HaltedForever,
    /// <summary><see cref="CpuSignals.Stop"/> was seen (a device or the host asked to end the run).</summary>
    Stopped,
    /// <summary>A fault while delivering a double fault: the CPU shuts down (SDM Vol. 3A §6.15, interrupt 8).</summary>
    TripleFault,
    /// <summary>The guest executed something the backend does not implement.</summary>
    Unimplemented,
    /// <summary>A debug event (breakpoint, single step, watchpoint) for the debugger.</summary>
    Debug,
    /// <summary>The backend failed (KVM entry failure, internal error).</summary>
    Error,
}

/// <summary>Why <see cref="IVcpu.Run"/> returned, with a human-readable detail for errors.</summary>
public readonly record struct VcpuExit(VcpuExitReason Reason, string? Detail = null);

/// <summary>
/// A vCPU backend: the software CPU or KVM. It executes guest code until something needs the host:
/// port and MMIO accesses go to the machine's buses from inside <see cref="Run"/>; interrupts arrive through
/// <see cref="CpuSignals"/>.
/// </summary>
public interface IVcpu : IDisposable, IInstructionCounter
{
    /// <summary>"soft" or "kvm".</summary>
    string BackendName { get; }

    /// <summary>Loads the architectural state (at boot, or on reset).</summary>
    void SetState(VcpuState state);

    /// <summary>A snapshot of the architectural state.</summary>
    VcpuState GetState();

    /// <summary>Runs at most <paramref name="instructionBudget"/> instructions (a hint for backends that do not count).</summary>
    VcpuExit Run(long instructionBudget);
}

/// <summary>What a backend needs from the machine.</summary>
public sealed class VcpuContext
{
    public required GuestRam Ram { get; init; }
    public required IoBus Io { get; init; }
    public required MmioBus Mmio { get; init; }
    public required CpuSignals Signals { get; init; }
    public required IClock Clock { get; init; }
}
