using System.Buffers.Binary;

namespace MyKvm.Boot.Tests.Support;

/// <summary>One loadable segment of a hand-built ELF file.</summary>
internal sealed record TestSegment(ulong VirtualAddress, ulong PhysicalAddress, byte[] Data, ulong MemorySize);

/// <summary>Builds small ELF32/ELF64 executables and Multiboot headers byte by byte, for malformed-input tests.</summary>
internal static class TestImages
{
    public static byte[] Elf(bool is64, ulong entry, IReadOnlyList<TestSegment> segments, ushort? machine = null, ushort type = 2)
    {
        int ehsize = is64 ? 64 : 52, phentsize = is64 ? 56 : 32;
        int dataStart = Align(ehsize + phentsize * segments.Count, 16);
        var offsets = new List<int>();
        int pos = dataStart;
        foreach (var s in segments)
        {
            offsets.Add(pos);
            pos = Align(pos + s.Data.Length, 16);
        }
        var f = new byte[Math.Max(pos, dataStart)];
        f[0] = 0x7F; f[1] = (byte)'E'; f[2] = (byte)'L'; f[3] = (byte)'F';
        f[4] = (byte)(is64 ? 2 : 1);
        f[5] = 1;
        f[6] = 1;
        W16(f, 16, type);
        W16(f, 18, machine ?? (ushort)(is64 ? 62 : 3));
        W32(f, 20, 1);
        if (is64)
        {
            W64(f, 24, entry);
            W64(f, 32, (ulong)ehsize);
            W16(f, 52, (ushort)ehsize);
            W16(f, 54, (ushort)phentsize);
            W16(f, 56, (ushort)segments.Count);
        }
        else
        {
            W32(f, 24, (uint)entry);
            W32(f, 28, (uint)ehsize);
            W16(f, 40, (ushort)ehsize);
            W16(f, 42, (ushort)phentsize);
            W16(f, 44, (ushort)segments.Count);
        }
        for (int i = 0; i < segments.Count; i++)
        {
            var s = segments[i];
            int ph = ehsize + i * phentsize;
            if (is64)
            {
                W32(f, ph, 1);
                W32(f, ph + 4, 7);
                W64(f, ph + 8, (ulong)offsets[i]);
                W64(f, ph + 16, s.VirtualAddress);
                W64(f, ph + 24, s.PhysicalAddress);
                W64(f, ph + 32, (ulong)s.Data.Length);
                W64(f, ph + 40, s.MemorySize);
                W64(f, ph + 48, 0x1000);
            }
            else
            {
                W32(f, ph, 1);
                W32(f, ph + 4, (uint)offsets[i]);
                W32(f, ph + 8, (uint)s.VirtualAddress);
                W32(f, ph + 12, (uint)s.PhysicalAddress);
                W32(f, ph + 16, (uint)s.Data.Length);
                W32(f, ph + 20, (uint)s.MemorySize);
                W32(f, ph + 24, 7);
                W32(f, ph + 28, 0x1000);
            }
            s.Data.CopyTo(f, offsets[i]);
        }
        return f;
    }

    /// <summary>The file offset at which the data of segment <paramref name="index"/> starts in <see cref="Elf"/>'s output.</summary>
    public static int SegmentOffset(byte[] elf, int index) =>
        elf[4] == 2 ? (int)BinaryPrimitives.ReadUInt64LittleEndian(elf.AsSpan(64 + index * 56 + 8))
                    : (int)BinaryPrimitives.ReadUInt32LittleEndian(elf.AsSpan(52 + index * 32 + 4));

    /// <summary>A Multiboot 1 header; with <paramref name="aout"/> the a.out kludge fields follow.</summary>
    public static byte[] MultibootHeader(uint flags, (uint HeaderAddr, uint LoadAddr, uint LoadEndAddr, uint BssEndAddr, uint EntryAddr)? aout = null,
        uint? checksum = null)
    {
        var h = new byte[aout is null ? 12 : 32];
        W32(h, 0, 0x1BADB002);
        W32(h, 4, flags);
        W32(h, 8, checksum ?? unchecked(0u - 0x1BADB002u - flags));
        if (aout is { } a)
        {
            W32(h, 12, a.HeaderAddr);
            W32(h, 16, a.LoadAddr);
            W32(h, 20, a.LoadEndAddr);
            W32(h, 24, a.BssEndAddr);
            W32(h, 28, a.EntryAddr);
        }
        return h;
    }

    /// <summary>One section of <see cref="WithSections"/>: its type, sh_addr, sh_flags, contents and sh_addralign.</summary>
    public sealed record TestSection(uint Type, ulong Address, byte[] Data, ulong Flags = 0, ulong Align = 1, uint Link = 0);

    /// <summary>
    /// <paramref name="elf"/> with a section header table appended: a null section 0, then <paramref name="sections"/>
    /// (contents appended to the file first); e_shstrndx = <paramref name="nameIndex"/>.
    /// </summary>
    public static byte[] WithSections(byte[] elf, IReadOnlyList<TestSection> sections, ushort nameIndex = 0)
    {
        bool is64 = elf[4] == 2;
        int entsize = is64 ? 64 : 40;
        var f = new List<byte>(elf);
        var offsets = new List<int>();
        foreach (var sec in sections)
        {
            while (f.Count % 8 != 0) f.Add(0);
            offsets.Add(f.Count);
            f.AddRange(sec.Data);
        }
        while (f.Count % 8 != 0) f.Add(0);
        int shoff = f.Count;
        f.AddRange(new byte[entsize * (sections.Count + 1)]);
        var b = f.ToArray();
        for (int i = 0; i < sections.Count; i++)
        {
            var sec = sections[i];
            int e = shoff + (i + 1) * entsize;
            W32(b, e + 0, (uint)(i + 1));   // sh_name: any offset
            W32(b, e + 4, sec.Type);
            if (is64)
            {
                W64(b, e + 8, sec.Flags);
                W64(b, e + 16, sec.Address);
                W64(b, e + 24, (ulong)offsets[i]);
                W64(b, e + 32, (ulong)sec.Data.Length);
                W32(b, e + 40, sec.Link);
                W64(b, e + 48, sec.Align);
            }
            else
            {
                W32(b, e + 8, (uint)sec.Flags);
                W32(b, e + 12, (uint)sec.Address);
                W32(b, e + 16, (uint)offsets[i]);
                W32(b, e + 20, (uint)sec.Data.Length);
                W32(b, e + 24, sec.Link);
                W32(b, e + 32, (uint)sec.Align);
            }
        }
        if (is64)
        {
            W64(b, 40, (ulong)shoff);
            W16(b, 58, (ushort)entsize);
            W16(b, 60, (ushort)(sections.Count + 1));
            W16(b, 62, nameIndex);
        }
        else
        {
            W32(b, 32, (uint)shoff);
            W16(b, 46, (ushort)entsize);
            W16(b, 48, (ushort)(sections.Count + 1));
            W16(b, 50, nameIndex);
        }
        return b;
    }

    /// <summary>A Multiboot 2 header tag: type, flags (1 = optional) and body (the size is computed).</summary>
    public static (ushort Type, ushort Flags, byte[] Body) Mb2Tag(ushort type, ushort flags, params uint[] body)
    {
        var b = new byte[body.Length * 4];
        for (int i = 0; i < body.Length; i++) W32(b, i * 4, body[i]);
        return (type, flags, b);
    }

    /// <summary>
    /// A Multiboot 2 header with <paramref name="tags"/> (each padded to 8 bytes) and an end tag appended unless
    /// <paramref name="endTag"/> is false; checksum right unless given.
    /// </summary>
    public static byte[] Multiboot2Header(IEnumerable<(ushort Type, ushort Flags, byte[] Body)> tags, uint architecture = 0, uint? checksum = null,
        bool endTag = true, uint? headerLength = null)
    {
        var h = new List<byte>(new byte[16]);
        foreach (var (type, flags, body) in endTag ? tags.Append(((ushort)0, (ushort)0, Array.Empty<byte>())) : tags)
        {
            var t = new byte[8];
            W16(t, 0, type);
            W16(t, 2, flags);
            W32(t, 4, (uint)(8 + body.Length));
            h.AddRange(t);
            h.AddRange(body);
            while (h.Count % 8 != 0) h.Add(0);
        }
        var bytes = h.ToArray();
        uint length = headerLength ?? (uint)bytes.Length;
        W32(bytes, 0, 0xE85250D6);
        W32(bytes, 4, architecture);
        W32(bytes, 8, length);
        W32(bytes, 12, checksum ?? unchecked(0u - 0xE85250D6u - architecture - length));
        return bytes;
    }

    /// <summary>Code that does nothing useful, recognisable in memory: <c>cli; hlt</c> repeated.</summary>
    public static byte[] Code(int length)
    {
        var c = new byte[length];
        for (int i = 0; i < length; i++) c[i] = (byte)(i % 2 == 0 ? 0xFA : 0xF4);
        return c;
    }

    public static byte[] Concat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();

    private static int Align(int v, int a) => (v + a - 1) / a * a;
    public static void W16(byte[] b, int o, ushort v) => BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(o), v);
    public static void W32(byte[] b, int o, uint v) => BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(o), v);
    public static void W64(byte[] b, int o, ulong v) => BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(o), v);
}

/// <summary>A scratch folder for files a test writes, deleted afterwards.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "mykvm-boot-tests-" + Guid.NewGuid().ToString("N")[..12]);

    public string Write(string name, byte[] content)
    {
        string p = System.IO.Path.Combine(Path, name);
        File.WriteAllBytes(p, content);
        return p;
    }

    public string Write(string name, string content) => Write(name, System.Text.Encoding.UTF8.GetBytes(content));

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}
