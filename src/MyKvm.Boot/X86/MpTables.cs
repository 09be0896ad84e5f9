using System.Buffers.Binary;
using System.Text;
using MyKvm.Core;

namespace MyKvm.Boot.X86;

/// <summary>A PCI interrupt routed to an I/O APIC pin (an MP I/O interrupt entry on the PCI bus).</summary>
/// <param name="Device">PCI device number on bus 0.</param>
/// <param name="Pin">0 = INTA# .. 3 = INTD#.</param>
public readonly record struct MpPciInterrupt(int Device, int Pin, int IoApicPin);

/// <summary>What the MP configuration table describes.</summary>
public sealed record MpTableOptions
{
    public int CpuCount { get; init; } = 1;
    /// <summary>The I/O APIC's ID; by convention the first ID after the CPUs' (0..CpuCount-1). Must match the device.</summary>
    public byte? IoApicId { get; init; }
    public uint IoApicAddress { get; init; } = (uint)PcMemoryLayout.IoApicBase;
    public byte IoApicVersion { get; init; } = 0x11;
    public uint LocalApicAddress { get; init; } = (uint)PcMemoryLayout.LocalApicBase;
    public byte LocalApicVersion { get; init; } = 0x14;
    /// <summary>CPUID.1:EAX stepping/model/family, as the processor entry reports it (MP spec table 4-5).</summary>
    public uint CpuSignature { get; init; } = 0x0000_0633;
    /// <summary>CPUID.1:EDX feature flags (FPU, APIC by default).</summary>
    public uint CpuFeatures { get; init; } = 0x0000_0201;
    /// <summary>Describe PCI bus 0 (bus 0) ahead of the ISA bus (then bus 1), as PC firmware does.</summary>
    public bool IncludePciBus { get; init; } = true;
    public IReadOnlyList<MpPciInterrupt> PciInterrupts { get; init; } = [];
    public string OemId { get; init; } = "MYKVM";
    public string ProductId { get; init; } = "MYKVM PC";
    /// <summary>Where the floating pointer goes: 16-byte aligned, in the first KiB of the EBDA or in 0xF0000–0xFFFFF.</summary>
    public ulong FloatingPointerAddress { get; init; } = PcMemoryLayout.EbdaBase + 0x10;
    /// <summary>Where the configuration table goes (right after the floating pointer by default).</summary>
    public ulong TableAddress { get; init; } = PcMemoryLayout.EbdaBase + 0x20;
}

/// <summary>Where <see cref="MpTables.Write"/> put things.</summary>
public readonly record struct MpTablesLayout(ulong FloatingPointer, ulong ConfigurationTable, int TableLength, int EntryCount);

/// <summary>
/// Writes the Intel MultiProcessor Specification 1.4 tables a kernel uses to find CPUs, the I/O APIC and the
/// interrupt routing (xv6's mpinit panics without them; Linux uses them when there is no ACPI MADT):
/// the MP floating pointer structure (§4.1), the configuration table header (§4.2) with processor, bus, I/O APIC,
/// I/O interrupt and local interrupt entries (§4.3), plus the BDA's EBDA segment word at 0x40E (§4: the first place
/// searched is the first KiB of the EBDA). Virtual-wire mode (IMCRP = 0): the 8259 reaches LINT0 as ExtINT.
/// </summary>
public static class MpTables
{
    public const int FloatingPointerLength = 16, HeaderLength = 44;
    public const int ProcessorEntryLength = 20, OtherEntryLength = 8;
    public const byte EntryProcessor = 0, EntryBus = 1, EntryIoApic = 2, EntryIoInterrupt = 3, EntryLocalInterrupt = 4;
    public const byte IntTypeInt = 0, IntTypeNmi = 1, IntTypeSmi = 2, IntTypeExtInt = 3;

    /// <summary>The I/O APIC pin an ISA IRQ is wired to: the PIT's IRQ 0 is on pin 2, the rest on their own number.</summary>
    public static int IsaIrqToIoApicPin(int irq) => irq == 0 ? 2 : irq;

    public static MpTablesLayout Write(GuestRam ram, MpTableOptions? options = null)
    {
        var o = options ?? new MpTableOptions();
        if (o.CpuCount is < 1 or > 255) throw new ArgumentOutOfRangeException(nameof(options), "1..255 CPUs");
        if ((o.FloatingPointerAddress & 0xF) != 0) throw new ArgumentException("the MP floating pointer must be 16-byte aligned", nameof(options));
        byte ioApicId = o.IoApicId ?? (byte)o.CpuCount;
        byte pciBus = 0, isaBus = (byte)(o.IncludePciBus ? 1 : 0);

        var entries = new List<byte[]>();
        for (int cpu = 0; cpu < o.CpuCount; cpu++)
        {
            var e = new byte[ProcessorEntryLength];
            e[0] = EntryProcessor;
            e[1] = (byte)cpu;                         // local APIC ID
            e[2] = o.LocalApicVersion;
            e[3] = (byte)(0x01 | (cpu == 0 ? 0x02 : 0)); // EN, BP for the bootstrap processor
            BinaryPrimitives.WriteUInt32LittleEndian(e.AsSpan(4), o.CpuSignature);
            BinaryPrimitives.WriteUInt32LittleEndian(e.AsSpan(8), o.CpuFeatures);
            entries.Add(e);
        }
        if (o.IncludePciBus) entries.Add(Bus(pciBus, "PCI"));
        entries.Add(Bus(isaBus, "ISA"));
        {
            var e = new byte[OtherEntryLength];
            e[0] = EntryIoApic;
            e[1] = ioApicId;
            e[2] = o.IoApicVersion;
            e[3] = 0x01; // EN
            BinaryPrimitives.WriteUInt32LittleEndian(e.AsSpan(4), o.IoApicAddress);
            entries.Add(e);
        }
        // ISA IRQs, edge-triggered active-high as the bus defines (flags 0: "conforms to bus"). IRQ 2 is the
        // cascade on an AT and has no pin of its own (IRQ 0 uses pin 2).
        for (int irq = 0; irq < 16; irq++)
        {
            if (irq == 2) continue;
            entries.Add(Interrupt(EntryIoInterrupt, IntTypeInt, 0, isaBus, (byte)irq, ioApicId, (byte)IsaIrqToIoApicPin(irq)));
        }
        foreach (var p in o.PciInterrupts)
        {
            if (!o.IncludePciBus) throw new ArgumentException("PCI interrupts need IncludePciBus", nameof(options));
            // PCI: level-triggered, active low (flags 0x0F); the source IRQ encodes device and pin (MP spec §D.3).
            entries.Add(Interrupt(EntryIoInterrupt, IntTypeInt, 0x0F, pciBus, (byte)((p.Device << 2) | p.Pin), ioApicId, (byte)p.IoApicPin));
        }
        // Virtual wire: the 8259 on LINT0 as ExtINT, NMI on LINT1, for every local APIC (ID 0xFF).
        entries.Add(Interrupt(EntryLocalInterrupt, IntTypeExtInt, 0, isaBus, 0, 0xFF, 0));
        entries.Add(Interrupt(EntryLocalInterrupt, IntTypeNmi, 0, isaBus, 0, 0xFF, 1));

        int length = HeaderLength + entries.Sum(e => e.Length);
        var table = new byte[length];
        Encoding.ASCII.GetBytes("PCMP").CopyTo(table, 0);
        BinaryPrimitives.WriteUInt16LittleEndian(table.AsSpan(4), (ushort)length);
        table[6] = 4; // specification revision 1.4
        Ascii(o.OemId, 8).CopyTo(table, 8);
        Ascii(o.ProductId, 12).CopyTo(table, 16);
        BinaryPrimitives.WriteUInt16LittleEndian(table.AsSpan(34), (ushort)entries.Count);
        BinaryPrimitives.WriteUInt32LittleEndian(table.AsSpan(36), o.LocalApicAddress);
        int at = HeaderLength;
        foreach (var e in entries)
        {
            e.CopyTo(table, at);
            at += e.Length;
        }
        table[7] = Checksum(table);

        if (OverlapsRange(o.TableAddress, (ulong)length, o.FloatingPointerAddress, FloatingPointerLength))
            throw new ArgumentException("the MP configuration table overlaps the floating pointer", nameof(options));
        if (InEbda(o.TableAddress) && o.TableAddress + (ulong)length > PcMemoryLayout.VgaHoleStart)
            throw new ArgumentException($"the MP configuration table ({length} bytes) does not fit in the EBDA", nameof(options));
        ram.Write(o.TableAddress, table);

        var fp = new byte[FloatingPointerLength];
        Encoding.ASCII.GetBytes("_MP_").CopyTo(fp, 0);
        BinaryPrimitives.WriteUInt32LittleEndian(fp.AsSpan(4), (uint)o.TableAddress);
        fp[8] = 1;  // length in 16-byte paragraphs
        fp[9] = 4;  // revision 1.4
        // Feature byte 1 = 0: a configuration table is present; feature byte 2 bit 7 (IMCRP) = 0: virtual wire.
        fp[10] = Checksum(fp);
        ram.Write(o.FloatingPointerAddress, fp);

        // BDA word 0x40E: the EBDA segment; the EBDA's first byte is its size in KiB, as a BIOS leaves it.
        ram.Write16(0x40E, (ushort)(PcMemoryLayout.EbdaBase >> 4));
        if (o.FloatingPointerAddress != PcMemoryLayout.EbdaBase && o.TableAddress != PcMemoryLayout.EbdaBase)
            ram.Write8(PcMemoryLayout.EbdaBase, (byte)((PcMemoryLayout.VgaHoleStart - PcMemoryLayout.EbdaBase) / 1024));
        return new MpTablesLayout(o.FloatingPointerAddress, o.TableAddress, length, entries.Count);
    }

    private static bool InEbda(ulong a) => a >= PcMemoryLayout.EbdaBase && a < PcMemoryLayout.VgaHoleStart;

    private static bool OverlapsRange(ulong a, ulong aLen, ulong b, ulong bLen) => a < b + bLen && b < a + aLen;

    private static byte[] Bus(byte id, string type)
    {
        var e = new byte[OtherEntryLength];
        e[0] = EntryBus;
        e[1] = id;
        Ascii(type, 6).CopyTo(e, 2);
        return e;
    }

    private static byte[] Interrupt(byte entryType, byte intType, ushort flags, byte bus, byte busIrq, byte destId, byte destPin)
    {
        var e = new byte[OtherEntryLength];
        e[0] = entryType;
        e[1] = intType;
        BinaryPrimitives.WriteUInt16LittleEndian(e.AsSpan(2), flags);
        e[4] = bus;
        e[5] = busIrq;
        e[6] = destId;
        e[7] = destPin;
        return e;
    }

    private static byte[] Ascii(string s, int length) => Encoding.ASCII.GetBytes(s.PadRight(length)[..length]);

    /// <summary>The byte that makes the whole structure sum to zero (mod 256).</summary>
    private static byte Checksum(ReadOnlySpan<byte> data)
    {
        int sum = 0;
        foreach (byte b in data) sum += b;
        return (byte)(-sum);
    }
}
