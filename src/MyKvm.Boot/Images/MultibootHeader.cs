using System.Buffers.Binary;

namespace MyKvm.Boot.Images;

/// <summary>
/// The Multiboot 1 header (Multiboot Specification 0.6.96, §3.1.1–3.1.3): found 4-byte aligned within the
/// first 8192 bytes of the image, with magic + flags + checksum = 0 (mod 2^32).
/// </summary>
internal sealed record MultibootHeader
{
    public const uint Magic = 0x1BADB002;
    public const uint BootloaderMagic = 0x2BADB002;
    public const int SearchLimit = 8192;

    public const uint FlagPageAlignModules = 1 << 0;
    public const uint FlagMemoryInfo = 1 << 1;
    public const uint FlagVideoMode = 1 << 2;
    public const uint FlagAoutKludge = 1 << 16;
    /// <summary>Bits 3–15 are required features this loader does not know; §3.1.2 says it must then refuse (GRUB does).</summary>
    public const uint UnknownRequiredFlags = 0x0000FFF8;

    /// <summary>Offset of the header in the file.</summary>
    public required int FileOffset { get; init; }
    public required uint Flags { get; init; }
    public uint HeaderAddr { get; init; }
    public uint LoadAddr { get; init; }
    public uint LoadEndAddr { get; init; }
    public uint BssEndAddr { get; init; }
    public uint EntryAddr { get; init; }

    public bool HasAoutKludge => (Flags & FlagAoutKludge) != 0;

    /// <summary>
    /// Finds the header. Returns null if no magic is in the first 8 KiB; throws if magic is present but no
    /// candidate has a valid checksum, or the header is cut short.
    /// </summary>
    public static MultibootHeader? Find(string path, ReadOnlySpan<byte> data)
    {
        int limit = Math.Min(data.Length, SearchLimit);
        int firstBadChecksum = -1;
        for (int off = 0; off + 12 <= limit; off += 4)
        {
            if (U32(data, off) != Magic) continue;
            uint flags = U32(data, off + 4);
            uint checksum = U32(data, off + 8);
            if (unchecked(Magic + flags + checksum) != 0)
            {
                if (firstBadChecksum < 0) firstBadChecksum = off;
                continue;
            }
            if (!HasAout(flags))
                return new MultibootHeader { FileOffset = off, Flags = flags };
            if (off + 32 > data.Length)
                throw new BootException($"{path}: Multiboot header at 0x{off:x} is cut short by the end of the file (a.out kludge fields missing)");
            return new MultibootHeader
            {
                FileOffset = off,
                Flags = flags,
                HeaderAddr = U32(data, off + 12),
                LoadAddr = U32(data, off + 16),
                LoadEndAddr = U32(data, off + 20),
                BssEndAddr = U32(data, off + 24),
                EntryAddr = U32(data, off + 28),
            };
        }
        if (firstBadChecksum >= 0)
        {
            uint flags = U32(data, firstBadChecksum + 4);
            uint checksum = U32(data, firstBadChecksum + 8);
            throw new BootException($"{path}: Multiboot header checksum wrong at 0x{firstBadChecksum:x} (checksum 0x{checksum:x8}, expected 0x{unchecked(0u - Magic - flags):x8})");
        }
        return null;
    }

    private static bool HasAout(uint flags) => (flags & FlagAoutKludge) != 0;
    private static uint U32(ReadOnlySpan<byte> d, int o) => BinaryPrimitives.ReadUInt32LittleEndian(d[o..]);
}
