using System.Runtime.CompilerServices;
using static MyKvm.Cpu.X86;

namespace MyKvm.Cpu;

internal static unsafe partial class Ops
{
    /// <summary>Sets RIP to a near target, truncated to the operand size, checked against the CS limit.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int NearJump(CpuState* s, ulong target, int opSz)
    {
        if (opSz != 8)
        {
            target &= opSz == 2 ? 0xFFFFUL : 0xFFFF_FFFFUL;
            if (target > s->Cs.Limit) return Fault(s, Vec.GP, 0);
        }
        s->Rip = target;
        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Jcc<TC>(CpuState* s, Insn* i) where TC : ICc
    {
        if (!Cond(s, TC.Code)) return 0;
        return NearJump(s, s->Rip + (ulong)(long)(int)i->Disp, i->OpSz);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int JmpRel(CpuState* s, Insn* i) => NearJump(s, s->Rip + (ulong)(long)(int)i->Disp, i->OpSz);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int CallRel<T>(CpuState* s, Insn* i) where T : ISz
    {
        ulong ret = s->Rip;
        ulong target = (ret + (ulong)(long)(int)i->Disp) & T.Mask;
        if (T.Bits != 64 && target > s->Cs.Limit) return Fault(s, Vec.GP, 0);
        if (!Push<T>(s, ret & T.Mask)) return 1;
        s->Rip = target;
        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int JmpInd<T, TSrc>(CpuState* s, Insn* i) where T : ISz where TSrc : ISrc
    {
        if (!TSrc.Get<T>(s, i, out ulong t)) return 1;
        return NearJump(s, t, T.Bytes);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int CallInd<T, TSrc>(CpuState* s, Insn* i) where T : ISz where TSrc : ISrc
    {
        if (!TSrc.Get<T>(s, i, out ulong t)) return 1;
        if (T.Bits != 64 && t > s->Cs.Limit) return Fault(s, Vec.GP, 0);
        if (!Push<T>(s, s->Rip & T.Mask)) return 1;
        s->Rip = t;
        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int RetNear<T>(CpuState* s, Insn* i) where T : ISz
    {
        if (!Peek<T>(s, 0, out ulong t)) return 1;
        if (T.Bits != 64 && t > s->Cs.Limit) return Fault(s, Vec.GP, 0);
        SetSp(s, (s->Regs[4] & s->StackMask) + (ulong)T.Bytes + (i->Imm & 0xFFFF));
        s->Rip = t;
        return 0;
    }

    /// <summary>LOOP/LOOPE/LOOPNE/JCXZ (Aux 2/1/0/3); the counter is CX, ECX or RCX by address size.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Loop(CpuState* s, Insn* i)
    {
        ulong am = i->AMask;
        ulong c = s->Regs[1] & am;
        bool take;
        if (i->Aux == 3) take = c == 0;
        else
        {
            c = (c - 1) & am;
            if (am == 0xFFFF) *(ushort*)&s->Regs[1] = (ushort)c; else s->Regs[1] = c;
            take = c != 0 && (i->Aux == 2 || (i->Aux == 1) == GetZF(s));
        }
        if (!take) return 0;
        return NearJump(s, s->Rip + (ulong)(long)(int)i->Disp, i->OpSz == 8 ? 8 : i->OpSz);
    }

    /// <summary>Records the instruction's address for reports made while it runs (task switches are reported as unimplemented).</summary>
    private static bool Mark(CpuState* s, Insn* i)
    {
        s->InsnStart = s->Rip - i->Len;
        return true;
    }

    // ---- far transfers --------------------------------------------------------------------------

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int JmpFarImm(CpuState* s, Insn* i) => Mark(s, i) && FarJump(s, i->Imm2, i->Imm, i->OpSz, false) ? 0 : 1;
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int CallFarImm(CpuState* s, Insn* i) => Mark(s, i) && FarJump(s, i->Imm2, i->Imm, i->OpSz, true) ? 0 : 1;

    /// <summary>FF /3 (CALL m16:xx) and FF /5 (JMP m16:xx).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int FarIndirect(CpuState* s, Insn* i)
    {
        ulong ea = Ea(s, i);
        ulong off, sel;
        if (i->OpSz == 2) { if (!Rd<B16>(s, i->Seg, ea, out off)) return 1; }
        else if (!Rd<B32>(s, i->Seg, ea, out off)) return 1;
        if (!Rd<B16>(s, i->Seg, (ea + (ulong)(i->OpSz == 2 ? 2 : 4)) & i->AMask, out sel)) return 1;
        Mark(s, i);
        return FarJump(s, (ushort)sel, off, i->OpSz == 2 ? 2 : 4, i->Aux == 1) ? 0 : 1;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int RetFar(CpuState* s, Insn* i) => Mark(s, i) && FarReturn(s, i->OpSz == 2 ? 2 : 4, i->Imm & 0xFFFF) ? 0 : 1;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Iret(CpuState* s, Insn* i) => Mark(s, i) && InterruptReturn(s, i->OpSz == 2 ? 2 : i->OpSz) ? 1 : 1;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int IntN(CpuState* s, Insn* i)
    {
        Mark(s, i);
        // Virtual-8086 mode with IOPL < 3: INT n faults (no VME), SDM Vol. 3A §20.2.7.
        if (V86(s) && ((s->Eflags >> 12) & 3) < 3) return Fault(s, Vec.GP, 0);
        DeliverInterrupt(s, (int)(i->Imm & 0xFF), IntKind.Software, false, 0);
        return 1;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Int3(CpuState* s, Insn* i)
    {
        Mark(s, i);
        DeliverInterrupt(s, Vec.BP, IntKind.SoftwareException, false, 0);
        return 1;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Into(CpuState* s, Insn* i)
    {
        Mark(s, i);
        if (!GetOF(s)) return 0;
        DeliverInterrupt(s, Vec.OF, IntKind.SoftwareException, false, 0);
        return 1;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Int1(CpuState* s, Insn* i)
    {
        Mark(s, i);
        DeliverInterrupt(s, Vec.DB, IntKind.Icebp, false, 0);
        return 1;
    }
}
