using System.Numerics;
using System.Runtime.CompilerServices;

namespace MyKvm.Cpu;

/// <summary>Lazy arithmetic flags (see <see cref="CpuState"/> for the encoding).</summary>
internal static unsafe partial class X86
{
    private const ulong CvTop2 = 3UL << 62;

    /// <summary>Normalises a size-T carry vector: top two carries to bits 63/62, AF carry kept at bit 3.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong NormCv<T>(ulong cv) where T : ISz => T.Bits == 64 ? cv : (cv << (64 - T.Bits)) | (cv & 8);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void SetLogic<T>(CpuState* s, ulong r) where T : ISz
    {
        s->FlRes = (ulong)T.Sext(r);
        s->FlCv = 0;
        s->FlLazy = 1;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void SetAdd<T>(CpuState* s, ulong a, ulong b, ulong r) where T : ISz
    {
        s->FlRes = (ulong)T.Sext(r);
        s->FlCv = NormCv<T>((a & b) | ((a | b) & ~r));
        s->FlLazy = 1;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void SetSub<T>(CpuState* s, ulong a, ulong b, ulong r) where T : ISz
    {
        s->FlRes = (ulong)T.Sext(r);
        s->FlCv = NormCv<T>((~a & b) | ((~a | b) & r));
        s->FlLazy = 1;
    }

    /// <summary>Flags given explicitly for CF/OF/AF, result flags from <paramref name="r"/> (shifts, MUL, BCD).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void SetExplicit<T>(CpuState* s, ulong r, bool cf, bool of, bool af) where T : ISz
    {
        s->FlRes = (ulong)T.Sext(r);
        ulong c = cf ? 1UL : 0, o = of ? 1UL : 0;
        s->FlCv = (c << 63) | ((c ^ o) << 62) | (af ? 8UL : 0);
        s->FlLazy = 1;
    }

    /// <summary>INC/DEC: like ADD/SUB 1 but CF keeps its old value.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void SetIncDec<T>(CpuState* s, ulong a, ulong r, bool dec) where T : ISz
    {
        ulong oldCf = GetCF(s) ? 1UL : 0;
        ulong cv = dec ? NormCv<T>((~a & 1) | ((~a | 1) & r)) : NormCv<T>((a & 1) | ((a | 1) & ~r));
        ulong of = ((cv >> 63) ^ (cv >> 62)) & 1;
        s->FlCv = (cv & ~CvTop2) | (oldCf << 63) | ((oldCf ^ of) << 62);
        s->FlRes = (ulong)T.Sext(r);
        s->FlLazy = 1;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool GetCF(CpuState* s) => s->FlLazy != 0 ? (long)s->FlCv < 0 : (s->Eflags & CpuState.CF) != 0;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool GetZF(CpuState* s) => s->FlLazy != 0 ? s->FlRes == 0 : (s->Eflags & CpuState.ZF) != 0;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool GetSF(CpuState* s) => s->FlLazy != 0 ? (long)s->FlRes < 0 : (s->Eflags & CpuState.SF) != 0;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool GetOF(CpuState* s) => s->FlLazy != 0 ? (long)(s->FlCv ^ (s->FlCv << 1)) < 0 : (s->Eflags & CpuState.OF) != 0;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool GetPF(CpuState* s) => s->FlLazy != 0 ? (BitOperations.PopCount((uint)(s->FlRes & 0xFF)) & 1) == 0 : (s->Eflags & CpuState.PF) != 0;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool GetAF(CpuState* s) => s->FlLazy != 0 ? (s->FlCv & 8) != 0 : (s->Eflags & CpuState.AF) != 0;

    /// <summary>Folds lazy flags into <see cref="CpuState.Eflags"/> (before a partial flag update).</summary>
    public static void Materialize(CpuState* s)
    {
        if (s->FlLazy == 0) return;
        uint f = s->Eflags & ~CpuState.ArithMask;
        if (GetCF(s)) f |= CpuState.CF;
        if (GetPF(s)) f |= CpuState.PF;
        if (GetAF(s)) f |= CpuState.AF;
        if (GetZF(s)) f |= CpuState.ZF;
        if (GetSF(s)) f |= CpuState.SF;
        if (GetOF(s)) f |= CpuState.OF;
        s->Eflags = f;
        s->FlLazy = 0;
    }

    /// <summary>The architectural EFLAGS value (bit 1 always set).</summary>
    public static uint GetEflags(CpuState* s)
    {
        Materialize(s);
        return s->Eflags | 2;
    }

    /// <summary>Sets the six arithmetic flags from <paramref name="value"/>, leaving other bits alone.</summary>
    public static void SetArith(CpuState* s, uint value, uint mask = CpuState.ArithMask)
    {
        Materialize(s);
        s->Eflags = (s->Eflags & ~mask) | (value & mask);
    }

    public static void SetFlag(CpuState* s, uint flag, bool on)
    {
        Materialize(s);
        if (on) s->Eflags |= flag; else s->Eflags &= ~flag;
    }

    /// <summary>Condition codes 0..15 as in Jcc/SETcc/CMOVcc (SDM Vol. 1 Appendix B).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Cond(CpuState* s, int cc)
    {
        bool r;
        switch (cc >> 1)
        {
            case 0: r = GetOF(s); break;
            case 1: r = GetCF(s); break;
            case 2: r = GetZF(s); break;
            case 3: r = GetCF(s) || GetZF(s); break;
            case 4: r = GetSF(s); break;
            case 5: r = GetPF(s); break;
            case 6: r = GetSF(s) != GetOF(s); break;
            default: r = GetZF(s) || GetSF(s) != GetOF(s); break;
        }
        return r ^ ((cc & 1) != 0);
    }
}

/// <summary>A condition code as a type, so Jcc/SETcc/CMOVcc handlers specialise per condition.</summary>
internal unsafe interface ICc { static abstract int Code { get; } }
internal struct CcO : ICc { public static int Code => 0; }
internal struct CcNO : ICc { public static int Code => 1; }
internal struct CcB : ICc { public static int Code => 2; }
internal struct CcAE : ICc { public static int Code => 3; }
internal struct CcE : ICc { public static int Code => 4; }
internal struct CcNE : ICc { public static int Code => 5; }
internal struct CcBE : ICc { public static int Code => 6; }
internal struct CcA : ICc { public static int Code => 7; }
internal struct CcS : ICc { public static int Code => 8; }
internal struct CcNS : ICc { public static int Code => 9; }
internal struct CcP : ICc { public static int Code => 10; }
internal struct CcNP : ICc { public static int Code => 11; }
internal struct CcL : ICc { public static int Code => 12; }
internal struct CcGE : ICc { public static int Code => 13; }
internal struct CcLE : ICc { public static int Code => 14; }
internal struct CcG : ICc { public static int Code => 15; }
