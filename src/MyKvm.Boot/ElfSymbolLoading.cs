using MyKvm.Boot.Images;
using MyKvm.Core;

namespace MyKvm.Boot;

/// <summary>
/// What a Multiboot loader hands over of an ELF kernel's sections: the section header table with sh_addr filled in
/// for every section it loaded, so a kernel can find its own .symtab/.strtab and print symbols.
/// </summary>
internal sealed record LoadedElfSections(ElfSectionTable Table, int LoadedCount, ulong LoadedBytes)
{
    public byte[] Headers => Table.Raw;
    public uint Count => (uint)Table.Count;
    public uint EntrySize => (uint)Table.EntrySize;
    public uint NameIndex => Table.NameIndex;
}

/// <summary>
/// Loads the sections a kernel image does not load itself, as GRUB does for Multiboot 1 (info flag 5) and 2 (tag 9):
/// a section with sh_addr 0 and a non-zero size (.symtab, .strtab, .shstrtab, debug sections) is copied into free
/// RAM below 4 GiB, aligned to its sh_addralign, and its header's sh_addr becomes that physical address. Sections
/// with an address are part of the loaded image and keep it (a virtual address for a higher-half kernel). SHT_NOBITS
/// sections without an address have no bytes in the file and stay at 0.
/// </summary>
internal static class ElfSymbolLoading
{
    /// <summary>
    /// Loads the sections of <paramref name="elf"/> at or above <paramref name="from"/>; null if the file has no
    /// section header table.
    /// </summary>
    public static LoadedElfSections? Load(GuestPlacement placement, string path, byte[] file, ElfImage elf, ulong from)
    {
        var table = ElfSectionTable.Parse(path, file, elf);
        if (table is null) return null;
        var ram = placement.Ram;
        ulong limit = Math.Min(ram.LowSize, GuestRam.FourGiB);
        int loaded = 0;
        ulong bytes = 0;
        foreach (var s in table.Sections)
        {
            if (s.Index == 0 || s.Address != 0 || s.Size == 0 || s.Type == ElfSection.ShtNobits) continue;
            if (s.Offset > (ulong)file.Length || (ulong)file.Length - s.Offset < s.Size)
                throw new BootException($"{path}: ELF truncated: section {s.Index} (file offset 0x{s.Offset:x} + 0x{s.Size:x} bytes) runs past the end of the file ({file.Length} bytes)");
            ulong align = s.AddressAlign is 0 or 1 ? 1 : s.AddressAlign;
            if ((align & (align - 1)) != 0 || align > 0x1000_0000)
                throw new BootException($"{path}: ELF section {s.Index} has an alignment of 0x{s.AddressAlign:x}, not a power of two a loader can honour");
            ulong at = placement.TryAllocate(s.Size, align, from, limit, $"ELF section {s.Index}")
                ?? throw new BootException($"{path}: ELF section {s.Index} (0x{s.Size:x} bytes, symbols for the kernel) does not fit in guest RAM below 0x{limit:x}");
            ram.Write(at, file.AsSpan((int)s.Offset, (int)s.Size));
            table.SetAddress(s.Index, at);
            loaded++;
            bytes += s.Size;
        }
        return new LoadedElfSections(table, loaded, bytes);
    }
}
