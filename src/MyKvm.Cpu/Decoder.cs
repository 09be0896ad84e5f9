using System.Runtime.CompilerServices;
using static MyKvm.Cpu.X86;

namespace MyKvm.Cpu;

/// <summary>
/// Decodes one instruction into an <see cref="Insn"/> (SDM Vol. 2 chapter 2 and Appendix A opcode maps).
/// Operand and address size are runtime values here so 16-, 32- and (later) 64-bit code share one decoder;
/// the chosen handler is a generic instantiation specialised for the size.
/// </summary>
internal static unsafe partial class Decoder
{
    private ref struct Reader
    {
        public byte* Code;
        public int Avail;
        public int Pos;
        public bool Short;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public byte U8()
        {
            if (Pos >= Avail) { Short = true; Pos++; return 0; }
            return Code[Pos++];
        }
        public ushort U16() { uint lo = U8(); return (ushort)(lo | ((uint)U8() << 8)); }
        public uint U32() { uint lo = U16(); return lo | ((uint)U16() << 16); }
    }

    public const int MaxInsnLen = 15;

    /// <summary>Result of <see cref="Decode"/>: the length, or 0 when more bytes than <c>avail</c> are needed.</summary>
    /// <param name="mode">0: 16-bit code, 1: 32-bit, 2: 64-bit.</param>
    /// <param name="endsBlock">The instruction transfers control (or may change the mode): a block ends after it.</param>
    public static int Decode(byte* code, int avail, int mode, Insn* d, out bool endsBlock)
    {
        *d = default;
        var r = new Reader { Code = code, Avail = avail };
        endsBlock = false;
        int osz = mode == 0 ? 2 : 4;       // operand size in bytes
        int asz = mode == 0 ? 2 : mode == 1 ? 4 : 8;
        int seg = -1;
        byte flags = 0;
        int rex = 0;
        byte op;
        bool opPrefix = false;
        // Legacy prefixes (SDM Vol. 2 §2.1.1): any order; the last REP/segment prefix wins.
        while (true)
        {
            op = r.U8();
            if (r.Short) return r.Pos > MaxInsnLen && avail >= MaxInsnLen ? TooLong(d, out endsBlock) : 0;
            switch (op)
            {
                case 0x66: opPrefix = true; osz = mode == 0 ? 4 : 2; rex = 0; continue;
                case 0x67: asz = mode == 0 ? 4 : mode == 1 ? 2 : 4; rex = 0; continue;
                case 0x26: seg = SegReg.ES; rex = 0; continue;
                case 0x2E: seg = SegReg.CS; rex = 0; continue;
                case 0x36: seg = SegReg.SS; rex = 0; continue;
                case 0x3E: seg = SegReg.DS; rex = 0; continue;
                case 0x64: seg = SegReg.FS; rex = 0; continue;
                case 0x65: seg = SegReg.GS; rex = 0; continue;
                case 0xF0: flags |= Insn.FLock; rex = 0; continue;
                case 0xF2: flags = (byte)((flags & ~Insn.FRep) | Insn.FRepne); rex = 0; continue;
                case 0xF3: flags = (byte)((flags & ~Insn.FRepne) | Insn.FRep); rex = 0; continue;
            }
            if (mode == 2 && (op & 0xF0) == 0x40) { rex = op; continue; }
            break;
        }
        if ((rex & 8) != 0) osz = 8;
        _ = opPrefix;
        var ctx = new Ctx { Mode = mode, Osz = osz, Asz = asz, SegOverride = seg, Rex = rex };
        d->Flags = flags;
        d->OpSz = (byte)osz;
        d->AMask = asz == 2 ? 0xFFFFUL : asz == 4 ? 0xFFFF_FFFFUL : ulong.MaxValue;
        if (asz == 2) d->Flags |= Insn.FA16;
        if (asz == 8) d->Flags |= Insn.FA64;
        d->Base = d->Index = CpuState.RegZero;
        d->Seg = (byte)(seg >= 0 ? seg : SegReg.DS);

        if (op == 0x0F)
        {
            byte op2 = r.U8();
            d->Op = op2;
            d->Flags |= Insn.F0F;
            DecodeTwoByte(ref r, ref ctx, d, op2, ref endsBlock);
        }
        else
        {
            d->Op = op;
            DecodeOneByte(ref r, ref ctx, d, op, ref endsBlock);
        }
        if (r.Pos > MaxInsnLen)
        {
            // Longer than 15 bytes: #GP(0) (SDM Vol. 2 §2.3.11), once 15 bytes are known to be there.
            if (avail < MaxInsnLen) return 0;
            SetFault(d, Vec.GP);
            endsBlock = true;
            d->Len = MaxInsnLen;
            return MaxInsnLen;
        }
        if (r.Short) return 0;
        d->Len = (byte)r.Pos;
        if (d->Fn == null) { d->Fn = &Ops.Unimplemented; endsBlock = true; }
        if ((d->Flags & Insn.FLock) != 0 && !ctx.LockOk) { d->Fn = &Ops.UndefinedOpcode; endsBlock = true; }
        return r.Pos;
    }

    private static int TooLong(Insn* d, out bool endsBlock)
    {
        SetFault(d, Vec.GP);
        endsBlock = true;
        d->Len = MaxInsnLen;
        return MaxInsnLen;
    }

    private static void SetFault(Insn* d, int vec)
    {
        d->Aux = (byte)vec;
        d->Fn = &Ops.RaiseAux;
    }

    private struct Ctx
    {
        public int Mode, Osz, Asz, SegOverride, Rex;
        public int RegIdx, RmIdx;     // ModRM.reg and ModRM.rm with REX bits
        public bool HasModRm, LockOk;
    }

    /// <summary>Byte offset in CpuState of general register <paramref name="idx"/> at operand size <paramref name="size"/>.</summary>
    private static byte RegOff(int idx, int size, int rex)
    {
        if (size == 1 && rex == 0 && idx >= 4 && idx < 8) return (byte)((idx - 4) * 8 + 1);   // AH, CH, DH, BH
        return (byte)(idx * 8);
    }

    /// <summary>Parses ModRM (+SIB, displacement): SDM Vol. 2 Tables 2-1..2-3.</summary>
    private static void ModRm(ref Reader r, ref Ctx c, Insn* d)
    {
        byte m = r.U8();
        d->ModRm = m;
        c.HasModRm = true;
        int mod = m >> 6, reg = (m >> 3) & 7, rm = m & 7;
        c.RegIdx = reg | ((c.Rex & 4) << 1);
        c.RmIdx = rm | ((c.Rex & 1) << 3);
        if (mod == 3) return;
        d->Flags |= Insn.FMem;
        int defSeg = SegReg.DS;
        if (c.Asz == 2)
        {
            // 16-bit addressing: BX+SI, BX+DI, BP+SI, BP+DI, SI, DI, BP/disp16, BX.
            const int BX = 3, BP = 5, SI = 6, DI = 7;
            switch (rm)
            {
                case 0: d->Base = BX; d->Index = SI; break;
                case 1: d->Base = BX; d->Index = DI; break;
                case 2: d->Base = BP; d->Index = SI; defSeg = SegReg.SS; break;
                case 3: d->Base = BP; d->Index = DI; defSeg = SegReg.SS; break;
                case 4: d->Base = SI; break;
                case 5: d->Base = DI; break;
                case 6: if (mod == 0) { d->Disp = (uint)(short)r.U16(); } else { d->Base = BP; defSeg = SegReg.SS; } break;
                case 7: d->Base = BX; break;
            }
            if (mod == 1) d->Disp = (uint)(sbyte)r.U8();
            else if (mod == 2) d->Disp = (uint)(short)r.U16();
        }
        else
        {
            if (rm == 4)
            {
                byte sib = r.U8();
                int scale = sib >> 6, index = ((sib >> 3) & 7) | ((c.Rex & 2) << 2), bas = sib & 7;
                if (index != 4) { d->Index = (byte)index; d->Scale = (byte)scale; }
                if (bas == 5 && mod == 0)
                {
                    d->Disp = r.U32();
                }
                else
                {
                    int b = bas | ((c.Rex & 1) << 3);
                    d->Base = (byte)b;
                    if (bas == 4 || bas == 5) defSeg = SegReg.SS;
                }
            }
            else if (rm == 5 && mod == 0)
            {
                d->Disp = r.U32();
                if (c.Mode == 2) d->Base = CpuState.RegRip;   // RIP-relative (SDM Vol. 2 §2.2.1.6)
            }
            else
            {
                d->Base = (byte)c.RmIdx;
                if (rm == 5) defSeg = SegReg.SS;
            }
            if (mod == 1) d->Disp = (uint)(sbyte)r.U8();
            else if (mod == 2) d->Disp = r.U32();
        }
        d->Seg = (byte)(c.SegOverride >= 0 ? c.SegOverride : defSeg);
    }

    /// <summary>Fills Reg/Rm register offsets for an operation of <paramref name="size"/> bytes.</summary>
    private static void Regs(ref Ctx c, Insn* d, int size)
    {
        d->Reg = RegOff(c.RegIdx, size, c.Rex);
        d->Rm = RegOff(c.RmIdx, size, c.Rex);
    }

    private static uint ImmSz(ref Reader r, int size) => size switch
    {
        1 => (uint)(sbyte)r.U8(),
        2 => (uint)(short)r.U16(),
        _ => r.U32(),        // 64-bit operations take a sign-extended imm32
    };
}
