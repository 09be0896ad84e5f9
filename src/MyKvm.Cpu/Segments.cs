using System.Runtime.CompilerServices;

namespace MyKvm.Cpu;

/// <summary>Segment registers, descriptor tables and descriptor caches (SDM Vol. 3A chapter 3 and §5.1–5.8).</summary>
internal static unsafe partial class X86
{
    public static bool ProtectedMode(CpuState* s) => (s->Cr0 & 1) != 0;
    public static bool V86(CpuState* s) => (s->Eflags & CpuState.VM) != 0;
    public static bool LongMode64(CpuState* s) => (s->CodeMode & 3) == 2;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Seg* SegP(CpuState* s, int idx) => &s->Es + idx;

    /// <summary>Writes a segment cache and precomputes its read/write offset ranges.</summary>
    public static void SetSegCache(CpuState* s, int idx, ushort sel, ulong @base, uint limit, ushort attr)
    {
        Seg* g = SegP(s, idx);
        g->Sel = sel;
        g->Base = @base;
        g->Limit = limit;
        g->Attr = attr;
        ComputeRanges(s, g, idx);
        if (idx == SegReg.SS) s->StackMask = LongMode64(s) ? ulong.MaxValue : (attr & 0x4000) != 0 ? 0xFFFF_FFFFUL : 0xFFFF;
        if (idx == SegReg.CS) UpdateCodeMode(s);
    }

    public static void ComputeRanges(CpuState* s, Seg* g, int idx)
    {
        const ulong none0 = 1, none1 = 0;
        if (idx > SegReg.GS) return;
        if (LongMode64(s))
        {
            // 64-bit mode: no limit checks; only FS/GS bases apply (the decoder adds them), SDM Vol. 3A §3.4.4.
            g->RdLo = 0; g->RdHi = ulong.MaxValue; g->WrLo = 0; g->WrHi = ulong.MaxValue;
            return;
        }
        if (!ProtectedMode(s) || V86(s))
        {
            g->RdLo = 0; g->RdHi = g->Limit; g->WrLo = 0; g->WrHi = g->Limit;
            return;
        }
        ushort a = g->Attr;
        if ((a & 0x80) == 0 || (a & 0x10) == 0)
        {
            g->RdLo = none0; g->RdHi = none1; g->WrLo = none0; g->WrHi = none1;
            return;
        }
        bool code = (a & 8) != 0;
        if (code)
        {
            if ((a & 2) != 0) { g->RdLo = 0; g->RdHi = g->Limit; } else { g->RdLo = none0; g->RdHi = none1; }
            g->WrLo = none0; g->WrHi = none1;
            return;
        }
        ulong lo, hi;
        if ((a & 4) != 0)
        {
            // Expand-down: valid offsets are limit+1 .. 0xFFFF or 0xFFFFFFFF by the B flag (SDM Vol. 3A §3.4.5.1).
            lo = (ulong)g->Limit + 1;
            hi = (a & 0x4000) != 0 ? 0xFFFF_FFFFUL : 0xFFFF;
        }
        else { lo = 0; hi = g->Limit; }
        g->RdLo = lo; g->RdHi = hi;
        if ((a & 2) != 0) { g->WrLo = lo; g->WrHi = hi; } else { g->WrLo = none0; g->WrHi = none1; }
    }

    public static void RecomputeAllRanges(CpuState* s)
    {
        UpdateCodeMode(s);
        for (int i = 0; i <= SegReg.GS; i++) ComputeRanges(s, SegP(s, i), i);
        s->StackMask = LongMode64(s) ? ulong.MaxValue : s->Ss.Big ? 0xFFFF_FFFFUL : 0xFFFF;
    }

    public static void UpdateCodeMode(CpuState* s)
    {
        int m;
        bool lma = (s->Efer & (1UL << 10)) != 0;
        if (lma && (s->Cs.Attr & 0x2000) != 0) m = 2;
        else m = (s->Cs.Attr & 0x4000) != 0 ? 1 : 0;
        if (!ProtectedMode(s)) m |= 4;
        else if (V86(s)) m = 8;
        int old = s->CodeMode;
        s->CodeMode = m;
        s->LinMask = m == 2 ? ulong.MaxValue : 0xFFFF_FFFFUL;
        if ((old & 3) == 2 != (m == 2))
            for (int i = 0; i <= SegReg.GS; i++) ComputeRanges(s, SegP(s, i), i);
    }

    // ---- descriptors -----------------------------------------------------------------------------

    public static ulong DescBase(ulong d) => ((d >> 16) & 0xFF_FFFF) | (((d >> 56) & 0xFF) << 24);
    public static uint DescLimit(ulong d)
    {
        uint l = (uint)((d & 0xFFFF) | ((d >> 32) & 0xF_0000));
        return (d & (1UL << 55)) != 0 ? (l << 12) | 0xFFF : l;
    }
    public static ushort DescAttr(ulong d) => (ushort)((d >> 40) & 0xF0FF);

    /// <summary>
    /// Reads the descriptor for <paramref name="sel"/>. Returns 0 when read, 1 when the selector is outside
    /// its table (caller raises its own fault), 2 when a memory fault is already pending.
    /// </summary>
    public static int ReadDescriptor(CpuState* s, ushort sel, out ulong desc, out ulong addr)
    {
        desc = 0;
        ulong tbase; uint tlimit;
        if ((sel & 4) != 0)
        {
            if ((s->Ldtr.Attr & 0x80) == 0 || (s->Ldtr.Sel & ~3) == 0) { addr = 0; return 1; }
            tbase = s->Ldtr.Base; tlimit = s->Ldtr.Limit;
        }
        else { tbase = s->GdtBase; tlimit = s->GdtLimit; }
        uint off = (uint)(sel & ~7);
        addr = tbase + off;
        if (off + 7 > tlimit) return 1;
        if (!SysRead<B64>(s, addr, out desc)) return 2;
        return 0;
    }

    /// <summary>Sets the accessed bit of a code/data descriptor in memory (SDM Vol. 3A §3.4.5.1).</summary>
    public static bool SetAccessed(CpuState* s, ulong addr, ref ulong desc)
    {
        if ((desc & (1UL << 40)) != 0) return true;
        desc |= 1UL << 40;
        return SysWrite<B8>(s, addr + 5, (desc >> 40) & 0xFF);
    }

    private static ushort ErrSel(ushort sel) => (ushort)(sel & 0xFFFC);

    /// <summary>MOV/POP/LxS to a data segment register or SS in any mode. Returns false with a fault pending.</summary>
    public static bool LoadSeg(CpuState* s, int idx, ushort sel)
    {
        if (!ProtectedMode(s) || V86(s))
        {
            Seg* g = SegP(s, idx);
            ushort attr = V86(s) ? (ushort)(idx == SegReg.CS ? 0xFB : 0xF3) : g->Attr;
            uint limit = V86(s) ? 0xFFFF : g->Limit;
            if (!ProtectedMode(s) && (attr & 0x80) == 0) attr = (ushort)(idx == SegReg.CS ? 0x9B : 0x93);
            SetSegCache(s, idx, sel, (ulong)sel << 4, limit, attr);
            return true;
        }
        int rpl = sel & 3;
        if ((sel & ~3) == 0)
        {
            if (idx == SegReg.SS && !(LongMode64(s) && s->Cpl != 3 && rpl == s->Cpl)) { Fault(s, Vec.GP, 0); return false; }
            SetSegCache(s, idx, sel, 0, 0, 0);    // null: unusable
            return true;
        }
        int r = ReadDescriptor(s, sel, out ulong d, out ulong addr);
        if (r == 2) return false;
        if (r == 1) { Fault(s, Vec.GP, ErrSel(sel)); return false; }
        ushort a = DescAttr(d);
        int dpl = (a >> 5) & 3;
        bool sys = (a & 0x10) == 0, code = (a & 8) != 0, readable = (a & 2) != 0, conforming = code && (a & 4) != 0;
        if (idx == SegReg.SS)
        {
            if (rpl != s->Cpl || sys || code || !readable /* writable bit for data */ || dpl != s->Cpl)
            { Fault(s, Vec.GP, ErrSel(sel)); return false; }
            if ((a & 0x80) == 0) { Fault(s, Vec.SS, ErrSel(sel)); return false; }
        }
        else
        {
            if (sys || (code && !readable)) { Fault(s, Vec.GP, ErrSel(sel)); return false; }
            if (!conforming && (rpl > dpl || s->Cpl > dpl)) { Fault(s, Vec.GP, ErrSel(sel)); return false; }
            if ((a & 0x80) == 0) { Fault(s, Vec.NP, ErrSel(sel)); return false; }
        }
        if (!SetAccessed(s, addr, ref d)) return false;
        SetSegCache(s, idx, sel, DescBase(d), DescLimit(d), DescAttr(d));
        return true;
    }

    /// <summary>Loads CS from a code descriptor already checked by the caller, with the new CPL.</summary>
    public static void LoadCsChecked(CpuState* s, ushort sel, ulong desc, int cpl)
    {
        sel = (ushort)((sel & ~3) | cpl);
        SetCpl(s, cpl);
        SetSegCache(s, SegReg.CS, sel, DescBase(desc), DescLimit(desc), DescAttr(desc));
    }

    /// <summary>After a return to an outer level: data registers the new CPL may not use become null (SDM Vol. 3A §5.8.6, RET).</summary>
    public static void NullifyInaccessibleSegs(CpuState* s)
    {
        int[] regs = [SegReg.ES, SegReg.DS, SegReg.FS, SegReg.GS];
        foreach (int i in regs)
        {
            Seg* g = SegP(s, i);
            if ((g->Sel & ~3) == 0 && (g->Attr & 0x80) == 0) continue;
            bool conformingCode = (g->Attr & 0x18) == 0x18 && (g->Attr & 4) != 0;
            if ((g->Attr & 0x10) != 0 && !conformingCode && g->Dpl < s->Cpl)
                SetSegCache(s, i, 0, 0, 0, 0);
        }
    }
}
