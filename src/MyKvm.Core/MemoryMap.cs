namespace MyKvm.Core;

/// <summary>E820 / Multiboot memory types (ACPI spec, "Address Range Types").</summary>
public enum MemoryType : uint
{
    Usable = 1,
    Reserved = 2,
    AcpiReclaimable = 3,
    AcpiNvs = 4,
}

public readonly record struct MemoryMapEntry(ulong Base, ulong Length, MemoryType Type)
{
    public ulong End => Base + Length;
}

/// <summary>
/// The PC physical memory layout as a BIOS would report it (one list shared by the Multiboot mmap,
/// the Linux E820 table and the stos segment list):
/// <list type="bullet">
/// <item>[0, 0x9FC00) usable conventional memory</item>
/// <item>[0x9FC00, 0xA0000) reserved: the EBDA (MP floating pointer lives here)</item>
/// <item>[0xA0000, 0xF0000) not listed: VGA window and option ROMs</item>
/// <item>[0xF0000, 0x100000) reserved: BIOS ROM area (MP configuration table)</item>
/// <item>[0x100000, low end) usable, [4 GiB, ...) usable for RAM above 3 GiB</item>
/// <item>the IOAPIC, LAPIC and BIOS flash windows below 4 GiB, reserved</item>
/// </list>
/// </summary>
public static class PcMemoryLayout
{
    /// <summary>Scratch page for the flat boot GDT a loader writes (Multiboot, Linux 32-bit entry).</summary>
    public const ulong BootGdtBase = 0x7000;
    /// <summary>Page the KVM backend uses for its paging trampoline (KVM cannot start with CR0.PG=1). Loaders keep out.</summary>
    public const ulong TrampolineBase = 0x8000;
    /// <summary>Low memory from here to the EBDA is free for loaders' boot data (info structures, command lines).</summary>
    public const ulong LowBootDataBase = 0x9000;
    public const ulong ConventionalEnd = 0x9FC00;   // 639 KiB, as BDA word 0x413 reports
    public const ulong EbdaBase = 0x9FC00;
    public const ulong VgaHoleStart = 0xA0000;
    public const ulong BiosRomStart = 0xF0000;
    public const ulong HighMemoryStart = 0x100000;
    public const ulong IoApicBase = 0xFEC00000;
    public const ulong LocalApicBase = 0xFEE00000;
    public const ulong BiosFlashBase = 0xFFFC0000;

    /// <summary>The region a loader may not place anything in: VGA memory, option ROMs and BIOS.</summary>
    public static bool OverlapsLegacyHole(ulong start, ulong length) =>
        length != 0 && start < HighMemoryStart && start + length > VgaHoleStart;

    /// <summary>The memory map for <paramref name="ram"/>, sorted by base.</summary>
    public static IReadOnlyList<MemoryMapEntry> Build(GuestRam ram)
    {
        var map = new List<MemoryMapEntry>
        {
            new(0, ConventionalEnd, MemoryType.Usable),
            new(EbdaBase, VgaHoleStart - EbdaBase, MemoryType.Reserved),
            new(BiosRomStart, HighMemoryStart - BiosRomStart, MemoryType.Reserved),
        };
        if (ram.LowSize > HighMemoryStart)
            map.Add(new(HighMemoryStart, ram.LowSize - HighMemoryStart, MemoryType.Usable));
        map.Add(new(IoApicBase, 0x1000, MemoryType.Reserved));
        map.Add(new(LocalApicBase, 0x1000, MemoryType.Reserved));
        map.Add(new(BiosFlashBase, GuestRam.FourGiB - BiosFlashBase, MemoryType.Reserved));
        if (ram.HighSize != 0)
            map.Add(new(GuestRam.FourGiB, ram.HighSize, MemoryType.Usable));
        return map;
    }

    /// <summary>Usable bytes in a map: what a kernel would count as its memory.</summary>
    public static ulong UsableBytes(IEnumerable<MemoryMapEntry> map) =>
        map.Where(e => e.Type == MemoryType.Usable).Aggregate(0UL, (sum, e) => sum + e.Length);
}
