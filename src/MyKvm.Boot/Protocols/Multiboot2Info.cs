using System.Buffers.Binary;
using System.Text;
using MyKvm.Core;

namespace MyKvm.Boot.Protocols;

/// <summary>Multiboot 2 boot information tag types (Multiboot2 spec 2.0, §3.6).</summary>
internal enum Multiboot2InfoTag : uint
{
    End = 0,
    CommandLine = 1,
    BootLoaderName = 2,
    Module = 3,
    BasicMemoryInfo = 4,
    BiosBootDevice = 5,
    MemoryMap = 6,
    VbeInfo = 7,
    Framebuffer = 8,
    ElfSections = 9,
    ApmTable = 10,
    Efi32SystemTable = 11,
    Efi64SystemTable = 12,
    Smbios = 13,
    AcpiOldRsdp = 14,
    AcpiNewRsdp = 15,
    Networking = 16,
    EfiMemoryMap = 17,
    EfiBootServicesNotTerminated = 18,
    Efi32ImageHandle = 19,
    Efi64ImageHandle = 20,
    LoadBaseAddress = 21,
}

/// <summary>
/// Builds the Multiboot 2 boot information structure (spec §3.6) in a buffer: u32 total_size, u32 reserved, then
/// 8-byte aligned tags (u32 type, u32 size, payload; size excludes the padding), closed by an end tag. Everything is
/// inline (strings, module list, memory map, section headers), so the buffer is position-independent.
/// </summary>
internal sealed class Multiboot2Info
{
    /// <summary>EGA text, as a BIOS loader in text mode reports it (§3.6.12, framebuffer_type 2).</summary>
    public const ulong EgaTextAddress = 0xB8000;
    public const byte FramebufferTypeEgaText = 2;
    public const uint MemoryMapEntrySize = 24;

    private readonly List<byte> _bytes = [0, 0, 0, 0, 0, 0, 0, 0];
    private readonly List<Multiboot2InfoTag> _tags = [];

    /// <summary>The tag types written so far, in order.</summary>
    public IReadOnlyList<Multiboot2InfoTag> Tags => _tags;

    public void CommandLine(string s) => Tag(Multiboot2InfoTag.CommandLine, CString(s));

    public void BootLoaderName(string s) => Tag(Multiboot2InfoTag.BootLoaderName, CString(s));

    public void Module(uint start, uint end, string s)
    {
        var p = new byte[8];
        Put32(p, 0, start);
        Put32(p, 4, end);
        Tag(Multiboot2InfoTag.Module, [.. p, .. CString(s)]);
    }

    public void BasicMemoryInfo(uint lowerKiB, uint upperKiB)
    {
        var p = new byte[8];
        Put32(p, 0, lowerKiB);
        Put32(p, 4, upperKiB);
        Tag(Multiboot2InfoTag.BasicMemoryInfo, p);
    }

    /// <summary>§3.6.8: entry_size 24, entry_version 0, then base, length, type, a reserved zero per entry.</summary>
    public void MemoryMap(IReadOnlyList<MemoryMapEntry> map)
    {
        var p = new byte[8 + map.Count * MemoryMapEntrySize];
        Put32(p, 0, MemoryMapEntrySize);
        Put32(p, 4, 0);
        for (int i = 0; i < map.Count; i++)
        {
            int o = 8 + i * (int)MemoryMapEntrySize;
            Put64(p, o, map[i].Base);
            Put64(p, o + 8, map[i].Length);
            Put32(p, o + 16, (uint)map[i].Type);
        }
        Tag(Multiboot2InfoTag.MemoryMap, p);
    }

    /// <summary>80x25 EGA text at 0xB8000: pitch 160 bytes, 16 bits per character cell, no colour info.</summary>
    public void EgaTextFramebuffer()
    {
        // framebuffer_addr u64, pitch, width, height u32, bpp u8, type u8, reserved u16 (GRUB's layout: 24 bytes).
        var p = new byte[24];
        Put64(p, 0, EgaTextAddress);
        Put32(p, 8, 160);
        Put32(p, 12, 80);
        Put32(p, 16, 25);
        p[20] = 16;
        p[21] = FramebufferTypeEgaText;
        Tag(Multiboot2InfoTag.Framebuffer, p);
    }

    /// <summary>
    /// §3.6.9. The spec's text shows u16 num/entsize/shndx and a u16 reserved; GRUB (the reference implementation)
    /// and the kernels written against it use three u32 fields, which is what is written here.
    /// </summary>
    public void ElfSections(uint count, uint entrySize, uint nameIndex, ReadOnlySpan<byte> headers)
    {
        var p = new byte[12 + headers.Length];
        Put32(p, 0, count);
        Put32(p, 4, entrySize);
        Put32(p, 8, nameIndex);
        headers.CopyTo(p.AsSpan(12));
        Tag(Multiboot2InfoTag.ElfSections, p);
    }

    /// <summary>A copy of the RSDP: tag 14 with the 20-byte ACPI 1.0 structure, tag 15 with an ACPI 2.0+ one (length bytes).</summary>
    public void AcpiRsdp(ReadOnlySpan<byte> rsdp, bool v2) =>
        Tag(v2 ? Multiboot2InfoTag.AcpiNewRsdp : Multiboot2InfoTag.AcpiOldRsdp, rsdp.ToArray());

    public void LoadBaseAddress(uint address)
    {
        var p = new byte[4];
        Put32(p, 0, address);
        Tag(Multiboot2InfoTag.LoadBaseAddress, p);
    }

    /// <summary>Closes the structure with the end tag and returns it, total_size filled in.</summary>
    public byte[] Finish()
    {
        Tag(Multiboot2InfoTag.End, []);
        var b = _bytes.ToArray();
        Put32(b, 0, (uint)b.Length);
        return b;
    }

    private void Tag(Multiboot2InfoTag type, byte[] payload)
    {
        var h = new byte[8];
        Put32(h, 0, (uint)type);
        Put32(h, 4, (uint)(8 + payload.Length));
        _bytes.AddRange(h);
        _bytes.AddRange(payload);
        while (_bytes.Count % 8 != 0) _bytes.Add(0);
        _tags.Add(type);
    }

    private static byte[] CString(string s) => Encoding.UTF8.GetBytes(s + "\0");
    private static void Put32(byte[] b, int o, uint v) => BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(o), v);
    private static void Put64(byte[] b, int o, ulong v) => BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(o), v);
}
