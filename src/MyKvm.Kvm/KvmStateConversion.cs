using MyKvm.Core;
using MyKvm.Kvm.Interop;

namespace MyKvm.Kvm;

/// <summary>Between the backend-neutral <see cref="VcpuState"/> and KVM's kvm_regs / kvm_sregs / MSR lists.</summary>
internal static class KvmStateConversion
{
    public const uint MsrSysenterCs = 0x174, MsrSysenterEsp = 0x175, MsrSysenterEip = 0x176;
    public const uint MsrStar = 0xC000_0081, MsrLstar = 0xC000_0082, MsrCstar = 0xC000_0083, MsrFmask = 0xC000_0084;
    public const uint MsrKernelGsBase = 0xC000_0102;

    /// <summary>The MSRs <see cref="VcpuState"/> carries, in the order <see cref="ReadMsrs"/> and <see cref="WriteMsrs"/> use.</summary>
    public static readonly uint[] StateMsrs =
        [MsrSysenterCs, MsrSysenterEsp, MsrSysenterEip, MsrStar, MsrLstar, MsrCstar, MsrFmask, MsrKernelGsBase];

    public static KvmSegment ToKvm(SegmentState s)
    {
        ushort a = s.Attributes;
        bool present = (a & 0x80) != 0;
        return new KvmSegment
        {
            Base = s.Base,
            Limit = s.Limit,
            Selector = s.Selector,
            Type = (byte)(a & 0xF),
            S = (byte)((a >> 4) & 1),
            Dpl = (byte)((a >> 5) & 3),
            Present = present ? (byte)1 : (byte)0,
            Avl = (byte)((a >> 12) & 1),
            L = (byte)((a >> 13) & 1),
            Db = (byte)((a >> 14) & 1),
            G = (byte)((a >> 15) & 1),
            // VMX's "unusable" bit: a null selector loaded in protected mode; KVM derives it from P=0 the same way.
            Unusable = present ? (byte)0 : (byte)1,
        };
    }

    public static SegmentState FromKvm(in KvmSegment k)
    {
        bool present = k.Present != 0 && k.Unusable == 0;
        ushort a = (ushort)((k.Type & 0xF) | (k.S & 1) << 4 | (k.Dpl & 3) << 5 | (present ? 0x80 : 0)
            | (k.Avl & 1) << 12 | (k.L & 1) << 13 | (k.Db & 1) << 14 | (k.G & 1) << 15);
        return new SegmentState(k.Selector, k.Base, k.Limit, a);
    }

    public static KvmRegs ToKvmRegs(VcpuState s) => new()
    {
        Rax = s.Rax, Rbx = s.Rbx, Rcx = s.Rcx, Rdx = s.Rdx, Rsi = s.Rsi, Rdi = s.Rdi, Rsp = s.Rsp, Rbp = s.Rbp,
        R8 = s.R8, R9 = s.R9, R10 = s.R10, R11 = s.R11, R12 = s.R12, R13 = s.R13, R14 = s.R14, R15 = s.R15,
        Rip = s.Rip,
        Rflags = s.Rflags | 2, // bit 1 is reserved and reads as 1
    };

    public static void FromKvmRegs(in KvmRegs r, VcpuState s)
    {
        s.Rax = r.Rax; s.Rbx = r.Rbx; s.Rcx = r.Rcx; s.Rdx = r.Rdx; s.Rsi = r.Rsi; s.Rdi = r.Rdi; s.Rsp = r.Rsp; s.Rbp = r.Rbp;
        s.R8 = r.R8; s.R9 = r.R9; s.R10 = r.R10; s.R11 = r.R11; s.R12 = r.R12; s.R13 = r.R13; s.R14 = r.R14; s.R15 = r.R15;
        s.Rip = r.Rip;
        s.Rflags = r.Rflags;
    }

    /// <summary>kvm_sregs for <paramref name="s"/>. The interrupt bitmap is left empty: no interrupt pending injection.</summary>
    public static KvmSregs ToKvmSregs(VcpuState s) => new()
    {
        Cs = ToKvm(s.Cs), Ds = ToKvm(s.Ds), Es = ToKvm(s.Es), Fs = ToKvm(s.Fs), Gs = ToKvm(s.Gs), Ss = ToKvm(s.Ss),
        Tr = ToKvm(s.Tr), Ldt = ToKvm(s.Ldtr),
        Gdt = new KvmDtable { Base = s.GdtBase, Limit = s.GdtLimit },
        Idt = new KvmDtable { Base = s.IdtBase, Limit = s.IdtLimit },
        Cr0 = s.Cr0, Cr2 = s.Cr2, Cr3 = s.Cr3, Cr4 = s.Cr4, Cr8 = s.Cr8, Efer = s.Efer, ApicBase = s.ApicBase,
    };

    public static void FromKvmSregs(in KvmSregs k, VcpuState s)
    {
        s.Cs = FromKvm(k.Cs); s.Ds = FromKvm(k.Ds); s.Es = FromKvm(k.Es); s.Fs = FromKvm(k.Fs); s.Gs = FromKvm(k.Gs);
        s.Ss = FromKvm(k.Ss); s.Tr = FromKvm(k.Tr); s.Ldtr = FromKvm(k.Ldt);
        s.GdtBase = k.Gdt.Base; s.GdtLimit = k.Gdt.Limit;
        s.IdtBase = k.Idt.Base; s.IdtLimit = k.Idt.Limit;
        s.Cr0 = k.Cr0; s.Cr2 = k.Cr2; s.Cr3 = k.Cr3; s.Cr4 = k.Cr4; s.Cr8 = k.Cr8; s.Efer = k.Efer; s.ApicBase = k.ApicBase;
    }

    public static void WriteMsrs(VcpuState s, Span<KvmMsrEntry> entries)
    {
        ulong[] values = [s.SysenterCs, s.SysenterEsp, s.SysenterEip, s.Star, s.Lstar, s.Cstar, s.Fmask, s.KernelGsBase];
        for (int i = 0; i < StateMsrs.Length; i++)
            entries[i] = new KvmMsrEntry { Index = StateMsrs[i], Data = values[i] };
    }

    public static void ReadMsrs(ReadOnlySpan<KvmMsrEntry> entries, VcpuState s)
    {
        foreach (var e in entries)
        {
            switch (e.Index)
            {
                case MsrSysenterCs: s.SysenterCs = e.Data; break;
                case MsrSysenterEsp: s.SysenterEsp = e.Data; break;
                case MsrSysenterEip: s.SysenterEip = e.Data; break;
                case MsrStar: s.Star = e.Data; break;
                case MsrLstar: s.Lstar = e.Data; break;
                case MsrCstar: s.Cstar = e.Data; break;
                case MsrFmask: s.Fmask = e.Data; break;
                case MsrKernelGsBase: s.KernelGsBase = e.Data; break;
            }
        }
    }
}
