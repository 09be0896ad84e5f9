using System.Runtime.InteropServices;

namespace MyKvm.Kvm.Interop;

// The KVM ABI structures of include/uapi/linux/kvm.h and arch/x86/include/uapi/asm/kvm.h (x86-64), blittable,
// laid out field for field. Sizes and offsets are checked by tests against the kernel headers' values.

/// <summary>struct kvm_regs: the general-purpose registers (KVM_GET_REGS/KVM_SET_REGS).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmRegs
{
    public ulong Rax, Rbx, Rcx, Rdx, Rsi, Rdi, Rsp, Rbp;
    public ulong R8, R9, R10, R11, R12, R13, R14, R15;
    public ulong Rip, Rflags;
}

/// <summary>struct kvm_segment: a segment register with its descriptor cache, one byte per attribute bit.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmSegment
{
    public ulong Base;
    public uint Limit;
    public ushort Selector;
    public byte Type, Present, Dpl, Db, S, L, G, Avl, Unusable, Padding;
}

/// <summary>struct kvm_dtable: GDTR/IDTR.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmDtable
{
    public ulong Base;
    public ushort Limit;
    private ushort _pad0, _pad1, _pad2;
}

/// <summary>struct kvm_sregs: segment, descriptor-table and control registers (KVM_GET_SREGS/KVM_SET_SREGS).</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct KvmSregs
{
    public KvmSegment Cs, Ds, Es, Fs, Gs, Ss, Tr, Ldt;
    public KvmDtable Gdt, Idt;
    public ulong Cr0, Cr2, Cr3, Cr4, Cr8, Efer, ApicBase;
    /// <summary>Bit per vector: an injected but not yet delivered external interrupt (at most one bit set).</summary>
    public fixed ulong InterruptBitmap[4];
}

/// <summary>struct kvm_fpu: x87 and SSE state (KVM_GET_FPU/KVM_SET_FPU).</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct KvmFpu
{
    public fixed byte Fpr[8 * 16];
    public ushort Fcw, Fsw;
    public byte Ftwx, Pad1;
    public ushort LastOpcode;
    public ulong LastIp, LastDp;
    public fixed byte Xmm[16 * 16];
    public uint Mxcsr, Pad2;
}

/// <summary>struct kvm_msr_entry.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmMsrEntry
{
    public uint Index, Reserved;
    public ulong Data;
}

/// <summary>struct kvm_msrs header; <see cref="Nmsrs"/> <see cref="KvmMsrEntry"/> follow it.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmMsrsHeader
{
    public uint Nmsrs, Pad;
}

/// <summary>struct kvm_cpuid_entry2.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct KvmCpuidEntry2
{
    public uint Function, Index, Flags, Eax, Ebx, Ecx, Edx;
    public fixed uint Padding[3];

    /// <summary>KVM_CPUID_FLAG_SIGNIFCANT_INDEX: the entry applies only to sub-leaf <see cref="Index"/>.</summary>
    public const uint FlagSignificantIndex = 1;
}

/// <summary>struct kvm_cpuid2 header; <see cref="Nent"/> <see cref="KvmCpuidEntry2"/> follow it.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmCpuid2Header
{
    public uint Nent, Padding;
}

/// <summary>struct kvm_userspace_memory_region: one memory slot.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmUserspaceMemoryRegion
{
    public uint Slot, Flags;
    public ulong GuestPhysAddr, MemorySize, UserspaceAddr;
}

/// <summary>struct kvm_interrupt (KVM_INTERRUPT): the vector to inject when there is no in-kernel irqchip.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmInterrupt
{
    public uint Irq;
}

/// <summary>struct kvm_irq_level (KVM_IRQ_LINE).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmIrqLevel
{
    public uint Irq;
    public uint Level;
}

/// <summary>struct kvm_pit_config (KVM_CREATE_PIT2).</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct KvmPitConfig
{
    public uint Flags;
    public fixed uint Pad[15];

    /// <summary>KVM_PIT_SPEAKER_DUMMY: the kernel also answers port 0x61.</summary>
    public const uint SpeakerDummy = 1;
}

/// <summary>struct kvm_signal_mask header; <see cref="Len"/> bytes of kernel sigset_t follow.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmSignalMaskHeader
{
    public uint Len;
}

/// <summary>kvm_run.io (KVM_EXIT_IO). The data lies at kvm_run + <see cref="DataOffset"/>, <see cref="Count"/> items of <see cref="Size"/> bytes.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmRunIo
{
    public const byte DirectionIn = 0, DirectionOut = 1;
    public byte Direction, Size;
    public ushort Port;
    public uint Count;
    public ulong DataOffset;
}

/// <summary>kvm_run.mmio (KVM_EXIT_MMIO).</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct KvmRunMmio
{
    public ulong PhysAddr;
    public fixed byte Data[8];
    public uint Len;
    public byte IsWrite;
}

/// <summary>kvm_run.fail_entry (KVM_EXIT_FAIL_ENTRY).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmRunFailEntry
{
    public ulong HardwareEntryFailureReason;
    public uint Cpu;
}

/// <summary>kvm_run.internal (KVM_EXIT_INTERNAL_ERROR).</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct KvmRunInternal
{
    public uint Suberror, Ndata;
    public fixed ulong Data[16];
}

/// <summary>kvm_run.system_event (KVM_EXIT_SYSTEM_EVENT).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmRunSystemEvent
{
    public const uint Shutdown = 1, Reset = 2, Crash = 3;
    public uint Type, Ndata;
}

/// <summary>
/// struct kvm_run, the page shared with the kernel per vCPU (mmap of the vCPU fd): the header and the exit
/// union members this VMM reads. The mapping is larger than this struct (KVM_GET_VCPU_MMAP_SIZE); port I/O
/// data lies in it at <see cref="KvmRunIo.DataOffset"/>.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 2352)]
public struct KvmRun
{
    [FieldOffset(0)] public byte RequestInterruptWindow;
    [FieldOffset(1)] public byte ImmediateExit;
    [FieldOffset(8)] public uint ExitReason;
    [FieldOffset(12)] public byte ReadyForInterruptInjection;
    [FieldOffset(13)] public byte IfFlag;
    [FieldOffset(14)] public ushort Flags;
    [FieldOffset(16)] public ulong Cr8;
    [FieldOffset(24)] public ulong ApicBase;
    [FieldOffset(32)] public KvmRunIo Io;
    [FieldOffset(32)] public KvmRunMmio Mmio;
    [FieldOffset(32)] public KvmRunFailEntry FailEntry;
    [FieldOffset(32)] public KvmRunInternal Internal;
    [FieldOffset(32)] public KvmRunSystemEvent SystemEvent;
    [FieldOffset(32)] public ulong HardwareExitReason;
    [FieldOffset(288)] public ulong KvmValidRegs;
    [FieldOffset(296)] public ulong KvmDirtyRegs;
}
