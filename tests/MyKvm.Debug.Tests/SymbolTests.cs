using MyKvm.Debug.Disasm;
using MyKvm.Debug.Symbols;
using MyKvm.TestSupport;

namespace MyKvm.Debug.Tests;

public class SymbolTests
{
    private static SymbolTable Load(string guest) => SymbolTable.Load(TestEnvironment.Guest(guest));

    [Fact]
    public void LooksUpFunctionsWithOffsets()
    {
        var t = Load("dbg-gdb.elf");
        Assert.True(t.TryGetAddress("kmain", out ulong kmain));
        Assert.Equal("kmain", t.Describe(kmain));
        Assert.Equal("kmain+0x1c", t.Describe(kmain + 0x1c));
        Assert.Equal($"0x{kmain + 4:x8} <kmain+0x4>", t.Format(kmain + 4));
        // An object beats a label at the same address; an address past every section has no name.
        Assert.True(t.TryGetAddress("watched_counter", out ulong wc));
        Assert.Equal("watched_counter", t.Describe(wc));
        Assert.Null(t.Describe(0xDEAD_0000));
        // nasm's local label in the entry code
        Assert.Equal("_start.hang", t.Describe(t.Find("_start.hang")!.Address));
    }

    [Fact]
    public void LineTableAgreesWithAddr2line()
    {
        string path = TestEnvironment.Guest("dbg-gdb.elf");
        var t = SymbolTable.Load(path);
        Assert.NotNull(t.Lines);
        t.TryGetAddress("kmain", out ulong kmain);
        t.TryGetAddress("square", out ulong square);
        var addrs = new List<ulong>();
        for (ulong a = square; a < kmain + 0x60; a += 3) addrs.Add(a);
        if (!TestEnvironment.HasCommand("addr2line")) return;
        var r = TestEnvironment.Run("addr2line", new[] { "-e", path }.Concat(addrs.Select(a => $"0x{a:x}")));
        var expected = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(addrs.Count, expected.Length);
        for (int i = 0; i < addrs.Count; i++)
        {
            string ours = t.SourceLine(addrs[i]) ?? "??";
            string theirs = expected[i].Split(' ')[0];
            Assert.EndsWith(ours.Split('/').Last(), theirs.Split('/').Last());
        }
        Assert.StartsWith("gdbguest.c:", t.SourceLine(kmain)!.Split('/').Last());
    }

    [Fact]
    public void NasmObjectsHaveLinesToo()
    {
        var t = Load("dbg-gdb.elf");
        t.TryGetAddress("_start", out ulong start);
        Assert.Contains("mb_entry.asm", t.SourceLine(start));
    }

    [Fact]
    public void DisassemblesWithSymbolsInBothSyntaxes()
    {
        var t = Load("dbg-gdb.elf");
        t.TryGetAddress("serial_init", out ulong serialInit);
        // call serial_init from 0x100085 (e8 rel32), and a memory operand
        ulong at = 0x100085;
        int rel = (int)(serialInit - (at + 5));
        byte[] code = [0xE8, .. BitConverter.GetBytes(rel), 0x8B, 0x45, 0x08];
        var att = new Disassembler(t).Disassemble(code, at, 32, 2);
        Assert.Equal($"call   serial_init (0x{serialInit:x8})", att[0].Text);
        Assert.Equal("mov    0x8(%ebp),%eax", att[1].Text);
        Assert.StartsWith("0x00100085 <kmain+0xd>: e8", new Disassembler(t).FormatLine(att[0]));
        var intel = new Disassembler(t, AsmSyntax.Intel).Disassemble(code, at, 32, 2);
        Assert.Equal("mov    eax, [ebp+0x8]", intel[1].Text);
        var bad = new Disassembler(t).Disassemble(new byte[] { 0x0F, 0xFF }, 0x1000, 32, 1);
        Assert.True(bad[0].Invalid);
    }

    [Fact]
    public void RejectsFilesThatAreNotElf()
    {
        Assert.Throws<FormatException>(() => new ElfFile(new byte[64]));
        var good = File.ReadAllBytes(TestEnvironment.Guest("dbg-gdb.elf"));
        Assert.Throws<FormatException>(() => new ElfFile(good[..100]));
    }
}
