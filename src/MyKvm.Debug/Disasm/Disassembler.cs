using System.Text;
using Iced.Intel;
using MyKvm.Core;
using MyKvm.Debug.Memory;
using MyKvm.Debug.Symbols;

namespace MyKvm.Debug.Disasm;

public enum AsmSyntax { Att, Intel }

/// <summary>One decoded instruction: its address, bytes and text.</summary>
public sealed record DisassembledInstruction(ulong Address, byte[] Bytes, string Text, bool Invalid, Instruction Decoded);

/// <summary>
/// Disassembly through Iced with the kernel's symbols for branch targets and memory operands, in AT&amp;T (GNU as,
/// gdb's default) or Intel syntax.
/// </summary>
public sealed class Disassembler
{
    private readonly SymbolTable _symbols;
    private readonly Formatter _formatter;

    public Disassembler(SymbolTable? symbols = null, AsmSyntax syntax = AsmSyntax.Att)
    {
        _symbols = symbols ?? SymbolTable.Empty;
        var resolver = new Resolver(_symbols);
        _formatter = syntax == AsmSyntax.Intel ? new IntelFormatter(resolver) : new GasFormatter(resolver);
        _formatter.Options.HexPrefix = "0x";
        _formatter.Options.HexSuffix = "";
        _formatter.Options.UppercaseHex = false;
        _formatter.Options.FirstOperandCharIndex = 7;
        _formatter.Options.BranchLeadingZeros = false;
        _formatter.Options.SmallHexNumbersInDecimal = false;
        _formatter.Options.ShowSymbolAddress = true;
        _formatter.Options.SpaceAfterOperandSeparator = syntax == AsmSyntax.Intel;
        Syntax = syntax;
    }

    public AsmSyntax Syntax { get; }
    public SymbolTable Symbols => _symbols;

    /// <summary>The code size of the state's CS: 64 in long mode with CS.L, else 32 or 16 by CS.D (SDM Vol. 3A §3.4.5).</summary>
    public static int Bitness(VcpuState s)
    {
        if ((s.Efer & VcpuState.EferLMA) != 0 && s.Cs.Long) return 64;
        if ((s.Cr0 & VcpuState.Cr0PE) == 0) return 16;
        return s.Cs.DefaultBig ? 32 : 16;
    }

    public List<DisassembledInstruction> Disassemble(ReadOnlySpan<byte> code, ulong address, int bitness, int maxCount)
    {
        var result = new List<DisassembledInstruction>();
        var bytes = code.ToArray();
        var decoder = Iced.Intel.Decoder.Create(bitness, new ByteArrayCodeReader(bytes), address);
        int offset = 0;
        while (result.Count < maxCount && offset < bytes.Length)
        {
            decoder.Decode(out var instr);
            int len = instr.Length;
            bool invalid = instr.IsInvalid || decoder.LastError != DecoderError.None;
            if (invalid && decoder.LastError == DecoderError.NoMoreBytes)
            {
                result.Add(new DisassembledInstruction(address + (ulong)offset, bytes[offset..], "(truncated: instruction runs past the readable bytes)", true, instr));
                break;
            }
            if (len == 0) len = 1;
            var output = new StringOutput();
            string text;
            if (invalid)
            {
                text = "(bad)";
            }
            else
            {
                _formatter.Format(instr, output);
                text = output.ToStringAndReset();
            }
            result.Add(new DisassembledInstruction(address + (ulong)offset, bytes[offset..Math.Min(bytes.Length, offset + len)], text, invalid, instr));
            offset += len;
        }
        return result;
    }

    /// <summary>Disassembles <paramref name="count"/> instructions at a linear address, reading through the page tables.</summary>
    public List<DisassembledInstruction> Disassemble(LinearMemory mem, ulong linear, int bitness, int count)
    {
        var buf = new byte[Math.Min(count * 15, 4096)];
        int got = mem.Read(linear, buf);
        return Disassemble(buf.AsSpan(0, got), linear, bitness, count);
    }

    /// <summary>"0x00100123 &lt;kmain+0x1c&gt;:  8b 45 08              mov    0x8(%ebp),%eax".</summary>
    public string FormatLine(DisassembledInstruction i, bool showBytes = true, string marker = "")
    {
        var sb = new StringBuilder();
        sb.Append(marker);
        sb.Append(_symbols.Format(i.Address, i.Address > 0xFFFF_FFFF ? 16 : 8));
        sb.Append(": ");
        if (showBytes)
        {
            var hex = string.Join(' ', i.Bytes.Take(10).Select(b => b.ToString("x2")));
            if (i.Bytes.Length > 10) hex += "..";
            sb.Append(hex.PadRight(24));
        }
        sb.Append(i.Text);
        return sb.ToString();
    }

    private sealed class Resolver(SymbolTable symbols) : ISymbolResolver
    {
        public bool TryGetSymbol(in Instruction instruction, int operand, int instructionOperand, ulong address, int addressSize, out SymbolResult symbol)
        {
            // Only name addresses a symbol really covers; small constants (0x10, 0x3f8) must stay numbers.
            if (address >= 0x1000 && symbols.TryLookup(address, out var s, out var off))
            {
                symbol = new SymbolResult(s.Address, s.Name);
                return true;
            }
            symbol = default;
            return false;
        }
    }
}
