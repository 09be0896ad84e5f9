using static MyKvm.Cpu.X86;
using unsafe H = delegate*<MyKvm.Cpu.CpuState*, MyKvm.Cpu.Insn*, int>;

namespace MyKvm.Cpu;

internal static unsafe partial class Decoder
{
    private static H Sz(int sz, H h8, H h16, H h32, H h64) => sz switch { 1 => h8, 2 => h16, 4 => h32, _ => h64 };

    private static H AluFn<TOp>(int form, int sz) where TOp : struct, IAlu => form switch
    {
        0 => Sz(sz, &Ops.AluRR<B8, TOp>, &Ops.AluRR<B16, TOp>, &Ops.AluRR<B32, TOp>, &Ops.AluRR<B64, TOp>),
        1 => Sz(sz, &Ops.AluRM<B8, TOp>, &Ops.AluRM<B16, TOp>, &Ops.AluRM<B32, TOp>, &Ops.AluRM<B64, TOp>),
        2 => Sz(sz, &Ops.AluMR<B8, TOp>, &Ops.AluMR<B16, TOp>, &Ops.AluMR<B32, TOp>, &Ops.AluMR<B64, TOp>),
        3 => Sz(sz, &Ops.AluRI<B8, TOp>, &Ops.AluRI<B16, TOp>, &Ops.AluRI<B32, TOp>, &Ops.AluRI<B64, TOp>),
        _ => Sz(sz, &Ops.AluMI<B8, TOp>, &Ops.AluMI<B16, TOp>, &Ops.AluMI<B32, TOp>, &Ops.AluMI<B64, TOp>),
    };

    /// <summary>form: 0 reg,reg (dst Rm) 1 reg,mem (dst Reg) 2 mem,reg 3 reg,imm (dst Rm) 4 mem,imm.</summary>
    private static H Alu(int op, int form, int sz) => op switch
    {
        0 => AluFn<OpAdd>(form, sz),
        1 => AluFn<OpOr>(form, sz),
        2 => AluFn<OpAdc>(form, sz),
        3 => AluFn<OpSbb>(form, sz),
        4 => AluFn<OpAnd>(form, sz),
        5 => AluFn<OpSub>(form, sz),
        6 => AluFn<OpXor>(form, sz),
        7 => AluFn<OpCmp>(form, sz),
        _ => AluFn<OpTest>(form, sz),
    };

    private static H UnFn<TU>(bool mem, int sz) where TU : struct, IUnary => mem
        ? Sz(sz, &Ops.UnM<B8, TU>, &Ops.UnM<B16, TU>, &Ops.UnM<B32, TU>, &Ops.UnM<B64, TU>)
        : Sz(sz, &Ops.UnR<B8, TU>, &Ops.UnR<B16, TU>, &Ops.UnR<B32, TU>, &Ops.UnR<B64, TU>);

    private static H ShFn<TS>(bool mem, int sz) where TS : struct, IShift => mem
        ? Sz(sz, &Ops.ShM<B8, TS>, &Ops.ShM<B16, TS>, &Ops.ShM<B32, TS>, &Ops.ShM<B64, TS>)
        : Sz(sz, &Ops.ShR<B8, TS>, &Ops.ShR<B16, TS>, &Ops.ShR<B32, TS>, &Ops.ShR<B64, TS>);

    private static H Shift(int op, bool mem, int sz) => op switch
    {
        0 => ShFn<SRol>(mem, sz),
        1 => ShFn<SRor>(mem, sz),
        2 => ShFn<SRcl>(mem, sz),
        3 => ShFn<SRcr>(mem, sz),
        4 or 6 => ShFn<SShl>(mem, sz),
        5 => ShFn<SShr>(mem, sz),
        _ => ShFn<SSar>(mem, sz),
    };

    private static H MdFn<TM>(bool mem, int sz) where TM : struct, IMulDiv => mem
        ? Sz(sz, &Ops.MulDiv<B8, TM, SrcMem>, &Ops.MulDiv<B16, TM, SrcMem>, &Ops.MulDiv<B32, TM, SrcMem>, &Ops.MulDiv<B64, TM, SrcMem>)
        : Sz(sz, &Ops.MulDiv<B8, TM, SrcRm>, &Ops.MulDiv<B16, TM, SrcRm>, &Ops.MulDiv<B32, TM, SrcRm>, &Ops.MulDiv<B64, TM, SrcRm>);

    private static H CcFn(int cc, int kind)
    {
        // kind 0: Jcc, 1: SETcc reg, 2: SETcc mem
        return cc switch
        {
            0 => CcPick<CcO>(kind), 1 => CcPick<CcNO>(kind), 2 => CcPick<CcB>(kind), 3 => CcPick<CcAE>(kind),
            4 => CcPick<CcE>(kind), 5 => CcPick<CcNE>(kind), 6 => CcPick<CcBE>(kind), 7 => CcPick<CcA>(kind),
            8 => CcPick<CcS>(kind), 9 => CcPick<CcNS>(kind), 10 => CcPick<CcP>(kind), 11 => CcPick<CcNP>(kind),
            12 => CcPick<CcL>(kind), 13 => CcPick<CcGE>(kind), 14 => CcPick<CcLE>(kind), _ => CcPick<CcG>(kind),
        };
    }

    private static H CcPick<TC>(int kind) where TC : struct, ICc => kind switch
    {
        0 => &Ops.Jcc<TC>,
        1 => &Ops.SetccR<TC>,
        _ => &Ops.SetccM<TC>,
    };

    private static H CmovFn(int cc, bool mem, int sz) => cc switch
    {
        0 => CmovPick<CcO>(mem, sz), 1 => CmovPick<CcNO>(mem, sz), 2 => CmovPick<CcB>(mem, sz), 3 => CmovPick<CcAE>(mem, sz),
        4 => CmovPick<CcE>(mem, sz), 5 => CmovPick<CcNE>(mem, sz), 6 => CmovPick<CcBE>(mem, sz), 7 => CmovPick<CcA>(mem, sz),
        8 => CmovPick<CcS>(mem, sz), 9 => CmovPick<CcNS>(mem, sz), 10 => CmovPick<CcP>(mem, sz), 11 => CmovPick<CcNP>(mem, sz),
        12 => CmovPick<CcL>(mem, sz), 13 => CmovPick<CcGE>(mem, sz), 14 => CmovPick<CcLE>(mem, sz), _ => CmovPick<CcG>(mem, sz),
    };

    private static H CmovPick<TC>(bool mem, int sz) where TC : struct, ICc => mem
        ? Sz(sz, null, &Ops.Cmov<B16, TC, SrcMem>, &Ops.Cmov<B32, TC, SrcMem>, &Ops.Cmov<B64, TC, SrcMem>)
        : Sz(sz, null, &Ops.Cmov<B16, TC, SrcRm>, &Ops.Cmov<B32, TC, SrcRm>, &Ops.Cmov<B64, TC, SrcRm>);

    private static H BtFn<TB>(int form, int sz) where TB : struct, IBitOp => form switch
    {
        0 => Sz(sz, null, &Ops.BtRR<B16, TB>, &Ops.BtRR<B32, TB>, &Ops.BtRR<B64, TB>),
        1 => Sz(sz, null, &Ops.BtMR<B16, TB>, &Ops.BtMR<B32, TB>, &Ops.BtMR<B64, TB>),
        2 => Sz(sz, null, &Ops.BtRI<B16, TB>, &Ops.BtRI<B32, TB>, &Ops.BtRI<B64, TB>),
        _ => Sz(sz, null, &Ops.BtMI<B16, TB>, &Ops.BtMI<B32, TB>, &Ops.BtMI<B64, TB>),
    };

    /// <summary>op 0 BT, 1 BTS, 2 BTR, 3 BTC; form 0 reg/reg 1 mem/reg 2 reg/imm 3 mem/imm.</summary>
    private static H Bt(int op, int form, int sz) => op switch
    {
        0 => BtFn<BitTest>(form, sz),
        1 => BtFn<BitSet>(form, sz),
        2 => BtFn<BitReset>(form, sz),
        _ => BtFn<BitComplement>(form, sz),
    };

    private static bool IsSimdSpace(byte op) =>
        op is (>= 0x10 and <= 0x17) or (>= 0x28 and <= 0x2F) or 0x38 or 0x3A or (>= 0x50 and <= 0x7F) or 0xAE
            or (>= 0xC2 and <= 0xC6) or (>= 0xD0 and <= 0xFE) or 0x0E or 0x0F;

    private static void ModRmRegs(ref Reader r, ref Ctx c, Insn* d, int sz)
    {
        ModRm(ref r, ref c, d);
        Regs(ref c, d, sz);
    }

    private static void Ud(Insn* d, ref bool end)
    {
        d->Fn = &Ops.UndefinedOpcode;
        end = true;
    }

    private static void DecodeOneByte(ref Reader r, ref Ctx c, Insn* d, byte op, ref bool end)
    {
        int osz = c.Osz;
        bool m64 = c.Mode == 2;
        if (op < 0x40 && (op & 7) < 6)
        {
            int aluOp = op >> 3, form = op & 7;
            int sz = (form & 1) == 0 ? 1 : osz;
            switch (form)
            {
                case 0: case 1:
                    ModRmRegs(ref r, ref c, d, sz);
                    if (d->IsMem) { d->Fn = Alu(aluOp, 2, sz); c.LockOk = aluOp != 7; }
                    else d->Fn = Alu(aluOp, 0, sz);
                    return;
                case 2: case 3:
                    ModRmRegs(ref r, ref c, d, sz);
                    if (d->IsMem) d->Fn = Alu(aluOp, 1, sz);
                    else { (d->Reg, d->Rm) = (d->Rm, d->Reg); d->Fn = Alu(aluOp, 0, sz); }
                    return;
                default:
                    d->Rm = 0;
                    d->Imm = ImmSz(ref r, sz == 8 ? 4 : sz);
                    d->Fn = Alu(aluOp, 3, sz);
                    return;
            }
        }
        switch (op)
        {
            case 0x06: case 0x0E: case 0x16: case 0x1E:
                if (m64) { Ud(d, ref end); return; }
                d->Aux = (byte)(op >> 3);
                d->Fn = osz == 2 ? &Ops.PushSeg<B16> : &Ops.PushSeg<B32>;
                return;
            case 0x07: case 0x17: case 0x1F:
                if (m64) { Ud(d, ref end); return; }
                d->Aux = (byte)(op >> 3);
                d->Fn = osz == 2 ? &Ops.PopSeg<B16> : &Ops.PopSeg<B32>;
                if (op == 0x17) end = true;   // MOV SS shadow
                return;
            case 0x27: d->Fn = m64 ? &Ops.UndefinedOpcode : &Ops.Daa; return;
            case 0x2F: d->Fn = m64 ? &Ops.UndefinedOpcode : &Ops.Das; return;
            case 0x37: d->Fn = m64 ? &Ops.UndefinedOpcode : &Ops.Aaa; return;
            case 0x3F: d->Fn = m64 ? &Ops.UndefinedOpcode : &Ops.Aas; return;
        }
        if (op >= 0x40 && op <= 0x4F)
        {
            d->Rm = RegOff(op & 7, osz, 0);
            d->Fn = op < 0x48 ? UnFn<UInc>(false, osz) : UnFn<UDec>(false, osz);
            return;
        }
        if (op >= 0x50 && op <= 0x5F)
        {
            int ssz = m64 ? (osz == 2 ? 2 : 8) : osz;
            d->Rm = RegOff((op & 7) | ((c.Rex & 1) << 3), 8, 0);
            d->OpSz = (byte)ssz;
            d->Fn = op < 0x58
                ? Sz(ssz, null, &Ops.PushR<B16>, &Ops.PushR<B32>, &Ops.PushR<B64>)
                : Sz(ssz, null, &Ops.PopR<B16>, &Ops.PopR<B32>, &Ops.PopR<B64>);
            return;
        }
        if (op >= 0x70 && op <= 0x7F)
        {
            d->Disp = (uint)(sbyte)r.U8();
            d->Fn = CcFn(op & 15, 0);
            end = true;
            return;
        }
        if (op >= 0x91 && op <= 0x97)
        {
            d->Rm = RegOff((op & 7) | ((c.Rex & 1) << 3), osz, c.Rex);
            d->Reg = 0;
            d->Fn = Sz(osz, null, &Ops.XchgRR<B16>, &Ops.XchgRR<B32>, &Ops.XchgRR<B64>);
            return;
        }
        if (op >= 0xB0 && op <= 0xBF)
        {
            int sz = op < 0xB8 ? 1 : osz;
            d->Rm = RegOff((op & 7) | ((c.Rex & 1) << 3), sz, c.Rex);
            if (sz == 8) { d->Imm = r.U32(); d->Disp = r.U32(); d->Fn = &Ops.MovRI64; }
            else { d->Imm = ImmSz(ref r, sz); d->Fn = Sz(sz, &Ops.MovRI<B8>, &Ops.MovRI<B16>, &Ops.MovRI<B32>, null); }
            return;
        }
        if (op >= 0xD8 && op <= 0xDF)
        {
            // x87 escape: parse ModRM for the length; executes as #NM when CR0.EM/TS say so (SDM Vol. 3A §2.5).
            ModRm(ref r, ref c, d);
            d->Fn = &Ops.Fpu;
            end = true;
            return;
        }
        switch (op)
        {
            case 0x60:
                if (m64) { Ud(d, ref end); return; }
                d->Fn = osz == 2 ? &Ops.Pusha<B16> : &Ops.Pusha<B32>; return;
            case 0x61:
                if (m64) { Ud(d, ref end); return; }
                d->Fn = osz == 2 ? &Ops.Popa<B16> : &Ops.Popa<B32>; return;
            case 0x62:
                if (m64) { Ud(d, ref end); return; }
                ModRmRegs(ref r, ref c, d, osz);
                if (!d->IsMem) { Ud(d, ref end); return; }
                d->Fn = osz == 2 ? &Ops.Bound<B16> : &Ops.Bound<B32>;
                end = true;
                return;
            case 0x63:
                ModRmRegs(ref r, ref c, d, 2);
                if (m64) { Ud(d, ref end); return; }     // MOVSXD comes with long mode
                d->Fn = d->IsMem ? &Ops.ArplM : &Ops.ArplR;
                return;
            case 0x68: case 0x6A:
            {
                int ssz = m64 ? (osz == 2 ? 2 : 8) : osz;
                d->Imm = op == 0x6A ? (uint)(sbyte)r.U8() : ImmSz(ref r, osz == 8 ? 4 : osz);
                d->OpSz = (byte)ssz;
                d->Fn = Sz(ssz, null, &Ops.PushI<B16>, &Ops.PushI<B32>, &Ops.PushI<B64>);
                return;
            }
            case 0x69: case 0x6B:
                ModRmRegs(ref r, ref c, d, osz);
                d->Imm = op == 0x6B ? (uint)(sbyte)r.U8() : ImmSz(ref r, osz == 8 ? 4 : osz);
                d->Fn = d->IsMem
                    ? Sz(osz, null, &Ops.Imul3<B16, SrcMem>, &Ops.Imul3<B32, SrcMem>, &Ops.Imul3<B64, SrcMem>)
                    : Sz(osz, null, &Ops.Imul3<B16, SrcRm>, &Ops.Imul3<B32, SrcRm>, &Ops.Imul3<B64, SrcRm>);
                return;
            case 0x6C: case 0x6D:
                d->Fn = Sz(op == 0x6C ? 1 : osz == 8 ? 4 : osz, &Ops.Ins<B8>, &Ops.Ins<B16>, &Ops.Ins<B32>, null);
                end = true;
                return;
            case 0x6E: case 0x6F:
                d->Fn = Sz(op == 0x6E ? 1 : osz == 8 ? 4 : osz, &Ops.Outs<B8>, &Ops.Outs<B16>, &Ops.Outs<B32>, null);
                end = true;
                return;
            case 0x80: case 0x81: case 0x82: case 0x83:
            {
                if (op == 0x82 && m64) { Ud(d, ref end); return; }
                int sz = op == 0x81 || op == 0x83 ? osz : 1;
                ModRmRegs(ref r, ref c, d, sz);
                d->Imm = op == 0x81 ? ImmSz(ref r, sz == 8 ? 4 : sz) : (uint)(sbyte)r.U8();
                int aluOp = d->RegIndex;
                d->Fn = Alu(aluOp, d->IsMem ? 4 : 3, sz);
                c.LockOk = d->IsMem && aluOp != 7;
                return;
            }
            case 0x84: case 0x85:
            {
                int sz = op == 0x84 ? 1 : osz;
                ModRmRegs(ref r, ref c, d, sz);
                d->Fn = d->IsMem ? Alu(8, 1, sz) : Alu(8, 0, sz);
                return;
            }
            case 0x86: case 0x87:
            {
                int sz = op == 0x86 ? 1 : osz;
                ModRmRegs(ref r, ref c, d, sz);
                d->Fn = d->IsMem
                    ? Sz(sz, &Ops.XchgMR<B8>, &Ops.XchgMR<B16>, &Ops.XchgMR<B32>, &Ops.XchgMR<B64>)
                    : Sz(sz, &Ops.XchgRR<B8>, &Ops.XchgRR<B16>, &Ops.XchgRR<B32>, &Ops.XchgRR<B64>);
                c.LockOk = d->IsMem;
                return;
            }
            case 0x88: case 0x89:
            {
                int sz = op == 0x88 ? 1 : osz;
                ModRmRegs(ref r, ref c, d, sz);
                d->Fn = d->IsMem
                    ? Sz(sz, &Ops.MovMR<B8>, &Ops.MovMR<B16>, &Ops.MovMR<B32>, &Ops.MovMR<B64>)
                    : Sz(sz, &Ops.MovRR<B8>, &Ops.MovRR<B16>, &Ops.MovRR<B32>, &Ops.MovRR<B64>);
                return;
            }
            case 0x8A: case 0x8B:
            {
                int sz = op == 0x8A ? 1 : osz;
                ModRmRegs(ref r, ref c, d, sz);
                if (d->IsMem) d->Fn = Sz(sz, &Ops.MovRM<B8>, &Ops.MovRM<B16>, &Ops.MovRM<B32>, &Ops.MovRM<B64>);
                else
                {
                    (d->Reg, d->Rm) = (d->Rm, d->Reg);
                    d->Fn = Sz(sz, &Ops.MovRR<B8>, &Ops.MovRR<B16>, &Ops.MovRR<B32>, &Ops.MovRR<B64>);
                }
                return;
            }
            case 0x8C:
                ModRmRegs(ref r, ref c, d, osz);
                if (d->RegIndex > 5) { Ud(d, ref end); return; }
                d->Aux = (byte)d->RegIndex;
                // To memory it is always a word; to a register, the operand size (upper bits zeroed).
                d->Fn = d->IsMem ? &Ops.MovMSeg : Sz(osz, null, &Ops.MovRSeg<B16>, &Ops.MovRSeg<B32>, &Ops.MovRSeg<B64>);
                return;
            case 0x8D:
                ModRmRegs(ref r, ref c, d, osz);
                if (!d->IsMem) { Ud(d, ref end); return; }
                d->Fn = Sz(osz, null, &Ops.Lea<B16>, &Ops.Lea<B32>, &Ops.Lea<B64>);
                return;
            case 0x8E:
                ModRmRegs(ref r, ref c, d, 2);
                if (d->RegIndex > 5 || d->RegIndex == SegReg.CS) { Ud(d, ref end); return; }
                d->Aux = (byte)d->RegIndex;
                d->Fn = d->IsMem ? &Ops.MovSegM : &Ops.MovSegR;
                end = true;      // a new segment may change the mode (SS: shadow)
                return;
            case 0x8F:
            {
                int ssz = m64 ? (osz == 2 ? 2 : 8) : osz;
                ModRmRegs(ref r, ref c, d, ssz);
                if (d->RegIndex != 0) { Ud(d, ref end); return; }
                d->OpSz = (byte)ssz;
                d->Fn = d->IsMem
                    ? Sz(ssz, null, &Ops.PopM<B16>, &Ops.PopM<B32>, &Ops.PopM<B64>)
                    : Sz(ssz, null, &Ops.PopR<B16>, &Ops.PopR<B32>, &Ops.PopR<B64>);
                return;
            }
            case 0x90:
                if ((c.Rex & 1) != 0)
                {
                    d->Rm = RegOff(8, osz, c.Rex); d->Reg = 0;
                    d->Fn = Sz(osz, null, &Ops.XchgRR<B16>, &Ops.XchgRR<B32>, &Ops.XchgRR<B64>);
                    return;
                }
                d->Fn = &Ops.Nop;
                return;
            case 0x98: d->Fn = Sz(osz, null, &Ops.Cbw<B16>, &Ops.Cbw<B32>, &Ops.Cbw<B64>); return;
            case 0x99: d->Fn = Sz(osz, null, &Ops.Cwd<B16>, &Ops.Cwd<B32>, &Ops.Cwd<B64>); return;
            case 0x9A:
                if (m64) { Ud(d, ref end); return; }
                d->Imm = osz == 2 ? r.U16() : r.U32();
                d->Imm2 = r.U16();
                d->Fn = &Ops.CallFarImm;
                end = true;
                return;
            case 0x9B: d->Fn = &Ops.Wait; return;
            case 0x9C:
            {
                int ssz = m64 ? (osz == 2 ? 2 : 8) : osz;
                d->OpSz = (byte)ssz;
                d->Fn = Sz(ssz, null, &Ops.Pushf<B16>, &Ops.Pushf<B32>, &Ops.Pushf<B64>);
                return;
            }
            case 0x9D:
            {
                int ssz = m64 ? (osz == 2 ? 2 : 8) : osz;
                d->OpSz = (byte)ssz;
                d->Fn = Sz(ssz, null, &Ops.Popf<B16>, &Ops.Popf<B32>, &Ops.Popf<B64>);
                end = true;
                return;
            }
            case 0x9E: d->Fn = &Ops.Sahf; return;
            case 0x9F: d->Fn = &Ops.Lahf; return;
            case 0xA0: case 0xA1: case 0xA2: case 0xA3:
            {
                int sz = (op & 1) == 0 ? 1 : osz;
                d->Disp = c.Asz == 2 ? r.U16() : r.U32();
                if (c.Asz == 8) r.U32();   // moffs64: high half ignored until long mode
                d->Reg = 0;
                d->Flags |= Insn.FMem;
                d->Fn = op < 0xA2
                    ? Sz(sz, &Ops.MovRM<B8>, &Ops.MovRM<B16>, &Ops.MovRM<B32>, &Ops.MovRM<B64>)
                    : Sz(sz, &Ops.MovMR<B8>, &Ops.MovMR<B16>, &Ops.MovMR<B32>, &Ops.MovMR<B64>);
                return;
            }
            case 0xA4: case 0xA5:
                d->Fn = Sz(op == 0xA4 ? 1 : osz, &Ops.Movs<B8>, &Ops.Movs<B16>, &Ops.Movs<B32>, &Ops.Movs<B64>); return;
            case 0xA6: case 0xA7:
                d->Fn = Sz(op == 0xA6 ? 1 : osz, &Ops.Cmps<B8>, &Ops.Cmps<B16>, &Ops.Cmps<B32>, &Ops.Cmps<B64>); return;
            case 0xA8: case 0xA9:
            {
                int sz = op == 0xA8 ? 1 : osz;
                d->Rm = 0;
                d->Imm = ImmSz(ref r, sz == 8 ? 4 : sz);
                d->Fn = Alu(8, 3, sz);
                return;
            }
            case 0xAA: case 0xAB:
                d->Fn = Sz(op == 0xAA ? 1 : osz, &Ops.Stos<B8>, &Ops.Stos<B16>, &Ops.Stos<B32>, &Ops.Stos<B64>); return;
            case 0xAC: case 0xAD:
                d->Fn = Sz(op == 0xAC ? 1 : osz, &Ops.Lods<B8>, &Ops.Lods<B16>, &Ops.Lods<B32>, &Ops.Lods<B64>); return;
            case 0xAE: case 0xAF:
                d->Fn = Sz(op == 0xAE ? 1 : osz, &Ops.Scas<B8>, &Ops.Scas<B16>, &Ops.Scas<B32>, &Ops.Scas<B64>); return;
            case 0xC0: case 0xC1: case 0xD0: case 0xD1: case 0xD2: case 0xD3:
            {
                int sz = (op & 1) == 0 ? 1 : osz;
                ModRmRegs(ref r, ref c, d, sz);
                if (op <= 0xC1) { d->Aux = 2; d->Imm = r.U8(); }
                else d->Aux = (byte)(op <= 0xD1 ? 0 : 1);
                d->Fn = Shift(d->RegIndex, d->IsMem, sz);
                return;
            }
            case 0xC2: case 0xC3:
            {
                int ssz = m64 ? (osz == 2 ? 2 : 8) : osz;
                if (op == 0xC2) d->Imm = r.U16();
                d->OpSz = (byte)ssz;
                d->Fn = Sz(ssz, null, &Ops.RetNear<B16>, &Ops.RetNear<B32>, &Ops.RetNear<B64>);
                end = true;
                return;
            }
            case 0xC4: case 0xC5:
                if (m64) { Ud(d, ref end); return; }
                ModRmRegs(ref r, ref c, d, osz);
                if (!d->IsMem) { Ud(d, ref end); return; }
                d->Aux = (byte)(op == 0xC4 ? SegReg.ES : SegReg.DS);
                d->Fn = osz == 2 ? &Ops.LoadFarPtr<B16> : &Ops.LoadFarPtr<B32>;
                end = true;
                return;
            case 0xC6: case 0xC7:
            {
                int sz = op == 0xC6 ? 1 : osz;
                ModRmRegs(ref r, ref c, d, sz);
                if (d->RegIndex != 0) { Ud(d, ref end); return; }
                d->Imm = ImmSz(ref r, sz == 8 ? 4 : sz);
                d->Fn = d->IsMem
                    ? Sz(sz, &Ops.MovMI<B8>, &Ops.MovMI<B16>, &Ops.MovMI<B32>, &Ops.MovMI<B64>)
                    : Sz(sz, &Ops.MovRI<B8>, &Ops.MovRI<B16>, &Ops.MovRI<B32>, &Ops.MovRI<B64>);
                return;
            }
            case 0xC8:
                d->Imm = r.U16();
                d->Imm2 = r.U8();
                d->Fn = Sz(m64 && osz != 2 ? 8 : osz, null, &Ops.Enter<B16>, &Ops.Enter<B32>, &Ops.Enter<B64>);
                return;
            case 0xC9:
                d->Fn = Sz(m64 && osz != 2 ? 8 : osz, null, &Ops.Leave<B16>, &Ops.Leave<B32>, &Ops.Leave<B64>);
                return;
            case 0xCA: case 0xCB:
                if (op == 0xCA) d->Imm = r.U16();
                d->Fn = &Ops.RetFar;
                end = true;
                return;
            case 0xCC: d->Fn = &Ops.Int3; end = true; return;
            case 0xCD: d->Imm = r.U8(); d->Fn = &Ops.IntN; end = true; return;
            case 0xCE: d->Fn = m64 ? &Ops.UndefinedOpcode : &Ops.Into; end = true; return;
            case 0xCF: d->Fn = &Ops.Iret; end = true; return;
            case 0xD4: d->Imm = r.U8(); d->Fn = m64 ? &Ops.UndefinedOpcode : &Ops.Aam; return;
            case 0xD5: d->Imm = r.U8(); d->Fn = m64 ? &Ops.UndefinedOpcode : &Ops.Aad; return;
            case 0xD6: d->Fn = m64 ? &Ops.UndefinedOpcode : &Ops.Salc; return;
            case 0xD7: d->Fn = &Ops.Xlat; return;
            case 0xE0: case 0xE1: case 0xE2: case 0xE3:
                d->Disp = (uint)(sbyte)r.U8();
                d->Aux = (byte)(op - 0xE0);
                d->Fn = &Ops.Loop;
                end = true;
                return;
            case 0xE4: case 0xE5: case 0xE6: case 0xE7: case 0xEC: case 0xED: case 0xEE: case 0xEF:
            {
                int sz = (op & 1) == 0 ? 1 : osz == 8 ? 4 : osz;
                if (op < 0xE8) { d->Imm = r.U8(); d->Aux = 1; }
                bool isOut = (op & 2) != 0;
                d->Fn = isOut ? Sz(sz, &Ops.Out<B8>, &Ops.Out<B16>, &Ops.Out<B32>, null)
                              : Sz(sz, &Ops.In<B8>, &Ops.In<B16>, &Ops.In<B32>, null);
                return;
            }
            case 0xE8:
                d->Disp = ImmSz(ref r, osz == 2 ? 2 : 4);
                d->OpSz = (byte)(m64 ? 8 : osz);
                d->Fn = Sz(d->OpSz, null, &Ops.CallRel<B16>, &Ops.CallRel<B32>, &Ops.CallRel<B64>);
                end = true;
                return;
            case 0xE9: case 0xEB:
                d->Disp = op == 0xEB ? (uint)(sbyte)r.U8() : ImmSz(ref r, osz == 2 ? 2 : 4);
                d->OpSz = (byte)(m64 ? 8 : osz);
                d->Fn = &Ops.JmpRel;
                end = true;
                return;
            case 0xEA:
                if (m64) { Ud(d, ref end); return; }
                d->Imm = osz == 2 ? r.U16() : r.U32();
                d->Imm2 = r.U16();
                d->Fn = &Ops.JmpFarImm;
                end = true;
                return;
            case 0xF1: d->Fn = &Ops.Int1; end = true; return;
            case 0xF4: d->Fn = &Ops.Hlt; end = true; return;
            case 0xF5: d->Fn = &Ops.Cmc; return;
            case 0xF6: case 0xF7:
            {
                int sz = op == 0xF6 ? 1 : osz;
                ModRmRegs(ref r, ref c, d, sz);
                bool mem = d->IsMem;
                switch (d->RegIndex)
                {
                    case 0: case 1:
                        d->Imm = ImmSz(ref r, sz == 8 ? 4 : sz);
                        d->Fn = Alu(8, mem ? 4 : 3, sz);
                        return;
                    case 2: d->Fn = UnFn<UNot>(mem, sz); c.LockOk = mem; return;
                    case 3: d->Fn = UnFn<UNeg>(mem, sz); c.LockOk = mem; return;
                    case 4: d->Fn = MdFn<MMul>(mem, sz); return;
                    case 5: d->Fn = MdFn<MImul>(mem, sz); return;
                    case 6: d->Fn = MdFn<MDiv>(mem, sz); return;
                    default: d->Fn = MdFn<MIdiv>(mem, sz); return;
                }
            }
            case 0xF8: d->Fn = &Ops.Clc; return;
            case 0xF9: d->Fn = &Ops.Stc; return;
            case 0xFA: d->Fn = &Ops.Cli; return;
            case 0xFB: d->Fn = &Ops.Sti; end = true; return;
            case 0xFC: d->Fn = &Ops.Cld; return;
            case 0xFD: d->Fn = &Ops.Std; return;
            case 0xFE:
                ModRmRegs(ref r, ref c, d, 1);
                if (d->RegIndex > 1) { Ud(d, ref end); return; }
                d->Fn = d->RegIndex == 0 ? UnFn<UInc>(d->IsMem, 1) : UnFn<UDec>(d->IsMem, 1);
                c.LockOk = d->IsMem;
                return;
            case 0xFF:
            {
                ModRmRegs(ref r, ref c, d, osz);
                bool mem = d->IsMem;
                int ssz = m64 ? (osz == 2 ? 2 : 8) : osz;
                switch (d->RegIndex)
                {
                    case 0: d->Fn = UnFn<UInc>(mem, osz); c.LockOk = mem; return;
                    case 1: d->Fn = UnFn<UDec>(mem, osz); c.LockOk = mem; return;
                    case 2:
                        Regs(ref c, d, ssz);
                        d->OpSz = (byte)ssz;
                        d->Fn = mem ? Sz(ssz, null, &Ops.CallInd<B16, SrcMem>, &Ops.CallInd<B32, SrcMem>, &Ops.CallInd<B64, SrcMem>)
                                    : Sz(ssz, null, &Ops.CallInd<B16, SrcRm>, &Ops.CallInd<B32, SrcRm>, &Ops.CallInd<B64, SrcRm>);
                        end = true;
                        return;
                    case 4:
                        Regs(ref c, d, ssz);
                        d->OpSz = (byte)ssz;
                        d->Fn = mem ? Sz(ssz, null, &Ops.JmpInd<B16, SrcMem>, &Ops.JmpInd<B32, SrcMem>, &Ops.JmpInd<B64, SrcMem>)
                                    : Sz(ssz, null, &Ops.JmpInd<B16, SrcRm>, &Ops.JmpInd<B32, SrcRm>, &Ops.JmpInd<B64, SrcRm>);
                        end = true;
                        return;
                    case 3: case 5:
                        if (!mem) { Ud(d, ref end); return; }
                        d->Aux = (byte)(d->RegIndex == 3 ? 1 : 0);
                        d->Fn = &Ops.FarIndirect;
                        end = true;
                        return;
                    case 6:
                        Regs(ref c, d, ssz);
                        d->OpSz = (byte)ssz;
                        d->Fn = mem ? Sz(ssz, null, &Ops.PushM<B16>, &Ops.PushM<B32>, &Ops.PushM<B64>)
                                    : Sz(ssz, null, &Ops.PushR<B16>, &Ops.PushR<B32>, &Ops.PushR<B64>);
                        if (!mem) d->Rm = RegOff(c.RmIdx, 8, 0);
                        return;
                    default: Ud(d, ref end); return;
                }
            }
        }
        // 0x0F is handled by the caller; prefixes never reach here.
        Ud(d, ref end);
    }

    private static void DecodeTwoByte(ref Reader r, ref Ctx c, Insn* d, byte op, ref bool end)
    {
        int osz = c.Osz;
        bool m64 = c.Mode == 2;
        if (op >= 0x40 && op <= 0x4F)
        {
            ModRmRegs(ref r, ref c, d, osz);
            d->Fn = CmovFn(op & 15, d->IsMem, osz);
            return;
        }
        if (op >= 0x80 && op <= 0x8F)
        {
            d->Disp = ImmSz(ref r, osz == 2 ? 2 : 4);
            d->OpSz = (byte)(m64 ? 8 : osz);
            d->Fn = CcFn(op & 15, 0);
            end = true;
            return;
        }
        if (op >= 0x90 && op <= 0x9F)
        {
            ModRmRegs(ref r, ref c, d, 1);
            d->Fn = CcFn(op & 15, d->IsMem ? 2 : 1);
            return;
        }
        if (op >= 0xC8 && op <= 0xCF)
        {
            d->Rm = RegOff((op & 7) | ((c.Rex & 1) << 3), 8, 0);
            d->Fn = Sz(osz, null, &Ops.Bswap<B16>, &Ops.Bswap<B32>, &Ops.Bswap<B64>);
            return;
        }
        if (IsSimdSpace(op))
        {
            // MMX/SSE/x87-state opcode space: known instructions this CPU does not implement yet (CPUID says so).
            // They stop with an Unimplemented report (bytes, address, mode) rather than a silent #UD.
            if (op is 0x38 or 0x3A) r.U8();
            if (op is not (0x77 or 0x0E)) ModRm(ref r, ref c, d);      // EMMS and FEMMS have no ModRM
            if (op is 0x3A or 0x70 or 0x71 or 0x72 or 0x73 or 0xC2 or 0xC4 or 0xC5 or 0xC6) r.U8();
            d->Fn = &Ops.Unimplemented;
            end = true;
            return;
        }
        switch (op)
        {
            case 0x00:
                ModRmRegs(ref r, ref c, d, 2);
                if (d->RegIndex > 5) { Ud(d, ref end); return; }
                d->Aux = (byte)d->RegIndex;
                d->Fn = &Ops.Group6;
                end = true;
                return;
            case 0x01:
                ModRmRegs(ref r, ref c, d, osz);
                d->Aux = (byte)d->RegIndex;
                if (!d->IsMem && d->RegIndex != 4 && d->RegIndex != 6) { Ud(d, ref end); return; }
                if (d->RegIndex == 5) { Ud(d, ref end); return; }
                d->Fn = &Ops.Group7;
                end = true;
                return;
            case 0x02: case 0x03:
                ModRmRegs(ref r, ref c, d, osz);
                d->Aux = (byte)(op - 2);
                d->Fn = &Ops.LarLsl;
                return;
            case 0x06: d->Fn = &Ops.Clts; end = true; return;
            case 0x08: case 0x09: d->Fn = &Ops.Wbinvd; return;
            case 0x0B: case 0xB9: case 0xFF:
                if (op != 0x0B) ModRm(ref r, ref c, d);
                Ud(d, ref end); return;
            case 0x0D: case 0x18: case 0x19: case 0x1A: case 0x1B: case 0x1C: case 0x1D: case 0x1E: case 0x1F:
                // Prefetch and hint-NOP space: NOP Ev (SDM Vol. 2 "NOP" 0F 1F /0).
                ModRm(ref r, ref c, d);
                d->Fn = &Ops.Nop;
                return;
            case 0x20: case 0x21: case 0x22: case 0x23:
                ModRm(ref r, ref c, d);
                d->Flags &= unchecked((byte)~Insn.FMem);     // always a register operand (SDM: mod is ignored)
                d->Rm = RegOff(c.RmIdx, 8, 0);
                d->Aux = (byte)c.RegIdx;
                d->Fn = op switch { 0x20 => &Ops.MovFromCr, 0x21 => &Ops.MovFromDr, 0x22 => &Ops.MovToCr, _ => &Ops.MovToDr };
                end = op >= 0x22;
                return;
            case 0x30: d->Fn = &Ops.Wrmsr; end = true; return;
            case 0x31: d->Fn = &Ops.Rdtsc; return;
            case 0x32: d->Fn = &Ops.Rdmsr; return;
            case 0x33: d->Fn = &Ops.Rdpmc; return;
            case 0x34: d->Fn = &Ops.Sysenter; end = true; return;
            case 0x35: d->Fn = &Ops.Sysexit; end = true; return;
            case 0xA0: case 0xA8:
            {
                int ssz = m64 ? (osz == 2 ? 2 : 8) : osz;
                d->Aux = (byte)(op == 0xA0 ? SegReg.FS : SegReg.GS);
                d->Fn = Sz(ssz, null, &Ops.PushSeg<B16>, &Ops.PushSeg<B32>, &Ops.PushSeg<B64>);
                return;
            }
            case 0xA1: case 0xA9:
            {
                int ssz = m64 ? (osz == 2 ? 2 : 8) : osz;
                d->Aux = (byte)(op == 0xA1 ? SegReg.FS : SegReg.GS);
                d->Fn = Sz(ssz, null, &Ops.PopSeg<B16>, &Ops.PopSeg<B32>, &Ops.PopSeg<B64>);
                return;
            }
            case 0xA2: d->Fn = &Ops.Cpuid; return;
            case 0xA3: case 0xAB: case 0xB3: case 0xBB:
                ModRmRegs(ref r, ref c, d, osz);
                d->Fn = Bt((op >> 3) & 3, d->IsMem ? 1 : 0, osz);
                c.LockOk = d->IsMem && op != 0xA3;
                return;
            case 0xBA:
                ModRmRegs(ref r, ref c, d, osz);
                d->Imm = r.U8();
                if (d->RegIndex < 4) { Ud(d, ref end); return; }
                d->Fn = Bt(d->RegIndex - 4, d->IsMem ? 3 : 2, osz);
                c.LockOk = d->IsMem && d->RegIndex != 4;
                return;
            case 0xA4: case 0xA5: case 0xAC: case 0xAD:
                ModRmRegs(ref r, ref c, d, osz);
                if ((op & 1) == 0) { d->Aux = 2; d->Imm = r.U8(); } else d->Aux = 1;
                d->Fn = op < 0xAC
                    ? (d->IsMem ? Sz(osz, null, &Ops.ShldM<B16>, &Ops.ShldM<B32>, &Ops.ShldM<B64>) : Sz(osz, null, &Ops.ShldR<B16>, &Ops.ShldR<B32>, &Ops.ShldR<B64>))
                    : (d->IsMem ? Sz(osz, null, &Ops.ShrdM<B16>, &Ops.ShrdM<B32>, &Ops.ShrdM<B64>) : Sz(osz, null, &Ops.ShrdR<B16>, &Ops.ShrdR<B32>, &Ops.ShrdR<B64>));
                return;
            case 0xAF:
                ModRmRegs(ref r, ref c, d, osz);
                d->Fn = d->IsMem
                    ? Sz(osz, null, &Ops.Imul2<B16, SrcMem>, &Ops.Imul2<B32, SrcMem>, &Ops.Imul2<B64, SrcMem>)
                    : Sz(osz, null, &Ops.Imul2<B16, SrcRm>, &Ops.Imul2<B32, SrcRm>, &Ops.Imul2<B64, SrcRm>);
                return;
            case 0xB0: case 0xB1:
            {
                int sz = op == 0xB0 ? 1 : osz;
                ModRmRegs(ref r, ref c, d, sz);
                d->Fn = d->IsMem
                    ? Sz(sz, &Ops.CmpxchgM<B8>, &Ops.CmpxchgM<B16>, &Ops.CmpxchgM<B32>, &Ops.CmpxchgM<B64>)
                    : Sz(sz, &Ops.CmpxchgR<B8>, &Ops.CmpxchgR<B16>, &Ops.CmpxchgR<B32>, &Ops.CmpxchgR<B64>);
                c.LockOk = d->IsMem;
                return;
            }
            case 0xB2: case 0xB4: case 0xB5:
                ModRmRegs(ref r, ref c, d, osz);
                if (!d->IsMem) { Ud(d, ref end); return; }
                d->Aux = (byte)(op == 0xB2 ? SegReg.SS : op == 0xB4 ? SegReg.FS : SegReg.GS);
                d->Fn = osz == 2 ? &Ops.LoadFarPtr<B16> : &Ops.LoadFarPtr<B32>;
                end = true;
                return;
            case 0xB6: case 0xB7: case 0xBE: case 0xBF:
            {
                int ssz = (op & 1) == 0 ? 1 : 2;
                ModRm(ref r, ref c, d);
                d->Reg = RegOff(c.RegIdx, osz, c.Rex);
                d->Rm = RegOff(c.RmIdx, ssz, c.Rex);
                bool sx = op >= 0xBE, mem = d->IsMem;
                d->Fn = (sx, ssz, mem) switch
                {
                    (false, 1, false) => Sz(osz, null, &Ops.Movx<B16, B8, SrcRm, Zx>, &Ops.Movx<B32, B8, SrcRm, Zx>, &Ops.Movx<B64, B8, SrcRm, Zx>),
                    (false, 1, true) => Sz(osz, null, &Ops.Movx<B16, B8, SrcMem, Zx>, &Ops.Movx<B32, B8, SrcMem, Zx>, &Ops.Movx<B64, B8, SrcMem, Zx>),
                    (false, _, false) => Sz(osz, null, &Ops.Movx<B16, B16, SrcRm, Zx>, &Ops.Movx<B32, B16, SrcRm, Zx>, &Ops.Movx<B64, B16, SrcRm, Zx>),
                    (false, _, true) => Sz(osz, null, &Ops.Movx<B16, B16, SrcMem, Zx>, &Ops.Movx<B32, B16, SrcMem, Zx>, &Ops.Movx<B64, B16, SrcMem, Zx>),
                    (true, 1, false) => Sz(osz, null, &Ops.Movx<B16, B8, SrcRm, Sx>, &Ops.Movx<B32, B8, SrcRm, Sx>, &Ops.Movx<B64, B8, SrcRm, Sx>),
                    (true, 1, true) => Sz(osz, null, &Ops.Movx<B16, B8, SrcMem, Sx>, &Ops.Movx<B32, B8, SrcMem, Sx>, &Ops.Movx<B64, B8, SrcMem, Sx>),
                    (true, _, false) => Sz(osz, null, &Ops.Movx<B16, B16, SrcRm, Sx>, &Ops.Movx<B32, B16, SrcRm, Sx>, &Ops.Movx<B64, B16, SrcRm, Sx>),
                    (true, _, true) => Sz(osz, null, &Ops.Movx<B16, B16, SrcMem, Sx>, &Ops.Movx<B32, B16, SrcMem, Sx>, &Ops.Movx<B64, B16, SrcMem, Sx>),
                };
                return;
            }
            case 0xBC: case 0xBD:
                ModRmRegs(ref r, ref c, d, osz);
                d->Fn = op == 0xBC
                    ? (d->IsMem ? Sz(osz, null, &Ops.Bsf<B16, SrcMem>, &Ops.Bsf<B32, SrcMem>, &Ops.Bsf<B64, SrcMem>) : Sz(osz, null, &Ops.Bsf<B16, SrcRm>, &Ops.Bsf<B32, SrcRm>, &Ops.Bsf<B64, SrcRm>))
                    : (d->IsMem ? Sz(osz, null, &Ops.Bsr<B16, SrcMem>, &Ops.Bsr<B32, SrcMem>, &Ops.Bsr<B64, SrcMem>) : Sz(osz, null, &Ops.Bsr<B16, SrcRm>, &Ops.Bsr<B32, SrcRm>, &Ops.Bsr<B64, SrcRm>));
                return;
            case 0xC0: case 0xC1:
            {
                int sz = op == 0xC0 ? 1 : osz;
                ModRmRegs(ref r, ref c, d, sz);
                d->Fn = d->IsMem
                    ? Sz(sz, &Ops.XaddM<B8>, &Ops.XaddM<B16>, &Ops.XaddM<B32>, &Ops.XaddM<B64>)
                    : Sz(sz, &Ops.XaddR<B8>, &Ops.XaddR<B16>, &Ops.XaddR<B32>, &Ops.XaddR<B64>);
                c.LockOk = d->IsMem;
                return;
            }
            case 0xC7:
                ModRmRegs(ref r, ref c, d, osz);
                if (d->RegIndex != 1 || !d->IsMem || osz == 8) { Ud(d, ref end); return; }
                d->Fn = &Ops.Cmpxchg8b;
                c.LockOk = true;
                return;
        }
        Ud(d, ref end);
    }
}
