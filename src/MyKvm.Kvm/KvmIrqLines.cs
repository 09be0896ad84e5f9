using MyKvm.Core;

namespace MyKvm.Kvm;

/// <summary>
/// Interrupt lines into KVM's in-kernel irqchip (<c>--kvm-irqchip</c>) that devices can be given before the VM exists:
/// the machine attaches devices first and creates the vCPU later. Levels set before <see cref="Bind"/> are replayed then.
/// All calls come from the vCPU thread (device code), like every other device call.
/// </summary>
public sealed class KvmIrqLines
{
    private readonly Dictionary<int, bool> _levels = [];
    private KvmVm? _vm;

    /// <summary>The line for GSI <paramref name="gsi"/> (ISA IRQ n is GSI n).</summary>
    public IIrqLine Line(int gsi)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(gsi);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(gsi, 23);
        return new DeferredLine(this, gsi);
    }

    /// <summary>Connects the lines to <paramref name="vm"/>'s in-kernel irqchip and replays the current levels.</summary>
    public void Bind(KvmVm vm)
    {
        ArgumentNullException.ThrowIfNull(vm);
        if (!vm.InKernelIrqchip) throw new InvalidOperationException("the VM has no in-kernel irqchip (KvmOptions.InKernelIrqchip)");
        _vm = vm;
        foreach (var (gsi, level) in _levels)
            if (level) vm.SetIrqLine((uint)gsi, true);
    }

    private void Set(int gsi, bool level)
    {
        _levels[gsi] = level;
        _vm?.SetIrqLine((uint)gsi, level);
    }

    private sealed class DeferredLine(KvmIrqLines owner, int gsi) : IIrqLine
    {
        public void Set(bool level) => owner.Set(gsi, level);
    }
}
