using System.Buffers.Binary;

namespace MyKvm.Boot.Images;

/// <summary>One section header (System V gABI ch. 4, "Sections"), class-independent.</summary>
internal readonly record struct ElfSection(
    int Index, uint Name, uint Type, ulong Flags, ulong Address, ulong Offset, ulong Size, uint Link, ulong AddressAlign)
{
    public const uint ShtNull = 0, ShtSymtab = 2, ShtStrtab = 3, ShtNobits = 8;
    public const ulong ShfAlloc = 0x2;
}

/// <summary>
/// The section header table of an ELF file: its raw bytes (what Multiboot hands to the kernel), entry size, count
/// and the section-name string table index, with extended numbering resolved (gABI: e_shnum 0 → section 0's
/// sh_size, e_shstrndx SHN_XINDEX → section 0's sh_link). Validated against the file length.
/// </summary>
internal sealed class ElfSectionTable
{
    public const ushort ShnXindex = 0xFFFF;

    private ElfSectionTable(bool is64, byte[] raw, int entrySize, IReadOnlyList<ElfSection> sections, uint nameIndex)
    {
        Is64 = is64;
        Raw = raw;
        EntrySize = entrySize;
        Sections = sections;
        NameIndex = nameIndex;
    }

    public bool Is64 { get; }
    /// <summary>The table as in the file: <see cref="Count"/> entries of <see cref="EntrySize"/> bytes.</summary>
    public byte[] Raw { get; }
    public int EntrySize { get; }
    public int Count => Sections.Count;
    public IReadOnlyList<ElfSection> Sections { get; }
    /// <summary>Index of the section holding the section names (e_shstrndx, resolved).</summary>
    public uint NameIndex { get; }

    /// <summary>Offset of sh_addr inside an entry (ELF32 / ELF64).</summary>
    public int AddressFieldOffset => Is64 ? 16 : 12;

    /// <summary>The table of <paramref name="data"/>, or null if the file has none (e_shoff 0 or no entries).</summary>
    public static ElfSectionTable? Parse(string path, ReadOnlySpan<byte> data, ElfImage elf)
    {
        bool is64 = elf.Is64;
        ulong shoff = is64 ? U64(data, 40) : U32(data, 32);
        int entsize = U16(data, is64 ? 58 : 46);
        ulong count = U16(data, is64 ? 60 : 48);
        uint nameIndex = U16(data, is64 ? 62 : 50);
        if (shoff == 0) return null;
        int minEntSize = is64 ? 64 : 40;
        if (entsize < minEntSize)
            throw new BootException($"{path}: ELF section header size {entsize} is smaller than {minEntSize}");
        if (shoff > (ulong)data.Length || (ulong)data.Length - shoff < (ulong)entsize)
            throw new BootException($"{path}: ELF truncated: section header table at 0x{shoff:x} is past the end of the file ({data.Length} bytes)");

        // Extended numbering: section 0 carries the real count and name index when they do not fit 16 bits.
        var first = Read(data.Slice((int)shoff, entsize), 0, is64);
        if (count == 0) count = first.Size;
        if (nameIndex == ShnXindex) nameIndex = first.Link;
        if (count == 0) return null;
        ulong tableBytes = count * (ulong)entsize;
        if (count > int.MaxValue / (ulong)entsize || shoff + tableBytes > (ulong)data.Length)
            throw new BootException($"{path}: ELF truncated: {count} section headers of {entsize} bytes at 0x{shoff:x} run past the end of the file ({data.Length} bytes)");
        if (nameIndex >= count)
            throw new BootException($"{path}: ELF section name table index {nameIndex} is not below the section count {count}");

        var raw = data.Slice((int)shoff, (int)tableBytes).ToArray();
        var sections = new List<ElfSection>((int)count);
        for (int i = 0; i < (int)count; i++)
            sections.Add(Read(raw.AsSpan(i * entsize, entsize), i, is64));
        return new ElfSectionTable(is64, raw, entsize, sections, nameIndex);
    }

    /// <summary>Sets section <paramref name="index"/>'s sh_addr in <see cref="Raw"/> (where a loader put it).</summary>
    public void SetAddress(int index, ulong address)
    {
        var entry = Raw.AsSpan(index * EntrySize, EntrySize);
        if (Is64) BinaryPrimitives.WriteUInt64LittleEndian(entry[16..], address);
        else BinaryPrimitives.WriteUInt32LittleEndian(entry[12..], checked((uint)address));
    }

    private static ElfSection Read(ReadOnlySpan<byte> e, int index, bool is64) => is64
        ? new(index, U32(e, 0), U32(e, 4), U64(e, 8), U64(e, 16), U64(e, 24), U64(e, 32), U32(e, 40), U64(e, 48))
        : new(index, U32(e, 0), U32(e, 4), U32(e, 8), U32(e, 12), U32(e, 16), U32(e, 20), U32(e, 24), U32(e, 32));

    private static ushort U16(ReadOnlySpan<byte> d, int o) => BinaryPrimitives.ReadUInt16LittleEndian(d[o..]);
    private static uint U32(ReadOnlySpan<byte> d, int o) => BinaryPrimitives.ReadUInt32LittleEndian(d[o..]);
    private static ulong U64(ReadOnlySpan<byte> d, int o) => BinaryPrimitives.ReadUInt64LittleEndian(d[o..]);
}
