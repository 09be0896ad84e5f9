namespace MyKvm.Core;

/// <summary>
/// A segment register with its hidden descriptor cache. <see cref="Attributes"/> packs descriptor bits
/// 40–47 (type, S, DPL, P) in bits 0–7 and bits 52–55 (AVL, L, D/B, G) in bits 12–15, the layout used by
/// VMX and KVM's <c>kvm_segment</c> (Intel SDM Vol. 3A §3.4.5). <see cref="Limit"/> is in bytes (already
/// scaled by G).
/// </summary>
public struct SegmentState
{
    public ushort Selector;
    public ulong Base;
    public uint Limit;
    public ushort Attributes;

    public SegmentState(ushort selector, ulong @base, uint limit, ushort attributes)
    {
        Selector = selector;
        Base = @base;
        Limit = limit;
        Attributes = attributes;
    }

    public readonly int Type => Attributes & 0xF;
    public readonly bool IsSystem => (Attributes & 0x10) == 0;
    public readonly int Dpl => (Attributes >> 5) & 3;
    public readonly bool Present => (Attributes & 0x80) != 0;
    public readonly bool Long => (Attributes & 0x2000) != 0;
    public readonly bool DefaultBig => (Attributes & 0x4000) != 0;
    public readonly bool Granularity => (Attributes & 0x8000) != 0;

    // type 0xB: execute/read, accessed; S=1; P=1; D=1; G=1
    public static SegmentState FlatCode32(ushort selector) => new(selector, 0, 0xFFFF_FFFF, 0xC09B);
    // type 0x3: read/write, accessed
    public static SegmentState FlatData32(ushort selector) => new(selector, 0, 0xFFFF_FFFF, 0xC093);
    // L=1, D=0
    public static SegmentState Code64(ushort selector) => new(selector, 0, 0xFFFF_FFFF, 0xA09B);
    public static SegmentState RealMode(ushort selector, bool code = false) =>
        new(selector, (ulong)selector << 4, 0xFFFF, (ushort)(code ? 0x9B : 0x93));
    // 32-bit busy TSS (type 0xB), S=0
    public static SegmentState Tss32(ushort selector, ulong @base, uint limit) => new(selector, @base, limit, 0x8B);
    public static SegmentState NullLdt() => new(0, 0, 0xFFFF, 0x82);

    public override readonly string ToString() => $"{Selector:x4} base={Base:x} limit={Limit:x} attr={Attributes:x4}";
}

/// <summary>
/// Architectural vCPU state: what a loader asks the vCPU to start with, and what a backend reports
/// (register dumps, the debugger, the fault explainer). The same type for both backends.
/// </summary>
public sealed class VcpuState
{
    public ulong Rax, Rbx, Rcx, Rdx, Rsi, Rdi, Rsp, Rbp;
    public ulong R8, R9, R10, R11, R12, R13, R14, R15;
    public ulong Rip;
    public ulong Rflags = 0x2;
    public SegmentState Cs, Ds, Es, Fs, Gs, Ss, Tr, Ldtr;
    public ulong GdtBase, IdtBase;
    public ushort GdtLimit, IdtLimit = 0xFFFF;
    public ulong Cr0 = 0x10, Cr2, Cr3, Cr4, Cr8, Efer;
    public ulong Dr0, Dr1, Dr2, Dr3, Dr6 = 0xFFFF0FF0, Dr7 = 0x400;
    public ulong ApicBase = 0xFEE00900;
    /// <summary>The FS/GS bases (also held in <see cref="Fs"/>/<see cref="Gs"/>), SYSCALL and SYSENTER MSRs.</summary>
    public ulong KernelGsBase, Star, Lstar, Cstar, Fmask, SysenterCs, SysenterEsp, SysenterEip;

    public const ulong Cr0PE = 1, Cr0MP = 2, Cr0EM = 4, Cr0TS = 8, Cr0ET = 0x10, Cr0NE = 0x20, Cr0WP = 1UL << 16, Cr0PG = 1UL << 31;
    public const ulong Cr4PSE = 0x10, Cr4PAE = 0x20, Cr4PGE = 0x80;
    public const ulong EferSCE = 1, EferLME = 1UL << 8, EferLMA = 1UL << 10, EferNXE = 1UL << 11;
    public const ulong FlagIF = 0x200;

    public bool PagingEnabled => (Cr0 & Cr0PG) != 0;
    public bool InterruptsEnabled => (Rflags & FlagIF) != 0;

    public VcpuState Clone() => (VcpuState)MemberwiseClone();

    /// <summary>
    /// Flat 32-bit protected mode with paging off, CS=<paramref name="codeSelector"/>, data segments
    /// <paramref name="dataSelector"/> (Multiboot §3.2 machine state; Linux boot protocol 32-bit entry).
    /// The GDT the selectors index must be placed in guest memory by the loader.
    /// </summary>
    public static VcpuState Flat32(uint entry, ushort codeSelector, ushort dataSelector, ulong gdtBase, ushort gdtLimit)
    {
        var s = new VcpuState
        {
            Rip = entry,
            Cr0 = Cr0PE | Cr0ET,
            Cs = SegmentState.FlatCode32(codeSelector),
            GdtBase = gdtBase,
            GdtLimit = gdtLimit,
            IdtBase = 0,
            IdtLimit = 0,
            Tr = SegmentState.Tss32(0, 0, 0xFFFF),
            Ldtr = SegmentState.NullLdt(),
        };
        s.Ds = s.Es = s.Fs = s.Gs = s.Ss = SegmentState.FlatData32(dataSelector);
        return s;
    }

    /// <summary>The x86 reset state in real mode at <paramref name="cs"/>:<paramref name="ip"/>.</summary>
    public static VcpuState Real(ushort cs, ushort ip)
    {
        var s = new VcpuState
        {
            Rip = ip,
            Cr0 = Cr0ET,
            Cs = SegmentState.RealMode(cs, code: true),
            Tr = SegmentState.Tss32(0, 0, 0xFFFF),
            Ldtr = SegmentState.NullLdt(),
        };
        s.Ds = s.Es = s.Fs = s.Gs = s.Ss = SegmentState.RealMode(0);
        return s;
    }
}
