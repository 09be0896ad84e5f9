using System.Text;
using MyKvm.Boot.X86;
using MyKvm.Core;

namespace MyKvm.Boot.Tests;

public sealed class MpTablesTests : IDisposable
{
    private readonly GuestRam _ram = new(2 * 1024 * 1024);

    public void Dispose() => _ram.Dispose();

    private static int Sum(ReadOnlySpan<byte> data)
    {
        int s = 0;
        foreach (byte b in data) s += b;
        return s & 0xFF;
    }

    /// <summary>Searches as MP spec §4 (and xv6's mpsearch) does: EBDA first KiB, last KiB of base memory, BIOS ROM.</summary>
    private ulong FindFloatingPointer()
    {
        ulong ebda = (ulong)_ram.Read16(0x40E) << 4;
        foreach (var (start, len) in new[] { (ebda, 1024UL), (639UL * 1024, 1024UL), (0xF0000UL, 0x10000UL) })
            for (ulong a = start; a < start + len; a += 16)
                if (Encoding.ASCII.GetString(_ram.GetSpan(a, 4)) == "_MP_" && Sum(_ram.GetSpan(a, 16)) == 0)
                    return a;
        return 0;
    }

    private sealed record Parsed(byte[] Table, List<byte[]> Entries);

    private Parsed Parse()
    {
        ulong fp = FindFloatingPointer();
        Assert.NotEqual(0UL, fp);
        Assert.Equal(1, _ram.Read8(fp + 8));
        Assert.Equal(4, _ram.Read8(fp + 9));
        Assert.Equal(0, _ram.Read8(fp + 11)); // config table present (not a default configuration)
        Assert.Equal(0, _ram.Read8(fp + 12) & 0x80); // virtual wire, no IMCR
        ulong table = _ram.Read32(fp + 4);
        int length = _ram.Read16(table + 4);
        var t = _ram.GetSpan(table, length).ToArray();
        Assert.Equal("PCMP", Encoding.ASCII.GetString(t, 0, 4));
        Assert.Equal(0, Sum(t));
        Assert.Equal(4, t[6]);
        Assert.Equal(0xFEE0_0000u, BitConverter.ToUInt32(t, 36));
        Assert.Equal(0, BitConverter.ToUInt16(t, 40)); // no extended table
        int count = BitConverter.ToUInt16(t, 34);
        var entries = new List<byte[]>();
        int at = 44;
        for (int i = 0; i < count; i++)
        {
            int len = t[at] == 0 ? 20 : 8;
            entries.Add(t[at..(at + len)]);
            at += len;
        }
        Assert.Equal(length, at);
        return new Parsed(t, entries);
    }

    [Fact]
    public void DefaultTablesAreFoundThroughTheBdaAndChecksumToZero()
    {
        var layout = MpTables.Write(_ram);
        Assert.Equal(0x9FC0, _ram.Read16(0x40E));
        Assert.Equal(layout.FloatingPointer, FindFloatingPointer());
        var p = Parse();
        Assert.Equal(layout.EntryCount, p.Entries.Count);
        Assert.Equal("MYKVM   ", Encoding.ASCII.GetString(p.Table, 8, 8));
    }

    [Fact]
    public void EntriesDescribeOneCpuBusesIoApicAndInterrupts()
    {
        MpTables.Write(_ram);
        var e = Parse().Entries;
        var cpu = Assert.Single(e, x => x[0] == 0);
        Assert.Equal(0, cpu[1]);
        Assert.Equal(0x03, cpu[3]); // enabled, bootstrap
        var buses = e.Where(x => x[0] == 1).ToList();
        Assert.Equal("PCI   ", Encoding.ASCII.GetString(buses[0], 2, 6));
        Assert.Equal("ISA   ", Encoding.ASCII.GetString(buses[1], 2, 6));
        byte isa = buses[1][1];
        var ioapic = Assert.Single(e, x => x[0] == 2);
        Assert.Equal(1, ioapic[1]);
        Assert.Equal(0xFEC0_0000u, BitConverter.ToUInt32(ioapic, 4));
        var irqs = e.Where(x => x[0] == 3).ToList();
        Assert.Equal(15, irqs.Count);
        Assert.All(irqs, x => Assert.Equal(isa, x[4]));
        Assert.All(irqs, x => Assert.Equal(1, x[6]));
        Assert.Equal(2, irqs.Single(x => x[5] == 0)[7]);   // IRQ 0 -> pin 2
        Assert.Equal(14, irqs.Single(x => x[5] == 14)[7]);
        Assert.DoesNotContain(irqs, x => x[5] == 2);
        var lints = e.Where(x => x[0] == 4).ToList();
        Assert.Equal(new byte[] { 4, MpTables.IntTypeExtInt, 0, 0, isa, 0, 0xFF, 0 }, lints[0]);
        Assert.Equal(new byte[] { 4, MpTables.IntTypeNmi, 0, 0, isa, 0, 0xFF, 1 }, lints[1]);
        // Entries are sorted by type, as the spec requires.
        Assert.Equal(e.Select(x => x[0]).OrderBy(x => x), e.Select(x => x[0]));
    }

    [Fact]
    public void SeveralCpusAndPciInterruptsInTheBiosArea()
    {
        MpTables.Write(_ram, new MpTableOptions
        {
            CpuCount = 4,
            PciInterrupts = [new MpPciInterrupt(3, 0, 11)],
            FloatingPointerAddress = 0xF5A10,
            TableAddress = 0xF5A20,
        });
        var e = Parse().Entries;
        Assert.Equal(new byte[] { 0, 1, 2, 3 }, e.Where(x => x[0] == 0).Select(x => x[1]));
        Assert.Equal(1, e.Count(x => x[0] == 0 && (x[3] & 2) != 0));
        Assert.Equal(4, e.Single(x => x[0] == 2)[1]); // I/O APIC ID after the CPUs
        var pci = e.Single(x => x[0] == 3 && x[4] == 0);
        Assert.Equal(0x0F, pci[2]);
        Assert.Equal(3 << 2, pci[5]);
        Assert.Equal(11, pci[7]);
    }

    [Fact]
    public void TableThatDoesNotFitInTheEbdaIsRefused()
    {
        Assert.Throws<ArgumentException>(() => MpTables.Write(_ram, new MpTableOptions { CpuCount = 60 }));
    }
}
