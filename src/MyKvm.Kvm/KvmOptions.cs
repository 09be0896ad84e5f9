namespace MyKvm.Kvm;

/// <summary>How to build the KVM VM.</summary>
public sealed record KvmOptions
{
    /// <summary>The KVM device node.</summary>
    public string DevicePath { get; init; } = Kvm.KvmSystem.DefaultDevicePath;

    /// <summary>
    /// <c>--kvm-irqchip</c>: KVM's in-kernel PIC, IOAPIC, LAPIC (KVM_CREATE_IRQCHIP) and PIT (KVM_CREATE_PIT2) instead of
    /// mykvm's own. Ports 0x20/0x21/0xA0/0xA1/0x40–0x43/0x61 then never reach the I/O bus; device interrupts must be
    /// wired to <see cref="KvmVm.IrqLine"/>, and HLT is handled inside the kernel.
    /// </summary>
    public bool InKernelIrqchip { get; init; }

    /// <summary>
    /// A guest MMIO access (outside RAM) that no device claims ends the run with a register dump
    /// (<see cref="Core.VcpuExitReason.Error"/>). Off: it reads as all ones and writes are dropped, like the software CPU's bus.
    /// </summary>
    public bool StrictMmio { get; init; } = true;
}
