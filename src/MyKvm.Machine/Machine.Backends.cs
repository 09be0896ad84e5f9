using MyKvm.Core;
using MyKvm.Cpu;
using MyKvm.Kvm;

namespace MyKvm.Machine;

public sealed partial class Machine
{
    /// <summary>
    /// <c>--accel auto</c> probes KVM with a short paged guest (some hosts' KVM runs only unpaged code) and falls back to
    /// the software CPU, saying why.
    /// </summary>
    private static (Accelerator Accel, string Reason) ChooseBackend(MachineConfig config)
    {
        switch (config.Accel)
        {
            case Accelerator.Kvm:
                return (Accelerator.Kvm, "accel kvm: /dev/kvm");
            case Accelerator.Auto:
                var probe = KvmProbe.Run(KvmOptionsFor(config));
                return (probe.Usable ? Accelerator.Kvm : Accelerator.Soft, KvmProbe.DescribeAutoChoice(probe));
            default:
                return (Accelerator.Soft, "accel soft: the software x86 CPU");
        }
    }

    // Under KVM an MMIO access no device claims stops the run with a register dump (issue #4); the software CPU reads all ones, like QEMU.
    private static KvmOptions KvmOptionsFor(MachineConfig config) => new() { InKernelIrqchip = config.KvmIrqchip, StrictMmio = true };

    private IVcpu CreateVcpu(Accelerator accel, VcpuContext context) => accel switch
    {
        Accelerator.Kvm => KvmVcpu.Create(context, KvmOptionsFor(_config)),
        _ => new SoftCpu(context),
    };
}
