using MyKvm.Boot.X86;
using MyKvm.Core;

namespace MyKvm.Boot.Tests.AcpiLinux;

public sealed class AcpiTablesTests : IDisposable
{
    private readonly GuestRam _ram = new(2 * 1024 * 1024);

    public void Dispose() => _ram.Dispose();

    private AcpiTableReader WriteAndRead(AcpiOptions? o = null)
    {
        AcpiTables.Write(_ram, o);
        return new AcpiTableReader(_ram);
    }

    [Fact]
    public void RsdpIsFoundByScanningTheBiosAreaAndPointsAtBothRootTables()
    {
        var layout = AcpiTables.Write(_ram);
        var r = new AcpiTableReader(_ram);   // scans 0xE0000–0xFFFFF, checks both RSDP checksums
        Assert.Equal(layout.Rsdp, r.RsdpAddress);
        Assert.Equal(0UL, r.RsdpAddress % 16);
        Assert.InRange(r.RsdpAddress, 0xE0000UL, 0xFFFF0UL);
        Assert.Equal(2, r.Rsdp[15]);                                  // ACPI 2.0+ RSDP
        Assert.Equal("MYKVM ", System.Text.Encoding.ASCII.GetString(r.Rsdp, 9, 6));
        Assert.Equal(layout.Rsdt, r.Rsdt.Address);
        Assert.Equal(layout.Xsdt, r.Xsdt.Address);
    }

    [Fact]
    public void RsdtAndXsdtListTheSameFadtAndMadt()
    {
        var r = WriteAndRead();
        Assert.Equal(["APIC", "FACP"], r.Tables.Keys.Order());
        Assert.Equal(r.Tables.Values.Select(t => (uint)t.Address).Order(), r.RsdtEntries.Order());
        foreach (var t in r.Tables.Values.Append(r.Rsdt).Append(r.Xsdt).Append(r.Dsdt!))
        {
            Assert.Equal("MYKVM ", t.OemId);
            Assert.Equal("MYKVMPC ", t.OemTableId);
            Assert.Equal((uint)t.Bytes.Length, t.U32(4));
        }
    }

    [Fact]
    public void FadtDescribesThePmBlocksSciAndResetRegister()
    {
        var f = WriteAndRead().Fadt;
        Assert.Equal(276, f.Bytes.Length);
        Assert.Equal(6, f.Revision);
        Assert.Equal(9, f.U16(46));                                   // SCI_INT
        Assert.Equal(0u, f.U32(48));                                  // SMI_CMD: always in ACPI mode
        Assert.Equal(0x600u, f.U32(56));                              // PM1a_EVT_BLK
        Assert.Equal(0u, f.U32(60));                                  // no PM1b
        Assert.Equal(0x604u, f.U32(64));                              // PM1a_CNT_BLK
        Assert.Equal(0x608u, f.U32(76));                              // PM_TMR_BLK
        Assert.Equal(0u, f.U32(80));                                  // no GPE0 block
        Assert.Equal((4, 2, 4), (f.Bytes[88], f.Bytes[89], f.Bytes[91]));
        Assert.Equal(0x32, f.Bytes[108]);                             // CENTURY
        ushort bootArch = f.U16(109);
        Assert.Equal(AcpiTables.BootArchLegacyDevices | AcpiTables.BootArch8042, bootArch & 0x7);
        uint flags = f.U32(112);
        Assert.NotEqual(0u, flags & AcpiTables.FlagResetRegSup);
        Assert.NotEqual(0u, flags & AcpiTables.FlagTmrValExt);
        Assert.Equal(0u, flags & AcpiTables.FlagHwReduced);
        Assert.Equal(0u, flags & AcpiTables.FlagPwrButton);           // fixed-feature power button
        Assert.Equal(new AcpiTableReader.Gas(1, 8, 0, 1, 0xCF9), AcpiTableReader.ReadGas(f, 116));
        Assert.Equal(0x06, f.Bytes[128]);                             // RESET_VALUE
        // The X_ blocks say the same as the 32-bit ones.
        Assert.Equal(new AcpiTableReader.Gas(1, 32, 0, 2, 0x600), AcpiTableReader.ReadGas(f, 148));
        Assert.Equal(0UL, AcpiTableReader.ReadGas(f, 160).Address);
        Assert.Equal(new AcpiTableReader.Gas(1, 16, 0, 2, 0x604), AcpiTableReader.ReadGas(f, 172));
        Assert.Equal(new AcpiTableReader.Gas(1, 32, 0, 3, 0x608), AcpiTableReader.ReadGas(f, 208));
        Assert.Equal(0UL, AcpiTableReader.ReadGas(f, 220).Address);
    }

    [Fact]
    public void FadtFollowsTheOptions()
    {
        var f = WriteAndRead(new AcpiOptions
        {
            PmIoBase = 0xB000, PmTimer32Bit = false, SciIrq = 11, HasI8042 = false, HasVga = false, FixedPowerButton = false,
            ResetPort = 0x64, ResetValue = 0xFE,
        }).Fadt;
        Assert.Equal(11, f.U16(46));
        Assert.Equal((0xB000u, 0xB004u, 0xB008u), (f.U32(56), f.U32(64), f.U32(76)));
        Assert.Equal(0xB004UL, AcpiTableReader.ReadGas(f, 172).Address);
        Assert.Equal(0u, f.U32(112) & AcpiTables.FlagTmrValExt);
        Assert.NotEqual(0u, f.U32(112) & AcpiTables.FlagPwrButton);
        Assert.Equal(AcpiTables.BootArchLegacyDevices | AcpiTables.BootArchVgaNotPresent, f.U16(109) & 0x7);
        Assert.Equal(new AcpiTableReader.Gas(1, 8, 0, 1, 0x64), AcpiTableReader.ReadGas(f, 116));
        Assert.Equal(0xFE, f.Bytes[128]);
    }

    [Fact]
    public void FacsAndDsdtAreWhereBothFadtPointersSay()
    {
        var r = WriteAndRead();
        var f = r.Fadt;
        Assert.Equal(0UL, f.U64(132));                                // X_FIRMWARE_CTRL: only for a FACS above 4 GiB
        Assert.Equal(f.U32(40), f.U64(140));
        var facs = r.Facs!;
        Assert.Equal((ulong)f.U32(36), facs.Address);
        Assert.Equal(0UL, facs.Address % 64);
        Assert.Equal("FACS", facs.Signature);
        Assert.Equal(64u, facs.U32(4));
        Assert.Equal(2, facs.Bytes[32]);
        Assert.Equal(2, r.Dsdt!.Revision);                            // 64-bit AML integers
    }

    [Fact]
    public void DsdtNamesS5AndTheProcessors()
    {
        var r = WriteAndRead(new AcpiOptions { CpuCount = 2 });
        var names = AmlReader.Read(r.Dsdt!.Body);
        Assert.Equal(new List<object> { 0UL, 0UL, 0UL, 0UL }, names["\\_S5_"]);
        Assert.Equal("Device", names["\\_SB_.CP00"]);
        Assert.Equal("ACPI0007", names["\\_SB_.CP00._HID"]);
        Assert.Equal(0UL, names["\\_SB_.CP00._UID"]);
        Assert.Equal(1UL, names["\\_SB_.CP01._UID"]);
    }

    [Fact]
    public void DsdtDescribesThePciHostBridgeAndItsWindows()
    {
        var r = WriteAndRead(new AcpiOptions
        {
            PciInterrupts = [new MpPciInterrupt(Device: 3, Pin: 0, IoApicPin: 16), new X86.MpPciInterrupt(4, 1, 17)],
        });
        var names = AmlReader.Read(r.Dsdt!.Body);
        Assert.Equal("Device", names["\\_SB_.PCI0"]);
        Assert.Equal((ulong)Aml.EisaId("PNP0A03"), names["\\_SB_.PCI0._HID"]);
        Assert.Equal(0UL, names["\\_SB_.PCI0._BBN"]);
        var crs = ResourceDescriptor.Parse(Assert.IsType<byte[]>(names["\\_SB_.PCI0._CRS"]));
        // Word address space (0x88): type, flags, type flags, granularity, min, max, translation, length.
        var words = crs.Where(d => d.Tag == 0x88).Select(d => (Type: d.Body[0], Min: d.U16(5), Max: d.U16(7), Len: d.U16(11))).ToList();
        Assert.Equal([(2, 0, 0xFF, 0x100), (1, 0, 0xCF7, 0xCF8), (1, 0xD00, 0xFFFF, 0xF300)],
            words.Select(w => ((int)w.Type, (int)w.Min, (int)w.Max, (int)w.Len)));
        Assert.All(crs.Where(d => d.Tag == 0x88), d => Assert.Equal(0x0C, d.Body[1]));   // producer, min/max fixed
        var io = Assert.Single(crs, d => d.Tag == 0x8);                                // small I/O port descriptor
        Assert.Equal((0xCF8, 0xCF8, 8), (io.U16(1), io.U16(3), (int)io.Body[6]));
        var mem = crs.Where(d => d.Tag == 0x87).Select(d => (Min: d.U32(7), Max: d.U32(11), Len: d.U32(19))).ToList();
        // The MMIO window starts at the end of low RAM (2 MiB here) and ends below the I/O APIC.
        Assert.Equal([(0xA0000u, 0xBFFFFu, 0x20000u), (0x200000u, 0xFEBFFFFFu, 0xFEA00000u)], mem);
        var prt = Assert.IsType<List<object>>(names["\\_SB_.PCI0._PRT"]);
        Assert.Equal(new List<object> { 0x3FFFFUL, 0UL, 0UL, 16UL }, prt[0]);
        Assert.Equal(new List<object> { 0x4FFFFUL, 1UL, 0UL, 17UL }, prt[1]);
    }

    [Fact]
    public void PciHostBridgeCanBeLeftOut()
    {
        var r = WriteAndRead(new AcpiOptions { DescribePciHostBridge = false });
        Assert.DoesNotContain("\\_SB_.PCI0", AmlReader.Read(r.Dsdt!.Body).Keys);
    }

    [Fact]
    public void S5SleepTypeFollowsTheOptions()
    {
        var r = WriteAndRead(new AcpiOptions { SleepTypeS5 = 5 });
        Assert.Equal(new List<object> { 5UL, 5UL, 0UL, 0UL }, AmlReader.Read(r.Dsdt!.Body)["\\_S5_"]);
    }

    [Fact]
    public void MadtHasTheApicsOverridesAndNmi()
    {
        var r = WriteAndRead(new AcpiOptions { CpuCount = 2, IoApicId = 7 });
        var m = r.Madt;
        Assert.Equal(5, m.Revision);
        Assert.Equal(0xFEE00000u, m.U32(36));
        Assert.Equal(1u, m.U32(40));                                  // PCAT_COMPAT
        var e = r.MadtEntries();
        var lapics = e.Where(x => x.Type == 0).Select(x => x.Bytes).ToList();
        Assert.Equal(2, lapics.Count);
        for (int i = 0; i < 2; i++)
        {
            Assert.Equal(8, lapics[i].Length);
            Assert.Equal((i, i), (lapics[i][2], lapics[i][3]));     // processor UID, APIC ID
            Assert.Equal(1u, BitConverter.ToUInt32(lapics[i], 4));    // enabled
        }
        var ioapic = Assert.Single(e, x => x.Type == 1).Bytes;
        Assert.Equal(12, ioapic.Length);
        Assert.Equal(7, ioapic[2]);
        Assert.Equal(0xFEC00000u, BitConverter.ToUInt32(ioapic, 4));
        Assert.Equal(0u, BitConverter.ToUInt32(ioapic, 8));           // GSI base
        var overrides = e.Where(x => x.Type == 2).Select(x => x.Bytes)
            .Select(b => (Bus: b[2], Irq: b[3], Gsi: BitConverter.ToUInt32(b, 4), Flags: BitConverter.ToUInt16(b, 8))).ToList();
        Assert.Equal([(0, 0, 2u, 0), (0, 9, 9u, 0xD)], overrides.Select(o => ((int)o.Bus, (int)o.Irq, o.Gsi, (int)o.Flags)));
        var nmi = Assert.Single(e, x => x.Type == 4).Bytes;
        Assert.Equal(new byte[] { 4, 6, 0xFF, 0, 0, 1 }, nmi);        // all processors, LINT1
    }

    [Fact]
    public void IoApicIdDefaultsToTheFirstIdAfterTheCpus()
    {
        var r = WriteAndRead(new AcpiOptions { CpuCount = 3 });
        Assert.Equal(3, Assert.Single(r.MadtEntries(), x => x.Type == 1).Bytes[2]);
    }

    [Fact]
    public void AllTablesLieInMemoryTheE820MapReserves()
    {
        var layout = AcpiTables.Write(_ram);
        var map = PcMemoryLayout.Build(_ram);
        bool Reserved(ulong a, ulong len) => map.Any(m => m.Type != MemoryType.Usable && m.Base <= a && a + len <= m.End);
        Assert.True(Reserved(layout.Rsdp, 36));
        ulong start = new[] { layout.Rsdt, layout.Xsdt, layout.Fadt, layout.Facs, layout.Dsdt, layout.Madt }.Min();
        Assert.True(Reserved(start, layout.End - start), $"tables at 0x{start:x}–0x{layout.End:x}");
        Assert.True(layout.End - start < 0x1000, "the tables fit in a page");
    }

    [Fact]
    public void TablesDoNotOverlap()
    {
        var r = WriteAndRead(new AcpiOptions { CpuCount = 8 });
        var spans = r.Tables.Values.Append(r.Rsdt).Append(r.Xsdt).Append(r.Dsdt!).Append(r.Facs!)
            .Select(t => (Start: t.Address, End: t.Address + (ulong)t.Bytes.Length))
            .Append((r.RsdpAddress, r.RsdpAddress + 36)).OrderBy(s => s.Item1).ToList();
        for (int i = 1; i < spans.Count; i++) Assert.True(spans[i - 1].Item2 <= spans[i].Item1);
    }

    [Fact]
    public void BadOptionsAreRejected()
    {
        Assert.Throws<ArgumentException>(() => AcpiTables.Write(_ram, new AcpiOptions { RsdpAddress = 0xF0008 }));
        Assert.Throws<ArgumentException>(() => AcpiTables.Write(_ram, new AcpiOptions { TablesLimit = 0xF0100 }));
        Assert.Throws<ArgumentException>(() => AcpiTables.Write(_ram, new AcpiOptions { RsdpAddress = 0xF0080 }));
        Assert.Throws<ArgumentException>(() => AcpiTables.Write(_ram, new AcpiOptions { SciIrq = 0 }));
        Assert.Throws<ArgumentException>(() => AcpiTables.Write(_ram, new AcpiOptions { SleepTypeS5 = 8 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => AcpiTables.Write(_ram, new AcpiOptions { CpuCount = 0 }));
    }

    [Fact]
    public void TablesCanGoAnywhereInRamForAnAcpiRsdpHint()
    {
        var layout = AcpiTables.Write(_ram, new AcpiOptions { RsdpAddress = 0x100000, TablesAddress = 0x100040, TablesLimit = 0x110000 });
        var r = new AcpiTableReader(_ram, layout.Rsdp);
        Assert.InRange(r.Fadt.Address, 0x100040UL, 0x110000UL);
    }
}
