using System.Runtime.InteropServices;
using MyKvm.Core;
using MyKvm.Kvm.Interop;

namespace MyKvm.Kvm;

/// <summary>
/// A KVM virtual machine over one <see cref="GuestRam"/>: the VM fd, its TSS and identity-map pages, the memory slots
/// and optionally KVM's in-kernel interrupt controllers and PIT. Create vCPUs with <see cref="CreateVcpu"/>.
/// Dispose the vCPUs first; the VM closes its fd (and the <see cref="KvmSystem"/> if it owns it).
/// </summary>
public sealed unsafe class KvmVm : IDisposable
{
    /// <summary>
    /// Three pages for the real-mode TSS Intel's VMX needs without unrestricted guest (KVM_SET_TSS_ADDR), and one for
    /// its identity page table, in the MMIO hole where neither RAM nor a PC device lives.
    /// </summary>
    public const ulong IdentityMapAddress = 0xFEFF_C000, TssAddress = 0xFEFF_D000;

    private readonly KvmSystem _system;
    private readonly bool _ownsSystem;
    private int _fd;
    private bool _slotsDone;
    private int _vcpuCount;

    /// <summary>Creates the VM. On failure nothing is left open (and an owned <paramref name="system"/> is closed too).</summary>
    public KvmVm(KvmSystem system, GuestRam ram, KvmOptions? options = null, bool ownsSystem = false)
    {
        ArgumentNullException.ThrowIfNull(system);
        ArgumentNullException.ThrowIfNull(ram);
        _system = system;
        _ownsSystem = ownsSystem;
        Ram = ram;
        Options = options ?? new KvmOptions();
        _fd = -1;
        try
        {
            _fd = RetryOnEintr(() => LibC.Ioctl(system.Fd, KvmIoctls.CreateVm, 0), "KVM_CREATE_VM");
            Check(LibC.Ioctl(_fd, KvmIoctls.SetTssAddr, unchecked((nint)TssAddress)), "KVM_SET_TSS_ADDR");
            if (system.CheckExtension(KvmCap.SetIdentityMapAddr) > 0)
            {
                ulong identity = IdentityMapAddress;
                Check(LibC.Ioctl(_fd, KvmIoctls.SetIdentityMapAddr, (nint)(&identity)), "KVM_SET_IDENTITY_MAP_ADDR");
            }
            if (Options.InKernelIrqchip)
            {
                foreach (var cap in new[] { KvmCap.Irqchip, KvmCap.Pit2 })
                    if (system.CheckExtension(cap) <= 0)
                        throw new KvmException(KvmErrorKind.Unsupported, $"--kvm-irqchip: {system.DevicePath} lacks KVM_CAP_{KvmSystem.CapName(cap)}");
                Check(LibC.Ioctl(_fd, KvmIoctls.CreateIrqchip, 0), "KVM_CREATE_IRQCHIP");
                var pit = new KvmPitConfig { Flags = KvmPitConfig.SpeakerDummy };
                Check(LibC.Ioctl(_fd, KvmIoctls.CreatePit2, (nint)(&pit)), "KVM_CREATE_PIT2");
            }
            HasImmediateExit = system.CheckExtension(KvmCap.ImmediateExit) > 0;
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public KvmSystem System => _system;
    public GuestRam Ram { get; }
    public KvmOptions Options { get; }
    public bool InKernelIrqchip => Options.InKernelIrqchip;
    internal bool HasImmediateExit { get; }
    internal int Fd => _fd >= 0 ? _fd : throw new ObjectDisposedException(nameof(KvmVm));

    /// <summary>The memory slots registered (after the first vCPU was created).</summary>
    public IReadOnlyList<MemorySlot> Slots { get; private set; } = [];

    /// <summary>
    /// Creates vCPU <c>n</c> (0, 1, ...) for <paramref name="context"/>. The first call registers guest RAM as memory
    /// slots, leaving holes where <paramref name="context"/>'s MMIO bus claims pages, so register MMIO devices first.
    /// </summary>
    public KvmVcpu CreateVcpu(VcpuContext context, bool ownsVm = false)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (!ReferenceEquals(context.Ram, Ram)) throw new ArgumentException("the vCPU context must use the VM's guest RAM", nameof(context));
        SetUpMemory(context.Mmio);
        return new KvmVcpu(this, _vcpuCount++, context, ownsVm);
    }

    /// <summary>
    /// An interrupt line into KVM's in-kernel PIC/IOAPIC (KVM_IRQ_LINE) for <c>--kvm-irqchip</c>: GSI 0–15 reach both
    /// 8259s' and the IOAPIC's pins, 16–23 the IOAPIC only.
    /// </summary>
    public IIrqLine IrqLine(int gsi)
    {
        if (!InKernelIrqchip) throw new InvalidOperationException("KVM IRQ lines exist only with the in-kernel irqchip (--kvm-irqchip)");
        ArgumentOutOfRangeException.ThrowIfNegative(gsi);
        return new KvmIrqLine(this, (uint)gsi);
    }

    private void SetUpMemory(MmioBus mmio)
    {
        if (_slotsDone) return;
        var slots = MemorySlotPlan.Build(Ram.Regions, mmio.IsClaimed);
        int max = _system.CheckExtension(KvmCap.NrMemslots);
        if (max > 0 && slots.Count > max)
            throw new KvmException(KvmErrorKind.Unsupported, $"guest RAM needs {slots.Count} memory slots around MMIO devices; KVM allows {max}");
        for (int i = 0; i < slots.Count; i++)
        {
            var region = new KvmUserspaceMemoryRegion
            {
                Slot = (uint)i,
                GuestPhysAddr = slots[i].GuestPhysical,
                MemorySize = slots[i].Size,
                UserspaceAddr = (ulong)(Ram.HostBase + slots[i].HostOffset),
            };
            Check(LibC.Ioctl(Fd, KvmIoctls.SetUserMemoryRegion, (nint)(&region)), "KVM_SET_USER_MEMORY_REGION",
                $"slot {i}: 0x{slots[i].GuestPhysical:x}+0x{slots[i].Size:x}");
        }
        Slots = slots;
        _slotsDone = true;
    }

    internal void SetIrqLine(uint gsi, bool level)
    {
        var irq = new KvmIrqLevel { Irq = gsi, Level = level ? 1u : 0u };
        Check(LibC.Ioctl(Fd, KvmIoctls.IrqLine, (nint)(&irq)), "KVM_IRQ_LINE", $"GSI {gsi}");
    }

    internal static void Check(int result, string request, string? context = null)
    {
        if (result < 0) throw KvmException.IoctlFailed(request, Marshal.GetLastPInvokeError(), context);
    }

    internal static int RetryOnEintr(Func<int> call, string request)
    {
        while (true)
        {
            int r = call();
            if (r >= 0) return r;
            int errno = Marshal.GetLastPInvokeError();
            if (errno != LibC.EINTR) throw KvmException.IoctlFailed(request, errno);
        }
    }

    public void Dispose()
    {
        if (_fd >= 0)
        {
            LibC.Close(_fd);
            _fd = -1;
        }
        if (_ownsSystem) _system.Dispose();
    }

    private sealed class KvmIrqLine(KvmVm vm, uint gsi) : IIrqLine
    {
        public void Set(bool level) => vm.SetIrqLine(gsi, level);
    }
}
