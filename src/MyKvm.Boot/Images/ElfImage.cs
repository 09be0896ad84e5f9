using System.Buffers.Binary;

namespace MyKvm.Boot.Images;

/// <summary>One program header (ELF spec, "Program Header"; System V ABI gABI ch. 5).</summary>
internal readonly record struct ElfSegment(
    int Index, uint Type, ulong Offset, ulong VirtualAddress, ulong PhysicalAddress, ulong FileSize, ulong MemorySize, uint Flags)
{
    public const uint PtLoad = 1;
    public bool IsLoad => Type == PtLoad;
}

/// <summary>
/// An ELF32 or ELF64 little-endian x86 executable: its header and program headers, validated against the
/// file length so that loading never reads past the end. Parsing only; placing segments is the loaders' job.
/// </summary>
internal sealed class ElfImage
{
    public const ushort EtExec = 2, EtDyn = 3;
    public const ushort Em386 = 3, EmX86_64 = 62;

    private ElfImage(bool is64, ushort type, ushort machine, ulong entry, IReadOnlyList<ElfSegment> segments)
    {
        Is64 = is64;
        Type = type;
        Machine = machine;
        Entry = entry;
        Segments = segments;
    }

    public bool Is64 { get; }
    public ushort Type { get; }
    public ushort Machine { get; }
    public ulong Entry { get; }
    public IReadOnlyList<ElfSegment> Segments { get; }
    public IEnumerable<ElfSegment> LoadSegments => Segments.Where(s => s.IsLoad && s.MemorySize != 0);
    public string ClassName => Is64 ? "ELF64" : "ELF32";

    public static bool HasElfMagic(ReadOnlySpan<byte> data) =>
        data.Length >= 4 && data[0] == 0x7F && data[1] == (byte)'E' && data[2] == (byte)'L' && data[3] == (byte)'F';

    /// <summary>Parses <paramref name="data"/>; every problem becomes a <see cref="BootException"/> naming <paramref name="path"/>.</summary>
    public static ElfImage Parse(string path, ReadOnlySpan<byte> data)
    {
        if (!HasElfMagic(data))
            throw new BootException($"{path}: not an ELF file");
        if (data.Length < 16)
            throw new BootException($"{path}: ELF file truncated in its header ({data.Length} bytes)");
        byte cls = data[4];
        if (cls != 1 && cls != 2)
            throw new BootException($"{path}: ELF class {cls} is neither ELF32 nor ELF64");
        if (data[5] != 1)
            throw new BootException($"{path}: ELF file is not little-endian, so not an x86 kernel");
        bool is64 = cls == 2;
        int ehsize = is64 ? 64 : 52;
        if (data.Length < ehsize)
            throw new BootException($"{path}: ELF file truncated in its header ({data.Length} of {ehsize} bytes)");

        ushort type = U16(data, 16);
        ushort machine = U16(data, 18);
        ulong entry = is64 ? U64(data, 24) : U32(data, 24);
        ulong phoff = is64 ? U64(data, 32) : U32(data, 28);
        ushort phentsize = U16(data, is64 ? 54 : 42);
        ushort phnum = U16(data, is64 ? 56 : 44);

        ushort expectedMachine = is64 ? EmX86_64 : Em386;
        if (machine != expectedMachine)
            throw new BootException($"{path}: {(is64 ? "ELF64" : "ELF32")} file for machine {machine}, not {(is64 ? "x86-64 (62)" : "i386 (3)")}");
        if (type != EtExec && type != EtDyn)
            throw new BootException($"{path}: ELF type {type} is not an executable (ET_EXEC)");

        int minEntSize = is64 ? 56 : 32;
        if (phnum != 0 && phentsize < minEntSize)
            throw new BootException($"{path}: ELF program header size {phentsize} is smaller than {minEntSize}");
        if (phnum == 0)
            throw new BootException($"{path}: ELF file has no program headers, nothing to load");
        ulong tableEnd = phoff + (ulong)phnum * phentsize;
        if (phoff > (ulong)data.Length || tableEnd > (ulong)data.Length)
            throw new BootException($"{path}: ELF truncated: program header table [0x{phoff:x}, 0x{tableEnd:x}) is past the end of the file ({data.Length} bytes)");

        var segments = new List<ElfSegment>(phnum);
        for (int i = 0; i < phnum; i++)
        {
            var ph = data.Slice((int)(phoff + (ulong)(i * phentsize)), minEntSize);
            ElfSegment seg = is64
                ? new(i, U32(ph, 0), U64(ph, 8), U64(ph, 16), U64(ph, 24), U64(ph, 32), U64(ph, 40), U32(ph, 4))
                : new(i, U32(ph, 0), U32(ph, 4), U32(ph, 8), U32(ph, 12), U32(ph, 16), U32(ph, 20), U32(ph, 24));
            if (seg.IsLoad)
            {
                if (seg.FileSize > seg.MemorySize)
                    throw new BootException($"{path}: ELF segment {i} has a file size (0x{seg.FileSize:x}) larger than its memory size (0x{seg.MemorySize:x})");
                ulong end = seg.Offset + seg.FileSize;
                if (end < seg.Offset || end > (ulong)data.Length)
                    throw new BootException($"{path}: ELF truncated: segment {i} (file offset 0x{seg.Offset:x} + 0x{seg.FileSize:x} bytes) runs past the end of the file ({data.Length} bytes)");
            }
            segments.Add(seg);
        }
        if (!segments.Any(s => s.IsLoad && s.MemorySize != 0))
            throw new BootException($"{path}: ELF file has no loadable (PT_LOAD) segment");
        return new ElfImage(is64, type, machine, entry, segments);
    }

    /// <summary>
    /// The physical address of the entry point: the segment whose virtual range holds e_entry translates it
    /// by its p_paddr - p_vaddr (as GRUB does, so higher-half kernels start at their physical entry).
    /// </summary>
    public ulong PhysicalEntry()
    {
        foreach (var s in LoadSegments)
            if (Entry >= s.VirtualAddress && Entry - s.VirtualAddress < s.MemorySize)
                return Entry - s.VirtualAddress + s.PhysicalAddress;
        return Entry;
    }

    private static ushort U16(ReadOnlySpan<byte> d, int o) => BinaryPrimitives.ReadUInt16LittleEndian(d[o..]);
    private static uint U32(ReadOnlySpan<byte> d, int o) => BinaryPrimitives.ReadUInt32LittleEndian(d[o..]);
    private static ulong U64(ReadOnlySpan<byte> d, int o) => BinaryPrimitives.ReadUInt64LittleEndian(d[o..]);
}
