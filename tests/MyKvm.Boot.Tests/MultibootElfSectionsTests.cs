using System.Buffers.Binary;
using MyKvm.Boot.Tests.Support;
using MyKvm.Core;
using static MyKvm.Boot.Tests.Support.TestImages;

namespace MyKvm.Boot.Tests;

/// <summary>
/// Multiboot 1 info flag 5 (spec 0.6.96 §3.3, "ELF section header table"): num, size, addr, shndx, with the
/// sections the kernel does not load itself (.symtab, .strtab, ...) put into memory as GRUB does.
/// </summary>
public sealed class MultibootElfSectionsTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly GuestRam _ram = new(64UL << 20);

    public void Dispose()
    {
        _ram.Dispose();
        _dir.Dispose();
    }

    private static uint U32(byte[] b, int o) => BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(o));

    [Fact]
    public void Mbinfo_SectionTableAndSymbols()
    {
        string kernel = Guests.Get("mbinfo.elf");
        byte[] file = File.ReadAllBytes(kernel);
        string mod = _dir.Write("m.mod", new byte[10000]);
        var r = KernelLoader.Load(_ram, new BootRequest { KernelPath = kernel, InitrdPath = mod });
        ulong info = r.InitialState.Rbx;
        Assert.Equal(0x20u, _ram.Read32(info) & 0x20u);

        uint num = _ram.Read32(info + 28), size = _ram.Read32(info + 32), addr = _ram.Read32(info + 36), shndx = _ram.Read32(info + 40);
        int shoff = (int)U32(file, 32);
        Assert.Equal(BinaryPrimitives.ReadUInt16LittleEndian(file.AsSpan(48)), (int)num);
        Assert.Equal(40u, size);
        Assert.Equal(BinaryPrimitives.ReadUInt16LittleEndian(file.AsSpan(50)), (int)shndx);
        Assert.Contains($"{num} section headers", r.Summary);

        ulong moduleEnd = _ram.Read32(_ram.Read32(info + 24) + 4);
        int symtabs = 0;
        for (int i = 0; i < num; i++)
        {
            var inFile = file.AsSpan(shoff + i * 40, 40).ToArray();
            var inRam = _ram.GetSpan(addr + (ulong)(i * 40), 40).ToArray();
            uint type = U32(inFile, 4), shAddr = U32(inFile, 12), offset = U32(inFile, 16), length = U32(inFile, 20);
            // Everything but sh_addr is as in the file.
            Assert.Equal(inFile[..12], inRam[..12]);
            Assert.Equal(inFile[16..], inRam[16..]);
            uint loadedAt = U32(inRam, 12);
            if (shAddr != 0 || length == 0 || type == 8)
            {
                Assert.Equal(shAddr, loadedAt);   // part of the image, or nothing to load
                continue;
            }
            // Loaded after the modules, with the file's bytes.
            Assert.True(loadedAt >= moduleEnd, $"section {i} at 0x{loadedAt:x}, modules end at 0x{moduleEnd:x}");
            Assert.Equal(file.AsSpan((int)offset, (int)length).ToArray(), _ram.GetSpan(loadedAt, (int)length).ToArray());
            if (type == 2) symtabs++;
        }
        Assert.Equal(1, symtabs);
        // The section-name table is among the loaded ones: the kernel can name sections.
        uint names = _ram.Read32(addr + shndx * 40 + 12);
        Assert.NotEqual(0u, names);
        Assert.Contains(".symtab", System.Text.Encoding.ASCII.GetString(_ram.GetSpan(names, (int)U32(file, shoff + (int)shndx * 40 + 20))));
    }

    [Fact]
    public void AoutKludge_HasNoSectionTable()
    {
        var header = MultibootHeader(0x10003, (0x100000, 0x100000, 0, 0x102000, 0x100020));
        string k = _dir.Write("aout.bin", Concat(header, Code(0x100)));
        var r = KernelLoader.Load(_ram, new BootRequest { KernelPath = k });
        Assert.Equal(0u, _ram.Read32(r.InitialState.Rbx) & 0x20u);
    }

    private byte[] Kernel(bool is64 = false) =>
        Elf(is64, 0x100010, [new TestSegment(0x100000, 0x100000, Concat(MultibootHeader(3), Code(0x100)), 0x1000)]);

    [Fact]
    public void HandBuiltSections_LoadedAlignedOrKeptWhereTheImageHasThem()
    {
        byte[] symtab = Enumerable.Range(0, 48).Select(i => (byte)i).ToArray();
        byte[] strtab = "\0kmain\0"u8.ToArray();
        var sections = new List<TestSection>
        {
            new(1, 0x100000, new byte[16], Flags: 6),          // .text: allocated, keeps its address
            new(2, 0, symtab, Align: 0x100, Link: 3),         // .symtab: loaded, 256-aligned
            new(3, 0, strtab),                                // .strtab
            new(8, 0, []),                                    // NOBITS without address: stays 0
            new(3, 0, "\0.text\0.symtab\0"u8.ToArray()),      // .shstrtab
        };
        string k = _dir.Write("s.elf", WithSections(Kernel(), sections, nameIndex: 5));
        var r = KernelLoader.Load(_ram, new BootRequest { KernelPath = k });
        ulong info = r.InitialState.Rbx;
        Assert.Equal(0x20u, _ram.Read32(info) & 0x20u);
        Assert.Equal(6u, _ram.Read32(info + 28));
        Assert.Equal(5u, _ram.Read32(info + 40));
        ulong table = _ram.Read32(info + 36);
        uint Addr(int i) => _ram.Read32(table + (ulong)(i * 40) + 12);
        Assert.Equal(0x100000u, Addr(1));
        Assert.Equal(0u, Addr(2) % 0x100);
        Assert.True(Addr(2) >= 0x101000, $"symtab at 0x{Addr(2):x}: after the kernel");
        Assert.Equal(symtab, _ram.GetSpan(Addr(2), symtab.Length).ToArray());
        Assert.Equal(strtab, _ram.GetSpan(Addr(3), strtab.Length).ToArray());
        Assert.Equal(0u, Addr(4));
        Assert.NotEqual(0u, Addr(5));
        Assert.Contains("6 section headers (3 sections loaded", r.Summary);
    }

    [Fact]
    public void Elf64_SectionAddressesAre64Bit()
    {
        var sections = new List<TestSection> { new(2, 0, new byte[24], Align: 8), new(3, 0, "\0"u8.ToArray()) };
        string k = _dir.Write("s64.elf", WithSections(Kernel(is64: true), sections, nameIndex: 2));
        var r = KernelLoader.Load(_ram, new BootRequest { KernelPath = k });
        ulong info = r.InitialState.Rbx;
        Assert.Equal(64u, _ram.Read32(info + 32));
        ulong table = _ram.Read32(info + 36);
        ulong symtabAt = _ram.Read64(table + 64 + 16);
        Assert.InRange(symtabAt, 0x101000UL, (64UL << 20) - 24);
    }

    [Fact]
    public void ExtendedNumbering_CountAndNameIndexFromSectionZero()
    {
        var sections = new List<TestSection> { new(3, 0, "\0.shstrtab\0"u8.ToArray()) };
        byte[] f = WithSections(Kernel(), sections, nameIndex: 0xFFFF);
        int shoff = (int)U32(f, 32);
        W16(f, 48, 0);                 // e_shnum 0: the count is section 0's sh_size
        W32(f, shoff + 20, 2);
        W32(f, shoff + 24, 1);         // e_shstrndx SHN_XINDEX: the index is section 0's sh_link
        var r = KernelLoader.Load(_ram, new BootRequest { KernelPath = _dir.Write("x.elf", f) });
        Assert.Equal(2u, _ram.Read32(r.InitialState.Rbx + 28));
        Assert.Equal(1u, _ram.Read32(r.InitialState.Rbx + 40));
    }

    [Theory]
    [InlineData("table-past-eof", "section headers of 40 bytes at 0x")]
    [InlineData("entsize", "ELF section header size 32 is smaller than 40")]
    [InlineData("shstrndx", "ELF section name table index 9 is not below the section count 2")]
    [InlineData("data-past-eof", "ELF truncated: section 1 (file offset 0x")]
    [InlineData("alignment", "ELF section 1 has an alignment of 0x3")]
    public void MalformedSectionTable_IsRejected(string kind, string expected)
    {
        var sections = new List<TestSection> { new(2, 0, new byte[16], Align: kind == "alignment" ? 3UL : 4) };
        byte[] f = WithSections(Kernel(), sections);
        int shoff = (int)U32(f, 32);
        switch (kind)
        {
            case "table-past-eof": f = f[..(shoff + 50)]; break;
            case "entsize": W16(f, 46, 32); break;
            case "shstrndx": W16(f, 50, 9); break;
            case "data-past-eof": W32(f, shoff + 40 + 16, (uint)f.Length - 8); break;
        }
        string k = _dir.Write(kind + ".elf", f);
        var e = Assert.Throws<BootException>(() => KernelLoader.Load(_ram, new BootRequest { KernelPath = k }));
        Assert.StartsWith(k + ": ", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void NoSectionTable_NoFlag5()
    {
        string k = _dir.Write("plain.elf", Kernel());
        var r = KernelLoader.Load(_ram, new BootRequest { KernelPath = k });
        Assert.Equal(0u, _ram.Read32(r.InitialState.Rbx) & 0x20u);
    }
}
