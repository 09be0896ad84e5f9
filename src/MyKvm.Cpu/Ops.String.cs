using System.Runtime.CompilerServices;
using static MyKvm.Cpu.X86;

namespace MyKvm.Cpu;

/// <summary>
/// String instructions with REP/REPE/REPNE and 16/32-bit address sizes (SDM Vol. 2 MOVS/CMPS/...; REP).
/// A repeated instruction runs at most <see cref="RepChunk"/> iterations per dispatch and then restarts
/// itself (RIP stays on it), so interrupts, budgets and faults see an architecturally valid state; every
/// iteration counts as a retired instruction for the virtual clock.
/// </summary>
internal static unsafe partial class Ops
{
    public const int RepChunk = 4096;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void SetAReg(CpuState* s, int r, ulong v, ulong am)
    {
        if (am == 0xFFFF) *(ushort*)&s->Regs[r] = (ushort)v;
        else s->Regs[r] = v & am;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static long StrDelta<T>(CpuState* s) where T : ISz => (s->Eflags & CpuState.DF) != 0 ? -T.Bytes : T.Bytes;

    private static bool IsRep(Insn* i) => (i->Flags & (Insn.FRep | Insn.FRepne)) != 0;

    /// <summary>Ends a REP chunk: n iterations done, count left in CX/ECX.</summary>
    private static int RepEnd(CpuState* s, Insn* i, ulong cnt, int n, bool more)
    {
        SetAReg(s, 1, cnt, i->AMask);
        if (n > 1) s->Retired += n - 1;
        if (more) { s->Rip -= i->Len; return 1; }
        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Movs<T>(CpuState* s, Insn* i) where T : ISz
    {
        ulong am = i->AMask;
        long d = StrDelta<T>(s);
        if (!IsRep(i))
        {
            if (!Rd<T>(s, i->Seg, s->Regs[6] & am, out ulong v) || !Wr<T>(s, SegReg.ES, s->Regs[7] & am, v)) return 1;
            SetAReg(s, 6, s->Regs[6] + (ulong)d, am);
            SetAReg(s, 7, s->Regs[7] + (ulong)d, am);
            return 0;
        }
        ulong cnt = s->Regs[1] & am;
        int n = 0;
        while (cnt != 0)
        {
            if (!Rd<T>(s, i->Seg, s->Regs[6] & am, out ulong v) || !Wr<T>(s, SegReg.ES, s->Regs[7] & am, v))
            { RepEnd(s, i, cnt, n, false); return 1; }
            SetAReg(s, 6, s->Regs[6] + (ulong)d, am);
            SetAReg(s, 7, s->Regs[7] + (ulong)d, am);
            cnt--; n++;
            if (n >= RepChunk && cnt != 0) return RepEnd(s, i, cnt, n, true);
        }
        return RepEnd(s, i, cnt, n, false);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Stos<T>(CpuState* s, Insn* i) where T : ISz
    {
        ulong am = i->AMask;
        long d = StrDelta<T>(s);
        ulong v = s->Regs[0] & T.Mask;
        if (!IsRep(i))
        {
            if (!Wr<T>(s, SegReg.ES, s->Regs[7] & am, v)) return 1;
            SetAReg(s, 7, s->Regs[7] + (ulong)d, am);
            return 0;
        }
        ulong cnt = s->Regs[1] & am;
        int n = 0;
        while (cnt != 0)
        {
            if (!Wr<T>(s, SegReg.ES, s->Regs[7] & am, v)) { RepEnd(s, i, cnt, n, false); return 1; }
            SetAReg(s, 7, s->Regs[7] + (ulong)d, am);
            cnt--; n++;
            if (n >= RepChunk && cnt != 0) return RepEnd(s, i, cnt, n, true);
        }
        return RepEnd(s, i, cnt, n, false);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Lods<T>(CpuState* s, Insn* i) where T : ISz
    {
        ulong am = i->AMask;
        long d = StrDelta<T>(s);
        if (!IsRep(i))
        {
            if (!Rd<T>(s, i->Seg, s->Regs[6] & am, out ulong v)) return 1;
            T.StoreReg(&s->Regs[0], v);
            SetAReg(s, 6, s->Regs[6] + (ulong)d, am);
            return 0;
        }
        ulong cnt = s->Regs[1] & am;
        int n = 0;
        while (cnt != 0)
        {
            if (!Rd<T>(s, i->Seg, s->Regs[6] & am, out ulong v)) { RepEnd(s, i, cnt, n, false); return 1; }
            T.StoreReg(&s->Regs[0], v);
            SetAReg(s, 6, s->Regs[6] + (ulong)d, am);
            cnt--; n++;
            if (n >= RepChunk && cnt != 0) return RepEnd(s, i, cnt, n, true);
        }
        return RepEnd(s, i, cnt, n, false);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Cmps<T>(CpuState* s, Insn* i) where T : ISz
    {
        ulong am = i->AMask;
        long d = StrDelta<T>(s);
        if (!IsRep(i))
        {
            if (!Rd<T>(s, i->Seg, s->Regs[6] & am, out ulong a) || !Rd<T>(s, SegReg.ES, s->Regs[7] & am, out ulong b)) return 1;
            OpCmp.Do<T>(s, a, b);
            SetAReg(s, 6, s->Regs[6] + (ulong)d, am);
            SetAReg(s, 7, s->Regs[7] + (ulong)d, am);
            return 0;
        }
        bool repe = (i->Flags & Insn.FRep) != 0;
        ulong cnt = s->Regs[1] & am;
        int n = 0;
        while (cnt != 0)
        {
            if (!Rd<T>(s, i->Seg, s->Regs[6] & am, out ulong a) || !Rd<T>(s, SegReg.ES, s->Regs[7] & am, out ulong b))
            { RepEnd(s, i, cnt, n, false); return 1; }
            OpCmp.Do<T>(s, a, b);
            SetAReg(s, 6, s->Regs[6] + (ulong)d, am);
            SetAReg(s, 7, s->Regs[7] + (ulong)d, am);
            cnt--; n++;
            if ((a == b) != repe) break;
            if (n >= RepChunk && cnt != 0) return RepEnd(s, i, cnt, n, true);
        }
        return RepEnd(s, i, cnt, n, false);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Scas<T>(CpuState* s, Insn* i) where T : ISz
    {
        ulong am = i->AMask;
        long d = StrDelta<T>(s);
        ulong acc = s->Regs[0] & T.Mask;
        if (!IsRep(i))
        {
            if (!Rd<T>(s, SegReg.ES, s->Regs[7] & am, out ulong b)) return 1;
            OpCmp.Do<T>(s, acc, b);
            SetAReg(s, 7, s->Regs[7] + (ulong)d, am);
            return 0;
        }
        bool repe = (i->Flags & Insn.FRep) != 0;
        ulong cnt = s->Regs[1] & am;
        int n = 0;
        while (cnt != 0)
        {
            if (!Rd<T>(s, SegReg.ES, s->Regs[7] & am, out ulong b)) { RepEnd(s, i, cnt, n, false); return 1; }
            OpCmp.Do<T>(s, acc, b);
            SetAReg(s, 7, s->Regs[7] + (ulong)d, am);
            cnt--; n++;
            if ((acc == b) != repe) break;
            if (n >= RepChunk && cnt != 0) return RepEnd(s, i, cnt, n, true);
        }
        return RepEnd(s, i, cnt, n, false);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Ins<T>(CpuState* s, Insn* i) where T : ISz
    {
        ushort port = (ushort)s->Regs[2];
        if (!IoAllowed(s, port, T.Bytes)) return 1;
        var cpu = SoftCpu.Of(s);
        ulong am = i->AMask;
        long d = StrDelta<T>(s);
        bool rep = IsRep(i);
        ulong cnt = rep ? s->Regs[1] & am : 1;
        int n = 0;
        while (cnt != 0)
        {
            // The destination is probed first so a faulting INS does not consume device data.
            if (!ProbeWrite(s, SegReg.ES, s->Regs[7] & am, T.Bytes)) { if (rep) RepEnd(s, i, cnt, n, false); return 1; }
            ulong v = cpu.PortRead(port, T.Bytes);
            if (!Wr<T>(s, SegReg.ES, s->Regs[7] & am, v)) { if (rep) RepEnd(s, i, cnt, n, false); return 1; }
            SetAReg(s, 7, s->Regs[7] + (ulong)d, am);
            cnt--; n++;
            if (rep && n >= RepChunk && cnt != 0) return RepEnd(s, i, cnt, n, true);
        }
        return rep ? RepEnd(s, i, cnt, n, false) : 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Outs<T>(CpuState* s, Insn* i) where T : ISz
    {
        ushort port = (ushort)s->Regs[2];
        if (!IoAllowed(s, port, T.Bytes)) return 1;
        var cpu = SoftCpu.Of(s);
        ulong am = i->AMask;
        long d = StrDelta<T>(s);
        bool rep = IsRep(i);
        ulong cnt = rep ? s->Regs[1] & am : 1;
        int n = 0;
        while (cnt != 0)
        {
            if (!Rd<T>(s, i->Seg, s->Regs[6] & am, out ulong v)) { if (rep) RepEnd(s, i, cnt, n, false); return 1; }
            cpu.PortWrite(port, T.Bytes, v);
            SetAReg(s, 6, s->Regs[6] + (ulong)d, am);
            cnt--; n++;
            if (rep && n >= RepChunk && cnt != 0) return RepEnd(s, i, cnt, n, true);
        }
        return rep ? RepEnd(s, i, cnt, n, false) : 0;
    }
}
