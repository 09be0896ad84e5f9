namespace MyKvm.Cpu.Tests;

/// <summary>How a form's operands are set up.</summary>
internal enum Setup { Plain, String, BitOffsetSmall, Enter, Xlat, ShiftSmall16 }

/// <summary>
/// An instruction form to fuzz: prefix and opcode bytes, ModRM (none, register only, memory only, both),
/// a fixed /digit or any, immediate size (-1: Iz, 2 or 4 by operand size), and the flags the SDM leaves
/// undefined for it.
/// </summary>
internal sealed record Form(string Name, byte[] Opcode, int ModRm, int Digit, int Imm, uint Undef, Setup Setup = Setup.Plain, bool ResultUndefined = false)
{
    public const int NoModRm = 0, RegOnly = 1, MemOnly = 2, Both = 3;
    public override string ToString() => Name;
}

internal static class DiffForms
{
    private const uint CF = 1, PF = 4, AF = 0x10, ZF = 0x40, SF = 0x80, OF = 0x800;
    private const uint All = CF | PF | AF | ZF | SF | OF;

    public static IEnumerable<Form> All32()
    {
        string[] alu = ["add", "or", "adc", "sbb", "and", "sub", "xor", "cmp"];
        for (int op = 0; op < 8; op++)
        {
            uint u = op is 1 or 4 or 6 ? AF : 0;        // logic ops: AF undefined
            byte b = (byte)(op * 8);
            yield return new($"{alu[op]} Eb,Gb", [b], Form.Both, -1, 0, u);
            yield return new($"{alu[op]} Ev,Gv", [(byte)(b + 1)], Form.Both, -1, 0, u);
            yield return new($"{alu[op]} Gb,Eb", [(byte)(b + 2)], Form.Both, -1, 0, u);
            yield return new($"{alu[op]} Gv,Ev", [(byte)(b + 3)], Form.Both, -1, 0, u);
            yield return new($"{alu[op]} AL,Ib", [(byte)(b + 4)], Form.NoModRm, -1, 1, u);
            yield return new($"{alu[op]} eAX,Iz", [(byte)(b + 5)], Form.NoModRm, -1, -1, u);
            yield return new($"{alu[op]} Eb,Ib", [0x80], Form.Both, op, 1, u);
            yield return new($"{alu[op]} Ev,Iz", [0x81], Form.Both, op, -1, u);
            yield return new($"{alu[op]} Ev,Ib", [0x83], Form.Both, op, 1, u);
        }
        yield return new("test Eb,Gb", [0x84], Form.Both, -1, 0, AF);
        yield return new("test Ev,Gv", [0x85], Form.Both, -1, 0, AF);
        yield return new("test AL,Ib", [0xA8], Form.NoModRm, -1, 1, AF);
        yield return new("test eAX,Iz", [0xA9], Form.NoModRm, -1, -1, AF);
        yield return new("test Eb,Ib", [0xF6], Form.Both, 0, 1, AF);
        yield return new("test Ev,Iz", [0xF7], Form.Both, 0, -1, AF);
        for (int r = 0; r < 8; r++)
        {
            yield return new($"inc r{r}", [(byte)(0x40 + r)], Form.NoModRm, -1, 0, 0);
            yield return new($"dec r{r}", [(byte)(0x48 + r)], Form.NoModRm, -1, 0, 0);
        }
        yield return new("inc Eb", [0xFE], Form.Both, 0, 0, 0);
        yield return new("dec Eb", [0xFE], Form.Both, 1, 0, 0);
        yield return new("inc Ev", [0xFF], Form.Both, 0, 0, 0);
        yield return new("dec Ev", [0xFF], Form.Both, 1, 0, 0);
        yield return new("not Eb", [0xF6], Form.Both, 2, 0, 0);
        yield return new("not Ev", [0xF7], Form.Both, 2, 0, 0);
        yield return new("neg Eb", [0xF6], Form.Both, 3, 0, 0);
        yield return new("neg Ev", [0xF7], Form.Both, 3, 0, 0);
        yield return new("mul Eb", [0xF6], Form.Both, 4, 0, SF | ZF | AF | PF);
        yield return new("mul Ev", [0xF7], Form.Both, 4, 0, SF | ZF | AF | PF);
        yield return new("imul Eb", [0xF6], Form.Both, 5, 0, SF | ZF | AF | PF);
        yield return new("imul Ev", [0xF7], Form.Both, 5, 0, SF | ZF | AF | PF);
        yield return new("div Eb", [0xF6], Form.Both, 6, 0, All);
        yield return new("div Ev", [0xF7], Form.Both, 6, 0, All);
        yield return new("idiv Eb", [0xF6], Form.Both, 7, 0, All);
        yield return new("idiv Ev", [0xF7], Form.Both, 7, 0, All);
        yield return new("imul Gv,Ev", [0x0F, 0xAF], Form.Both, -1, 0, SF | ZF | AF | PF);
        yield return new("imul Gv,Ev,Iz", [0x69], Form.Both, -1, -1, SF | ZF | AF | PF);
        yield return new("imul Gv,Ev,Ib", [0x6B], Form.Both, -1, 1, SF | ZF | AF | PF);
        string[] sh = ["rol", "ror", "rcl", "rcr", "shl", "shr", "sal", "sar"];
        for (int k = 0; k < 8; k++)
        {
            uint u = k < 4 ? OF : OF | AF;
            yield return new($"{sh[k]} Eb,1", [0xD0], Form.Both, k, 0, k < 4 ? 0 : AF);
            yield return new($"{sh[k]} Ev,1", [0xD1], Form.Both, k, 0, k < 4 ? 0 : AF);
            yield return new($"{sh[k]} Eb,CL", [0xD2], Form.Both, k, 0, u);
            yield return new($"{sh[k]} Ev,CL", [0xD3], Form.Both, k, 0, u);
            yield return new($"{sh[k]} Eb,Ib", [0xC0], Form.Both, k, 1, u);
            yield return new($"{sh[k]} Ev,Ib", [0xC1], Form.Both, k, 1, u);
        }
        yield return new("shld Ev,Gv,Ib", [0x0F, 0xA4], Form.Both, -1, 1, OF | AF, Setup.ShiftSmall16);
        yield return new("shld Ev,Gv,CL", [0x0F, 0xA5], Form.Both, -1, 0, OF | AF, Setup.ShiftSmall16);
        yield return new("shrd Ev,Gv,Ib", [0x0F, 0xAC], Form.Both, -1, 1, OF | AF, Setup.ShiftSmall16);
        yield return new("shrd Ev,Gv,CL", [0x0F, 0xAD], Form.Both, -1, 0, OF | AF, Setup.ShiftSmall16);
        yield return new("bt Ev,Gv", [0x0F, 0xA3], Form.Both, -1, 0, OF | SF | AF | PF, Setup.BitOffsetSmall);
        yield return new("bts Ev,Gv", [0x0F, 0xAB], Form.Both, -1, 0, OF | SF | AF | PF, Setup.BitOffsetSmall);
        yield return new("btr Ev,Gv", [0x0F, 0xB3], Form.Both, -1, 0, OF | SF | AF | PF, Setup.BitOffsetSmall);
        yield return new("btc Ev,Gv", [0x0F, 0xBB], Form.Both, -1, 0, OF | SF | AF | PF, Setup.BitOffsetSmall);
        for (int k = 4; k < 8; k++) yield return new($"bt* Ev,Ib /{k}", [0x0F, 0xBA], Form.Both, k, 1, OF | SF | AF | PF);
        yield return new("bsf Gv,Ev", [0x0F, 0xBC], Form.Both, -1, 0, CF | OF | SF | AF | PF);
        yield return new("bsr Gv,Ev", [0x0F, 0xBD], Form.Both, -1, 0, CF | OF | SF | AF | PF);
        yield return new("movzx Gv,Eb", [0x0F, 0xB6], Form.Both, -1, 0, 0);
        yield return new("movzx Gv,Ew", [0x0F, 0xB7], Form.Both, -1, 0, 0);
        yield return new("movsx Gv,Eb", [0x0F, 0xBE], Form.Both, -1, 0, 0);
        yield return new("movsx Gv,Ew", [0x0F, 0xBF], Form.Both, -1, 0, 0);
        for (int cc = 0; cc < 16; cc++)
        {
            yield return new($"cmov{cc:x} Gv,Ev", [0x0F, (byte)(0x40 + cc)], Form.Both, -1, 0, 0);
            yield return new($"set{cc:x} Eb", [0x0F, (byte)(0x90 + cc)], Form.Both, 0, 0, 0);
            yield return new($"j{cc:x} rel8", [(byte)(0x70 + cc)], Form.NoModRm, -1, 1, 0);
            yield return new($"j{cc:x} rel32", [0x0F, (byte)(0x80 + cc)], Form.NoModRm, -1, 4, 0);
        }
        yield return new("xadd Eb,Gb", [0x0F, 0xC0], Form.Both, -1, 0, 0);
        yield return new("xadd Ev,Gv", [0x0F, 0xC1], Form.Both, -1, 0, 0);
        yield return new("cmpxchg Eb,Gb", [0x0F, 0xB0], Form.Both, -1, 0, 0);
        yield return new("cmpxchg Ev,Gv", [0x0F, 0xB1], Form.Both, -1, 0, 0);
        yield return new("cmpxchg8b Mq", [0x0F, 0xC7], Form.MemOnly, 1, 0, 0);
        for (int r = 0; r < 8; r++) yield return new($"bswap r{r}", [0x0F, (byte)(0xC8 + r)], Form.NoModRm, -1, 0, 0);
        yield return new("xchg Eb,Gb", [0x86], Form.Both, -1, 0, 0);
        yield return new("xchg Ev,Gv", [0x87], Form.Both, -1, 0, 0);
        for (int r = 1; r < 8; r++) yield return new($"xchg eax,r{r}", [(byte)(0x90 + r)], Form.NoModRm, -1, 0, 0);
        yield return new("mov Eb,Gb", [0x88], Form.Both, -1, 0, 0);
        yield return new("mov Ev,Gv", [0x89], Form.Both, -1, 0, 0);
        yield return new("mov Gb,Eb", [0x8A], Form.Both, -1, 0, 0);
        yield return new("mov Gv,Ev", [0x8B], Form.Both, -1, 0, 0);
        yield return new("mov Eb,Ib", [0xC6], Form.Both, 0, 1, 0);
        yield return new("mov Ev,Iz", [0xC7], Form.Both, 0, -1, 0);
        for (int r = 0; r < 8; r++)
        {
            yield return new($"mov r8_{r},Ib", [(byte)(0xB0 + r)], Form.NoModRm, -1, 1, 0);
            yield return new($"mov r{r},Iv", [(byte)(0xB8 + r)], Form.NoModRm, -1, -1, 0);
        }
        yield return new("lea Gv,M", [0x8D], Form.MemOnly, -1, 0, 0);
        yield return new("cbw/cwde", [0x98], Form.NoModRm, -1, 0, 0);
        yield return new("cwd/cdq", [0x99], Form.NoModRm, -1, 0, 0);
        yield return new("sahf", [0x9E], Form.NoModRm, -1, 0, 0);
        yield return new("lahf", [0x9F], Form.NoModRm, -1, 0, 0);
        yield return new("cmc", [0xF5], Form.NoModRm, -1, 0, 0);
        yield return new("clc", [0xF8], Form.NoModRm, -1, 0, 0);
        yield return new("stc", [0xF9], Form.NoModRm, -1, 0, 0);
        yield return new("cld", [0xFC], Form.NoModRm, -1, 0, 0);
        yield return new("std", [0xFD], Form.NoModRm, -1, 0, 0);
        yield return new("daa", [0x27], Form.NoModRm, -1, 0, OF);
        yield return new("das", [0x2F], Form.NoModRm, -1, 0, OF);
        yield return new("aaa", [0x37], Form.NoModRm, -1, 0, OF | SF | ZF | PF);
        yield return new("aas", [0x3F], Form.NoModRm, -1, 0, OF | SF | ZF | PF);
        yield return new("aam Ib", [0xD4], Form.NoModRm, -1, 1, OF | AF | CF);
        yield return new("aad Ib", [0xD5], Form.NoModRm, -1, 1, OF | AF | CF);
        yield return new("xlat", [0xD7], Form.NoModRm, -1, 0, 0, Setup.Xlat);
        for (int r = 0; r < 8; r++)
        {
            yield return new($"push r{r}", [(byte)(0x50 + r)], Form.NoModRm, -1, 0, 0);
            if (r != 4) yield return new($"pop r{r}", [(byte)(0x58 + r)], Form.NoModRm, -1, 0, 0);
        }
        yield return new("push Iz", [0x68], Form.NoModRm, -1, -1, 0);
        yield return new("push Ib", [0x6A], Form.NoModRm, -1, 1, 0);
        yield return new("push Ev", [0xFF], Form.MemOnly, 6, 0, 0);
        yield return new("pop Ev", [0x8F], Form.MemOnly, 0, 0, 0);
        yield return new("pusha", [0x60], Form.NoModRm, -1, 0, 0);
        yield return new("popa", [0x61], Form.NoModRm, -1, 0, 0);
        yield return new("pushf", [0x9C], Form.NoModRm, -1, 0, 0);
        yield return new("enter", [0xC8], Form.NoModRm, -1, 3, 0, Setup.Enter);
        yield return new("leave", [0xC9], Form.NoModRm, -1, 0, 0, Setup.Enter);
        yield return new("call rel32", [0xE8], Form.NoModRm, -1, 4, 0);
        yield return new("jmp rel8", [0xEB], Form.NoModRm, -1, 1, 0);
        yield return new("jmp rel32", [0xE9], Form.NoModRm, -1, 4, 0);
        yield return new("loop", [0xE2], Form.NoModRm, -1, 1, 0);
        yield return new("loope", [0xE1], Form.NoModRm, -1, 1, 0);
        yield return new("loopne", [0xE0], Form.NoModRm, -1, 1, 0);
        yield return new("jecxz", [0xE3], Form.NoModRm, -1, 1, 0);
        yield return new("ret", [0xC3], Form.NoModRm, -1, 0, 0);
        yield return new("ret Iw", [0xC2], Form.NoModRm, -1, 2, 0);
        string[] str = ["movsb", "movsv", "cmpsb", "cmpsv", "", "", "stosb", "stosv", "lodsb", "lodsv", "scasb", "scasv"];
        for (int k = 0; k < 12; k++)
        {
            if (k is 4 or 5) continue;
            byte op = (byte)(0xA4 + k);
            yield return new(str[k], [op], Form.NoModRm, -1, 0, 0, Setup.String);
            yield return new("rep " + str[k], [0xF3, op], Form.NoModRm, -1, 0, 0, Setup.String);
            if (k is 2 or 3 or 10 or 11) yield return new("repne " + str[k], [0xF2, op], Form.NoModRm, -1, 0, 0, Setup.String);
        }
    }
}
