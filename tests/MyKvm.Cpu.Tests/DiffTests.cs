using System.Text;

namespace MyKvm.Cpu.Tests;

public sealed class DiffFixture : IDisposable
{
    internal readonly DiffHarness Harness = new();
    public void Dispose() => Harness.Dispose();
}

/// <summary>
/// The differential oracle: random cases per instruction form run on the soft CPU and on Unicorn.
/// Seeded per form (reproducible); MYKVM_FUZZ_CASES raises the count per form (the long fuzz mode).
/// </summary>
public class DiffTests(DiffFixture fx) : IClassFixture<DiffFixture>
{
    private static int CasesPerForm =>
        int.TryParse(Environment.GetEnvironmentVariable("MYKVM_FUZZ_CASES"), out int n) && n > 0 ? n : 48;

    public static IEnumerable<object[]> FormNames() => DiffForms.All32().Select(f => new object[] { f.Name + "|" + string.Join(",", f.Opcode.Select(b => b.ToString("x2"))) + "|" + f.Digit });

    [Theory]
    [MemberData(nameof(FormNames))]
    public void Form32(string id)
    {
        Assert.True(Unicorn.Available, "libunicorn.so.2 is required (apt-get install libunicorn2)");
        var form = DiffForms.All32().First(f => f.Name + "|" + string.Join(",", f.Opcode.Select(b => b.ToString("x2"))) + "|" + f.Digit == id);
        var rng = new Random(StableHash(id));
        var failures = new StringBuilder();
        int failed = 0;
        for (int k = 0; k < CasesPerForm; k++)
        {
            bool o16 = rng.Next(3) == 0, a16 = rng.Next(4) == 0;
            var c = CaseGen.Make(form, rng, o16, a16);
            if (c == null) continue;
            string? diff = fx.Harness.Compare(c);
            if (diff != null && ++failed <= 5) failures.AppendLine(diff);
        }
        Assert.True(failed == 0, $"{failed} of {CasesPerForm} cases differ:\n{failures}");
    }

    internal static int StableHash(string s)
    {
        int h = 17;
        foreach (char ch in s) h = h * 31 + ch;
        return h;
    }
}

internal static class CaseGen
{
    public static DiffCase? Make(Form f, Random rng, bool o16, bool a16)
    {
        var code = new List<byte>();
        uint[] regs = new uint[8];
        for (int r = 0; r < 8; r++) regs[r] = (uint)rng.NextInt64(0, 1L << 32);
        // Interesting values often: 0, 1, -1, sign boundaries.
        for (int r = 0; r < 8; r++)
            if (rng.Next(4) == 0) regs[r] = new uint[] { 0, 1, 0xFFFF_FFFF, 0x8000_0000, 0x7FFF_FFFF, 0x80, 0x7F, 0xFF, 0x8000, 0xFFFF }[rng.Next(10)];
        regs[4] = DiffHarness.DataBase + 0x1000;
        byte[] data = new byte[DiffHarness.DataSize];
        rng.NextBytes(data);
        uint flags = (uint)rng.Next() & 0x8D5;
        bool mem = f.ModRm == Form.MemOnly || (f.ModRm == Form.Both && rng.Next(2) == 0);
        bool isString = f.Setup == Setup.String;
        if (!mem && !isString) a16 = false;
        if (a16) code.Add(0x67);
        if (o16) code.Add(0x66);
        code.AddRange(f.Opcode);
        int reg = f.Digit >= 0 ? f.Digit : rng.Next(8);
        if (f.Setup == Setup.BitOffsetSmall && mem && reg == 3) reg = 0;
        if (f.ModRm != Form.NoModRm)
        {
            if (!mem) code.Add((byte)(0xC0 | (reg << 3) | rng.Next(8)));
            else
            {
                uint ptr = DiffHarness.DataBase + (uint)rng.Next(0x40, 0x1000);
                if (a16)
                {
                    code.Add((byte)(0x40 | (reg << 3) | 7));        // [bx+disp8]
                    code.Add((byte)rng.Next(0x80));
                    regs[3] = ((uint)rng.Next() << 16) | ptr;
                }
                else
                {
                    switch (rng.Next(4))
                    {
                        case 0: code.Add((byte)(0x40 | (reg << 3) | 3)); code.Add((byte)rng.Next(0x80)); break;
                        case 1: code.Add((byte)(0x80 | (reg << 3) | 3)); code.AddRange(BitConverter.GetBytes((uint)rng.Next(0x400))); break;
                        case 2: code.Add((byte)(0x40 | (reg << 3) | 4)); code.Add((byte)((rng.Next(4) << 6) | (4 << 3) | 3)); code.Add((byte)rng.Next(0x80)); break;
                        default: code.Add((byte)((reg << 3) | 3)); break;
                    }
                    regs[3] = ptr;
                }
                if (f.Setup == Setup.BitOffsetSmall) regs[reg] = (uint)rng.Next(-200, 200);
            }
        }
        int imm = f.Imm == -1 ? (o16 ? 2 : 4) : f.Imm;
        bool branch = f.Name.StartsWith('j') || f.Name.StartsWith("call") || f.Name.StartsWith("loop");
        if (imm > 0)
        {
            byte[] ib = new byte[imm];
            rng.NextBytes(ib);
            if (branch && imm >= 2)
            {
                int rel = rng.Next(-0x700, 0x700);
                ib = imm == 4 ? BitConverter.GetBytes(rel) : BitConverter.GetBytes((short)rel);
            }
            if (branch && imm == 1 && ib[0] == 0xFE) ib[0] = 0x10;     // not a jump to itself
            if (branch && imm == 4 && BitConverter.ToInt32(ib) is < 0 and var back && back >= -(code.Count + 4)) ib = BitConverter.GetBytes(back - 16);
            if (f.Setup == Setup.Enter) { ib[0] = (byte)rng.Next(0, 64); ib[1] = 0; ib[2] = (byte)rng.Next(0, 5); }
            if (f.Name == "ret Iw") { ib[0] = (byte)rng.Next(0, 32); ib[1] = 0; }
            if (f.Setup == Setup.ShiftSmall16 && o16) ib[0] = (byte)rng.Next(0, 17);
            code.AddRange(ib);
        }
        if (branch && o16) return null;          // 16-bit IP truncation would leave the code page
        if (f.Name.StartsWith("bswap") && o16) return null;     // BSWAP r16 is undefined
        switch (f.Setup)
        {
            case Setup.String:
                regs[6] = DiffHarness.DataBase + (uint)rng.Next(0x100, 0xF00);
                regs[7] = DiffHarness.DataBase + (uint)rng.Next(0x1000, 0x1E00);
                regs[1] = (uint)rng.Next(0, 33);
                if (a16) { regs[6] |= (uint)rng.Next() << 16; regs[7] |= (uint)rng.Next() << 16; regs[1] |= (uint)rng.Next() << 16; }
                flags |= (uint)rng.Next(2) << 10;
                break;
            case Setup.ShiftSmall16:
                if (o16) regs[1] = (regs[1] & ~0xFFu) | (uint)rng.Next(0, 17);
                break;
            case Setup.Xlat:
                regs[3] = DiffHarness.DataBase + (uint)rng.Next(0, 0x1000);
                break;
            case Setup.Enter:
                regs[5] = DiffHarness.DataBase + 0x1800 + (uint)rng.Next(0, 0x100);
                break;
        }
        if (f.Name.StartsWith("div") || f.Name.StartsWith("idiv"))
        {
            if (rng.Next(2) == 0) regs[2] = rng.Next(2) == 0 ? 0 : ((regs[0] & 0x8000_0000) != 0 ? 0xFFFF_FFFF : 0);
            if (rng.Next(2) == 0) regs[0] &= 0xFFFF_00FF;
        }
        if (f.Name.StartsWith("ret"))
        {
            uint target = DiffHarness.CodeBase + (uint)rng.Next(0, 0x1000);
            if (target >= DiffHarness.CodeAt && target < DiffHarness.CodeAt + 16) target += 16;   // land on a HLT
            BitConverter.GetBytes(target).CopyTo(data, 0x1000);
        }
        return new DiffCase([.. code], regs, flags, data, f.Undef, f.ResultUndefined);
    }
}
