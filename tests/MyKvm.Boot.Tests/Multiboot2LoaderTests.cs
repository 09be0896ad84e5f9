using System.Buffers.Binary;
using System.Text;
using MyKvm.Boot.Tests.Support;
using MyKvm.Core;

namespace MyKvm.Boot.Tests;

/// <summary>Multiboot 2 (Multiboot2 spec 2.0): header tags, the boot information, and every way an image is refused.</summary>
public sealed class Multiboot2LoaderTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly GuestRam _ram = new(64UL << 20);

    public void Dispose()
    {
        _ram.Dispose();
        _dir.Dispose();
    }

    private static (ushort, ushort, byte[]) Tag(ushort type, ushort flags, params uint[] body) => TestImages.Mb2Tag(type, flags, body);

    /// <summary>An ELF32 kernel at 1 MiB whose text starts with a Multiboot 2 header with <paramref name="tags"/>; entry 0x100100.</summary>
    private string Kernel(IEnumerable<(ushort, ushort, byte[])> tags, string name = "k.elf", ulong bss = 0x3000)
    {
        var header = TestImages.Multiboot2Header(tags);
        var text = TestImages.Concat(header, new byte[0x100 - header.Length], TestImages.Code(0x100));
        return _dir.Write(name, TestImages.Elf(false, 0x100100, [new TestSegment(0x100000, 0x100000, text, 0x200 + bss)]));
    }

    private BootResult Load(BootRequest request, GuestRam? ram = null) => KernelLoader.Load(ram ?? _ram, request);

    private BootException Fails(BootRequest request, GuestRam? ram = null)
    {
        var e = Assert.Throws<BootException>(() => KernelLoader.Load(ram ?? _ram, request));
        Assert.DoesNotContain('\n', e.Message);
        return e;
    }

    /// <summary>The information structure at EBX, walked independently of the loader: (type, payload) pairs up to the end tag.</summary>
    private List<(uint Type, byte[] Payload)> Tags(BootResult r, GuestRam? ram = null)
    {
        ram ??= _ram;
        ulong mbi = r.InitialState.Rbx;
        Assert.Equal(0UL, mbi % 8);
        uint total = ram.Read32(mbi);
        Assert.Equal(0u, ram.Read32(mbi + 4));
        var tags = new List<(uint, byte[])>();
        ulong p = mbi + 8;
        while (true)
        {
            Assert.Equal(0UL, p % 8);
            uint type = ram.Read32(p), size = ram.Read32(p + 4);
            Assert.True(size >= 8);
            tags.Add((type, ram.GetSpan(p + 8, (int)size - 8).ToArray()));
            p += (size + 7) & ~7u;
            if (type == 0) break;
        }
        Assert.Equal(mbi + total, p);
        return tags;
    }

    private static byte[] Only(List<(uint Type, byte[] Payload)> tags, uint type) => Assert.Single(tags, t => t.Type == type).Payload;
    private static string CString(byte[] b, int offset = 0) => Encoding.UTF8.GetString(b, offset, Array.IndexOf(b, (byte)0, offset) - offset);
    private static uint U32(byte[] b, int o) => BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(o));
    private static ulong U64(byte[] b, int o) => BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(o));

    [Fact]
    public void MachineState_FollowsSection3_3()
    {
        var r = Load(new BootRequest { KernelPath = Kernel([]) });
        Assert.Equal(BootProtocol.Multiboot2, r.Protocol);
        var s = r.InitialState;
        Assert.Equal(0x36D76289UL, s.Rax);
        Assert.Equal(0x100100UL, s.Rip);
        Assert.Equal(0x08, s.Cs.Selector);
        Assert.Equal(0x10, s.Ds.Selector);
        Assert.Equal(0x10, s.Ss.Selector);
        Assert.Equal(VcpuState.Cr0PE, s.Cr0 & (VcpuState.Cr0PE | VcpuState.Cr0PG));
        Assert.False(s.InterruptsEnabled);
        Assert.InRange(s.Rbx, PcMemoryLayout.LowBootDataBase, PcMemoryLayout.ConventionalEnd);
        Assert.StartsWith("multiboot2 (auto: Multiboot 2 header at file offset 0x", r.Summary);
    }

    [Fact]
    public void BootInformation_Tags()
    {
        string m1 = _dir.Write("one.mod", "first module");
        string m2 = _dir.Write("two.mod", new byte[5000]);
        var r = Load(new BootRequest { KernelPath = Kernel([]), CommandLine = "console=ttyS0 x=1", InitrdPath = $"{m1} arg1 arg2,{m2}" });
        var tags = Tags(r);
        // The order GRUB writes them in; no boot device, VBE, APM or EFI tags; no symbols in this hand-made ELF.
        Assert.Equal([21u, 1, 2, 3, 3, 4, 6, 8, 0], tags.Select(t => t.Type));

        Assert.Equal(0x100000u, U32(Only(tags, 21), 0));
        Assert.Equal("console=ttyS0 x=1", CString(Only(tags, 1)));   // arguments only, as GRUB
        Assert.Equal("mykvm", CString(Only(tags, 2)));

        var mods = tags.Where(t => t.Type == 3).Select(t => t.Payload).ToList();
        Assert.Equal("arg1 arg2", CString(mods[0], 8));                  // module2's string: the args after the file
        Assert.Equal("", CString(mods[1], 8));
        Assert.Equal(0u, U32(mods[0], 0) % 4096);
        Assert.Equal(12u, U32(mods[0], 4) - U32(mods[0], 0));
        Assert.Equal("first module", Encoding.ASCII.GetString(_ram.GetSpan(U32(mods[0], 0), 12)));
        Assert.Equal(0u, U32(mods[1], 0) % 4096);
        Assert.True(U32(mods[1], 0) >= U32(mods[0], 4));

        var mem = Only(tags, 4);
        Assert.Equal(639u, U32(mem, 0));
        Assert.Equal((64u << 10) - 1024, U32(mem, 4));

        var mmap = Only(tags, 6);
        Assert.Equal(24u, U32(mmap, 0));
        Assert.Equal(0u, U32(mmap, 4));
        var map = PcMemoryLayout.Build(_ram);
        Assert.Equal(8 + 24 * map.Count, mmap.Length);
        for (int i = 0; i < map.Count; i++)
        {
            int o = 8 + 24 * i;
            Assert.Equal(map[i], new MemoryMapEntry(U64(mmap, o), U64(mmap, o + 8), (MemoryType)U32(mmap, o + 16)));
            Assert.Equal(0u, U32(mmap, o + 20));
        }
        Assert.Equal(map, r.MemoryMap);

        // EGA text: 0xB8000, pitch 160, 80x25, 16 bpp, type 2; GRUB's 32-byte tag.
        var fb = Only(tags, 8);
        Assert.Equal(24, fb.Length);
        Assert.Equal(0xB8000UL, U64(fb, 0));
        Assert.Equal([160u, 80u, 25u], new[] { U32(fb, 8), U32(fb, 12), U32(fb, 16) });
        Assert.Equal(16, fb[20]);
        Assert.Equal(2, fb[21]);
    }

    [Fact]
    public void NoVgaConsole_NoFramebufferTag()
    {
        var r = Load(new BootRequest { KernelPath = Kernel([]), VgaConsole = false });
        Assert.DoesNotContain(Tags(r), t => t.Type == 8);
    }

    [Fact]
    public void AcpiRsdp_Version1_OldTag_Version2_NewTag()
    {
        var v1 = new byte[20];
        "RSD PTR "u8.CopyTo(v1);
        "MYKVM "u8.CopyTo(v1.AsSpan(9));
        BinaryPrimitives.WriteUInt32LittleEndian(v1.AsSpan(16), 0xE0000);
        var r = Load(new BootRequest { KernelPath = Kernel([]), AcpiRsdp = v1 });
        var tags = Tags(r);
        Assert.Equal(v1, Only(tags, 14));
        Assert.DoesNotContain(tags, t => t.Type == 15);

        var v2 = new byte[40];   // longer than its length field: only length bytes are copied
        v1.CopyTo(v2, 0);
        v2[15] = 2;
        BinaryPrimitives.WriteUInt32LittleEndian(v2.AsSpan(20), 36);
        BinaryPrimitives.WriteUInt64LittleEndian(v2.AsSpan(24), 0xE0100);
        using var ram = new GuestRam(64UL << 20);
        var tags2 = Tags(Load(new BootRequest { KernelPath = Kernel([]), AcpiRsdp = v2 }, ram), ram);
        Assert.Equal(v2[..36], Only(tags2, 15));
        Assert.DoesNotContain(tags2, t => t.Type == 14);
    }

    [Fact]
    public void AcpiRsdp_Malformed_IsRejected()
    {
        Assert.Contains("no \"RSD PTR \" signature", Fails(new BootRequest { KernelPath = Kernel([]), AcpiRsdp = new byte[20] }).Message);
        var v2 = new byte[20];
        "RSD PTR "u8.CopyTo(v2);
        v2[15] = 2;
        Assert.Contains("at least 36 needed", Fails(new BootRequest { KernelPath = Kernel([]), AcpiRsdp = v2 }).Message);
    }

    [Fact]
    public void InformationRequest_UndefinedRequiredType_IsRefused_DefinedButAbsent_IsFine()
    {
        string k = Kernel([Tag(1, 0, 1, 22)]);
        Assert.Equal($"{k}: Multiboot 2 header requires boot information tag type 22, which the specification does not define (0-21)",
            Fails(new BootRequest { KernelPath = k }).Message);
        // Optional: fine.
        Load(new BootRequest { KernelPath = Kernel([Tag(1, 1, 1, 22)], "opt.elf") });
        // VBE (7), APM (10), EFI64 (12), SMBIOS (13): defined, nothing to give, simply absent (as GRUB).
        var r = Load(new BootRequest { KernelPath = Kernel([Tag(1, 0, 7, 10, 12, 13)], "absent.elf") });
        Assert.DoesNotContain(Tags(r), t => t.Type is 7 or 10 or 12 or 13);
    }

    [Fact]
    public void ConsoleFlags_RequiredWithoutEgaText_IsRefused()
    {
        string k = Kernel([Tag(4, 0, 1)]);
        Assert.Equal($"{k}: Multiboot 2 console flags require a console but rule out EGA text", Fails(new BootRequest { KernelPath = k }).Message);
        string fb = Kernel([Tag(4, 0, 1), Tag(5, 0, 1024, 768, 32)], "fb.elf");
        Assert.EndsWith("rule out EGA text; mykvm sets no graphics framebuffer modes", Fails(new BootRequest { KernelPath = fb }).Message);
        string ega = Kernel([Tag(4, 0, 3)], "ega.elf");
        Assert.Contains("no VGA text console", Fails(new BootRequest { KernelPath = ega, VgaConsole = false }).Message);
        Assert.Contains(Tags(Load(new BootRequest { KernelPath = ega })), t => t.Type == 8);
    }

    [Fact]
    public void FramebufferTag_IsAnsweredWithEgaText()
    {
        var r = Load(new BootRequest { KernelPath = Kernel([Tag(5, 0, 1024, 768, 32)]) });
        Assert.Equal(2, Only(Tags(r), 8)[21]);
    }

    [Fact]
    public void EfiTags_AreIgnored()
    {
        // Boot services (7), EFI i386 (8) and amd64 (9) entries, all required: a BIOS-style loader enters at e_entry.
        var r = Load(new BootRequest { KernelPath = Kernel([Tag(7, 0), Tag(8, 0, 0x100180), Tag(9, 0, 0x100190)]) });
        Assert.Equal(0x100100UL, r.InitialState.Rip);
        Assert.DoesNotContain(Tags(r), t => t.Type is 11 or 12 or 17 or 18 or 19 or 20);
    }

    [Fact]
    public void EntryAddressTag_OverridesElfEntry()
    {
        var r = Load(new BootRequest { KernelPath = Kernel([Tag(3, 0, 0x100104)]) });
        Assert.Equal(0x100104UL, r.InitialState.Rip);
        string outside = Kernel([Tag(3, 0, 0x200000)], "out.elf");
        Assert.Contains("entry point 0x200000 is outside the loaded image", Fails(new BootRequest { KernelPath = outside }).Message);
    }

    [Fact]
    public void UnknownTags_RequiredRefused_OptionalIgnored()
    {
        string k = Kernel([Tag(0x42, 0, 1)]);
        Assert.Contains("required tag type 66 is not one mykvm knows", Fails(new BootRequest { KernelPath = k }).Message);
        Load(new BootRequest { KernelPath = Kernel([Tag(0x42, 1, 1)], "opt.elf") });
    }

    [Fact]
    public void AddressTag_LoadsLikeTheAoutKludge()
    {
        // A flat binary: header at file offset 0x40, linked so that the file starts at 0x200000; 0x1000 bytes of bss.
        const uint baseAddr = 0x200000;
        var head = new byte[0x40];
        var header = TestImages.Multiboot2Header([Tag(2, 0, baseAddr + 0x40, baseAddr, 0, baseAddr + 0x2000), Tag(3, 0, baseAddr + 0x100)]);
        var file = TestImages.Concat(head, header, new byte[0x100 - 0x40 - header.Length], TestImages.Code(0x200));
        string k = _dir.Write("flat.bin", file);
        _ram.Fill(baseAddr, 0x3000, 0xCC);
        var r = Load(new BootRequest { KernelPath = k });
        Assert.Equal(baseAddr + 0x100UL, r.InitialState.Rip);
        Assert.Equal(file, _ram.GetSpan(baseAddr, file.Length).ToArray());
        Assert.Equal(0, _ram.Read8(baseAddr + 0x1FFF));   // bss
        Assert.Equal(0xCC, _ram.Read8(baseAddr + 0x2000));
        Assert.Null(r.SymbolFile);
        var tags = Tags(r);
        Assert.DoesNotContain(tags, t => t.Type == 9);
        Assert.Equal(baseAddr, U32(Only(tags, 21), 0));

        // load_addr -1: the file from its start.
        var header2 = TestImages.Multiboot2Header([Tag(2, 0, baseAddr + 0x40, 0xFFFFFFFF, 0, 0), Tag(3, 0, baseAddr + 0x100)]);
        var file2 = TestImages.Concat(head, header2, new byte[0x100 - 0x40 - header2.Length], TestImages.Code(0x200));
        using var ram = new GuestRam(64UL << 20);
        Load(new BootRequest { KernelPath = _dir.Write("flat2.bin", file2) }, ram);
        Assert.Equal(file2, ram.GetSpan(baseAddr, file2.Length).ToArray());

        // An address tag needs an entry address tag.
        var header3 = TestImages.Multiboot2Header([Tag(2, 0, baseAddr + 0x40, baseAddr, 0, 0)]);
        string k3 = _dir.Write("noentry.bin", TestImages.Concat(head, header3, new byte[0x100]));
        Assert.Contains("address tag without an entry address tag", Fails(new BootRequest { KernelPath = k3 }).Message);
    }

    [Fact]
    public void RelocatableTag_MovesImageAndEntry()
    {
        // Linked at 1 MiB; may go to [16 MiB, 32 MiB], 2 MiB aligned, lowest first.
        var r = Load(new BootRequest { KernelPath = Kernel([Tag(10, 0, 0x1000000, 0x2000000, 0x200000, 1)]) });
        Assert.Equal(0x1000100UL, r.InitialState.Rip);
        Assert.Equal(0xE85250D6u, _ram.Read32(0x1000000));
        Assert.Equal(0x1000000u, U32(Only(Tags(r), 21), 0));
        Assert.Contains("(relocatable)", r.Summary);

        // Preference high: the highest 2 MiB boundary where the 0x3200-byte image ends below 32 MiB.
        using var ram = new GuestRam(64UL << 20);
        var high = Load(new BootRequest { KernelPath = Kernel([Tag(10, 0, 0x1000000, 0x2000000, 0x200000, 2)], "high.elf") }, ram);
        Assert.Equal(0x1E00100UL, high.InitialState.Rip);

        // A range that cannot hold the image.
        string tight = Kernel([Tag(10, 0, 0x1000000, 0x1001000, 0x1000, 0)], "tight.elf");
        Assert.Contains("cannot hold the 0x3200-byte image", Fails(new BootRequest { KernelPath = tight }).Message);
    }

    [Fact]
    public void Elf64_WithMultiboot2Header_Loads()
    {
        var header = TestImages.Multiboot2Header([]);
        var text = TestImages.Concat(header, new byte[0x100 - header.Length], TestImages.Code(0x100));
        string k = _dir.Write("k64.elf", TestImages.Elf(true, 0x100100, [new TestSegment(0x100000, 0x100000, text, 0x1000)]));
        var r = Load(new BootRequest { KernelPath = k });
        Assert.Equal(BootProtocol.Multiboot2, r.Protocol);
        Assert.Equal(0x100100UL, r.InitialState.Rip);
        Assert.Contains("ELF64", r.Summary);
    }

    // ---- the header itself ----

    private string WithHeaderAt(int offset, byte[] header, string name)
    {
        // A raw file with the header somewhere: ELF would make Auto pick plain ELF without it.
        var file = new byte[Math.Max(offset + header.Length, 0x9000)];
        header.CopyTo(file, offset);
        return _dir.Write(name, file);
    }

    [Fact]
    public void HeaderSearch_32KiB_8Aligned()
    {
        var header = TestImages.Multiboot2Header([Tag(2, 0, 0x100000 + 0x7FF0, 0xFFFFFFFF, 0, 0), Tag(3, 0, 0x100000)]);
        // At 0x7FF0 (within 32 KiB, 8-aligned) it is found; Multiboot 1 would only have looked at 8 KiB.
        var r = Load(new BootRequest { KernelPath = WithHeaderAt(0x7FF0, header, "far.bin") });
        Assert.Equal(BootProtocol.Multiboot2, r.Protocol);
        Assert.Contains("file offset 0x7ff0", r.Summary);
        // At 0x8000 it is not.
        var header2 = TestImages.Multiboot2Header([Tag(2, 0, 0x100000 + 0x8000, 0xFFFFFFFF, 0, 0), Tag(3, 0, 0x100000)]);
        Assert.Contains("not a kernel mykvm can boot", Fails(new BootRequest { KernelPath = WithHeaderAt(0x8000, header2, "toofar.bin") }).Message);
        // 4-aligned but not 8-aligned: not a header.
        var header3 = TestImages.Multiboot2Header([Tag(2, 0, 0x100000 + 0x104, 0xFFFFFFFF, 0, 0), Tag(3, 0, 0x100000)]);
        Assert.Contains("not a kernel mykvm can boot", Fails(new BootRequest { KernelPath = WithHeaderAt(0x104, header3, "odd.bin") }).Message);
        // --boot multiboot2 on a file without one.
        string none = _dir.Write("none.bin", new byte[0x100]);
        Assert.Equal($"{none}: no Multiboot 2 header in the first 32 KiB", Fails(new BootRequest { KernelPath = none, Protocol = BootProtocol.Multiboot2 }).Message);
    }

    [Fact]
    public void BadChecksum_IsRejected()
    {
        var header = TestImages.Multiboot2Header([], checksum: 0x12345678);
        string k = WithHeaderAt(0x100, header, "sum.bin");
        Assert.Equal($"{k}: Multiboot 2 header checksum wrong at 0x100 (checksum 0x12345678, expected 0x17adaf12)", Fails(new BootRequest { KernelPath = k }).Message);
    }

    [Fact]
    public void MipsArchitecture_IsRejected()
    {
        string k = WithHeaderAt(0, TestImages.Multiboot2Header([], architecture: 4), "mips.bin");
        Assert.Equal($"{k}: Multiboot 2 header at 0x0 is for architecture 4 (32-bit MIPS), not i386 (0)", Fails(new BootRequest { KernelPath = k }).Message);
    }

    [Theory]
    [InlineData("short", "header_length 16 is too short")]
    [InlineData("pastEof", "runs past the end of the file")]
    [InlineData("noEnd", "no end tag within header_length")]
    [InlineData("tinyTag", "size 4 is smaller than the 8-byte tag header")]
    [InlineData("tagPastHeader", "runs past header_length")]
    [InlineData("entrySize", "tag 3 at +0x10: size 16, the specification says 12")]
    [InlineData("requestSize", "an information request must be a list of u32 types")]
    [InlineData("endSize", "the end tag must be 8 bytes, not 16")]
    public void MalformedHeader_IsRejected(string kind, string expected)
    {
        byte[] h = kind switch
        {
            "short" => TestImages.Multiboot2Header([], endTag: false, headerLength: 16),
            "pastEof" => TestImages.Multiboot2Header([], headerLength: 0x10000),
            "noEnd" => TestImages.Multiboot2Header([Tag(6, 0)], endTag: false),
            "tinyTag" => Patch(TestImages.Multiboot2Header([Tag(6, 0)]), 20, 4),
            "tagPastHeader" => Patch(TestImages.Multiboot2Header([Tag(6, 0)]), 20, 0x100),
            "entrySize" => TestImages.Multiboot2Header([Tag(3, 0, 0x100000, 0)]),
            "requestSize" => TestImages.Multiboot2Header([(1, 0, new byte[6])]),
            "endSize" => TestImages.Multiboot2Header([(0, 0, new byte[8])], endTag: false),
            _ => throw new ArgumentException(kind),
        };
        string k = _dir.Write(kind + ".bin", h.Length >= 0x10000 ? h : TestImages.Concat(h, new byte[0x100]));
        if (kind == "pastEof") k = _dir.Write(kind + ".bin", h);
        var e = Fails(new BootRequest { KernelPath = k });
        Assert.StartsWith($"{k}: Multiboot 2 header at 0x0", e.Message);
        Assert.Contains(expected, e.Message);
    }

    private static byte[] Patch(byte[] b, int offset, uint value)
    {
        TestImages.W32(b, offset, value);
        return b;
    }

    // ---- Auto ----

    [Fact]
    public void Auto_BothHeaders_PrefersMultiboot2_ForcedMultiboot1_TakesTheOld()
    {
        var mb2 = TestImages.Multiboot2Header([]);
        var mb1 = TestImages.MultibootHeader(3);
        var text = TestImages.Concat(mb2, mb1, new byte[0x100 - mb2.Length - mb1.Length], TestImages.Code(0x100));
        string k = _dir.Write("both.elf", TestImages.Elf(false, 0x100100, [new TestSegment(0x100000, 0x100000, text, 0x1000)]));
        var r = Load(new BootRequest { KernelPath = k });
        Assert.Equal(BootProtocol.Multiboot2, r.Protocol);
        Assert.Contains("(a Multiboot 1 header too; --boot multiboot takes that)", r.Summary);
        Assert.Equal(0x36D76289UL, r.InitialState.Rax);
        using var ram = new GuestRam(64UL << 20);
        var r1 = Load(new BootRequest { KernelPath = k, Protocol = BootProtocol.Multiboot }, ram);
        Assert.Equal(BootProtocol.Multiboot, r1.Protocol);
        Assert.Equal(0x2BADB002UL, r1.InitialState.Rax);
    }

    [Fact]
    public void Auto_HighElfWithMultiboot2Header_IsNotStos()
    {
        var header = TestImages.Multiboot2Header([]);
        var text = TestImages.Concat(header, new byte[0x100 - header.Length], TestImages.Code(0x100));
        string k = _dir.Write("high.elf", TestImages.Elf(false, 0xC0100100, [new TestSegment(0xC0100000, 0x100000, text, 0x1000)]));
        var r = Load(new BootRequest { KernelPath = k });
        Assert.Equal(BootProtocol.Multiboot2, r.Protocol);
        Assert.Equal(0x100100UL, r.InitialState.Rip);   // e_entry through its segment's p_paddr
    }

    // ---- the mb2info guest ----

    [GrubFileFact]
    public void Mb2info_IsAMultiboot2ImageForGrub()
    {
        string k = Guests.Get("mb2info.elf");
        Assert.Equal(0, GrubFile("--is-x86-multiboot2", k));
        Assert.Equal(1, GrubFile("--is-x86-multiboot", k));   // no Multiboot 1 header
        Assert.Equal(0, GrubFile("--is-x86-multiboot", Guests.Get("mbinfo.elf")));
        Assert.Equal(1, GrubFile("--is-x86-multiboot2", Guests.Get("mbinfo.elf")));
    }

    /// <summary>Where the header may be and what makes it one (magic, checksum, 8-byte alignment, first 32 KiB): as GRUB sees it.</summary>
    [GrubFileTheory]
    [InlineData("valid", 0, false)]
    [InlineData("bad-checksum", 0, true)]
    [InlineData("at-0x7ff0", 0x7FF0, false)]
    [InlineData("at-0x8000", 0x8000, false)]
    [InlineData("at-0x104", 0x104, false)]
    [InlineData("at-0x1004", 0x1004, false)]
    public void HeaderSearch_AgreesWithGrubFile(string name, int offset, bool badChecksum)
    {
        var header = TestImages.Multiboot2Header([Tag(2, 0, 0x100000u + (uint)offset, 0xFFFFFFFF, 0, 0), Tag(3, 0, 0x100000)],
            checksum: badChecksum ? 1u : null);
        string k = WithHeaderAt(offset, header, name + ".bin");
        bool grub = GrubFile("--is-x86-multiboot2", k) == 0;
        bool ours;
        try
        {
            ours = Load(new BootRequest { KernelPath = k, Protocol = BootProtocol.Multiboot2 }).Protocol == BootProtocol.Multiboot2;
        }
        catch (BootException)
        {
            ours = false;
        }
        Assert.Equal(grub, ours);
    }

    private static int GrubFile(string option, string path)
    {
        using var p = System.Diagnostics.Process.Start("/usr/bin/grub-file", [option, path])!;
        p.WaitForExit();
        return p.ExitCode;
    }
}

/// <summary>A fact that runs Debian's grub-file (package grub-common), skipped with that reason where it is missing.</summary>
public sealed class GrubFileFactAttribute : FactAttribute
{
    public GrubFileFactAttribute()
    {
        if (!File.Exists("/usr/bin/grub-file")) Skip = "needs grub-file: apt-get install grub-common";
    }
}

/// <summary>As <see cref="GrubFileFactAttribute"/>, for theories.</summary>
public sealed class GrubFileTheoryAttribute : TheoryAttribute
{
    public GrubFileTheoryAttribute()
    {
        if (!File.Exists("/usr/bin/grub-file")) Skip = "needs grub-file: apt-get install grub-common";
    }
}
