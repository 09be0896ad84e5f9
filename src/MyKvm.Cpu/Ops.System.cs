using System.Runtime.CompilerServices;
using MyKvm.Core;
using static MyKvm.Cpu.X86;

namespace MyKvm.Cpu;

internal static unsafe partial class Ops
{
    /// <summary>CPL 0 required (#GP(0) otherwise; SDM: privileged instructions). Real mode always passes.</summary>
    private static bool Privileged(CpuState* s) => !ProtectedMode(s) || (!V86(s) && s->Cpl == 0);

    // ---- port I/O -------------------------------------------------------------------------------

    /// <summary>IOPL and TSS I/O-permission-bitmap check (SDM Vol. 1 §19.5). Raises #GP(0) when denied.</summary>
    public static bool IoAllowed(CpuState* s, ushort port, int size)
    {
        if (!ProtectedMode(s)) return true;
        if (!V86(s) && s->Cpl <= (int)((s->Eflags >> 12) & 3)) return true;
        int type = s->Tr.Attr & 0xF;
        if ((type != 9 && type != 0xB) || s->Tr.Limit < 103) { Fault(s, Vec.GP, 0); return false; }
        if (!SysRead<B16>(s, s->Tr.Base + 102, out ulong mapBase)) return false;
        ulong byteOff = mapBase + (ulong)(port >> 3);
        if (byteOff + 1 > s->Tr.Limit) { Fault(s, Vec.GP, 0); return false; }
        if (!SysRead<B16>(s, s->Tr.Base + byteOff, out ulong bits)) return false;
        uint need = ((1u << size) - 1) << (port & 7);
        if ((bits & need) != 0) { Fault(s, Vec.GP, 0); return false; }
        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int In<T>(CpuState* s, Insn* i) where T : ISz
    {
        ushort port = i->Aux == 1 ? (ushort)(i->Imm & 0xFF) : (ushort)s->Regs[2];
        if (!IoAllowed(s, port, T.Bytes)) return 1;
        T.StoreReg(&s->Regs[0], SoftCpu.Of(s).PortRead(port, T.Bytes) & T.Mask);
        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Out<T>(CpuState* s, Insn* i) where T : ISz
    {
        ushort port = i->Aux == 1 ? (ushort)(i->Imm & 0xFF) : (ushort)s->Regs[2];
        if (!IoAllowed(s, port, T.Bytes)) return 1;
        SoftCpu.Of(s).PortWrite(port, T.Bytes, s->Regs[0] & T.Mask);
        return 0;
    }

    // ---- faults and reports ---------------------------------------------------------------------

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int UndefinedOpcode(CpuState* s, Insn* i) => Fault(s, Vec.UD);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int RaiseAux(CpuState* s, Insn* i) => Fault(s, i->Aux, 0);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Unimplemented(CpuState* s, Insn* i)
    {
        s->InsnStart = s->Rip - i->Len;
        s->Rip = s->InsnStart;
        SoftCpu.Of(s).ReportUnimplemented(null);
        return 1;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Hlt(CpuState* s, Insn* i)
    {
        if (!Privileged(s)) return Fault(s, Vec.GP, 0);
        s->Halted = 1;
        s->ExitReq = 1 + (int)((s->Eflags & CpuState.IF) != 0 ? VcpuExitReason.Halted : VcpuExitReason.HaltedForever);
        return 1;
    }

    /// <summary>x87 escape: #NM when CR0.EM or CR0.TS is set (SDM Vol. 3A §2.5); no FPU is modelled yet.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Fpu(CpuState* s, Insn* i)
    {
        if ((s->Cr0 & (VcpuState.Cr0EM | VcpuState.Cr0TS)) != 0) return Fault(s, Vec.NM);
        // The x87 control instructions kernels run at start-up and around context switches work on the
        // control/status/tag words (SDM Vol. 1 §8.1); arithmetic and the register stack are not modelled yet.
        int op = i->Op, m = i->ModRm, reg = (m >> 3) & 7;
        bool mem = i->IsMem;
        if (op == 0xDB && m == 0xE3) { s->FpuCw = 0x037F; s->FpuSw = 0; s->FpuTw = 0xFFFF; return 0; }   // FNINIT
        if (op == 0xDB && m == 0xE2) { s->FpuSw &= 0x7F00; return 0; }                                     // FNCLEX
        if (op == 0xD9 && m == 0xD0) return 0;                                                              // FNOP
        if (op == 0xDF && m == 0xE0) { *(ushort*)&s->Regs[0] = s->FpuSw; return 0; }                       // FNSTSW AX
        if (mem && op == 0xDD && reg == 7) return Wr<B16>(s, i->Seg, Ea(s, i), s->FpuSw) ? 0 : 1;          // FNSTSW m16
        if (mem && op == 0xD9 && reg == 7) return Wr<B16>(s, i->Seg, Ea(s, i), s->FpuCw) ? 0 : 1;          // FNSTCW m16
        if (mem && op == 0xD9 && reg == 5)                                                                 // FLDCW m16
        {
            if (!Rd<B16>(s, i->Seg, Ea(s, i), out ulong cw)) return 1;
            s->FpuCw = (ushort)(cw | 0x40);
            return 0;
        }
        s->InsnStart = s->Rip - i->Len;
        s->Rip = s->InsnStart;
        SoftCpu.Of(s).ReportUnimplemented("x87 FPU arithmetic (only FNINIT/FNCLEX/FNSTSW/FNSTCW/FLDCW are modelled; CPUID.1:EDX.FPU = 0)");
        return 1;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Wait(CpuState* s, Insn* i)
    {
        if ((s->Cr0 & (VcpuState.Cr0MP | VcpuState.Cr0TS)) == (VcpuState.Cr0MP | VcpuState.Cr0TS)) return Fault(s, Vec.NM);
        return 0;
    }

    // ---- control and debug registers ------------------------------------------------------------

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int MovFromCr(CpuState* s, Insn* i)
    {
        if (!Privileged(s)) return Fault(s, Vec.GP, 0);
        ulong v;
        switch (i->Aux)
        {
            case 0: v = s->Cr0; break;
            case 2: v = s->Cr2; break;
            case 3: v = s->Cr3; break;
            case 4: v = s->Cr4; break;
            case 8 when LongMode64(s): v = s->Cr8; break;
            default: return Fault(s, Vec.UD);
        }
        ulong* d = (ulong*)((byte*)s + i->Rm);
        *d = LongMode64(s) ? v : (uint)v;
        return 0;
    }

    /// <summary>CR4 bits this CPU implements: DE, PSE, PAE, MCE, PGE, PCE, TSD.</summary>
    public const ulong Cr4Supported = 0x4 | 0x8 | 0x10 | 0x20 | 0x40 | 0x80 | 0x100;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int MovToCr(CpuState* s, Insn* i)
    {
        if (!Privileged(s)) return Fault(s, Vec.GP, 0);
        ulong v = *(ulong*)((byte*)s + i->Rm);
        if (!LongMode64(s)) v = (uint)v;
        switch (i->Aux)
        {
            case 0: return WriteCr0(s, v) ? 1 : 1;
            case 2: s->Cr2 = v; return 0;
            case 3:
                s->Cr3 = v;
                FlushTlb(s, keepGlobal: (s->Cr4 & 0x80) != 0);
                return 1;
            case 4:
                if ((v & ~Cr4Supported) != 0) return Fault(s, Vec.GP, 0);
                if (((s->Cr4 ^ v) & 0xB0) != 0) FlushTlb(s, false);
                s->Cr4 = v;
                return 1;
            default: return Fault(s, Vec.UD);
        }
    }

    /// <summary>CR0 write (SDM Vol. 3A §2.5): PG without PE and NW without CD are #GP; ET is hardwired to 1.</summary>
    public static bool WriteCr0(CpuState* s, ulong v)
    {
        const ulong PE = 1, PG = 0x8000_0000, CD = 0x4000_0000, NW = 0x2000_0000, WP = 0x10000;
        if ((v & PG) != 0 && (v & PE) == 0) { Fault(s, Vec.GP, 0); return false; }
        if ((v & NW) != 0 && (v & CD) == 0) { Fault(s, Vec.GP, 0); return false; }
        v |= VcpuState.Cr0ET;
        v &= 0xE005_003F;
        ulong old = s->Cr0;
        s->Cr0 = v;
        if (((old ^ v) & (PG | WP | PE)) != 0) FlushTlb(s, false);
        if (((old ^ v) & PE) != 0)
        {
            if ((v & PE) == 0) SetCpl(s, 0);
            RecomputeAllRanges(s);
        }
        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int MovFromDr(CpuState* s, Insn* i)
    {
        if (!Privileged(s)) return Fault(s, Vec.GP, 0);
        int n = i->Aux & 7;
        if (n is 4 or 5) { if ((s->Cr4 & 8) != 0) return Fault(s, Vec.UD); n += 2; }
        ulong v = s->Dr[n];
        *(ulong*)((byte*)s + i->Rm) = LongMode64(s) ? v : (uint)v;
        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int MovToDr(CpuState* s, Insn* i)
    {
        if (!Privileged(s)) return Fault(s, Vec.GP, 0);
        int n = i->Aux & 7;
        if (n is 4 or 5) { if ((s->Cr4 & 8) != 0) return Fault(s, Vec.UD); n += 2; }
        ulong v = *(ulong*)((byte*)s + i->Rm);
        if (!LongMode64(s)) v = (uint)v;
        if (n == 6) v = (v & 0xE00F) | 0xFFFF_0FF0;
        else if (n == 7) v = (v & 0xFFFF_2BFF) | 0x400;
        s->Dr[n] = v;
        return 1;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Clts(CpuState* s, Insn* i)
    {
        if (!Privileged(s)) return Fault(s, Vec.GP, 0);
        s->Cr0 &= ~VcpuState.Cr0TS;
        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Wbinvd(CpuState* s, Insn* i) => Privileged(s) ? 0 : Fault(s, Vec.GP, 0);

    // ---- MSRs, TSC, CPUID -----------------------------------------------------------------------

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Rdtsc(CpuState* s, Insn* i)
    {
        if ((s->Cr4 & 4) != 0 && ProtectedMode(s) && s->Cpl != 0) return Fault(s, Vec.GP, 0);
        ulong t = SoftCpu.Of(s).ReadTsc();
        B32.StoreReg(&s->Regs[0], t & 0xFFFF_FFFF);
        B32.StoreReg(&s->Regs[2], t >> 32);
        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Rdpmc(CpuState* s, Insn* i)
    {
        if ((s->Cr4 & 0x100) == 0 && ProtectedMode(s) && s->Cpl != 0) return Fault(s, Vec.GP, 0);
        if ((uint)s->Regs[1] > 1) return Fault(s, Vec.GP, 0);
        B32.StoreReg(&s->Regs[0], 0);
        B32.StoreReg(&s->Regs[2], 0);
        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Rdmsr(CpuState* s, Insn* i)
    {
        if (!Privileged(s)) return Fault(s, Vec.GP, 0);
        if (!SoftCpu.Of(s).ReadMsr((uint)s->Regs[1], out ulong v)) return Fault(s, Vec.GP, 0);
        B32.StoreReg(&s->Regs[0], v & 0xFFFF_FFFF);
        B32.StoreReg(&s->Regs[2], v >> 32);
        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Wrmsr(CpuState* s, Insn* i)
    {
        if (!Privileged(s)) return Fault(s, Vec.GP, 0);
        ulong v = ((s->Regs[2] & 0xFFFF_FFFF) << 32) | (s->Regs[0] & 0xFFFF_FFFF);
        if (!SoftCpu.Of(s).WriteMsr((uint)s->Regs[1], v)) return Fault(s, Vec.GP, 0);
        return 1;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Cpuid(CpuState* s, Insn* i)
    {
        SoftCpu.Of(s).Cpuid((uint)s->Regs[0], (uint)s->Regs[1], out uint a, out uint b, out uint c, out uint d);
        B32.StoreReg(&s->Regs[0], a);
        B32.StoreReg(&s->Regs[3], b);
        B32.StoreReg(&s->Regs[1], c);
        B32.StoreReg(&s->Regs[2], d);
        return 0;
    }

    // ---- SYSENTER / SYSEXIT (SDM Vol. 2) ---------------------------------------------------------

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Sysenter(CpuState* s, Insn* i)
    {
        ushort cs = (ushort)(s->SysenterCs & 0xFFFC);
        if (!ProtectedMode(s) || cs == 0) return Fault(s, Vec.GP, 0);
        WriteEflags(s, GetEflags(s) & ~(CpuState.VM | CpuState.IF | CpuState.RF));
        SetCpl(s, 0);
        SetSegCache(s, SegReg.CS, cs, 0, 0xFFFF_FFFF, 0xC09B);
        SetSegCache(s, SegReg.SS, (ushort)(cs + 8), 0, 0xFFFF_FFFF, 0xC093);
        s->Regs[4] = (uint)s->SysenterEsp;
        s->Rip = (uint)s->SysenterEip;
        return 1;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Sysexit(CpuState* s, Insn* i)
    {
        ushort cs = (ushort)(s->SysenterCs & 0xFFFC);
        if (!ProtectedMode(s) || V86(s) || s->Cpl != 0 || cs == 0) return Fault(s, Vec.GP, 0);
        SetCpl(s, 3);
        SetSegCache(s, SegReg.CS, (ushort)((cs + 16) | 3), 0, 0xFFFF_FFFF, 0xC0FB);
        SetSegCache(s, SegReg.SS, (ushort)((cs + 24) | 3), 0, 0xFFFF_FFFF, 0xC0F3);
        s->Regs[4] = (uint)s->Regs[1];
        s->Rip = (uint)s->Regs[2];
        return 1;
    }

    // ---- descriptor-table instructions ----------------------------------------------------------

    /// <summary>0F 00: SLDT, STR, LLDT, LTR, VERR, VERW (Aux = ModRM.reg).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Group6(CpuState* s, Insn* i)
    {
        if (!ProtectedMode(s) || V86(s)) return Fault(s, Vec.UD);
        switch (i->Aux)
        {
            case 0: return StoreSelector(s, i, s->Ldtr.Sel);
            case 1: return StoreSelector(s, i, s->Tr.Sel);
        }
        ulong sel;
        if (i->IsMem) { if (!Rd<B16>(s, i->Seg, Ea(s, i), out sel)) return 1; }
        else sel = *(ushort*)((byte*)s + i->Rm);
        switch (i->Aux)
        {
            case 2: return Lldt(s, (ushort)sel);
            case 3: return Ltr(s, (ushort)sel);
            default: return Verify(s, (ushort)sel, write: i->Aux == 5);
        }
    }

    private static int StoreSelector(CpuState* s, Insn* i, ushort sel)
    {
        if (i->IsMem) return Wr<B16>(s, i->Seg, Ea(s, i), sel) ? 0 : 1;
        byte* d = (byte*)s + i->Rm;
        if (i->OpSz == 2) *(ushort*)d = sel; else *(ulong*)d = sel;
        return 0;
    }

    private static int Lldt(CpuState* s, ushort sel)
    {
        if (s->Cpl != 0) return Fault(s, Vec.GP, 0);
        if ((sel & ~3) == 0) { s->Ldtr = default; s->Ldtr.Sel = sel; return 0; }
        if ((sel & 4) != 0) return Fault(s, Vec.GP, (uint)(sel & ~3));
        int r = ReadDescriptor(s, sel, out ulong d, out _);
        if (r == 2) return 1;
        if (r == 1) return Fault(s, Vec.GP, (uint)(sel & ~3));
        ushort a = DescAttr(d);
        if ((a & 0x1F) != 2) return Fault(s, Vec.GP, (uint)(sel & ~3));
        if ((a & 0x80) == 0) return Fault(s, Vec.NP, (uint)(sel & ~3));
        s->Ldtr.Sel = sel; s->Ldtr.Base = DescBase(d); s->Ldtr.Limit = DescLimit(d); s->Ldtr.Attr = a;
        return 0;
    }

    private static int Ltr(CpuState* s, ushort sel)
    {
        if (s->Cpl != 0) return Fault(s, Vec.GP, 0);
        if ((sel & ~3) == 0) return Fault(s, Vec.GP, 0);
        if ((sel & 4) != 0) return Fault(s, Vec.GP, (uint)(sel & ~3));
        int r = ReadDescriptor(s, sel, out ulong d, out ulong addr);
        if (r == 2) return 1;
        if (r == 1) return Fault(s, Vec.GP, (uint)(sel & ~3));
        ushort a = DescAttr(d);
        if ((a & 0x1F) is not (1 or 9)) return Fault(s, Vec.GP, (uint)(sel & ~3));
        if ((a & 0x80) == 0) return Fault(s, Vec.NP, (uint)(sel & ~3));
        // Mark the TSS busy in the GDT (SDM Vol. 3A §7.2.4).
        if (!SysWrite<B8>(s, addr + 5, ((d >> 40) & 0xFF) | 2)) return 1;
        s->Tr.Sel = sel; s->Tr.Base = DescBase(d); s->Tr.Limit = DescLimit(d); s->Tr.Attr = (ushort)(a | 2);
        return 0;
    }

    private static int Verify(CpuState* s, ushort sel, bool write)
    {
        bool ok = false;
        if ((sel & ~3) != 0)
        {
            int r = ReadDescriptor(s, sel, out ulong d, out _);
            if (r == 2) return 1;
            if (r == 0)
            {
                ushort a = DescAttr(d);
                int dpl = (a >> 5) & 3;
                bool code = (a & 0x18) == 0x18, data = (a & 0x18) == 0x10;
                bool conforming = code && (a & 4) != 0;
                bool privOk = conforming || (dpl >= s->Cpl && dpl >= (sel & 3));
                if (privOk)
                    ok = write ? data && (a & 2) != 0 : data || (code && (a & 2) != 0);
            }
        }
        SetFlag(s, CpuState.ZF, ok);
        return 0;
    }

    /// <summary>LAR (Aux 0) and LSL (Aux 1): ZF=1 and the access rights / limit when the descriptor is visible.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int LarLsl(CpuState* s, Insn* i)
    {
        if (!ProtectedMode(s) || V86(s)) return Fault(s, Vec.UD);
        ulong sel;
        if (i->IsMem) { if (!Rd<B16>(s, i->Seg, Ea(s, i), out sel)) return 1; }
        else sel = *(ushort*)((byte*)s + i->Rm);
        bool ok = false;
        ulong d = 0;
        if ((sel & ~3UL) != 0)
        {
            int r = ReadDescriptor(s, (ushort)sel, out d, out _);
            if (r == 2) return 1;
            if (r == 0)
            {
                ushort a = DescAttr(d);
                int dpl = (a >> 5) & 3;
                bool sys = (a & 0x10) == 0;
                int type = a & 0xF;
                bool typeOk = !sys || (i->Aux == 0 ? type is 1 or 2 or 3 or 4 or 5 or 9 or 0xB or 0xC : type is 1 or 2 or 3 or 9 or 0xB);
                bool conforming = !sys && (a & 0xC) == 0xC;
                ok = typeOk && (conforming || (dpl >= s->Cpl && dpl >= (int)(sel & 3)));
            }
        }
        if (ok)
        {
            byte* dst = (byte*)s + i->Reg;
            ulong v = i->Aux == 0 ? (d >> 32) & 0x00F0_FF00 : DescLimit(d);
            if (i->OpSz == 2) *(ushort*)dst = (ushort)v; else *(ulong*)dst = (uint)v;
        }
        SetFlag(s, CpuState.ZF, ok);
        return 0;
    }

    /// <summary>0F 01: SGDT, SIDT, LGDT, LIDT, SMSW, LMSW, INVLPG (Aux = ModRM.reg).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Group7(CpuState* s, Insn* i)
    {
        switch (i->Aux)
        {
            case 0: case 1:
            {
                ulong ea = Ea(s, i);
                ushort lim = (ushort)(i->Aux == 0 ? s->GdtLimit : s->IdtLimit);
                ulong bas = i->Aux == 0 ? s->GdtBase : s->IdtBase;
                if (!ProbeWrite(s, i->Seg, ea, 6)) return 1;
                if (!Wr<B16>(s, i->Seg, ea, lim) || !Wr<B32>(s, i->Seg, (ea + 2) & i->AMask, bas & 0xFFFF_FFFF)) return 1;
                return 0;
            }
            case 2: case 3:
            {
                if (!Privileged(s)) return Fault(s, Vec.GP, 0);
                ulong ea = Ea(s, i);
                if (!Rd<B16>(s, i->Seg, ea, out ulong lim) || !Rd<B32>(s, i->Seg, (ea + 2) & i->AMask, out ulong bas)) return 1;
                if (i->OpSz == 2) bas &= 0xFF_FFFF;
                if (i->Aux == 2) { s->GdtBase = bas; s->GdtLimit = (uint)lim; }
                else { s->IdtBase = bas; s->IdtLimit = (uint)lim; }
                return 0;
            }
            case 4:
                if (i->IsMem) return Wr<B16>(s, i->Seg, Ea(s, i), s->Cr0 & 0xFFFF) ? 0 : 1;
                if (i->OpSz == 2) *(ushort*)((byte*)s + i->Rm) = (ushort)s->Cr0;
                else *(ulong*)((byte*)s + i->Rm) = (uint)s->Cr0;
                return 0;
            case 6:
            {
                if (!Privileged(s)) return Fault(s, Vec.GP, 0);
                ulong v;
                if (i->IsMem) { if (!Rd<B16>(s, i->Seg, Ea(s, i), out v)) return 1; }
                else v = *(ushort*)((byte*)s + i->Rm);
                // LMSW loads PE, MP, EM, TS and cannot clear PE (SDM Vol. 2 LMSW).
                ulong nv = (s->Cr0 & ~0xEUL) | (v & 0xF) | (s->Cr0 & 1);
                WriteCr0(s, nv);
                return 1;
            }
            case 7:
            {
                if (!Privileged(s)) return Fault(s, Vec.GP, 0);
                ulong lin = (SegP(s, i->Seg)->Base + Ea(s, i)) & s->LinMask;
                InvalidatePage(s, lin);
                return 1;
            }
        }
        return Fault(s, Vec.UD);
    }
}
