using System.Text;
using MyKvm.Boot.Tests.Support;
using MyKvm.Core;

namespace MyKvm.Boot.Tests;

public sealed class MultibootLoaderTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly GuestRam _ram = new(64UL << 20);

    public void Dispose()
    {
        _ram.Dispose();
        _dir.Dispose();
    }

    /// <summary>An ELF32 Multiboot kernel: header + code at 1 MiB, 0x3000 bytes of bss after it.</summary>
    private string SimpleKernel(string name = "k.elf", uint flags = 3)
    {
        var text = TestImages.Concat(TestImages.MultibootHeader(flags), TestImages.Code(0x100));
        var elf = TestImages.Elf(false, 0x100010, [new TestSegment(0x100000, 0x100000, text, 0x3000)]);
        return _dir.Write(name, elf);
    }

    private BootResult Load(BootRequest request) => KernelLoader.Load(_ram, request);

    [Fact]
    public void ElfKernel_IsLoadedByPaddr_WithBssZeroed()
    {
        _ram.Fill(0x100000, 0x4000, 0xCC);   // stale memory: bss must be cleared
        string k = SimpleKernel();
        var r = Load(new BootRequest { KernelPath = k });
        Assert.Equal(BootProtocol.Multiboot, r.Protocol);
        Assert.Equal(0x1BADB002u, _ram.Read32(0x100000));
        Assert.Equal(0xFAu, _ram.Read8(0x10000C));
        Assert.Equal(0u, _ram.Read8(0x100000 + 0x10C));
        Assert.Equal(0u, _ram.Read8(0x102FFF));
        Assert.Equal(0xCCu, _ram.Read8(0x103000));
        Assert.Equal(k, r.SymbolFile);
    }

    [Fact]
    public void MachineState_FollowsMultibootSection3_2()
    {
        var r = Load(new BootRequest { KernelPath = SimpleKernel() });
        var s = r.InitialState;
        Assert.Equal(0x2BADB002UL, s.Rax);
        Assert.Equal(0x100010UL, s.Rip);
        Assert.Equal(0x08, s.Cs.Selector);
        Assert.Equal(0x10, s.Ds.Selector);
        Assert.Equal(0x10, s.Ss.Selector);
        Assert.Equal(0xFFFF_FFFFu, s.Cs.Limit);
        Assert.Equal(VcpuState.Cr0PE, s.Cr0 & (VcpuState.Cr0PE | VcpuState.Cr0PG));
        Assert.False(s.InterruptsEnabled);
        Assert.Equal(0x7000UL, s.Rsp);
        // The GDT the selectors index: flat 4 GiB code at 0x08, data at 0x10.
        Assert.Equal(PcMemoryLayout.BootGdtBase, s.GdtBase);
        Assert.Equal(0x00CF9B000000FFFFUL, _ram.Read64(s.GdtBase + 0x08));
        Assert.Equal(0x00CF93000000FFFFUL, _ram.Read64(s.GdtBase + 0x10));
        Assert.True(s.GdtLimit >= 0x17);
    }

    [Fact]
    public void InfoStructure_HasMemoryCmdlineMmapAndLoaderName()
    {
        string k = SimpleKernel();
        var r = Load(new BootRequest { KernelPath = k, CommandLine = "console=ttyS0 x=1" });
        ulong info = r.InitialState.Rbx;
        Assert.InRange(info, PcMemoryLayout.LowBootDataBase, PcMemoryLayout.ConventionalEnd - 120);
        uint flags = _ram.Read32(info);
        Assert.Equal((1u << 0) | (1u << 2) | (1u << 3) | (1u << 6) | (1u << 9), flags);
        Assert.Equal(639u, _ram.Read32(info + 4));
        Assert.Equal((64u << 10) - 1024, _ram.Read32(info + 8));
        // QEMU's convention: the kernel path, a space, then the arguments.
        Assert.Equal(k + " console=ttyS0 x=1", _ram.ReadCString(_ram.Read32(info + 16)));
        Assert.Equal("mykvm", _ram.ReadCString(_ram.Read32(info + 64)));

        var map = PcMemoryLayout.Build(_ram);
        Assert.Equal(map, r.MemoryMap);
        uint mmapLength = _ram.Read32(info + 44), mmapAddr = _ram.Read32(info + 48);
        Assert.Equal((uint)(24 * map.Count), mmapLength);
        var seen = new List<MemoryMapEntry>();
        for (ulong p = mmapAddr; p < mmapAddr + mmapLength; p += _ram.Read32(p) + 4)
        {
            Assert.Equal(20u, _ram.Read32(p));
            seen.Add(new MemoryMapEntry(_ram.Read64(p + 4), _ram.Read64(p + 12), (MemoryType)_ram.Read32(p + 20)));
        }
        Assert.Equal(map, seen);
        Assert.Equal(0u, _ram.Read32(info + 20));   // mods_count
    }

    [Fact]
    public void BiosDataArea_ReportsEbdaAndBaseMemory()
    {
        Load(new BootRequest { KernelPath = SimpleKernel() });
        Assert.Equal(0x9FC0, _ram.Read16(0x40E));
        Assert.Equal(639, _ram.Read16(0x413));
    }

    [Fact]
    public void Modules_ArePageAlignedAfterTheKernel_WithTheirStrings()
    {
        string a = _dir.Write("a.bin", "module A contents");
        string b = _dir.Write("b.bin", new byte[5000]);
        string c = _dir.Write("c,d.bin", "comma");
        var r = Load(new BootRequest
        {
            KernelPath = SimpleKernel(),
            InitrdPath = $"{a} arg1 arg2,{c.Replace(",", ",,")}",
            ModulePaths = [b],
        });
        ulong info = r.InitialState.Rbx;
        Assert.Equal(3u, _ram.Read32(info + 20));
        ulong mods = _ram.Read32(info + 24);
        var expected = new[] { (a + " arg1 arg2", "module A contents"u8.ToArray()), (c, "comma"u8.ToArray()), (b, new byte[5000]) };
        ulong previousEnd = 0x103000;   // kernel end (bss included)
        for (int i = 0; i < 3; i++)
        {
            ulong e = mods + (ulong)(16 * i);
            uint start = _ram.Read32(e), end = _ram.Read32(e + 4);
            Assert.Equal(0u, start & 0xFFF);
            Assert.True(start >= previousEnd, $"module {i} at 0x{start:x} overlaps what precedes it (0x{previousEnd:x})");
            Assert.Equal(expected[i].Item2.Length, (int)(end - start));
            Assert.Equal(expected[i].Item2, _ram.GetSpan(start, (int)(end - start)).ToArray());
            Assert.Equal(expected[i].Item1, _ram.ReadCString(_ram.Read32(e + 8)));
            previousEnd = end;
        }
        Assert.Equal(0x103000u, _ram.Read32(mods));   // the first right after the kernel, as QEMU does
    }

    [Fact]
    public void AoutKludge_LoadsTheFileAtLoadAddr_AndClearsBss()
    {
        // header at file offset 0 = 0x200000; code follows; 0x2000 of bss after the file.
        var code = TestImages.Code(0x40);
        int fileLength = 32 + code.Length;
        var header = TestImages.MultibootHeader(0x10003, (0x200000, 0x200000, 0, 0x200000u + (uint)fileLength + 0x2000, 0x200020));
        string k = _dir.Write("aout.bin", TestImages.Concat(header, code));
        _ram.Fill(0x200000, 0x3000, 0xCC);
        var r = Load(new BootRequest { KernelPath = k });
        Assert.Equal(0x200020UL, r.InitialState.Rip);
        Assert.Equal(0x1BADB002u, _ram.Read32(0x200000));
        Assert.Equal(0xFAu, _ram.Read8(0x200020));
        Assert.Equal(0u, _ram.Read8(0x200000 + (ulong)fileLength));
        Assert.Equal(0u, _ram.Read8(0x200000 + (ulong)fileLength + 0x1FFF));
        Assert.Null(r.SymbolFile);
        Assert.Contains("a.out kludge", r.Summary);
    }

    [Fact]
    public void AoutKludge_WithLoadAddrBeforeTheHeader_SkipsNothing()
    {
        // 0x40 bytes of code precede the header in the file; load_addr says where the file's first byte goes.
        var pre = TestImages.Code(0x40);
        var header = TestImages.MultibootHeader(0x10000, (0x300040, 0x300000, 0x300060, 0, 0x300000));
        string k = _dir.Write("aout2.bin", TestImages.Concat(pre, header));
        Load(new BootRequest { KernelPath = k });
        Assert.Equal(0xFAu, _ram.Read8(0x300000));
        Assert.Equal(0x1BADB002u, _ram.Read32(0x300040));
    }

    [Fact]
    public void Elf64Kernel_WithMultibootHeader_IsLoadedAndEnteredIn32BitMode()
    {
        // A 64-bit kernel linked high whose 32-bit bootstrap sits at its physical load address.
        var text = TestImages.Concat(TestImages.MultibootHeader(3), TestImages.Code(0x100));
        var elf = TestImages.Elf(true, 0xFFFF_FFFF_8010_0010, [new TestSegment(0xFFFF_FFFF_8010_0000, 0x100000, text, 0x2000)]);
        var r = Load(new BootRequest { KernelPath = _dir.Write("k64.elf", elf) });
        Assert.Equal(BootProtocol.Multiboot, r.Protocol);
        Assert.Equal(0x100010UL, r.InitialState.Rip);
        Assert.Equal(0x1BADB002u, _ram.Read32(0x100000));
        Assert.Contains("ELF64", r.Summary);
    }

    [Fact]
    public void HigherHalfElf_EntryIsTranslatedThroughItsSegment()
    {
        var text = TestImages.Concat(TestImages.MultibootHeader(3), TestImages.Code(0x100));
        var elf = TestImages.Elf(false, 0xC0100010, [new TestSegment(0xC0100000, 0x100000, text, 0x1000)]);
        // Has a Multiboot header, so Auto picks Multiboot even though it is linked high.
        var r = Load(new BootRequest { KernelPath = _dir.Write("hh.elf", elf) });
        Assert.Equal(BootProtocol.Multiboot, r.Protocol);
        Assert.Equal(0x100010UL, r.InitialState.Rip);
    }

    [Fact]
    public void Mbinfo_InfoStructureMatchesWhatItWillPrint()
    {
        string k = Guests.Get("mbinfo.elf");
        var r = Load(new BootRequest { KernelPath = k, CommandLine = "hello" });
        Assert.Equal(BootProtocol.Multiboot, r.Protocol);
        Assert.Contains("auto: Multiboot header", r.Summary);
        Assert.Equal(k + " hello", _ram.ReadCString(_ram.Read32(r.InitialState.Rbx + 16)));
    }

    // ---- bad input: one line naming the file ----

    private BootException Fails(BootRequest request)
    {
        var e = Assert.Throws<BootException>(() => Load(request));
        Assert.DoesNotContain('\n', e.Message);
        return e;
    }

    [Fact]
    public void ChecksumWrong_IsRejected()
    {
        var text = TestImages.Concat(TestImages.MultibootHeader(3, checksum: 0x12345678), TestImages.Code(0x10));
        string k = _dir.Write("badsum.elf", TestImages.Elf(false, 0x100010, [new TestSegment(0x100000, 0x100000, text, 0x1000)]));
        var e = Fails(new BootRequest { KernelPath = k });
        Assert.StartsWith(k + ":", e.Message);
        Assert.Contains("checksum", e.Message);
    }

    [Fact]
    public void HeaderBeyond8KiB_IsNotFound()
    {
        var text = TestImages.Concat(new byte[8192], TestImages.MultibootHeader(3), TestImages.Code(0x10));
        string k = _dir.Write("late.elf", TestImages.Elf(false, 0x100000, [new TestSegment(0x100000, 0x100000, text, 0x3000)]));
        var e = Fails(new BootRequest { KernelPath = k, Protocol = BootProtocol.Multiboot });
        Assert.Contains("no Multiboot header in the first 8 KiB", e.Message);
        // Auto falls back to a plain ELF.
        var r = Load(new BootRequest { KernelPath = k });
        Assert.Equal(BootProtocol.Elf, r.Protocol);
    }

    [Fact]
    public void UnknownRequiredFlag_IsRejected()
    {
        var e = Fails(new BootRequest { KernelPath = SimpleKernel(flags: 0x13) });
        Assert.Contains("flags 0x10", e.Message);
    }

    [Fact]
    public void NotElf_NoHeader_IsRejected()
    {
        string k = _dir.Write("junk.bin", Encoding.ASCII.GetBytes(new string('x', 10000)));
        var e = Fails(new BootRequest { KernelPath = k });
        Assert.Equal($"{k}: not a kernel mykvm can boot: no bzImage header, not an ELF file, and no Multiboot header (1: first 8 KiB, 2: first 32 KiB)", e.Message);
    }

    [Fact]
    public void HeaderWithoutKludge_InNonElf_IsRejected()
    {
        string k = _dir.Write("flat.bin", TestImages.Concat(TestImages.MultibootHeader(3), TestImages.Code(0x40)));
        Assert.Contains("not ELF", Fails(new BootRequest { KernelPath = k }).Message);
    }

    [Fact]
    public void TruncatedSegment_IsRejected()
    {
        string good = SimpleKernel();
        var bytes = File.ReadAllBytes(good);
        string k = _dir.Write("trunc.elf", bytes[..(bytes.Length - 0x80)]);
        var e = Fails(new BootRequest { KernelPath = k });
        Assert.Contains("ELF truncated: segment 0", e.Message);
        Assert.StartsWith(k, e.Message);
    }

    [Fact]
    public void SegmentOutsideRam_IsRejected()
    {
        var text = TestImages.Concat(TestImages.MultibootHeader(3), TestImages.Code(0x10));
        string k = _dir.Write("high.elf", TestImages.Elf(false, 0x8000010, [new TestSegment(0x8000000, 0x8000000, text, 0x1000)]));
        var e = Fails(new BootRequest { KernelPath = k });
        Assert.Contains("ELF segment 0 [0x8000000, 0x8001000) lies outside guest RAM", e.Message);
    }

    [Fact]
    public void SegmentInVgaHole_IsRejected()
    {
        var text = TestImages.Concat(TestImages.MultibootHeader(3), TestImages.Code(0x10));
        string k = _dir.Write("vga.elf", TestImages.Elf(false, 0xB8010, [new TestSegment(0xB8000, 0xB8000, text, 0x1000)]));
        Assert.Contains("overlaps the VGA/BIOS hole", Fails(new BootRequest { KernelPath = k }).Message);
    }

    [Fact]
    public void SegmentOnTheTrampolinePage_IsRejected()
    {
        var text = TestImages.Concat(TestImages.MultibootHeader(3), TestImages.Code(0x10));
        string k = _dir.Write("tramp.elf", TestImages.Elf(false, 0x8010, [new TestSegment(0x8000, 0x8000, text, 0x100)]));
        Assert.Contains("overlaps the KVM trampoline page", Fails(new BootRequest { KernelPath = k }).Message);
    }

    [Fact]
    public void EntryOutsideImage_IsRejected()
    {
        var text = TestImages.Concat(TestImages.MultibootHeader(3), TestImages.Code(0x10));
        string k = _dir.Write("entry.elf", TestImages.Elf(false, 0x500000, [new TestSegment(0x100000, 0x100000, text, 0x1000)]));
        Assert.Contains("entry point 0x500000 is outside the loaded image", Fails(new BootRequest { KernelPath = k }).Message);
    }

    [Fact]
    public void MissingModule_IsRejectedNamingIt()
    {
        string missing = Path.Combine(_dir.Path, "nope.bin");
        var e = Fails(new BootRequest { KernelPath = SimpleKernel(), ModulePaths = [missing + " some args"] });
        Assert.Equal($"{missing}: module file not found", e.Message);
    }

    [Fact]
    public void ModuleTooLargeForRam_IsRejected()
    {
        using var small = new GuestRam(4UL << 20);
        string big = _dir.Write("big.bin", new byte[3 << 20]);
        var e = Assert.Throws<BootException>(() => KernelLoader.Load(small, new BootRequest { KernelPath = SimpleKernel(), ModulePaths = [big] }));
        Assert.StartsWith(big + ": module (", e.Message);
        Assert.Contains("does not fit in guest RAM", e.Message);
    }

    [Fact]
    public void AoutKludge_Truncated_IsRejected()
    {
        var header = TestImages.MultibootHeader(0x10000, (0x200000, 0x200000, 0x210000, 0, 0x200000));
        string k = _dir.Write("aouttrunc.bin", TestImages.Concat(header, TestImages.Code(0x40)));
        Assert.Contains("truncated", Fails(new BootRequest { KernelPath = k }).Message);
    }

    [Fact]
    public void AoutKludge_LoadAddrAboveHeaderAddr_IsRejected()
    {
        var header = TestImages.MultibootHeader(0x10000, (0x200000, 0x200100, 0, 0, 0x200100));
        string k = _dir.Write("aoutbad.bin", TestImages.Concat(header, TestImages.Code(0x40)));
        Assert.Contains("load_addr 0x200100 is above header_addr 0x200000", Fails(new BootRequest { KernelPath = k }).Message);
    }

    [Fact]
    public void AoutKludge_BssEndBelowLoadEnd_IsRejected()
    {
        var header = TestImages.MultibootHeader(0x10000, (0x200000, 0x200000, 0x200040, 0x200010, 0x200000));
        string k = _dir.Write("aoutbss.bin", TestImages.Concat(header, TestImages.Code(0x40)));
        Assert.Contains("bss_end_addr", Fails(new BootRequest { KernelPath = k }).Message);
    }
}
