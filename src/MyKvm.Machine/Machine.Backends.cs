using MyKvm.Core;
using MyKvm.Cpu;

namespace MyKvm.Machine;

public sealed partial class Machine
{
    private static (Accelerator Accel, string Reason) ChooseBackend(MachineConfig config) => config.Accel switch
    {
        Accelerator.Kvm => throw new ConfigException("--accel kvm: the KVM backend is not available in this build yet; use --accel soft"),
        Accelerator.Auto => (Accelerator.Soft, "accel auto: using the software CPU (KVM backend not available in this build)"),
        _ => (Accelerator.Soft, "accel soft: the software x86 CPU"),
    };

    private static IVcpu CreateVcpu(Accelerator accel, VcpuContext context) => accel switch
    {
        _ => new SoftCpu(context),
    };
}
