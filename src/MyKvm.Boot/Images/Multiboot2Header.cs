using System.Buffers.Binary;

namespace MyKvm.Boot.Images;

/// <summary>Multiboot 2 header tag types (Multiboot2 spec 2.0, §3.1.3–3.1.13).</summary>
internal enum Multiboot2HeaderTag : ushort
{
    End = 0,
    InformationRequest = 1,
    Address = 2,
    EntryAddress = 3,
    ConsoleFlags = 4,
    Framebuffer = 5,
    ModuleAlign = 6,
    EfiBootServices = 7,
    EntryAddressEfi32 = 8,
    EntryAddressEfi64 = 9,
    Relocatable = 10,
}

/// <summary>The address tag (§3.1.5): where the file goes, like Multiboot 1's a.out kludge.</summary>
internal readonly record struct Multiboot2AddressTag(uint HeaderAddr, uint LoadAddr, uint LoadEndAddr, uint BssEndAddr);

/// <summary>The relocatable tag (§3.1.13): the image may go anywhere in [MinAddr, MaxAddr] aligned to Align.</summary>
internal readonly record struct Multiboot2RelocatableTag(uint MinAddr, uint MaxAddr, uint Align, uint Preference)
{
    public const uint PreferenceNone = 0, PreferenceLow = 1, PreferenceHigh = 2;
}

/// <summary>The framebuffer tag (§3.1.10): the preferred graphics mode, 0 meaning no preference.</summary>
internal readonly record struct Multiboot2FramebufferTag(uint Width, uint Height, uint Depth, bool Optional);

/// <summary>
/// A Multiboot 2 header (Multiboot2 specification 2.0, §3.1): magic 0xE85250D6, architecture, header_length and a
/// checksum making the four fields sum to 0 mod 2^32, 8-byte aligned within the first 32 KiB of the image, followed by
/// 8-byte aligned tags (u16 type, u16 flags, u32 size) up to an end tag. Flags bit 0 marks a tag optional: a loader
/// that does not support a tag without it must refuse the image (§3.1.3).
/// </summary>
internal sealed record Multiboot2Header
{
    public const uint Magic = 0xE85250D6;
    public const uint BootloaderMagic = 0x36D76289;
    public const int SearchLimit = 32768;
    public const int Alignment = 8;
    public const uint ArchitectureI386 = 0, ArchitectureMips32 = 4;
    public const ushort TagOptional = 1;
    public const uint ConsoleRequired = 1, ConsoleEgaTextSupported = 2;
    /// <summary>The highest boot information tag type the specification defines (21, image load base address).</summary>
    public const uint HighestInformationTag = 21;

    public required int FileOffset { get; init; }
    public required uint HeaderLength { get; init; }
    /// <summary>Information request tags: the requested types and whether the request is optional.</summary>
    public IReadOnlyList<(IReadOnlyList<uint> Types, bool Optional)> InformationRequests { get; init; } = [];
    public Multiboot2AddressTag? Address { get; init; }
    public uint? EntryAddress { get; init; }
    public uint? ConsoleFlags { get; init; }
    public Multiboot2FramebufferTag? Framebuffer { get; init; }
    public bool ModuleAlign { get; init; }
    public bool EfiBootServices { get; init; }
    public uint? EfiEntry32 { get; init; }
    public uint? EfiEntry64 { get; init; }
    public Multiboot2RelocatableTag? Relocatable { get; init; }
    /// <summary>Tags of types this loader does not know that were marked optional (so were ignored).</summary>
    public IReadOnlyList<ushort> IgnoredOptionalTags { get; init; } = [];

    /// <summary>
    /// Finds and parses the header. Null if no magic sits 8-aligned in the first 32 KiB; throws if a magic is there but
    /// no candidate has a valid checksum, or the header found is malformed or needs something this loader lacks.
    /// </summary>
    public static Multiboot2Header? Find(string path, ReadOnlySpan<byte> data)
    {
        int limit = Math.Min(data.Length, SearchLimit);
        int firstBadChecksum = -1;
        for (int off = 0; off + 16 <= limit; off += Alignment)
        {
            if (U32(data, off) != Magic) continue;
            uint arch = U32(data, off + 4), length = U32(data, off + 8), checksum = U32(data, off + 12);
            if (unchecked(Magic + arch + length + checksum) != 0)
            {
                if (firstBadChecksum < 0) firstBadChecksum = off;
                continue;
            }
            if (arch != ArchitectureI386)
                throw new BootException($"{path}: Multiboot 2 header at 0x{off:x} is for architecture {arch}{(arch == ArchitectureMips32 ? " (32-bit MIPS)" : "")}, not i386 (0)");
            return Parse(path, data, off, length);
        }
        if (firstBadChecksum >= 0)
        {
            int o = firstBadChecksum;
            uint expected = unchecked(0u - Magic - U32(data, o + 4) - U32(data, o + 8));
            throw new BootException($"{path}: Multiboot 2 header checksum wrong at 0x{o:x} (checksum 0x{U32(data, o + 12):x8}, expected 0x{expected:x8})");
        }
        return null;
    }

    private static Multiboot2Header Parse(string path, ReadOnlySpan<byte> data, int off, uint length)
    {
        string at = $"{path}: Multiboot 2 header at 0x{off:x}";
        if (length < 24)
            throw new BootException($"{at}: header_length {length} is too short for the fixed fields and an end tag (24 bytes)");
        if ((ulong)off + length > (ulong)data.Length)
            throw new BootException($"{at}: header_length {length} runs past the end of the file ({data.Length} bytes)");
        var header = data.Slice(off, (int)length);

        var requests = new List<(IReadOnlyList<uint>, bool)>();
        var ignored = new List<ushort>();
        Multiboot2AddressTag? address = null;
        Multiboot2RelocatableTag? relocatable = null;
        Multiboot2FramebufferTag? framebuffer = null;
        uint? entry = null, console = null, efi32 = null, efi64 = null;
        bool moduleAlign = false, efiBs = false, ended = false;

        int pos = 16;
        while (pos + 8 <= header.Length)
        {
            ushort type = U16(header, pos), flags = U16(header, pos + 2);
            uint size = U32(header, pos + 4);
            bool optional = (flags & TagOptional) != 0;
            string tagAt = $"{at}: tag {type} at +0x{pos:x}";
            if (size < 8)
                throw new BootException($"{tagAt}: size {size} is smaller than the 8-byte tag header");
            if (size > (uint)(header.Length - pos))
                throw new BootException($"{tagAt}: size {size} runs past header_length {length}");
            var body = header.Slice(pos + 8, (int)size - 8);
            switch ((Multiboot2HeaderTag)type)
            {
                case Multiboot2HeaderTag.End:
                    if (size != 8) throw new BootException($"{tagAt}: the end tag must be 8 bytes, not {size}");
                    ended = true;
                    break;
                case Multiboot2HeaderTag.InformationRequest:
                    if (body.Length % 4 != 0) throw new BootException($"{tagAt}: an information request must be a list of u32 types (size {size})");
                    var types = new List<uint>();
                    for (int i = 0; i < body.Length; i += 4) types.Add(U32(body, i));
                    requests.Add((types, optional));
                    break;
                case Multiboot2HeaderTag.Address:
                    Expect(tagAt, size, 24);
                    address = new(U32(body, 0), U32(body, 4), U32(body, 8), U32(body, 12));
                    break;
                case Multiboot2HeaderTag.EntryAddress:
                    Expect(tagAt, size, 12);
                    entry = U32(body, 0);
                    break;
                case Multiboot2HeaderTag.ConsoleFlags:
                    Expect(tagAt, size, 12);
                    console = U32(body, 0);
                    break;
                case Multiboot2HeaderTag.Framebuffer:
                    Expect(tagAt, size, 20);
                    framebuffer = new(U32(body, 0), U32(body, 4), U32(body, 8), optional);
                    break;
                case Multiboot2HeaderTag.ModuleAlign:
                    Expect(tagAt, size, 8);
                    moduleAlign = true;
                    break;
                case Multiboot2HeaderTag.EfiBootServices:
                    Expect(tagAt, size, 8);
                    efiBs = true;
                    break;
                case Multiboot2HeaderTag.EntryAddressEfi32:
                    Expect(tagAt, size, 12);
                    efi32 = U32(body, 0);
                    break;
                case Multiboot2HeaderTag.EntryAddressEfi64:
                    Expect(tagAt, size, 12);
                    efi64 = U32(body, 0);
                    break;
                case Multiboot2HeaderTag.Relocatable:
                    Expect(tagAt, size, 24);
                    relocatable = new(U32(body, 0), U32(body, 4), U32(body, 8), U32(body, 12));
                    break;
                default:
                    if (!optional)
                        throw new BootException($"{tagAt}: required tag type {type} is not one mykvm knows (Multiboot2 spec 2.0 defines 0-10)");
                    ignored.Add(type);
                    break;
            }
            if (ended) break;
            pos += (int)((size + 7) & ~7u);
        }
        if (!ended)
            throw new BootException($"{at}: no end tag within header_length {length}");
        return new Multiboot2Header
        {
            FileOffset = off,
            HeaderLength = length,
            InformationRequests = requests,
            Address = address,
            EntryAddress = entry,
            ConsoleFlags = console,
            Framebuffer = framebuffer,
            ModuleAlign = moduleAlign,
            EfiBootServices = efiBs,
            EfiEntry32 = efi32,
            EfiEntry64 = efi64,
            Relocatable = relocatable,
            IgnoredOptionalTags = ignored,
        };
    }

    private static void Expect(string tagAt, uint size, uint expected)
    {
        if (size != expected)
            throw new BootException($"{tagAt}: size {size}, the specification says {expected}");
    }

    private static ushort U16(ReadOnlySpan<byte> d, int o) => BinaryPrimitives.ReadUInt16LittleEndian(d[o..]);
    private static uint U32(ReadOnlySpan<byte> d, int o) => BinaryPrimitives.ReadUInt32LittleEndian(d[o..]);
}
