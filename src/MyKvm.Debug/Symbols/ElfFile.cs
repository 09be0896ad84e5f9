using System.Buffers.Binary;
using System.Text;

namespace MyKvm.Debug.Symbols;

/// <summary>A section of an ELF file (System V ABI, "Sections").</summary>
public sealed record ElfSection(string Name, uint Type, ulong Flags, ulong Address, ulong Offset, ulong Size, uint Link, ulong EntrySize)
{
    public const uint SymTab = 2, StrTab = 3, NoBits = 8;
    public const ulong Alloc = 2, ExecInstr = 4;
}

/// <summary>
/// The parts of an ELF32/ELF64 little-endian file the debugger reads: section headers, <c>.symtab</c>, and the
/// DWARF sections. Every read is bounds-checked; a malformed file gives <see cref="FormatException"/>.
/// </summary>
public sealed class ElfFile
{
    private readonly byte[] _data;

    public bool Is64 { get; }
    public ushort Machine { get; }
    public ulong Entry { get; }
    public IReadOnlyList<ElfSection> Sections { get; }

    public ElfFile(byte[] data)
    {
        _data = data;
        if (data.Length < 52 || data[0] != 0x7F || data[1] != 'E' || data[2] != 'L' || data[3] != 'F')
            throw new FormatException("not an ELF file");
        if (data[5] != 1) throw new FormatException("not a little-endian ELF file");
        Is64 = data[4] switch
        {
            1 => false,
            2 => true,
            _ => throw new FormatException($"unknown ELF class {data[4]}"),
        };
        Machine = U16(18);
        Entry = Is64 ? U64(24) : U32(24);
        ulong shoff = Is64 ? U64(0x28) : U32(0x20);
        int shentsize = U16(Is64 ? 0x3A : 0x2E);
        int shnum = U16(Is64 ? 0x3C : 0x30);
        int shstrndx = U16(Is64 ? 0x3E : 0x32);
        var raw = new List<(uint Name, ElfSection S)>();
        if (shoff != 0 && shnum != 0)
        {
            if (shentsize < (Is64 ? 64 : 40)) throw new FormatException("ELF section header size too small");
            for (int i = 0; i < shnum; i++)
            {
                ulong o = shoff + (ulong)(i * shentsize);
                Check(o, (ulong)shentsize);
                int b = (int)o;
                uint name = U32(b);
                uint type = U32(b + 4);
                ElfSection s = Is64
                    ? new ElfSection("", type, U64(b + 8), U64(b + 16), U64(b + 24), U64(b + 32), U32(b + 40), U64(b + 56))
                    : new ElfSection("", type, U32(b + 8), U32(b + 12), U32(b + 16), U32(b + 20), U32(b + 24), U32(b + 36));
                raw.Add((name, s));
            }
        }
        var names = shstrndx < raw.Count ? raw[shstrndx].S : null;
        Sections = raw.Select(r => r.S with { Name = names is null ? "" : ReadString(names, r.Name) }).ToList();
    }

    public static ElfFile Load(string path) => new(File.ReadAllBytes(path));

    public ElfSection? FindSection(string name) => Sections.FirstOrDefault(s => s.Name == name);

    /// <summary>The bytes of a section (empty for NOBITS).</summary>
    public ReadOnlySpan<byte> SectionData(ElfSection s)
    {
        if (s.Type == ElfSection.NoBits) return [];
        Check(s.Offset, s.Size);
        return _data.AsSpan((int)s.Offset, (int)s.Size);
    }

    public ReadOnlySpan<byte> SectionData(string name) => FindSection(name) is { } s ? SectionData(s) : [];

    /// <summary>A NUL-terminated string at <paramref name="offset"/> in a string table section.</summary>
    public string ReadString(ElfSection strtab, ulong offset)
    {
        var data = SectionData(strtab);
        if (offset >= (ulong)data.Length) return "";
        var rest = data[(int)offset..];
        int end = rest.IndexOf((byte)0);
        return Encoding.UTF8.GetString(end < 0 ? rest : rest[..end]);
    }

    private void Check(ulong offset, ulong length)
    {
        if (offset > (ulong)_data.Length || length > (ulong)_data.Length - offset)
            throw new FormatException($"ELF structure at 0x{offset:x}+0x{length:x} is past the end of the file");
    }

    private ushort U16(int o) { Check((ulong)o, 2); return BinaryPrimitives.ReadUInt16LittleEndian(_data.AsSpan(o)); }
    private uint U32(int o) { Check((ulong)o, 4); return BinaryPrimitives.ReadUInt32LittleEndian(_data.AsSpan(o)); }
    private ulong U64(int o) { Check((ulong)o, 8); return BinaryPrimitives.ReadUInt64LittleEndian(_data.AsSpan(o)); }
}
