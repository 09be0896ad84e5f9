using System.Numerics;
using System.Runtime.CompilerServices;
using static MyKvm.Cpu.X86;

namespace MyKvm.Cpu;

internal unsafe interface IAlu
{
    static abstract bool Writes { get; }
    static abstract ulong Do<T>(CpuState* s, ulong a, ulong b) where T : ISz;
}

internal unsafe struct OpAdd : IAlu
{
    public static bool Writes => true;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Do<T>(CpuState* s, ulong a, ulong b) where T : ISz { ulong r = (a + b) & T.Mask; SetAdd<T>(s, a, b, r); return r; }
}
internal unsafe struct OpOr : IAlu
{
    public static bool Writes => true;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Do<T>(CpuState* s, ulong a, ulong b) where T : ISz { ulong r = a | b; SetLogic<T>(s, r); return r; }
}
internal unsafe struct OpAdc : IAlu
{
    public static bool Writes => true;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Do<T>(CpuState* s, ulong a, ulong b) where T : ISz
    {
        ulong r = (a + b + (GetCF(s) ? 1UL : 0)) & T.Mask;
        SetAdd<T>(s, a, b, r);
        return r;
    }
}
internal unsafe struct OpSbb : IAlu
{
    public static bool Writes => true;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Do<T>(CpuState* s, ulong a, ulong b) where T : ISz
    {
        ulong r = (a - b - (GetCF(s) ? 1UL : 0)) & T.Mask;
        SetSub<T>(s, a, b, r);
        return r;
    }
}
internal unsafe struct OpAnd : IAlu
{
    public static bool Writes => true;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Do<T>(CpuState* s, ulong a, ulong b) where T : ISz { ulong r = a & b; SetLogic<T>(s, r); return r; }
}
internal unsafe struct OpSub : IAlu
{
    public static bool Writes => true;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Do<T>(CpuState* s, ulong a, ulong b) where T : ISz { ulong r = (a - b) & T.Mask; SetSub<T>(s, a, b, r); return r; }
}
internal unsafe struct OpXor : IAlu
{
    public static bool Writes => true;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Do<T>(CpuState* s, ulong a, ulong b) where T : ISz { ulong r = a ^ b; SetLogic<T>(s, r); return r; }
}
internal unsafe struct OpCmp : IAlu
{
    public static bool Writes => false;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Do<T>(CpuState* s, ulong a, ulong b) where T : ISz { ulong r = (a - b) & T.Mask; SetSub<T>(s, a, b, r); return r; }
}
internal unsafe struct OpTest : IAlu
{
    public static bool Writes => false;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Do<T>(CpuState* s, ulong a, ulong b) where T : ISz { ulong r = a & b; SetLogic<T>(s, r); return r; }
}

internal unsafe interface IUnary { static abstract ulong Do<T>(CpuState* s, ulong a) where T : ISz; }
internal unsafe struct UInc : IUnary
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Do<T>(CpuState* s, ulong a) where T : ISz { ulong r = (a + 1) & T.Mask; SetIncDec<T>(s, a, r, false); return r; }
}
internal unsafe struct UDec : IUnary
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Do<T>(CpuState* s, ulong a) where T : ISz { ulong r = (a - 1) & T.Mask; SetIncDec<T>(s, a, r, true); return r; }
}
internal unsafe struct UNot : IUnary
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Do<T>(CpuState* s, ulong a) where T : ISz => ~a & T.Mask;
}
internal unsafe struct UNeg : IUnary
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Do<T>(CpuState* s, ulong a) where T : ISz { ulong r = (0 - a) & T.Mask; SetSub<T>(s, 0, a, r); return r; }
}

/// <summary>Where a generic handler's source operand comes from: the ModRM.rm register or memory.</summary>
internal unsafe interface ISrc { static abstract bool Get<T>(CpuState* s, Insn* i, out ulong v) where T : ISz; }
internal unsafe struct SrcRm : ISrc
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Get<T>(CpuState* s, Insn* i, out ulong v) where T : ISz { v = T.Load((byte*)s + i->Rm); return true; }
}
internal unsafe struct SrcMem : ISrc
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Get<T>(CpuState* s, Insn* i, out ulong v) where T : ISz => Rd<T>(s, i->Seg, Ops.Ea(s, i), out v);
}

/// <summary>
/// Shifts and rotates with the count already masked and non-zero. Flags follow SDM Vol. 2 SAL/SAR/SHL/SHR
/// and RCL/RCR/ROL/ROR: CF is the last bit shifted out; OF is defined for 1-bit counts and computed by the same
/// formula for larger ones; AF is left clear; rotates touch only CF and OF.
/// </summary>
internal unsafe interface IShift { static abstract ulong Do<T>(CpuState* s, ulong a, uint n) where T : ISz; }

internal unsafe struct SShl : IShift
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Do<T>(CpuState* s, ulong a, uint n) where T : ISz
    {
        ulong r = n >= 64 ? 0 : (a << (int)n) & T.Mask;
        bool cf = n <= (uint)T.Bits && ((a >> (T.Bits - (int)n)) & 1) != 0;
        bool of = (((r >> (T.Bits - 1)) & 1) != 0) ^ cf;
        SetExplicit<T>(s, r, cf, of, false);
        return r;
    }
}
internal unsafe struct SShr : IShift
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Do<T>(CpuState* s, ulong a, uint n) where T : ISz
    {
        ulong r = n >= 64 ? 0 : a >> (int)n;
        ulong before = n - 1 >= 64 ? 0 : a >> (int)(n - 1);
        bool cf = (before & 1) != 0;
        bool of = (((before ^ r) >> (T.Bits - 1)) & 1) != 0;
        SetExplicit<T>(s, r, cf, of, false);
        return r;
    }
}
internal unsafe struct SSar : IShift
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Do<T>(CpuState* s, ulong a, uint n) where T : ISz
    {
        long sa = T.Sext(a);
        ulong r = (ulong)(sa >> (int)Math.Min(n, 63u)) & T.Mask;
        bool cf = ((sa >> (int)Math.Min(n - 1, 63u)) & 1) != 0;
        SetExplicit<T>(s, r, cf, false, false);
        return r;
    }
}
internal unsafe struct SRol : IShift
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Do<T>(CpuState* s, ulong a, uint n) where T : ISz
    {
        int k = (int)(n % (uint)T.Bits);
        ulong r = k == 0 ? a : ((a << k) | (a >> (T.Bits - k))) & T.Mask;
        bool cf = (r & 1) != 0;
        bool of = (((r >> (T.Bits - 1)) & 1) != 0) ^ cf;
        SetCfOf(s, cf, of);
        return r;
    }
    public static void SetCfOf(CpuState* s, bool cf, bool of)
    {
        Materialize(s);
        uint f = s->Eflags & ~(CpuState.CF | CpuState.OF);
        if (cf) f |= CpuState.CF;
        if (of) f |= CpuState.OF;
        s->Eflags = f;
    }
}
internal unsafe struct SRor : IShift
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Do<T>(CpuState* s, ulong a, uint n) where T : ISz
    {
        int k = (int)(n % (uint)T.Bits);
        ulong r = k == 0 ? a : ((a >> k) | (a << (T.Bits - k))) & T.Mask;
        bool msb = ((r >> (T.Bits - 1)) & 1) != 0;
        bool msb2 = ((r >> (T.Bits - 2)) & 1) != 0;
        SRol.SetCfOf(s, msb, msb ^ msb2);
        return r;
    }
}
internal unsafe struct SRcl : IShift
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Do<T>(CpuState* s, ulong a, uint n) where T : ISz
    {
        int w = T.Bits + 1;
        int k = (int)(n % (uint)w);
        UInt128 v = ((UInt128)(GetCF(s) ? 1UL : 0) << T.Bits) | a;
        UInt128 mask = ((UInt128)1 << w) - 1;
        if (k != 0) v = ((v << k) | (v >> (w - k))) & mask;
        ulong r = (ulong)v & T.Mask;
        bool cf = ((v >> T.Bits) & 1) != 0;
        bool of = (((r >> (T.Bits - 1)) & 1) != 0) ^ cf;
        SRol.SetCfOf(s, cf, of);
        return r;
    }
}
internal unsafe struct SRcr : IShift
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Do<T>(CpuState* s, ulong a, uint n) where T : ISz
    {
        int w = T.Bits + 1;
        int k = (int)(n % (uint)w);
        UInt128 v = ((UInt128)(GetCF(s) ? 1UL : 0) << T.Bits) | a;
        UInt128 mask = ((UInt128)1 << w) - 1;
        if (k != 0) v = ((v >> k) | (v << (w - k))) & mask;
        ulong r = (ulong)v & T.Mask;
        bool cf = ((v >> T.Bits) & 1) != 0;
        bool msb = ((r >> (T.Bits - 1)) & 1) != 0, msb2 = ((r >> (T.Bits - 2)) & 1) != 0;
        SRol.SetCfOf(s, cf, msb ^ msb2);
        return r;
    }
}

/// <summary>One-operand MUL/IMUL/DIV/IDIV (SDM Vol. 2). Returns 0 or a pending #DE.</summary>
internal unsafe interface IMulDiv { static abstract int Do<T>(CpuState* s, ulong src) where T : ISz; }

internal unsafe struct MMul : IMulDiv
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Do<T>(CpuState* s, ulong src) where T : ISz
    {
        ulong lo, hi;
        if (T.Bits == 64) hi = Math.BigMul(s->Regs[0], src, out lo);
        else
        {
            ulong p = (s->Regs[0] & T.Mask) * src;
            lo = p & T.Mask; hi = (p >> T.Bits) & T.Mask;
        }
        Ops.StoreWide<T>(s, lo, hi);
        SetExplicit<T>(s, lo, hi != 0, hi != 0, false);
        return 0;
    }
}
internal unsafe struct MImul : IMulDiv
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Do<T>(CpuState* s, ulong src) where T : ISz
    {
        ulong lo, hi;
        bool ovf;
        if (T.Bits == 64)
        {
            long h = Math.BigMul((long)s->Regs[0], (long)src, out long l);
            lo = (ulong)l; hi = (ulong)h;
            ovf = h != (l >> 63);
        }
        else
        {
            long p = T.Sext(s->Regs[0] & T.Mask) * T.Sext(src);
            lo = (ulong)p & T.Mask; hi = ((ulong)p >> T.Bits) & T.Mask;
            ovf = p != T.Sext(lo);
        }
        Ops.StoreWide<T>(s, lo, hi);
        SetExplicit<T>(s, lo, ovf, ovf, false);
        return 0;
    }
}
internal unsafe struct MDiv : IMulDiv
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Do<T>(CpuState* s, ulong src) where T : ISz
    {
        if (src == 0) return Fault(s, Vec.DE);
        ulong q, r;
        if (T.Bits == 64)
        {
            UInt128 n = ((UInt128)s->Regs[2] << 64) | s->Regs[0];
            UInt128 qq = n / src;
            if (qq > ulong.MaxValue) return Fault(s, Vec.DE);
            q = (ulong)qq; r = (ulong)(n % src);
        }
        else
        {
            ulong n = Ops.LoadWide<T>(s);
            q = n / src; r = n % src;
            if (q > T.Mask) return Fault(s, Vec.DE);
        }
        Ops.StoreDivResult<T>(s, q, r);
        return 0;
    }
}
internal unsafe struct MIdiv : IMulDiv
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Do<T>(CpuState* s, ulong src) where T : ISz
    {
        if (src == 0) return Fault(s, Vec.DE);
        long q, r;
        if (T.Bits == 64)
        {
            Int128 n = (Int128)(((UInt128)s->Regs[2] << 64) | s->Regs[0]);
            Int128 d = (long)src;
            if (n == Int128.MinValue && d == -1) return Fault(s, Vec.DE);
            Int128 qq = n / d;
            if (qq > long.MaxValue || qq < long.MinValue) return Fault(s, Vec.DE);
            q = (long)qq; r = (long)(n % d);
        }
        else
        {
            long n = T.Bits == 32 ? (long)Ops.LoadWide<T>(s) : (T.Bits == 16 ? (int)(uint)Ops.LoadWide<T>(s) : (short)(ushort)Ops.LoadWide<T>(s));
            long d = T.Sext(src);
            if (d == -1)
            {
                // n / -1 overflows .NET's long for n = long.MinValue (EDX:EAX = 8000_0000:0000_0000): that
                // quotient does not fit the destination either, so it is #DE like every other overflow.
                if (n == long.MinValue) return Fault(s, Vec.DE);
                q = -n; r = 0;
            }
            else { q = n / d; r = n % d; }
            long max = (long)(T.Mask >> 1), min = -max - 1;
            if (q > max || q < min) return Fault(s, Vec.DE);
        }
        Ops.StoreDivResult<T>(s, (ulong)q & T.Mask, (ulong)r & T.Mask);
        return 0;
    }
}

/// <summary>BT/BTS/BTR/BTC: the new value of the selected bit's word (BT does not write).</summary>
internal interface IBitOp { static abstract bool Writes { get; } static abstract ulong Do(ulong v, ulong bit); }
internal struct BitTest : IBitOp { public static bool Writes => false; public static ulong Do(ulong v, ulong bit) => v; }
internal struct BitSet : IBitOp { public static bool Writes => true; public static ulong Do(ulong v, ulong bit) => v | bit; }
internal struct BitReset : IBitOp { public static bool Writes => true; public static ulong Do(ulong v, ulong bit) => v & ~bit; }
internal struct BitComplement : IBitOp { public static bool Writes => true; public static ulong Do(ulong v, ulong bit) => v ^ bit; }

internal interface IExt { static abstract ulong Ext<TS>(ulong v) where TS : ISz; }
internal struct Zx : IExt { public static ulong Ext<TS>(ulong v) where TS : ISz => v; }
internal struct Sx : IExt { public static ulong Ext<TS>(ulong v) where TS : ISz => (ulong)TS.Sext(v); }

internal static unsafe partial class Ops
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Ea(CpuState* s, Insn* i) =>
        (s->Regs[i->Base] + (s->Regs[i->Index] << i->Scale) + (ulong)(long)(int)i->Disp) & i->AMask;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Imm<T>(Insn* i) where T : ISz => (ulong)(long)(int)i->Imm & T.Mask;

    // ---- two-operand ALU ------------------------------------------------------------------------

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int AluRR<T, TOp>(CpuState* s, Insn* i) where T : ISz where TOp : IAlu
    {
        byte* d = (byte*)s + i->Rm;
        ulong r = TOp.Do<T>(s, T.Load(d), T.Load((byte*)s + i->Reg));
        if (TOp.Writes) T.StoreReg(d, r);
        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int AluRM<T, TOp>(CpuState* s, Insn* i) where T : ISz where TOp : IAlu
    {
        if (!Rd<T>(s, i->Seg, Ea(s, i), out ulong b)) return 1;
        byte* d = (byte*)s + i->Reg;
        ulong r = TOp.Do<T>(s, T.Load(d), b);
        if (TOp.Writes) T.StoreReg(d, r);
        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int AluMR<T, TOp>(CpuState* s, Insn* i) where T : ISz where TOp : IAlu
    {
        ulong ea = Ea(s, i), a;
        if (TOp.Writes) { if (!RdW<T>(s, i->Seg, ea, out a)) return 1; }
        else if (!Rd<T>(s, i->Seg, ea, out a)) return 1;
        ulong r = TOp.Do<T>(s, a, T.Load((byte*)s + i->Reg));
        if (TOp.Writes && !Wr<T>(s, i->Seg, ea, r)) return 1;
        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int AluRI<T, TOp>(CpuState* s, Insn* i) where T : ISz where TOp : IAlu
    {
        byte* d = (byte*)s + i->Rm;
        ulong r = TOp.Do<T>(s, T.Load(d), Imm<T>(i));
        if (TOp.Writes) T.StoreReg(d, r);
        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int AluMI<T, TOp>(CpuState* s, Insn* i) where T : ISz where TOp : IAlu
    {
        ulong ea = Ea(s, i), a;
        if (TOp.Writes) { if (!RdW<T>(s, i->Seg, ea, out a)) return 1; }
        else if (!Rd<T>(s, i->Seg, ea, out a)) return 1;
        ulong r = TOp.Do<T>(s, a, Imm<T>(i));
        if (TOp.Writes && !Wr<T>(s, i->Seg, ea, r)) return 1;
        return 0;
    }

    // ---- one-operand ----------------------------------------------------------------------------

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int UnR<T, TU>(CpuState* s, Insn* i) where T : ISz where TU : IUnary
    {
        byte* d = (byte*)s + i->Rm;
        T.StoreReg(d, TU.Do<T>(s, T.Load(d)));
        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int UnM<T, TU>(CpuState* s, Insn* i) where T : ISz where TU : IUnary
    {
        ulong ea = Ea(s, i);
        if (!RdW<T>(s, i->Seg, ea, out ulong a)) return 1;
        return Wr<T>(s, i->Seg, ea, TU.Do<T>(s, a)) ? 0 : 1;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint ShiftCount<T>(CpuState* s, Insn* i) where T : ISz
    {
        uint n = i->Aux == 0 ? 1u : i->Aux == 1 ? (uint)s->Regs[1] : i->Imm;
        return n & (T.Bits == 64 ? 0x3Fu : 0x1Fu);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int ShR<T, TS>(CpuState* s, Insn* i) where T : ISz where TS : IShift
    {
        uint n = ShiftCount<T>(s, i);
        if (n == 0) return 0;
        byte* d = (byte*)s + i->Rm;
        T.StoreReg(d, TS.Do<T>(s, T.Load(d), n));
        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int ShM<T, TS>(CpuState* s, Insn* i) where T : ISz where TS : IShift
    {
        uint n = ShiftCount<T>(s, i);
        ulong ea = Ea(s, i);
        if (!RdW<T>(s, i->Seg, ea, out ulong a)) return 1;
        if (n == 0) return 0;
        return Wr<T>(s, i->Seg, ea, TS.Do<T>(s, a, n)) ? 0 : 1;
    }

    // ---- multiply / divide ----------------------------------------------------------------------

    /// <summary>Writes a double-width product: AX for bytes, DX:AX / EDX:EAX / RDX:RAX otherwise.</summary>
    public static void StoreWide<T>(CpuState* s, ulong lo, ulong hi) where T : ISz
    {
        if (T.Bits == 8) B16.StoreReg(&s->Regs[0], lo | (hi << 8));
        else { T.StoreReg(&s->Regs[0], lo); T.StoreReg(&s->Regs[2], hi); }
    }

    public static ulong LoadWide<T>(CpuState* s) where T : ISz
    {
        if (T.Bits == 8) return s->Regs[0] & 0xFFFF;
        return ((s->Regs[2] & T.Mask) << T.Bits) | (s->Regs[0] & T.Mask);
    }

    public static void StoreDivResult<T>(CpuState* s, ulong q, ulong r) where T : ISz
    {
        if (T.Bits == 8) B16.StoreReg(&s->Regs[0], q | (r << 8));
        else { T.StoreReg(&s->Regs[0], q); T.StoreReg(&s->Regs[2], r); }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int MulDiv<T, TM, TSrc>(CpuState* s, Insn* i) where T : ISz where TM : IMulDiv where TSrc : ISrc
    {
        if (!TSrc.Get<T>(s, i, out ulong v)) return 1;
        return TM.Do<T>(s, v);
    }

    /// <summary>IMUL r, r/m: truncated signed product; CF=OF when it does not fit.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Imul2<T, TSrc>(CpuState* s, Insn* i) where T : ISz where TSrc : ISrc
    {
        if (!TSrc.Get<T>(s, i, out ulong v)) return 1;
        byte* d = (byte*)s + i->Reg;
        ImulStore<T>(s, d, T.Load(d), v);
        return 0;
    }

    /// <summary>IMUL r, r/m, imm.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Imul3<T, TSrc>(CpuState* s, Insn* i) where T : ISz where TSrc : ISrc
    {
        if (!TSrc.Get<T>(s, i, out ulong v)) return 1;
        ImulStore<T>(s, (byte*)s + i->Reg, v, Imm<T>(i));
        return 0;
    }

    private static void ImulStore<T>(CpuState* s, byte* d, ulong a, ulong b) where T : ISz
    {
        ulong r;
        bool ovf;
        if (T.Bits == 64)
        {
            long h = Math.BigMul((long)a, (long)b, out long l);
            r = (ulong)l; ovf = h != (l >> 63);
        }
        else
        {
            long p = T.Sext(a) * T.Sext(b);
            r = (ulong)p & T.Mask; ovf = p != T.Sext(r);
        }
        T.StoreReg(d, r);
        SetExplicit<T>(s, r, ovf, ovf, false);
    }

    // ---- bit operations -------------------------------------------------------------------------

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int BtRR<T, TB>(CpuState* s, Insn* i) where T : ISz where TB : IBitOp
    {
        byte* d = (byte*)s + i->Rm;
        ulong v = T.Load(d), bit = 1UL << (int)(T.Load((byte*)s + i->Reg) & (ulong)(T.Bits - 1));
        SetFlag(s, CpuState.CF, (v & bit) != 0);
        if (TB.Writes) T.StoreReg(d, TB.Do(v, bit));
        return 0;
    }

    /// <summary>BT m, r: the register is a signed bit offset that may address outside the operand (SDM Vol. 2 BT).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int BtMR<T, TB>(CpuState* s, Insn* i) where T : ISz where TB : IBitOp
    {
        long off = T.Sext(T.Load((byte*)s + i->Reg));
        ulong ea = (Ea(s, i) + (ulong)((off >> (T.Bits == 16 ? 4 : T.Bits == 32 ? 5 : 6)) * T.Bytes)) & i->AMask;
        ulong bit = 1UL << (int)((ulong)off & (ulong)(T.Bits - 1));
        return BitMem<T, TB>(s, i, ea, bit);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int BtRI<T, TB>(CpuState* s, Insn* i) where T : ISz where TB : IBitOp
    {
        byte* d = (byte*)s + i->Rm;
        ulong v = T.Load(d), bit = 1UL << (int)(i->Imm & (uint)(T.Bits - 1));
        SetFlag(s, CpuState.CF, (v & bit) != 0);
        if (TB.Writes) T.StoreReg(d, TB.Do(v, bit));
        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int BtMI<T, TB>(CpuState* s, Insn* i) where T : ISz where TB : IBitOp
        => BitMem<T, TB>(s, i, Ea(s, i), 1UL << (int)(i->Imm & (uint)(T.Bits - 1)));

    private static int BitMem<T, TB>(CpuState* s, Insn* i, ulong ea, ulong bit) where T : ISz where TB : IBitOp
    {
        ulong v;
        if (TB.Writes) { if (!RdW<T>(s, i->Seg, ea, out v)) return 1; }
        else if (!Rd<T>(s, i->Seg, ea, out v)) return 1;
        SetFlag(s, CpuState.CF, (v & bit) != 0);
        if (TB.Writes && !Wr<T>(s, i->Seg, ea, TB.Do(v, bit))) return 1;
        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Bsf<T, TSrc>(CpuState* s, Insn* i) where T : ISz where TSrc : ISrc
    {
        if (!TSrc.Get<T>(s, i, out ulong v)) return 1;
        // Source zero: ZF=1, destination unchanged (what Intel and AMD CPUs do).
        if (v == 0) { SetFlag(s, CpuState.ZF, true); return 0; }
        ulong r = (ulong)BitOperations.TrailingZeroCount(v);
        T.StoreReg((byte*)s + i->Reg, r);
        SetFlag(s, CpuState.ZF, false);
        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Bsr<T, TSrc>(CpuState* s, Insn* i) where T : ISz where TSrc : ISrc
    {
        if (!TSrc.Get<T>(s, i, out ulong v)) return 1;
        if (v == 0) { SetFlag(s, CpuState.ZF, true); return 0; }
        ulong r = (ulong)(63 - BitOperations.LeadingZeroCount(v));
        T.StoreReg((byte*)s + i->Reg, r);
        SetFlag(s, CpuState.ZF, false);
        return 0;
    }

    // ---- double shifts --------------------------------------------------------------------------

    private static ulong Shld<T>(CpuState* s, ulong dst, ulong src, uint n) where T : ISz
    {
        // Treat dst:src as one 2*Bits-wide value shifted left (SDM Vol. 2 SHLD); 16-bit counts above 16
        // are undefined and give the same "wide" result Intel CPUs produce for this formula.
        UInt128 wide = ((UInt128)dst << T.Bits) | src;
        UInt128 shifted = wide << (int)n;
        ulong r = (ulong)(shifted >> T.Bits) & T.Mask;
        if (T.Bits == 16 && n > 16) r = (ulong)(((((UInt128)dst << 32) | (src << 16) | dst) << (int)n) >> 32) & T.Mask;
        bool cf = n <= (uint)T.Bits ? ((dst >> (T.Bits - (int)n)) & 1) != 0 : ((src >> (2 * T.Bits - (int)n)) & 1) != 0;
        bool of = ((r ^ dst) >> (T.Bits - 1) & 1) != 0;
        SetExplicit<T>(s, r, cf, of, false);
        return r;
    }

    private static ulong Shrd<T>(CpuState* s, ulong dst, ulong src, uint n) where T : ISz
    {
        UInt128 wide = ((UInt128)src << T.Bits) | dst;
        ulong r = (ulong)(wide >> (int)n) & T.Mask;
        if (T.Bits == 16 && n > 16) r = (ulong)(((((UInt128)dst << 32) | (src << 16) | dst) >> (int)n)) & T.Mask;
        bool cf = ((wide >> (int)(n - 1)) & 1) != 0;
        bool of = ((r ^ dst) >> (T.Bits - 1) & 1) != 0;
        SetExplicit<T>(s, r, cf, of, false);
        return r;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int ShldR<T>(CpuState* s, Insn* i) where T : ISz => DoubleShiftR<T>(s, i, true);
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int ShrdR<T>(CpuState* s, Insn* i) where T : ISz => DoubleShiftR<T>(s, i, false);
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int ShldM<T>(CpuState* s, Insn* i) where T : ISz => DoubleShiftM<T>(s, i, true);
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int ShrdM<T>(CpuState* s, Insn* i) where T : ISz => DoubleShiftM<T>(s, i, false);

    private static int DoubleShiftR<T>(CpuState* s, Insn* i, bool left) where T : ISz
    {
        uint n = ShiftCount<T>(s, i);
        if (n == 0) return 0;
        byte* d = (byte*)s + i->Rm;
        ulong src = T.Load((byte*)s + i->Reg);
        T.StoreReg(d, left ? Shld<T>(s, T.Load(d), src, n) : Shrd<T>(s, T.Load(d), src, n));
        return 0;
    }

    private static int DoubleShiftM<T>(CpuState* s, Insn* i, bool left) where T : ISz
    {
        uint n = ShiftCount<T>(s, i);
        ulong ea = Ea(s, i);
        if (!RdW<T>(s, i->Seg, ea, out ulong a)) return 1;
        if (n == 0) return 0;
        ulong src = T.Load((byte*)s + i->Reg);
        return Wr<T>(s, i->Seg, ea, left ? Shld<T>(s, a, src, n) : Shrd<T>(s, a, src, n)) ? 0 : 1;
    }

    // ---- exchange-and-operate -------------------------------------------------------------------

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int XaddR<T>(CpuState* s, Insn* i) where T : ISz
    {
        byte* d = (byte*)s + i->Rm, r = (byte*)s + i->Reg;
        ulong a = T.Load(d), b = T.Load(r);
        ulong sum = OpAdd.Do<T>(s, a, b);
        T.StoreReg(r, a);
        T.StoreReg(d, sum);
        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int XaddM<T>(CpuState* s, Insn* i) where T : ISz
    {
        ulong ea = Ea(s, i);
        if (!RdW<T>(s, i->Seg, ea, out ulong a)) return 1;
        byte* r = (byte*)s + i->Reg;
        ulong sum = OpAdd.Do<T>(s, a, T.Load(r));
        if (!Wr<T>(s, i->Seg, ea, sum)) return 1;
        T.StoreReg(r, a);
        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int CmpxchgR<T>(CpuState* s, Insn* i) where T : ISz
    {
        byte* d = (byte*)s + i->Rm;
        ulong acc = s->Regs[0] & T.Mask, v = T.Load(d);
        OpCmp.Do<T>(s, acc, v);
        if (acc == v) T.StoreReg(d, T.Load((byte*)s + i->Reg));
        else T.StoreReg(&s->Regs[0], v);
        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int CmpxchgM<T>(CpuState* s, Insn* i) where T : ISz
    {
        ulong ea = Ea(s, i);
        if (!RdW<T>(s, i->Seg, ea, out ulong v)) return 1;
        ulong acc = s->Regs[0] & T.Mask;
        // The destination is written in both cases (SDM Vol. 2 CMPXCHG: locked read-modify-write).
        bool eq = acc == v;
        if (!Wr<T>(s, i->Seg, ea, eq ? T.Load((byte*)s + i->Reg) : v)) return 1;
        OpCmp.Do<T>(s, acc, v);
        if (!eq) T.StoreReg(&s->Regs[0], v);
        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Cmpxchg8b(CpuState* s, Insn* i)
    {
        ulong ea = Ea(s, i);
        if (!RdW<B64>(s, i->Seg, ea, out ulong v)) return 1;
        ulong cmp = ((s->Regs[2] & 0xFFFF_FFFF) << 32) | (s->Regs[0] & 0xFFFF_FFFF);
        if (v == cmp)
        {
            if (!Wr<B64>(s, i->Seg, ea, ((s->Regs[1] & 0xFFFF_FFFF) << 32) | (s->Regs[3] & 0xFFFF_FFFF))) return 1;
            SetFlag(s, CpuState.ZF, true);
        }
        else
        {
            if (!Wr<B64>(s, i->Seg, ea, v)) return 1;
            B32.StoreReg(&s->Regs[0], v & 0xFFFF_FFFF);
            B32.StoreReg(&s->Regs[2], v >> 32);
            SetFlag(s, CpuState.ZF, false);
        }
        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Bswap<T>(CpuState* s, Insn* i) where T : ISz
    {
        byte* d = (byte*)s + i->Rm;
        if (T.Bits == 16) { B16.StoreReg(d, 0); return 0; }   // undefined; Intel CPUs clear the word
        if (T.Bits == 32) B32.StoreReg(d, System.Buffers.Binary.BinaryPrimitives.ReverseEndianness((uint)T.Load(d)));
        else B64.StoreReg(d, System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(T.Load(d)));
        return 0;
    }

    // ---- conditional ----------------------------------------------------------------------------

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int SetccR<TC>(CpuState* s, Insn* i) where TC : ICc
    {
        *((byte*)s + i->Rm) = Cond(s, TC.Code) ? (byte)1 : (byte)0;
        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int SetccM<TC>(CpuState* s, Insn* i) where TC : ICc
        => Wr<B8>(s, i->Seg, Ea(s, i), Cond(s, TC.Code) ? 1UL : 0) ? 0 : 1;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Cmov<T, TC, TSrc>(CpuState* s, Insn* i) where T : ISz where TC : ICc where TSrc : ISrc
    {
        if (!TSrc.Get<T>(s, i, out ulong v)) return 1;
        byte* d = (byte*)s + i->Reg;
        if (Cond(s, TC.Code)) T.StoreReg(d, v);
        else if (T.Bits == 32) T.StoreReg(d, T.Load(d));     // a 32-bit CMOV always zero-extends in 64-bit mode
        return 0;
    }

    // ---- BCD and AL helpers (SDM Vol. 2 DAA/DAS/AAA/AAS/AAM/AAD) ---------------------------------

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Daa(CpuState* s, Insn* i)
    {
        uint al = (uint)s->Regs[0] & 0xFF, oldAl = al;
        bool oldCf = GetCF(s), cf = false, af = false;
        if ((al & 0xF) > 9 || GetAF(s)) { al += 6; cf = oldCf || al > 0xFF; af = true; al &= 0xFF; }
        if (oldAl > 0x99 || oldCf) { al = (al + 0x60) & 0xFF; cf = true; }
        *(byte*)&s->Regs[0] = (byte)al;
        SetExplicit<B8>(s, al, cf, false, af);
        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Das(CpuState* s, Insn* i)
    {
        uint al = (uint)s->Regs[0] & 0xFF, oldAl = al;
        bool oldCf = GetCF(s), cf = false, af = false;
        if ((al & 0xF) > 9 || GetAF(s)) { cf = oldCf || al < 6; al = (al - 6) & 0xFF; af = true; }
        if (oldAl > 0x99 || oldCf) { al = (al - 0x60) & 0xFF; cf = true; }
        *(byte*)&s->Regs[0] = (byte)al;
        SetExplicit<B8>(s, al, cf, false, af);
        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Aaa(CpuState* s, Insn* i)
    {
        uint ax = (uint)s->Regs[0] & 0xFFFF;
        bool adj = (ax & 0xF) > 9 || GetAF(s);
        if (adj) ax = (ax + 0x106) & 0xFFFF;
        ax &= 0xFF0F;
        *(ushort*)&s->Regs[0] = (ushort)ax;
        SetExplicit<B8>(s, ax & 0xFF, adj, false, adj);
        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Aas(CpuState* s, Insn* i)
    {
        uint ax = (uint)s->Regs[0] & 0xFFFF;
        bool adj = (ax & 0xF) > 9 || GetAF(s);
        if (adj) { ax = (ax - 6) & 0xFFFF; ax = (ax & 0xFF) | (((ax >> 8) - 1) & 0xFF) << 8; }   // the borrow of AX-6 reaches AH too
        ax &= 0xFF0F;
        *(ushort*)&s->Regs[0] = (ushort)ax;
        SetExplicit<B8>(s, ax & 0xFF, adj, false, adj);
        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Aam(CpuState* s, Insn* i)
    {
        uint b = i->Imm & 0xFF;
        if (b == 0) return Fault(s, Vec.DE);
        uint al = (uint)s->Regs[0] & 0xFF;
        uint ah = al / b; al %= b;
        *(ushort*)&s->Regs[0] = (ushort)((ah << 8) | al);
        SetExplicit<B8>(s, al, false, false, false);
        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Aad(CpuState* s, Insn* i)
    {
        uint ax = (uint)s->Regs[0];
        uint al = ((ax & 0xFF) + ((ax >> 8) & 0xFF) * (i->Imm & 0xFF)) & 0xFF;
        *(ushort*)&s->Regs[0] = (ushort)al;
        SetExplicit<B8>(s, al, false, false, false);
        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Salc(CpuState* s, Insn* i)
    {
        *(byte*)&s->Regs[0] = GetCF(s) ? (byte)0xFF : (byte)0;
        return 0;
    }
}
