using System.Runtime.InteropServices;

namespace MyKvm.Cpu;

/// <summary>
/// A decoded instruction. Decoded once per block (DESIGN.md: pre-decode, dispatch through a function pointer);
/// the handler reads its operands from here. Register operands are byte offsets into <see cref="CpuState.Regs"/>
/// (so AH is offset 1), memory operands are base/index register numbers (16 = none) plus displacement.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct Insn
{
    public delegate*<CpuState*, Insn*, int> Fn;
    public ulong AMask;      // address-size mask applied to effective addresses
    public uint Disp;        // displacement (sign-extended to 32 bits), moffs, or rel target offset
    public uint Imm;         // immediate; far-pointer offset; ENTER size
    public ushort Imm2;      // far-pointer selector; ENTER level; second immediate
    public byte Len;
    public byte Seg;         // effective segment register for the memory operand
    public byte Base, Index, Scale;
    public byte Reg;         // byte offset of the ModRM.reg register operand
    public byte Rm;          // byte offset of the ModRM.rm register operand (mod == 3)
    public byte Flags;
    public byte Aux;         // condition code, segment number, sub-operation, count source...
    public byte OpSz;        // operand size in bytes
    public byte ModRm;       // raw ModRM byte (0 if none)
    public byte Op;          // primary opcode byte (second byte for 0F xx)

    public const byte FRep = 1, FRepne = 2, FLock = 4, FMem = 8, FA16 = 16, FA64 = 32, F0F = 64;

    public readonly bool IsMem => (Flags & FMem) != 0;
    public readonly int RegIndex => (ModRm >> 3) & 7;
}
