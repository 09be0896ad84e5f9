using MyKvm.Core;
using static MyKvm.Cpu.X86;

namespace MyKvm.Cpu;

/// <summary>How an interrupt was raised: decides the EXT bit, the gate-DPL check and the return address.</summary>
internal enum IntKind
{
    Exception,          // a fault or trap detected by the CPU (EXT = 1)
    External,           // INTR from the interrupt controller, NMI (EXT = 1)
    Software,           // INT n (gate DPL checked against CPL)
    SoftwareException,  // INT3, INTO (gate DPL checked)
    Icebp,              // INT1 / F1 (no DPL check, EXT = 1)
}

/// <summary>
/// Interrupt and exception delivery, far transfers and their returns (SDM Vol. 3A chapter 5 and §6.12,
/// Vol. 2 CALL/JMP/RET/IRET/INT n). Every routine checks everything before committing any register, so a
/// fault in the middle leaves the state of the instruction start (precise, restartable).
/// </summary>
internal static unsafe partial class X86
{
    /// <summary>Writes EFLAGS (all bits, arithmetic flags included) and updates what depends on IF, TF and VM.</summary>
    public static void WriteEflags(CpuState* s, uint v)
    {
        uint old = s->Eflags;
        v = (v & 0x003F_7FD5u) | 2;
        s->Eflags = v;
        s->FlLazy = 0;
        s->SigMask = (v & CpuState.IF) != 0 ? ~0 : ~CpuSignals.Intr;
        if (((old ^ v) & CpuState.VM) != 0)
        {
            if ((v & CpuState.VM) != 0) SetCpl(s, 3);
            RecomputeAllRanges(s);
        }
        if ((v & CpuState.TF) != 0 || ((old ^ v) & CpuState.IF) != 0) s->Events |= CpuState.EvRecheck;
    }

    public static void SetIf(CpuState* s, bool on)
    {
        if (on) s->Eflags |= CpuState.IF; else s->Eflags &= ~CpuState.IF;
        s->SigMask = on ? ~0 : ~CpuSignals.Intr;
        s->Events |= CpuState.EvRecheck;
    }

    private static bool GpFalse(CpuState* s, uint err) { Fault(s, Vec.GP, err); return false; }
    private static bool FaultFalse(CpuState* s, int vec, uint err) { Fault(s, vec, err); return false; }

    // ---- delivery -------------------------------------------------------------------------------

    /// <summary>
    /// Delivers <paramref name="vec"/>. The return address is the current RIP (the caller sets it to the
    /// faulting instruction for faults). Returns false with a new fault pending if delivery itself faulted.
    /// </summary>
    public static bool DeliverInterrupt(CpuState* s, int vec, IntKind kind, bool hasErr, uint err)
    {
        s->Halted = 0;
        if (!ProtectedMode(s)) return DeliverReal(s, vec);
        return DeliverProtected(s, vec, kind, hasErr, err);
    }

    private static bool DeliverReal(CpuState* s, int vec)
    {
        // Real-mode IVT: 4-byte IP:CS entries; push FLAGS, CS, IP (SDM Vol. 3A §20.1.4).
        ulong off = (ulong)vec * 4;
        if (off + 3 > s->IdtLimit) return GpFalse(s, (uint)(vec * 8 + 2));
        if (!SysRead<B32>(s, s->IdtBase + off, out ulong ent)) return false;
        uint flags = GetEflags(s);
        if (!Ops.PokeBelow<B16>(s, 2, flags & 0xFFFF)) return false;
        if (!Ops.PokeBelow<B16>(s, 4, s->Cs.Sel)) return false;
        if (!Ops.PokeBelow<B16>(s, 6, s->Rip & 0xFFFF)) return false;
        Ops.SetSp(s, s->Regs[4] - 6);
        WriteEflags(s, flags & ~(CpuState.IF | CpuState.TF | CpuState.AC | CpuState.RF));
        ushort cs = (ushort)(ent >> 16);
        SetSegCache(s, SegReg.CS, cs, (ulong)cs << 4, s->Cs.Limit, s->Cs.Attr);
        s->Rip = ent & 0xFFFF;
        return true;
    }

    private static bool DeliverProtected(CpuState* s, int vec, IntKind kind, bool hasErr, uint err)
    {
        uint ext = kind is IntKind.Exception or IntKind.External or IntKind.Icebp ? 1u : 0u;
        uint idtErr = (uint)(vec * 8 + 2) | ext;
        if ((ulong)vec * 8 + 7 > s->IdtLimit) return GpFalse(s, idtErr);
        if (!SysRead<B64>(s, s->IdtBase + (ulong)vec * 8, out ulong gate)) return false;
        int type = (int)(gate >> 40) & 0x1F;
        int gdpl = (int)(gate >> 45) & 3;
        if (type is not (0x05 or 0x06 or 0x07 or 0x0E or 0x0F)) return GpFalse(s, idtErr);
        if (kind is IntKind.Software or IntKind.SoftwareException && gdpl < s->Cpl) return GpFalse(s, (uint)(vec * 8 + 2));
        if ((gate & (1UL << 47)) == 0) return FaultFalse(s, Vec.NP, idtErr);
        if (type == 0x05)
        {
            SoftCpu.Of(s).ReportUnimplemented($"task gate in IDT entry {vec} (hardware task switch)");
            return true;
        }
        bool gate32 = (type & 8) != 0, trapGate = (type & 1) != 0;
        ushort sel = (ushort)(gate >> 16);
        uint offset = (uint)((gate & 0xFFFF) | ((gate >> 32) & 0xFFFF_0000UL));
        if (!gate32) offset &= 0xFFFF;
        return EnterHandler(s, sel, offset, gate32, trapGate, hasErr, err, ext);
    }

    /// <summary>The common part of interrupt delivery through an interrupt or trap gate (SDM Vol. 3A §6.12.1).</summary>
    private static bool EnterHandler(CpuState* s, ushort sel, uint offset, bool gate32, bool trapGate, bool hasErr, uint err, uint ext)
    {
        if ((sel & ~3) == 0) return GpFalse(s, ext);
        int r = ReadDescriptor(s, sel, out ulong d, out ulong daddr);
        if (r == 2) return false;
        uint selErr = (uint)(sel & ~3) | ext;
        if (r == 1) return GpFalse(s, selErr);
        ushort attr = DescAttr(d);
        int dpl = (attr >> 5) & 3;
        if ((attr & 0x18) != 0x18 || dpl > s->Cpl) return GpFalse(s, selErr);
        if ((attr & 0x80) == 0) return FaultFalse(s, Vec.NP, selErr);
        bool conforming = (attr & 4) != 0;
        uint limit = DescLimit(d);
        uint oldFlags = GetEflags(s);
        bool v86 = (oldFlags & CpuState.VM) != 0;
        int w = gate32 ? 4 : 2;
        if (offset > limit) return GpFalse(s, ext);

        if (!conforming && dpl < s->Cpl)
        {
            if (v86 && dpl != 0) return GpFalse(s, selErr);
            if (!ReadTssStack(s, dpl, out ushort newSs, out ulong newSp, ext)) return false;
            if (!CheckStackSelector(s, newSs, dpl, ext, out ulong sd, out ulong saddr)) return false;
            ulong ssBase = DescBase(sd);
            ulong spMask = (DescAttr(sd) & 0x4000) != 0 ? 0xFFFF_FFFFUL : 0xFFFF;
            ulong* vals = stackalloc ulong[10];
            int n = 0;
            if (v86)
            {
                vals[n++] = s->Gs.Sel; vals[n++] = s->Fs.Sel; vals[n++] = s->Ds.Sel; vals[n++] = s->Es.Sel;
            }
            vals[n++] = s->Ss.Sel;
            vals[n++] = s->Regs[4];
            vals[n++] = oldFlags;
            vals[n++] = s->Cs.Sel;
            vals[n++] = s->Rip;
            if (hasErr) vals[n++] = err;
            ulong sp = newSp;
            int acc = dpl == 3 ? AccUser : 0;
            for (int k = 0; k < n; k++)
            {
                sp = (sp - (ulong)w) & spMask;
                ulong lin = (ssBase + sp) & 0xFFFF_FFFFUL;
                bool ok = gate32 ? WriteSlow<B32>(s, lin, acc, vals[k]) : WriteSlow<B16>(s, lin, acc, vals[k] & 0xFFFF);
                if (!ok) return false;
            }
            if (!SetAccessed(s, saddr, ref sd) || !SetAccessed(s, daddr, ref d)) return false;
            // Commit.
            if (v86)
            {
                WriteEflags(s, oldFlags & ~CpuState.VM);
                for (int k = 0; k <= SegReg.GS; k++)
                    if (k is SegReg.DS or SegReg.ES or SegReg.FS or SegReg.GS) SetSegCache(s, k, 0, 0, 0, 0);
            }
            LoadCsChecked(s, sel, d, dpl);
            SetSegCache(s, SegReg.SS, (ushort)((newSs & ~3) | dpl), ssBase, DescLimit(sd), DescAttr(sd));
            if (spMask == 0xFFFF) s->Regs[4] = (newSp & ~0xFFFFUL) | sp; else s->Regs[4] = sp;
        }
        else if (conforming || dpl == s->Cpl)
        {
            if (v86) return GpFalse(s, selErr);
            ulong* vals = stackalloc ulong[4];
            int n = 0;
            vals[n++] = oldFlags;
            vals[n++] = s->Cs.Sel;
            vals[n++] = s->Rip;
            if (hasErr) vals[n++] = err;
            for (int k = 0; k < n; k++)
            {
                bool ok = gate32 ? Ops.PokeBelow<B32>(s, (ulong)((k + 1) * w), vals[k]) : Ops.PokeBelow<B16>(s, (ulong)((k + 1) * w), vals[k] & 0xFFFF);
                if (!ok) return false;
            }
            if (!SetAccessed(s, daddr, ref d)) return false;
            Ops.SetSp(s, s->Regs[4] - (ulong)(n * w));
            LoadCsChecked(s, sel, d, s->Cpl);
        }
        else return GpFalse(s, selErr);

        uint nf = oldFlags & ~(CpuState.TF | CpuState.NT | CpuState.RF | CpuState.VM);
        if (!trapGate) nf &= ~CpuState.IF;
        WriteEflags(s, nf);
        s->Rip = offset;
        return true;
    }

    /// <summary>Reads SS:ESP for privilege level <paramref name="dpl"/> from the current TSS (SDM Vol. 3A §7.2.1).</summary>
    private static bool ReadTssStack(CpuState* s, int dpl, out ushort ss, out ulong sp, uint ext)
    {
        ss = 0; sp = 0;
        int type = s->Tr.Attr & 0xF;
        uint tsErr = (uint)(s->Tr.Sel & ~3) | ext;
        if ((s->Tr.Attr & 0x80) == 0) return FaultFalse(s, Vec.TS, tsErr);
        if (type is 9 or 0xB)
        {
            uint off = (uint)(4 + dpl * 8);
            if (off + 5 > s->Tr.Limit) return FaultFalse(s, Vec.TS, tsErr);
            if (!SysRead<B32>(s, s->Tr.Base + off, out sp)) return false;
            if (!SysRead<B16>(s, s->Tr.Base + off + 4, out ulong v)) return false;
            ss = (ushort)v;
        }
        else
        {
            uint off = (uint)(2 + dpl * 4);
            if (off + 3 > s->Tr.Limit) return FaultFalse(s, Vec.TS, tsErr);
            if (!SysRead<B16>(s, s->Tr.Base + off, out sp)) return false;
            if (!SysRead<B16>(s, s->Tr.Base + off + 2, out ulong v)) return false;
            ss = (ushort)v;
        }
        return true;
    }

    /// <summary>The checks on a new stack segment taken from the TSS (faults are #TS, or #SS when not present).</summary>
    private static bool CheckStackSelector(CpuState* s, ushort ss, int dpl, uint ext, out ulong desc, out ulong addr)
    {
        desc = 0; addr = 0;
        if ((ss & ~3) == 0) return FaultFalse(s, Vec.TS, ext);
        int r = ReadDescriptor(s, ss, out desc, out addr);
        if (r == 2) return false;
        uint e = (uint)(ss & ~3) | ext;
        if (r == 1) return FaultFalse(s, Vec.TS, e);
        ushort a = DescAttr(desc);
        if ((ss & 3) != dpl || ((a >> 5) & 3) != dpl || (a & 0x1A) != 0x12) return FaultFalse(s, Vec.TS, e);
        if ((a & 0x80) == 0) return FaultFalse(s, Vec.SS, e);
        return true;
    }

    // ---- far JMP / CALL -------------------------------------------------------------------------

    public static bool FarJump(CpuState* s, ushort sel, ulong off, int osz, bool call)
    {
        if (osz == 2) off &= 0xFFFF; else off &= 0xFFFF_FFFF;
        if (!ProtectedMode(s) || V86(s))
        {
            if (off > s->Cs.Limit) return GpFalse(s, 0);
            if (call && !PushReturn(s, osz)) return false;
            LoadSeg(s, SegReg.CS, sel);
            s->Rip = off;
            return true;
        }
        if ((sel & ~3) == 0) return GpFalse(s, 0);
        int r = ReadDescriptor(s, sel, out ulong d, out ulong daddr);
        if (r == 2) return false;
        if (r == 1) return GpFalse(s, (uint)(sel & ~3));
        ushort a = DescAttr(d);
        int dpl = (a >> 5) & 3, rpl = sel & 3;
        if ((a & 0x10) != 0)
        {
            if ((a & 8) == 0) return GpFalse(s, (uint)(sel & ~3));
            bool conforming = (a & 4) != 0;
            if (conforming ? dpl > s->Cpl : rpl > s->Cpl || dpl != s->Cpl) return GpFalse(s, (uint)(sel & ~3));
            if ((a & 0x80) == 0) return FaultFalse(s, Vec.NP, (uint)(sel & ~3));
            if (off > DescLimit(d)) return GpFalse(s, 0);
            if (call && !PushReturn(s, osz)) return false;
            if (!SetAccessed(s, daddr, ref d)) return false;
            LoadCsChecked(s, sel, d, s->Cpl);
            s->Rip = off;
            return true;
        }
        int type = a & 0xF;
        if (type is 4 or 0xC) return ThroughCallGate(s, sel, d, call);
        if (type is 1 or 9 or 5)
        {
            SoftCpu.Of(s).ReportUnimplemented($"far {(call ? "call" : "jmp")} to {(type == 5 ? "task gate" : "TSS")} {sel:x4} (hardware task switch)");
            return true;
        }
        return GpFalse(s, (uint)(sel & ~3));
    }

    private static bool PushReturn(CpuState* s, int osz)
    {
        ulong ret = s->Rip;
        if (osz == 2)
        {
            if (!Ops.PokeBelow<B16>(s, 2, s->Cs.Sel) || !Ops.PokeBelow<B16>(s, 4, ret & 0xFFFF)) return false;
            Ops.SetSp(s, s->Regs[4] - 4);
        }
        else
        {
            if (!Ops.PokeBelow<B32>(s, 4, s->Cs.Sel) || !Ops.PokeBelow<B32>(s, 8, ret & 0xFFFF_FFFF)) return false;
            Ops.SetSp(s, s->Regs[4] - 8);
        }
        return true;
    }

    /// <summary>JMP/CALL through a call gate, with the stack switch and parameter copy for calls to inner levels (SDM Vol. 3A §5.8.5).</summary>
    private static bool ThroughCallGate(CpuState* s, ushort gsel, ulong gate, bool call)
    {
        int gdpl = (int)(gate >> 45) & 3;
        uint gerr = (uint)(gsel & ~3);
        if (gdpl < s->Cpl || gdpl < (gsel & 3)) return GpFalse(s, gerr);
        if ((gate & (1UL << 47)) == 0) return FaultFalse(s, Vec.NP, gerr);
        bool gate32 = ((gate >> 40) & 0xF) == 0xC;
        ushort tsel = (ushort)(gate >> 16);
        ulong toff = (gate & 0xFFFF) | (gate32 ? (gate >> 32) & 0xFFFF_0000UL : 0);
        if ((tsel & ~3) == 0) return GpFalse(s, 0);
        int r = ReadDescriptor(s, tsel, out ulong d, out ulong daddr);
        if (r == 2) return false;
        uint terr = (uint)(tsel & ~3);
        if (r == 1) return GpFalse(s, terr);
        ushort a = DescAttr(d);
        int dpl = (a >> 5) & 3;
        if ((a & 0x18) != 0x18 || dpl > s->Cpl) return GpFalse(s, terr);
        if ((a & 0x80) == 0) return FaultFalse(s, Vec.NP, terr);
        bool conforming = (a & 4) != 0;
        if (toff > DescLimit(d)) return GpFalse(s, 0);
        if (!call)
        {
            if (!conforming && dpl != s->Cpl) return GpFalse(s, terr);
            if (!SetAccessed(s, daddr, ref d)) return false;
            LoadCsChecked(s, tsel, d, s->Cpl);
            s->Rip = toff;
            return true;
        }
        int w = gate32 ? 4 : 2;
        if (!conforming && dpl < s->Cpl)
        {
            if (!ReadTssStack(s, dpl, out ushort newSs, out ulong newSp, 0)) return false;
            if (!CheckStackSelector(s, newSs, dpl, 0, out ulong sd, out ulong saddr)) return false;
            int count = (int)(gate >> 32) & 0x1F;
            ulong* vals = stackalloc ulong[36];
            int n = 0;
            vals[n++] = s->Ss.Sel;
            vals[n++] = s->Regs[4];
            for (int k = count - 1; k >= 0; k--)
            {
                ulong v;
                bool ok = gate32 ? Ops.Peek<B32>(s, (ulong)(k * w), out v) : Ops.Peek<B16>(s, (ulong)(k * w), out v);
                if (!ok) return false;
                vals[n++] = v;
            }
            vals[n++] = s->Cs.Sel;
            vals[n++] = s->Rip;
            ulong ssBase = DescBase(sd);
            ulong spMask = (DescAttr(sd) & 0x4000) != 0 ? 0xFFFF_FFFFUL : 0xFFFF;
            ulong sp = newSp;
            int acc = dpl == 3 ? AccUser : 0;
            for (int k = 0; k < n; k++)
            {
                sp = (sp - (ulong)w) & spMask;
                ulong lin = (ssBase + sp) & 0xFFFF_FFFFUL;
                bool ok = gate32 ? WriteSlow<B32>(s, lin, acc, vals[k]) : WriteSlow<B16>(s, lin, acc, vals[k] & 0xFFFF);
                if (!ok) return false;
            }
            if (!SetAccessed(s, saddr, ref sd) || !SetAccessed(s, daddr, ref d)) return false;
            LoadCsChecked(s, tsel, d, dpl);
            SetSegCache(s, SegReg.SS, (ushort)((newSs & ~3) | dpl), ssBase, DescLimit(sd), DescAttr(sd));
            if (spMask == 0xFFFF) s->Regs[4] = (newSp & ~0xFFFFUL) | sp; else s->Regs[4] = sp;
            s->Rip = toff;
            return true;
        }
        if (!PushReturn(s, w)) return false;
        if (!SetAccessed(s, daddr, ref d)) return false;
        LoadCsChecked(s, tsel, d, s->Cpl);
        s->Rip = toff;
        return true;
    }

    // ---- far RET and IRET -----------------------------------------------------------------------

    private static bool StackRead(CpuState* s, ulong offset, int osz, out ulong v)
        => osz == 2 ? Ops.Peek<B16>(s, offset, out v) : osz == 4 ? Ops.Peek<B32>(s, offset, out v) : Ops.Peek<B64>(s, offset, out v);

    /// <summary>Checks the CS selector a RET/IRET returns to (SDM Vol. 2 RET, "return to ... privilege level").</summary>
    private static bool CheckReturnCs(CpuState* s, ushort sel, out ulong d, out ulong daddr)
    {
        d = 0; daddr = 0;
        if ((sel & ~3) == 0) return GpFalse(s, 0);
        int r = ReadDescriptor(s, sel, out d, out daddr);
        if (r == 2) return false;
        uint e = (uint)(sel & ~3);
        if (r == 1) return GpFalse(s, e);
        ushort a = DescAttr(d);
        int rpl = sel & 3, dpl = (a >> 5) & 3;
        if (rpl < s->Cpl || (a & 0x18) != 0x18) return GpFalse(s, e);
        if ((a & 4) != 0 ? dpl > rpl : dpl != rpl) return GpFalse(s, e);
        if ((a & 0x80) == 0) return FaultFalse(s, Vec.NP, e);
        return true;
    }

    private static bool CheckReturnSs(CpuState* s, ushort ss, int rpl, out ulong sd, out ulong saddr)
    {
        sd = 0; saddr = 0;
        if ((ss & ~3) == 0) return GpFalse(s, 0);
        int r = ReadDescriptor(s, ss, out sd, out saddr);
        if (r == 2) return false;
        uint e = (uint)(ss & ~3);
        if (r == 1) return GpFalse(s, e);
        ushort a = DescAttr(sd);
        if ((ss & 3) != rpl || ((a >> 5) & 3) != rpl || (a & 0x1A) != 0x12) return GpFalse(s, e);
        if ((a & 0x80) == 0) return FaultFalse(s, Vec.SS, e);
        return true;
    }

    public static bool FarReturn(CpuState* s, int osz, ulong imm)
    {
        if (!StackRead(s, 0, osz, out ulong eip) || !StackRead(s, (ulong)osz, osz, out ulong csv)) return false;
        ushort sel = (ushort)csv;
        if (!ProtectedMode(s) || V86(s))
        {
            if (eip > s->Cs.Limit) return GpFalse(s, 0);
            LoadSeg(s, SegReg.CS, sel);
            Ops.SetSp(s, s->Regs[4] + (ulong)(2 * osz) + imm);
            s->Rip = eip;
            return true;
        }
        if (!CheckReturnCs(s, sel, out ulong d, out ulong daddr)) return false;
        int rpl = sel & 3;
        if (eip > DescLimit(d)) return GpFalse(s, 0);
        if (rpl == s->Cpl)
        {
            if (!SetAccessed(s, daddr, ref d)) return false;
            Ops.SetSp(s, s->Regs[4] + (ulong)(2 * osz) + imm);
            LoadCsChecked(s, sel, d, rpl);
            s->Rip = eip;
            return true;
        }
        ulong at = (ulong)(2 * osz) + imm;
        if (!StackRead(s, at, osz, out ulong newSp) || !StackRead(s, at + (ulong)osz, osz, out ulong ssv)) return false;
        if (!CheckReturnSs(s, (ushort)ssv, rpl, out ulong sd, out ulong saddr)) return false;
        if (!SetAccessed(s, daddr, ref d) || !SetAccessed(s, saddr, ref sd)) return false;
        LoadCsChecked(s, sel, d, rpl);
        SetSegCache(s, SegReg.SS, (ushort)ssv, DescBase(sd), DescLimit(sd), DescAttr(sd));
        Ops.SetSp(s, newSp + imm);
        s->Rip = eip;
        NullifyInaccessibleSegs(s);
        return true;
    }

    /// <summary>IRET/IRETD (SDM Vol. 2 IRET). Returns false with a fault pending.</summary>
    public static bool InterruptReturn(CpuState* s, int osz)
    {
        uint cur = GetEflags(s);
        int iopl = (int)((cur >> 12) & 3);
        if (V86(s) && iopl < 3) return GpFalse(s, 0);
        if (ProtectedMode(s) && !V86(s) && (cur & CpuState.NT) != 0)
        {
            SoftCpu.Of(s).ReportUnimplemented("IRET with NT=1 (return from a nested task)");
            return true;
        }
        if (!StackRead(s, 0, osz, out ulong eip) || !StackRead(s, (ulong)osz, osz, out ulong csv) ||
            !StackRead(s, (ulong)(2 * osz), osz, out ulong fl)) return false;
        ushort sel = (ushort)csv;
        uint nf = (uint)fl;
        if (!ProtectedMode(s) || V86(s))
        {
            if (osz == 2) eip &= 0xFFFF;
            if (eip > s->Cs.Limit) return GpFalse(s, 0);
            uint mask = osz == 2 ? 0xFFFFu : 0x003F_7FD5u & ~(CpuState.VM | CpuState.VIP | CpuState.VIF);
            if (V86(s)) mask &= ~CpuState.IOPL;
            LoadSeg(s, SegReg.CS, sel);
            Ops.SetSp(s, s->Regs[4] + (ulong)(3 * osz));
            WriteEflags(s, (cur & ~mask) | (nf & mask));
            s->Rip = eip;
            return true;
        }
        if (osz == 4 && (nf & CpuState.VM) != 0 && s->Cpl == 0)
            return IretToV86(s, (uint)eip, sel, nf);
        if (!CheckReturnCs(s, sel, out ulong d, out ulong daddr)) return false;
        int rpl = sel & 3;
        if (eip > DescLimit(d)) return GpFalse(s, 0);
        uint fmask = CpuState.ArithMask | CpuState.TF | CpuState.DF | CpuState.NT | CpuState.RF | CpuState.AC | CpuState.ID;
        if (s->Cpl <= iopl) fmask |= CpuState.IF;
        if (s->Cpl == 0) fmask |= CpuState.IOPL | (osz == 4 ? CpuState.VIF | CpuState.VIP : 0);
        if (osz == 2) fmask &= 0xFFFF;
        uint newFlags = (cur & ~fmask) | (nf & fmask);
        if (rpl == s->Cpl)
        {
            if (!SetAccessed(s, daddr, ref d)) return false;
            Ops.SetSp(s, s->Regs[4] + (ulong)(3 * osz));
            LoadCsChecked(s, sel, d, rpl);
            WriteEflags(s, newFlags);
            s->Rip = eip;
            return true;
        }
        if (!StackRead(s, (ulong)(3 * osz), osz, out ulong newSp) || !StackRead(s, (ulong)(4 * osz), osz, out ulong ssv)) return false;
        if (!CheckReturnSs(s, (ushort)ssv, rpl, out ulong sd, out ulong saddr)) return false;
        if (!SetAccessed(s, daddr, ref d) || !SetAccessed(s, saddr, ref sd)) return false;
        LoadCsChecked(s, sel, d, rpl);
        SetSegCache(s, SegReg.SS, (ushort)ssv, DescBase(sd), DescLimit(sd), DescAttr(sd));
        Ops.SetSp(s, newSp);
        WriteEflags(s, newFlags);
        s->Rip = eip;
        NullifyInaccessibleSegs(s);
        return true;
    }

    /// <summary>IRET from CPL 0 with VM=1 in the image: enter virtual-8086 mode (SDM Vol. 2 IRET, RETURN-TO-VIRTUAL-8086-MODE).</summary>
    private static bool IretToV86(CpuState* s, uint eip, ushort cs, uint nf)
    {
        ulong* v = stackalloc ulong[6];
        for (int k = 0; k < 6; k++)
            if (!StackRead(s, (ulong)(12 + 4 * k), 4, out v[k])) return false;
        WriteEflags(s, nf);          // sets VM, CPL 3 and real-style segment ranges
        SetCpl(s, 3);
        ushort[] order = [SegReg.SS, SegReg.ES, SegReg.DS, SegReg.FS, SegReg.GS];
        ulong newSp = v[0];
        for (int k = 0; k < 5; k++)
        {
            ushort sel = (ushort)v[k + 1];
            SetSegCache(s, order[k], sel, (ulong)sel << 4, 0xFFFF, 0xF3);
        }
        SetSegCache(s, SegReg.CS, cs, (ulong)cs << 4, 0xFFFF, 0xFB);
        s->Regs[4] = newSp & 0xFFFF_FFFF;
        s->Rip = eip & 0xFFFF;
        return true;
    }
}
