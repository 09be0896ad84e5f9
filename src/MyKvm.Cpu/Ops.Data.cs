using System.Runtime.CompilerServices;
using static MyKvm.Cpu.X86;

namespace MyKvm.Cpu;

internal static unsafe partial class Ops
{
    // ---- MOV family -----------------------------------------------------------------------------

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int MovRR<T>(CpuState* s, Insn* i) where T : ISz
    {
        T.StoreReg((byte*)s + i->Rm, T.Load((byte*)s + i->Reg));
        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int MovRM<T>(CpuState* s, Insn* i) where T : ISz
    {
        if (!Rd<T>(s, i->Seg, Ea(s, i), out ulong v)) return 1;
        T.StoreReg((byte*)s + i->Reg, v);
        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int MovMR<T>(CpuState* s, Insn* i) where T : ISz
        => Wr<T>(s, i->Seg, Ea(s, i), T.Load((byte*)s + i->Reg)) ? 0 : 1;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int MovRI<T>(CpuState* s, Insn* i) where T : ISz
    {
        T.StoreReg((byte*)s + i->Rm, Imm<T>(i));
        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int MovRI64(CpuState* s, Insn* i)
    {
        *(ulong*)((byte*)s + i->Rm) = i->Imm | ((ulong)i->Disp << 32);
        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int MovMI<T>(CpuState* s, Insn* i) where T : ISz
        => Wr<T>(s, i->Seg, Ea(s, i), Imm<T>(i)) ? 0 : 1;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Movx<TD, TS, TSrc, TE>(CpuState* s, Insn* i) where TD : ISz where TS : ISz where TSrc : ISrc where TE : IExt
    {
        if (!TSrc.Get<TS>(s, i, out ulong v)) return 1;
        TD.StoreReg((byte*)s + i->Reg, TE.Ext<TS>(v) & TD.Mask);
        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Lea<T>(CpuState* s, Insn* i) where T : ISz
    {
        T.StoreReg((byte*)s + i->Reg, Ea(s, i) & T.Mask);
        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int XchgRR<T>(CpuState* s, Insn* i) where T : ISz
    {
        byte* a = (byte*)s + i->Rm, b = (byte*)s + i->Reg;
        ulong va = T.Load(a), vb = T.Load(b);
        T.StoreReg(a, vb);
        T.StoreReg(b, va);
        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int XchgMR<T>(CpuState* s, Insn* i) where T : ISz
    {
        ulong ea = Ea(s, i);
        if (!RdW<T>(s, i->Seg, ea, out ulong v)) return 1;
        byte* r = (byte*)s + i->Reg;
        if (!Wr<T>(s, i->Seg, ea, T.Load(r))) return 1;
        T.StoreReg(r, v);
        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Cbw<T>(CpuState* s, Insn* i) where T : ISz
    {
        if (T.Bits == 16) B16.StoreReg(&s->Regs[0], (ulong)(long)(sbyte)s->Regs[0]);
        else if (T.Bits == 32) B32.StoreReg(&s->Regs[0], (ulong)(long)(short)s->Regs[0]);
        else s->Regs[0] = (ulong)(long)(int)s->Regs[0];
        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Cwd<T>(CpuState* s, Insn* i) where T : ISz
    {
        bool neg = T.Sext(s->Regs[0] & T.Mask) < 0;
        T.StoreReg(&s->Regs[2], neg ? T.Mask : 0);
        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Xlat(CpuState* s, Insn* i)
    {
        ulong ea = (s->Regs[3] + (s->Regs[0] & 0xFF)) & i->AMask;
        if (!Rd<B8>(s, i->Seg, ea, out ulong v)) return 1;
        *(byte*)&s->Regs[0] = (byte)v;
        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Nop(CpuState* s, Insn* i) => 0;

    // ---- stack ----------------------------------------------------------------------------------

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void SetSp(CpuState* s, ulong sp)
    {
        if (s->StackMask == 0xFFFF) *(ushort*)&s->Regs[4] = (ushort)sp;
        else s->Regs[4] = sp & s->StackMask;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Push<T>(CpuState* s, ulong v) where T : ISz
    {
        ulong sp = (s->Regs[4] - (ulong)T.Bytes) & s->StackMask;
        if (!Wr<T>(s, SegReg.SS, sp, v)) return false;
        SetSp(s, sp);
        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Pop<T>(CpuState* s, out ulong v) where T : ISz
    {
        ulong sp = s->Regs[4] & s->StackMask;
        if (!Rd<T>(s, SegReg.SS, sp, out v)) return false;
        SetSp(s, sp + (ulong)T.Bytes);
        return true;
    }

    /// <summary>Reads the stack <paramref name="offset"/> bytes above SP without popping.</summary>
    public static bool Peek<T>(CpuState* s, ulong offset, out ulong v) where T : ISz
        => Rd<T>(s, SegReg.SS, (s->Regs[4] + offset) & s->StackMask, out v);

    /// <summary>Writes at SP - <paramref name="below"/> without moving SP (multi-push instructions commit SP last).</summary>
    public static bool PokeBelow<T>(CpuState* s, ulong below, ulong v) where T : ISz
        => Wr<T>(s, SegReg.SS, (s->Regs[4] - below) & s->StackMask, v);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int PushR<T>(CpuState* s, Insn* i) where T : ISz => Push<T>(s, T.Load((byte*)s + i->Rm)) ? 0 : 1;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int PushI<T>(CpuState* s, Insn* i) where T : ISz => Push<T>(s, Imm<T>(i)) ? 0 : 1;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int PushM<T>(CpuState* s, Insn* i) where T : ISz
    {
        if (!Rd<T>(s, i->Seg, Ea(s, i), out ulong v)) return 1;
        return Push<T>(s, v) ? 0 : 1;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int PopR<T>(CpuState* s, Insn* i) where T : ISz
    {
        if (!Pop<T>(s, out ulong v)) return 1;
        T.StoreReg((byte*)s + i->Rm, v);
        return 0;
    }

    /// <summary>POP m: ESP is incremented before the address is computed (SDM Vol. 2 POP); restored if the store faults.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int PopM<T>(CpuState* s, Insn* i) where T : ISz
    {
        ulong oldSp = s->Regs[4];
        if (!Pop<T>(s, out ulong v)) return 1;
        if (!Wr<T>(s, i->Seg, Ea(s, i), v)) { s->Regs[4] = oldSp; return 1; }
        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int PushSeg<T>(CpuState* s, Insn* i) where T : ISz
    {
        ushort sel = SegP(s, i->Aux)->Sel;
        if (T.Bits == 16) return Push<T>(s, sel) ? 0 : 1;
        // A 32-bit push of a segment register writes only the low word on recent CPUs (SDM Vol. 2 PUSH).
        ulong sp = (s->Regs[4] - (ulong)T.Bytes) & s->StackMask;
        if (!ProbeWrite(s, SegReg.SS, sp, T.Bytes)) return 1;
        if (!Wr<B16>(s, SegReg.SS, sp, sel)) return 1;
        SetSp(s, sp);
        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int PopSeg<T>(CpuState* s, Insn* i) where T : ISz
    {
        if (!Peek<T>(s, 0, out ulong v)) return 1;
        if (!LoadSeg(s, i->Aux, (ushort)v)) return 1;
        SetSp(s, (s->Regs[4] & s->StackMask) + (ulong)T.Bytes);
        if (i->Aux == SegReg.SS) { s->Events |= CpuState.EvShadowArm; return 1; }
        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Pusha<T>(CpuState* s, Insn* i) where T : ISz
    {
        ulong sp = s->Regs[4];
        for (int r = 0; r < 8; r++)
        {
            ulong v = r == 4 ? sp : s->Regs[r];
            if (!PokeBelow<T>(s, (ulong)((r + 1) * T.Bytes), v & T.Mask)) return 1;
        }
        SetSp(s, sp - (ulong)(8 * T.Bytes));
        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Popa<T>(CpuState* s, Insn* i) where T : ISz
    {
        ulong* v = stackalloc ulong[8];
        for (int r = 0; r < 8; r++)
            if (!Peek<T>(s, (ulong)((7 - r) * T.Bytes), out v[r])) return 1;
        for (int r = 0; r < 8; r++)
            if (r != 4) T.StoreReg(&s->Regs[r], v[r]);
        SetSp(s, (s->Regs[4] & s->StackMask) + (ulong)(8 * T.Bytes));
        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Enter<T>(CpuState* s, Insn* i) where T : ISz
    {
        uint size = i->Imm & 0xFFFF;
        int level = i->Imm2 & 31;
        ulong mask = s->StackMask;
        ulong sp = s->Regs[4] & mask;
        ulong bp = s->Regs[5];
        sp = (sp - (ulong)T.Bytes) & mask;
        if (!Wr<T>(s, SegReg.SS, sp, bp & T.Mask)) return 1;
        ulong frame = sp;
        if (level > 0)
        {
            ulong tbp = bp;
            for (int k = 1; k < level; k++)
            {
                tbp = (tbp - (ulong)T.Bytes) & mask;
                if (!Rd<T>(s, SegReg.SS, tbp, out ulong v)) return 1;
                sp = (sp - (ulong)T.Bytes) & mask;
                if (!Wr<T>(s, SegReg.SS, sp, v)) return 1;
            }
            sp = (sp - (ulong)T.Bytes) & mask;
            if (!Wr<T>(s, SegReg.SS, sp, frame & T.Mask)) return 1;
        }
        ulong newSp = (sp - size) & mask;
        // The final stack pointer must be writable too (SDM Vol. 2 ENTER: #SS if it is outside the segment).
        if (size != 0 && !ProbeWrite(s, SegReg.SS, newSp, 1)) return 1;
        if (mask == 0xFFFF) *(ushort*)&s->Regs[5] = (ushort)frame; else T.StoreReg(&s->Regs[5], frame);
        SetSp(s, newSp);
        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Leave<T>(CpuState* s, Insn* i) where T : ISz
    {
        ulong sp = s->Regs[5] & s->StackMask;
        if (!Rd<T>(s, SegReg.SS, sp, out ulong v)) return 1;
        SetSp(s, sp + (ulong)T.Bytes);
        T.StoreReg(&s->Regs[5], v);
        return 0;
    }

    // ---- flags ----------------------------------------------------------------------------------

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Pushf<T>(CpuState* s, Insn* i) where T : ISz
    {
        uint f = GetEflags(s);
        if (V86(s) && ((f >> 12) & 3) < 3) return Fault(s, Vec.GP, 0);
        f &= ~(CpuState.VM | CpuState.RF);      // the image never shows VM or RF (SDM Vol. 2 PUSHF)
        return Push<T>(s, f & T.Mask) ? 0 : 1;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Popf<T>(CpuState* s, Insn* i) where T : ISz
    {
        uint cur = GetEflags(s);
        int iopl = (int)((cur >> 12) & 3);
        if (V86(s) && iopl < 3) return Fault(s, Vec.GP, 0);
        if (!Peek<T>(s, 0, out ulong v)) return 1;
        SetSp(s, (s->Regs[4] & s->StackMask) + (ulong)T.Bytes);
        uint mask = CpuState.ArithMask | CpuState.TF | CpuState.DF | CpuState.NT | CpuState.AC | CpuState.ID;
        if (!ProtectedMode(s) || s->Cpl == 0) mask |= CpuState.IOPL | CpuState.IF;
        else if (s->Cpl <= iopl) mask |= CpuState.IF;
        if (V86(s)) mask = (mask | CpuState.IF) & ~CpuState.IOPL;
        if (T.Bits == 16) mask &= 0xFFFF;
        WriteEflags(s, ((uint)v & mask) | (cur & ~mask & ~CpuState.RF));
        return 1;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Lahf(CpuState* s, Insn* i)
    {
        uint f = GetEflags(s);
        *((byte*)&s->Regs[0] + 1) = (byte)((f & 0xD5) | 2);
        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Sahf(CpuState* s, Insn* i)
    {
        uint ah = (uint)(s->Regs[0] >> 8) & 0xFF;
        SetArith(s, ah, CpuState.SF | CpuState.ZF | CpuState.AF | CpuState.PF | CpuState.CF);
        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Clc(CpuState* s, Insn* i) { SetFlag(s, CpuState.CF, false); return 0; }
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Stc(CpuState* s, Insn* i) { SetFlag(s, CpuState.CF, true); return 0; }
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Cmc(CpuState* s, Insn* i) { SetFlag(s, CpuState.CF, !GetCF(s)); return 0; }
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Cld(CpuState* s, Insn* i) { s->Eflags &= ~CpuState.DF; return 0; }
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Std(CpuState* s, Insn* i) { s->Eflags |= CpuState.DF; return 0; }

    /// <summary>CLI/STI check IOPL in protected and virtual-8086 mode (no VME/PVI: CPUID does not claim them).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Cli(CpuState* s, Insn* i)
    {
        if (ProtectedMode(s) && s->Cpl > (int)((s->Eflags >> 12) & 3)) return Fault(s, Vec.GP, 0);
        WriteEflags(s, s->Eflags & ~CpuState.IF);
        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Sti(CpuState* s, Insn* i)
    {
        if (ProtectedMode(s) && s->Cpl > (int)((s->Eflags >> 12) & 3)) return Fault(s, Vec.GP, 0);
        if ((s->Eflags & CpuState.IF) == 0)
        {
            // Interrupts stay inhibited until after the next instruction (SDM Vol. 2 STI).
            s->Events |= CpuState.EvShadowArm;
            WriteEflags(s, s->Eflags | CpuState.IF);
            return 1;
        }
        return 0;
    }

    // ---- segment registers ----------------------------------------------------------------------

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int MovSegR(CpuState* s, Insn* i) => MovSeg(s, i->Aux, (ushort)*(ushort*)((byte*)s + i->Rm));

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int MovSegM(CpuState* s, Insn* i)
    {
        if (!Rd<B16>(s, i->Seg, Ea(s, i), out ulong v)) return 1;
        return MovSeg(s, i->Aux, (ushort)v);
    }

    private static int MovSeg(CpuState* s, int seg, ushort sel)
    {
        if (!LoadSeg(s, seg, sel)) return 1;
        if (seg == SegReg.SS) s->Events |= CpuState.EvShadowArm;   // SDM Vol. 2 MOV: SS load inhibits interrupts
        return 1;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int MovMSeg(CpuState* s, Insn* i) => Wr<B16>(s, i->Seg, Ea(s, i), SegP(s, i->Aux)->Sel) ? 0 : 1;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int MovRSeg<T>(CpuState* s, Insn* i) where T : ISz
    {
        T.StoreReg((byte*)s + i->Rm, SegP(s, i->Aux)->Sel);
        return 0;
    }

    /// <summary>LDS/LES/LSS/LFS/LGS: offset then selector from memory.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int LoadFarPtr<T>(CpuState* s, Insn* i) where T : ISz
    {
        ulong ea = Ea(s, i);
        if (!Rd<T>(s, i->Seg, ea, out ulong off)) return 1;
        if (!Rd<B16>(s, i->Seg, (ea + (ulong)T.Bytes) & i->AMask, out ulong sel)) return 1;
        if (!LoadSeg(s, i->Aux, (ushort)sel)) return 1;
        T.StoreReg((byte*)s + i->Reg, off);
        return 1;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Bound<T>(CpuState* s, Insn* i) where T : ISz
    {
        ulong ea = Ea(s, i);
        if (!Rd<T>(s, i->Seg, ea, out ulong lo)) return 1;
        if (!Rd<T>(s, i->Seg, (ea + (ulong)T.Bytes) & i->AMask, out ulong hi)) return 1;
        long idx = T.Sext(T.Load((byte*)s + i->Reg));
        if (idx < T.Sext(lo) || idx > T.Sext(hi)) return Fault(s, Vec.BR);
        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int ArplR(CpuState* s, Insn* i)
    {
        if (!ProtectedMode(s) || V86(s)) return Fault(s, Vec.UD);
        ushort* d = (ushort*)((byte*)s + i->Rm);
        ushort src = *(ushort*)((byte*)s + i->Reg);
        if ((*d & 3) < (src & 3)) { *d = (ushort)((*d & ~3) | (src & 3)); SetFlag(s, CpuState.ZF, true); }
        else SetFlag(s, CpuState.ZF, false);
        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int ArplM(CpuState* s, Insn* i)
    {
        if (!ProtectedMode(s) || V86(s)) return Fault(s, Vec.UD);
        ulong ea = Ea(s, i);
        if (!RdW<B16>(s, i->Seg, ea, out ulong d)) return 1;
        ushort src = *(ushort*)((byte*)s + i->Reg);
        if ((d & 3) < (ulong)(uint)(src & 3))
        {
            if (!Wr<B16>(s, i->Seg, ea, (d & ~3UL) | (uint)(src & 3))) return 1;
            SetFlag(s, CpuState.ZF, true);
        }
        else SetFlag(s, CpuState.ZF, false);
        return 0;
    }
}
