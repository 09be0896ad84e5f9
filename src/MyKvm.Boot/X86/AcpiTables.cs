using System.Buffers.Binary;
using System.Text;
using MyKvm.Core;

namespace MyKvm.Boot.X86;

/// <summary>What the ACPI tables describe; the defaults match mykvm's PC (and, but for the I/O APIC ID, QEMU's i440fx).</summary>
public sealed record AcpiOptions
{
    public int CpuCount { get; init; } = 1;
    /// <summary>The I/O APIC's ID; the first ID after the CPUs' by default, as <see cref="MpTableOptions.IoApicId"/>. Must match the device.</summary>
    public byte? IoApicId { get; init; }
    public uint IoApicAddress { get; init; } = (uint)PcMemoryLayout.IoApicBase;
    public uint LocalApicAddress { get; init; } = (uint)PcMemoryLayout.LocalApicBase;

    /// <summary>
    /// First I/O port of the ACPI PM registers, laid out as on QEMU's PIIX4 at 0x600: PM1a_EVT_BLK at +0 (status,
    /// enable; 4 bytes), PM1a_CNT_BLK at +4 (2 bytes), PM_TMR_BLK at +8 (4 bytes). The PM device must use the same base.
    /// </summary>
    public ushort PmIoBase { get; init; } = 0x600;
    /// <summary>The PM timer counts 32 bits (FADT TMR_VAL_EXT) rather than 24. Must match the PM device.</summary>
    public bool PmTimer32Bit { get; init; } = true;
    /// <summary>The ISA IRQ (and GSI) of the SCI; level-triggered, active high (MADT interrupt source override).</summary>
    public byte SciIrq { get; init; } = 9;
    /// <summary>The SLP_TYP value <c>\_S5</c> gives: what the OS writes to PM1a_CNT with SLP_EN to power off. 0 as on QEMU,
    /// so the well-known <c>outw(0x604, 0x2000)</c> works on both.</summary>
    public byte SleepTypeS5 { get; init; } = 0;
    /// <summary>The FADT reset register: an I/O port and the byte to write (0xCF9, 0x06: the PIIX/ICH reset control register's hard reset).</summary>
    public ushort ResetPort { get; init; } = 0xCF9;
    public byte ResetValue { get; init; } = 0x06;
    /// <summary>The CMOS index of the RTC's century byte (FADT CENTURY).</summary>
    public byte CenturyCmosIndex { get; init; } = 0x32;
    /// <summary>An 8042 keyboard controller is present (IAPC_BOOT_ARCH bit 1): without it Linux does not probe the i8042.</summary>
    public bool HasI8042 { get; init; } = true;
    /// <summary>A VGA is present (otherwise IAPC_BOOT_ARCH "VGA Not Present").</summary>
    public bool HasVga { get; init; } = true;
    /// <summary>PCI devices may use MSI (otherwise IAPC_BOOT_ARCH "MSI Not Supported").</summary>
    public bool MsiSupported { get; init; }
    /// <summary>The power button is the fixed-feature one (PM1 PWRBTN_STS/EN); false sets the FADT's PWR_BUTTON flag (none).</summary>
    public bool FixedPowerButton { get; init; } = true;

    /// <summary>
    /// Describe the PCI host bridge (<c>\_SB.PCI0</c>, PNP0A03) in the DSDT: with ACPI, Linux scans PCI only below a
    /// host bridge the namespace declares (with acpi=off it probes configuration mechanism #1 itself).
    /// </summary>
    public bool DescribePciHostBridge { get; init; } = true;
    /// <summary>Start of the bridge's 32-bit MMIO window; by default the end of low RAM (rounded up to 1 MiB).</summary>
    public uint? PciMemoryWindowBase { get; init; }
    /// <summary>Last byte of the MMIO window: just below the I/O APIC.</summary>
    public uint PciMemoryWindowLimit { get; init; } = (uint)PcMemoryLayout.IoApicBase - 1;
    /// <summary>PCI interrupts routed straight to I/O APIC pins (GSIs), for the bridge's <c>_PRT</c>; the same list as the MP table's.</summary>
    public IReadOnlyList<MpPciInterrupt> PciInterrupts { get; init; } = [];

    /// <summary>Where the RSDP goes: 16-byte aligned; an OS without other hints searches 0xE0000–0xFFFFF (ACPI 6.5 §5.2.5.1).</summary>
    public ulong RsdpAddress { get; init; } = PcMemoryLayout.BiosRomStart;
    /// <summary>Where the other tables start; they must end at or below <see cref="TablesLimit"/>.</summary>
    public ulong TablesAddress { get; init; } = PcMemoryLayout.BiosRomStart + 0x40;
    public ulong TablesLimit { get; init; } = PcMemoryLayout.HighMemoryStart;

    public string OemId { get; init; } = "MYKVM";
    public string OemTableId { get; init; } = "MYKVMPC";
}

/// <summary>Where <see cref="AcpiTables.Write"/> put each table; <see cref="End"/> is one past the last byte used.</summary>
public readonly record struct AcpiLayout(ulong Rsdp, ulong Rsdt, ulong Xsdt, ulong Fadt, ulong Facs, ulong Dsdt, ulong Madt, ulong End);

/// <summary>
/// Writes the ACPI tables a PC firmware leaves for the OS (ACPI 6.5 §5.2), as Linux reads them:
/// <list type="bullet">
/// <item>RSDP (§5.2.5), revision 2: RSDT and XSDT addresses, both checksums;</item>
/// <item>RSDT and XSDT (§5.2.7, §5.2.8) listing the FADT and the MADT;</item>
/// <item>FADT (§5.2.9) revision 6: the PM1a event/control and PM timer blocks (<see cref="AcpiOptions.PmIoBase"/>), SCI
/// IRQ, reset register, RTC century, the IA-PC boot flags (legacy devices, 8042), not HW_REDUCED; with a FACS (§5.2.10);</item>
/// <item>DSDT (§5.2.11.1): <c>\_S5</c> (the SLP_TYP for soft-off), a processor device per CPU (<c>\_SB.CP00</c>…) and the
/// PCI host bridge <c>\_SB.PCI0</c>, as AML;</item>
/// <item>MADT (§5.2.12): a local APIC per CPU, the I/O APIC (GSI base 0), overrides IRQ 0 → GSI 2 and SCI level/high,
/// and the local APIC NMI on LINT1.</item>
/// </list>
/// No HPET table: the machine has no HPET. All tables go into memory the E820 map reserves
/// (<see cref="PcMemoryLayout.BiosRomStart"/>–1 MiB by default).
/// </summary>
public static class AcpiTables
{
    public const int HeaderLength = 36, RsdpLength = 36, FadtLength = 276, FacsLength = 64;
    public const byte FadtRevision = 6, FadtMinorRevision = 5, MadtRevision = 5, DsdtRevision = 2;
    /// <summary>Offsets of the PM registers from <see cref="AcpiOptions.PmIoBase"/> and their lengths in bytes.</summary>
    public const int Pm1EventOffset = 0, Pm1EventLength = 4, Pm1ControlOffset = 4, Pm1ControlLength = 2, PmTimerOffset = 8, PmTimerLength = 4;
    public const string CreatorId = "MYKV";
    public const uint CreatorRevision = 1, OemRevision = 1;

    // FADT Flags (§5.2.9.3) and IAPC_BOOT_ARCH (§5.2.9.3, Table 5.11).
    public const uint FlagWbinvd = 1 << 0, FlagProcC1 = 1 << 2, FlagPwrButton = 1 << 4, FlagSlpButton = 1 << 5,
        FlagFixRtc = 1 << 6, FlagTmrValExt = 1 << 8, FlagResetRegSup = 1 << 10, FlagHwReduced = 1 << 20;
    public const ushort BootArchLegacyDevices = 1 << 0, BootArch8042 = 1 << 1, BootArchVgaNotPresent = 1 << 2,
        BootArchMsiNotSupported = 1 << 3, BootArchPcieAspmControls = 1 << 4;

    // MADT entry types (§5.2.12) and MPS INTI flags.
    public const byte MadtLocalApic = 0, MadtIoApic = 1, MadtInterruptOverride = 2, MadtLocalApicNmi = 4;
    public const ushort IntiActiveHigh = 0x1, IntiLevel = 0xC;

    public static AcpiLayout Write(GuestRam ram, AcpiOptions? options = null)
    {
        var o = options ?? new AcpiOptions();
        if (o.CpuCount is < 1 or > 255) throw new ArgumentOutOfRangeException(nameof(options), "1..255 CPUs");
        if ((o.RsdpAddress & 0xF) != 0) throw new ArgumentException("the RSDP must be 16-byte aligned", nameof(options));
        if (o.SciIrq is 0 or 2 or > 15) throw new ArgumentException("the SCI must be an ISA IRQ other than 0 and 2", nameof(options));
        if (o.SleepTypeS5 > 7) throw new ArgumentException("SLP_TYP is 3 bits", nameof(options));

        // Layout: the FACS needs 64-byte alignment (§5.2.10); the rest are 8-byte aligned for the XSDT's 64-bit entries.
        ulong at = o.TablesAddress;
        ulong facs = Align(at, 64); at = facs + FacsLength;
        uint pciWindowBase = o.PciMemoryWindowBase ?? (uint)Math.Min(Align(ram.LowSize, 0x10_0000), GuestRam.LowRamLimit);
        if (o.DescribePciHostBridge && pciWindowBase >= o.PciMemoryWindowLimit)
            throw new ArgumentException("the PCI MMIO window is empty", nameof(options));
        byte[] dsdtBytes = Dsdt(o, pciWindowBase);
        ulong dsdt = Align(at, 8); at = dsdt + (ulong)dsdtBytes.Length;
        ulong fadt = Align(at, 8); at = fadt + FadtLength;
        byte[] madtBytes = Madt(o);
        ulong madt = Align(at, 8); at = madt + (ulong)madtBytes.Length;
        ulong rsdt = Align(at, 8); at = rsdt + HeaderLength + 2 * 4;
        ulong xsdt = Align(at, 8); at = xsdt + HeaderLength + 2 * 8;
        if (at > o.TablesLimit)
            throw new ArgumentException($"the ACPI tables (0x{o.TablesAddress:x}–0x{at:x}) pass the limit 0x{o.TablesLimit:x}", nameof(options));
        if (o.RsdpAddress < at && o.TablesAddress < o.RsdpAddress + RsdpLength)
            throw new ArgumentException("the RSDP overlaps the tables", nameof(options));
        if (at > GuestRam.FourGiB)
            throw new ArgumentException("the RSDT, FADT, FACS and DSDT must be below 4 GiB (32-bit pointers)", nameof(options));

        ram.Write(facs, Facs());
        ram.Write(dsdt, dsdtBytes);
        ram.Write(fadt, Fadt(o, (uint)facs, (uint)dsdt));
        ram.Write(madt, madtBytes);
        ram.Write(rsdt, Rsdt(o, [(uint)fadt, (uint)madt]));
        ram.Write(xsdt, Xsdt(o, [fadt, madt]));
        ram.Write(o.RsdpAddress, Rsdp(o, (uint)rsdt, xsdt));
        return new AcpiLayout(o.RsdpAddress, rsdt, xsdt, fadt, facs, dsdt, madt, at);
    }

    /// <summary>The RSDP (§5.2.5.3): the first 20 bytes (ACPI 1.0) have their checksum, the whole 36 an extended one.</summary>
    internal static byte[] Rsdp(AcpiOptions o, uint rsdt, ulong xsdt)
    {
        var b = new byte[RsdpLength];
        Ascii("RSD PTR ", 8).CopyTo(b, 0);
        Ascii(o.OemId, 6).CopyTo(b, 9);
        b[15] = 2;                                   // revision 2: ACPI 2.0 and later
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(16), rsdt);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(20), RsdpLength);
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(24), xsdt);
        b[8] = Checksum(b.AsSpan(0, 20));
        b[32] = Checksum(b);
        return b;
    }

    internal static byte[] Rsdt(AcpiOptions o, uint[] tables)
    {
        var b = new byte[HeaderLength + 4 * tables.Length];
        for (int i = 0; i < tables.Length; i++) BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(HeaderLength + 4 * i), tables[i]);
        return Finish(b, "RSDT", 1, o);
    }

    internal static byte[] Xsdt(AcpiOptions o, ulong[] tables)
    {
        var b = new byte[HeaderLength + 8 * tables.Length];
        for (int i = 0; i < tables.Length; i++) BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(HeaderLength + 8 * i), tables[i]);
        return Finish(b, "XSDT", 1, o);
    }

    /// <summary>The FACS (§5.2.10): no checksum; no waking vector (no S3), version 2.</summary>
    internal static byte[] Facs()
    {
        var b = new byte[FacsLength];
        Ascii("FACS", 4).CopyTo(b, 0);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(4), FacsLength);
        b[32] = 2;
        return b;
    }

    /// <summary>The FADT (§5.2.9, Table 5.9), revision 6: 32-bit and X_ (Generic Address) forms of each block agree.</summary>
    internal static byte[] Fadt(AcpiOptions o, uint facs, uint dsdt)
    {
        var b = new byte[FadtLength];
        var s = b.AsSpan();
        uint pm1Evt = o.PmIoBase + (uint)Pm1EventOffset, pm1Cnt = o.PmIoBase + (uint)Pm1ControlOffset, pmTmr = o.PmIoBase + (uint)PmTimerOffset;
        BinaryPrimitives.WriteUInt32LittleEndian(s[36..], facs);      // FIRMWARE_CTRL
        BinaryPrimitives.WriteUInt32LittleEndian(s[40..], dsdt);      // DSDT
        b[45] = 0;                                                     // Preferred_PM_Profile: unspecified
        BinaryPrimitives.WriteUInt16LittleEndian(s[46..], o.SciIrq);  // SCI_INT
        // SMI_CMD 0: no SMM mode switch; the hardware is always in ACPI mode (SCI_EN reads 1, §4.8.2.1).
        BinaryPrimitives.WriteUInt32LittleEndian(s[56..], pm1Evt);    // PM1a_EVT_BLK
        BinaryPrimitives.WriteUInt32LittleEndian(s[64..], pm1Cnt);    // PM1a_CNT_BLK
        BinaryPrimitives.WriteUInt32LittleEndian(s[76..], pmTmr);     // PM_TMR_BLK
        b[88] = Pm1EventLength;                                        // PM1_EVT_LEN
        b[89] = Pm1ControlLength;                                      // PM1_CNT_LEN
        b[91] = PmTimerLength;                                         // PM_TMR_LEN
        BinaryPrimitives.WriteUInt16LittleEndian(s[96..], 101);       // P_LVL2_LAT > 100: no C2
        BinaryPrimitives.WriteUInt16LittleEndian(s[98..], 1001);      // P_LVL3_LAT > 1000: no C3
        b[108] = o.CenturyCmosIndex;                                   // CENTURY
        ushort bootArch = (ushort)(BootArchLegacyDevices | (o.HasI8042 ? BootArch8042 : 0) | (o.HasVga ? 0 : BootArchVgaNotPresent)
            | (o.MsiSupported ? 0 : BootArchMsiNotSupported) | BootArchPcieAspmControls);
        BinaryPrimitives.WriteUInt16LittleEndian(s[109..], bootArch); // IAPC_BOOT_ARCH
        uint flags = FlagWbinvd | FlagProcC1 | FlagSlpButton | FlagFixRtc | FlagResetRegSup
            | (o.FixedPowerButton ? 0 : FlagPwrButton) | (o.PmTimer32Bit ? FlagTmrValExt : 0);
        BinaryPrimitives.WriteUInt32LittleEndian(s[112..], flags);
        Gas(s[116..], 8, 1, o.ResetPort);                               // RESET_REG: one byte in I/O space
        b[128] = o.ResetValue;                                         // RESET_VALUE
        b[131] = FadtMinorRevision;                                    // FADT Minor Version
        // X_FIRMWARE_CTRL stays 0: it is for a FACS above 4 GiB and must be zero when FIRMWARE_CTRL is set (§5.2.9);
        // with both, ACPICA installs the FACS twice.
        BinaryPrimitives.WriteUInt64LittleEndian(s[140..], dsdt);     // X_DSDT
        Gas(s[148..], Pm1EventLength * 8, 2, pm1Evt);                  // X_PM1a_EVT_BLK (word accesses)
        Gas(s[172..], Pm1ControlLength * 8, 2, pm1Cnt);                // X_PM1a_CNT_BLK
        Gas(s[208..], PmTimerLength * 8, 3, pmTmr);                    // X_PM_TMR_BLK (dword)
        return Finish(b, "FACP", FadtRevision, o);
    }

    /// <summary>A Generic Address Structure (§5.2.3.2) in system I/O space.</summary>
    private static void Gas(Span<byte> s, int bitWidth, byte accessSize, ulong port)
    {
        s[0] = 1;                // SystemIO
        s[1] = (byte)bitWidth;
        s[2] = 0;                // bit offset
        s[3] = accessSize;       // 1 byte, 2 word, 3 dword
        BinaryPrimitives.WriteUInt64LittleEndian(s[4..], port);
    }

    /// <summary>
    /// The DSDT's AML: <c>Name (\_S5, Package () { T, T, 0, 0 })</c>, whose first two elements are the SLP_TYP values
    /// for PM1a_CNT and PM1b_CNT (§7.4.2), and the processor <c>Device (\_SB.CPnn) { _HID "ACPI0007", _UID n }</c>
    /// (§8.4), whose _UID matches the MADT's ACPI Processor UID.
    /// </summary>
    internal static byte[] Dsdt(AcpiOptions o, uint pciWindowBase)
    {
        var devices = Enumerable.Range(0, o.CpuCount)
            .Select(i => Aml.Device($"CP{i:X2}", Aml.Name("_HID", Aml.String("ACPI0007")), Aml.Name("_UID", Aml.Integer((ulong)i))))
            .ToList();
        if (o.DescribePciHostBridge) devices.Add(PciHostBridge(o, pciWindowBase));
        byte[] aml =
        [
            .. Aml.Name("_S5", Aml.Package(o.SleepTypeS5, o.SleepTypeS5, 0, 0)),
            .. Aml.Scope("_SB", [.. devices]),
        ];
        var b = new byte[HeaderLength + aml.Length];
        aml.CopyTo(b, HeaderLength);
        return Finish(b, "DSDT", DsdtRevision, o);
    }

    /// <summary>
    /// <c>Device (PCI0)</c>: the PCI root bridge of segment 0, bus 0 (PNP0A03, §6.1.5 and the PCI Firmware
    /// Specification §4.1). Its <c>_CRS</c> gives the windows it decodes: buses 0–255, I/O below and above the
    /// configuration ports 0xCF8–0xCFF (which it consumes), the VGA window and the 32-bit MMIO hole. Its <c>_PRT</c>
    /// (§6.2.13) routes each listed device's INTx pin straight to a GSI (source Zero, index = GSI).
    /// </summary>
    private static byte[] PciHostBridge(AcpiOptions o, uint windowBase)
    {
        var crs = Aml.ResourceTemplate(
            Aml.WordAddressSpace(Aml.AddressSpaceBusNumber, 0, 0x00, 0xFF),
            Aml.IoPort(0xCF8, 0xCF8, 1, 8),
            Aml.WordAddressSpace(Aml.AddressSpaceIo, 3, 0x0000, 0x0CF7),
            Aml.WordAddressSpace(Aml.AddressSpaceIo, 3, 0x0D00, 0xFFFF),
            Aml.DWordMemory((uint)PcMemoryLayout.VgaHoleStart, 0xBFFFF, cacheable: true),
            Aml.DWordMemory(windowBase, o.PciMemoryWindowLimit, cacheable: false));
        var routes = o.PciInterrupts
            .Select(p => (object)Aml.Package(((ulong)p.Device << 16) | 0xFFFF, p.Pin, 0, p.IoApicPin))
            .ToArray();
        return Aml.Device("PCI0",
            Aml.Name("_HID", Aml.Integer(Aml.EisaId("PNP0A03"))),
            Aml.Name("_UID", Aml.Integer(0)),
            Aml.Name("_BBN", Aml.Integer(0)),
            Aml.Name("_CRS", crs),
            Aml.Name("_PRT", Aml.Package(routes)));
    }

    /// <summary>The MADT (§5.2.12) with the PC-AT compatible flag: the 8259s exist and must be masked for APIC mode.</summary>
    internal static byte[] Madt(AcpiOptions o)
    {
        byte ioApicId = o.IoApicId ?? (byte)o.CpuCount;
        var body = new List<byte>();
        for (int cpu = 0; cpu < o.CpuCount; cpu++)
            body.AddRange([MadtLocalApic, 8, (byte)cpu, (byte)cpu, 1, 0, 0, 0]);   // UID, APIC ID, flags: enabled
        var ioApic = new byte[12];
        ioApic[0] = MadtIoApic; ioApic[1] = 12; ioApic[2] = ioApicId;
        BinaryPrimitives.WriteUInt32LittleEndian(ioApic.AsSpan(4), o.IoApicAddress);
        BinaryPrimitives.WriteUInt32LittleEndian(ioApic.AsSpan(8), 0);           // GSI base
        body.AddRange(ioApic);
        // The PIT's IRQ 0 is wired to I/O APIC pin 2 (as the MP table says); flags 0 conform to ISA: edge, high.
        body.AddRange(Override(0, 2, 0));
        // The SCI is level-triggered, active high (§5.2.9 SCI_INT, as QEMU's PIIX4 drives it).
        body.AddRange(Override(o.SciIrq, o.SciIrq, IntiActiveHigh | IntiLevel));
        body.AddRange([MadtLocalApicNmi, 6, 0xFF, 0, 0, 1]);                     // all processors, flags 0, LINT1
        var b = new byte[HeaderLength + 8 + body.Count];
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(HeaderLength), o.LocalApicAddress);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(HeaderLength + 4), 1);  // PCAT_COMPAT
        body.CopyTo(b, HeaderLength + 8);
        return Finish(b, "APIC", MadtRevision, o);
    }

    private static byte[] Override(byte irq, uint gsi, ushort flags)
    {
        var e = new byte[10];
        e[0] = MadtInterruptOverride; e[1] = 10; e[2] = 0; e[3] = irq;          // bus 0: ISA
        BinaryPrimitives.WriteUInt32LittleEndian(e.AsSpan(4), gsi);
        BinaryPrimitives.WriteUInt16LittleEndian(e.AsSpan(8), flags);
        return e;
    }

    /// <summary>Fills the common header (§5.2.6) and sets the checksum so the whole table sums to zero.</summary>
    private static byte[] Finish(byte[] table, string signature, byte revision, AcpiOptions o)
    {
        var s = table.AsSpan();
        Ascii(signature, 4).CopyTo(s);
        BinaryPrimitives.WriteUInt32LittleEndian(s[4..], (uint)table.Length);
        s[8] = revision;
        s[9] = 0;
        Ascii(o.OemId, 6).CopyTo(s[10..]);
        Ascii(o.OemTableId, 8).CopyTo(s[16..]);
        BinaryPrimitives.WriteUInt32LittleEndian(s[24..], OemRevision);
        Ascii(CreatorId, 4).CopyTo(s[28..]);
        BinaryPrimitives.WriteUInt32LittleEndian(s[32..], CreatorRevision);
        s[9] = Checksum(s);
        return table;
    }

    private static ulong Align(ulong v, ulong a) => (v + a - 1) & ~(a - 1);

    private static byte[] Ascii(string s, int length) => Encoding.ASCII.GetBytes(s.PadRight(length)[..length]);

    /// <summary>The byte that makes <paramref name="data"/> sum to zero mod 256 (with the checksum byte itself zero).</summary>
    internal static byte Checksum(ReadOnlySpan<byte> data)
    {
        int sum = 0;
        foreach (byte x in data) sum += x;
        return (byte)-sum;
    }
}
