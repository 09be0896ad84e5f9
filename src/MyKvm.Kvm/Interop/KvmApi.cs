using System.Runtime.CompilerServices;

namespace MyKvm.Kvm.Interop;

/// <summary>KVM ioctl request numbers, built with the kernel's _IO/_IOR/_IOW/_IOWR formulas (include/uapi/linux/kvm.h).</summary>
public static class KvmIoctls
{
    /// <summary>KVMIO, the ioctl type byte of every KVM request.</summary>
    public const uint KvmIo = 0xAE;

    // /dev/kvm (system) ioctls
    public static readonly uint GetApiVersion = Ioctl.IO(KvmIo, 0x00);
    public static readonly uint CreateVm = Ioctl.IO(KvmIo, 0x01);
    public static readonly uint GetMsrIndexList = Ioctl.IOWR(KvmIo, 0x02, sizeof(uint)); // struct kvm_msr_list { __u32 nmsrs; __u32 indices[]; }
    public static readonly uint CheckExtension = Ioctl.IO(KvmIo, 0x03);
    public static readonly uint GetVcpuMmapSize = Ioctl.IO(KvmIo, 0x04);
    public static readonly uint GetSupportedCpuid = Ioctl.IOWR(KvmIo, 0x05, Unsafe.SizeOf<KvmCpuid2Header>());

    // VM ioctls
    public static readonly uint CreateVcpu = Ioctl.IO(KvmIo, 0x41);
    public static readonly uint SetUserMemoryRegion = Ioctl.IOW(KvmIo, 0x46, Unsafe.SizeOf<KvmUserspaceMemoryRegion>());
    public static readonly uint SetTssAddr = Ioctl.IO(KvmIo, 0x47);
    /// <summary>_IOW(KVMIO, 0x48, __u64): unlike KVM_SET_TSS_ADDR it takes a pointer to the address.</summary>
    public static readonly uint SetIdentityMapAddr = Ioctl.IOW(KvmIo, 0x48, sizeof(ulong));
    public static readonly uint CreateIrqchip = Ioctl.IO(KvmIo, 0x60);
    public static readonly uint IrqLine = Ioctl.IOW(KvmIo, 0x61, Unsafe.SizeOf<KvmIrqLevel>());
    public static readonly uint CreatePit2 = Ioctl.IOW(KvmIo, 0x77, Unsafe.SizeOf<KvmPitConfig>());

    // vCPU ioctls
    public static readonly uint Run = Ioctl.IO(KvmIo, 0x80);
    public static readonly uint GetRegs = Ioctl.IOR(KvmIo, 0x81, Unsafe.SizeOf<KvmRegs>());
    public static readonly uint SetRegs = Ioctl.IOW(KvmIo, 0x82, Unsafe.SizeOf<KvmRegs>());
    public static readonly uint GetSregs = Ioctl.IOR(KvmIo, 0x83, Unsafe.SizeOf<KvmSregs>());
    public static readonly uint SetSregs = Ioctl.IOW(KvmIo, 0x84, Unsafe.SizeOf<KvmSregs>());
    public static readonly uint Interrupt = Ioctl.IOW(KvmIo, 0x86, Unsafe.SizeOf<KvmInterrupt>());
    public static readonly uint GetMsrs = Ioctl.IOWR(KvmIo, 0x88, Unsafe.SizeOf<KvmMsrsHeader>());
    public static readonly uint SetMsrs = Ioctl.IOW(KvmIo, 0x89, Unsafe.SizeOf<KvmMsrsHeader>());
    public static readonly uint SetSignalMask = Ioctl.IOW(KvmIo, 0x8B, Unsafe.SizeOf<KvmSignalMaskHeader>());
    public static readonly uint GetFpu = Ioctl.IOR(KvmIo, 0x8C, Unsafe.SizeOf<KvmFpu>());
    public static readonly uint SetFpu = Ioctl.IOW(KvmIo, 0x8D, Unsafe.SizeOf<KvmFpu>());
    public static readonly uint SetCpuid2 = Ioctl.IOW(KvmIo, 0x90, Unsafe.SizeOf<KvmCpuid2Header>());
    public static readonly uint Nmi = Ioctl.IO(KvmIo, 0x9A);
}

/// <summary>KVM_EXIT_* values of kvm_run.exit_reason.</summary>
public enum KvmExitReason : uint
{
    Unknown = 0,
    Exception = 1,
    Io = 2,
    Hypercall = 3,
    Debug = 4,
    Hlt = 5,
    Mmio = 6,
    IrqWindowOpen = 7,
    Shutdown = 8,
    FailEntry = 9,
    Intr = 10,
    SetTpr = 11,
    TprAccess = 12,
    Nmi = 16,
    InternalError = 17,
    SystemEvent = 24,
}

/// <summary>KVM_INTERNAL_ERROR_* suberrors.</summary>
public enum KvmInternalError : uint
{
    Emulation = 1,
    SimultaneousException = 2,
    DeliveryEvent = 3,
    UnexpectedExitReason = 4,
}

/// <summary>KVM_CAP_* values for KVM_CHECK_EXTENSION.</summary>
public enum KvmCap : uint
{
    Irqchip = 0,
    Hlt = 1,
    UserMemory = 3,
    SetTssAddr = 4,
    ExtCpuid = 7,
    NrVcpus = 9,
    NrMemslots = 10,
    Pit2 = 33,
    SetIdentityMapAddr = 37,
    ImmediateExit = 136,
}

/// <summary>The API version every KVM since Linux 2.6.22 reports (KVM_API_VERSION).</summary>
public static class KvmConstants
{
    public const int ApiVersion = 12;
}
