using System.Buffers.Binary;
using MyKvm.Boot.Images;
using MyKvm.Boot.Protocols;
using MyKvm.Boot.Tests.Support;
using MyKvm.Core;

namespace MyKvm.Boot.Tests;

/// <summary>The Linux boot protocol, tested with the real memtest86+ 6.10 images (Debian package memtest86+).</summary>
public sealed class LinuxLoaderTests : IDisposable
{
    private const string MemtestIa32 = "/boot/memtest86+ia32.bin";
    private const string MemtestX64 = "/boot/memtest86+x64.bin";
    private readonly TempDir _dir = new();
    private readonly GuestRam _ram = new(64UL << 20);

    public void Dispose()
    {
        _ram.Dispose();
        _dir.Dispose();
    }

    [Fact]
    public void MemtestIa32_SetupHeader()
    {
        var image = BzImage.Parse(MemtestIa32, File.ReadAllBytes(MemtestIa32));
        Assert.Equal(2, image.SetupSects);
        Assert.Equal(0x020C, image.Version);
        Assert.Equal("2.12", image.VersionText);
        Assert.Equal(BzImage.LoadedHigh, image.LoadFlags & BzImage.LoadedHigh);
        Assert.False(image.Relocatable);   // memtest86+ runs where it is linked
        Assert.Equal(0x1000u, image.KernelAlignment);
        Assert.Equal(0x100000UL, image.PrefAddress);
        Assert.Equal(0x687F8u, image.InitSize);
        Assert.Equal(255u, image.CmdlineSize);
        Assert.Equal(0xFFFFFFFFu, image.InitrdAddrMax);
        Assert.Equal(0x217Eu, image.SysSize);
        Assert.Equal(0, image.XLoadFlags & BzImage.XlfKernel64);
        Assert.Equal(0x600, image.SetupSize);
        Assert.Equal(0x268, image.SetupHeaderEnd);   // 0x202 + the jump's 0x66
    }

    [Fact]
    public void MemtestX64_SetupHeader()
    {
        var image = BzImage.Parse(MemtestX64, File.ReadAllBytes(MemtestX64));
        Assert.Equal(0x020C, image.Version);
        Assert.Equal(BzImage.XlfKernel64, image.XLoadFlags & BzImage.XlfKernel64);
        Assert.Equal(0x100000UL, image.PrefAddress);
        Assert.Equal(0x6ACF8u, image.InitSize);
    }

    [Fact]
    public void MemtestIa32_ZeroPageAndEntryState()
    {
        byte[] file = File.ReadAllBytes(MemtestIa32);
        string initrd = _dir.Write("initrd.img", new byte[10000]);
        var r = KernelLoader.Load(_ram, new BootRequest { KernelPath = MemtestIa32, CommandLine = "console=ttyS0,115200", InitrdPath = initrd });
        Assert.Equal(BootProtocol.Linux, r.Protocol);
        Assert.Contains("bzImage", r.Summary);
        Assert.Null(r.SymbolFile);

        var s = r.InitialState;
        ulong zp = s.Rsi;
        Assert.Equal(0UL, zp & 0xFFF);
        Assert.InRange(zp, PcMemoryLayout.LowBootDataBase, PcMemoryLayout.ConventionalEnd - 4096);
        // boot.rst "32-bit Boot Protocol": flat segments __BOOT_CS 0x10 / __BOOT_DS 0x18, paging off, IF=0.
        Assert.Equal(0x100000UL, s.Rip);
        Assert.Equal(0x10, s.Cs.Selector);
        Assert.Equal(0x18, s.Ds.Selector);
        Assert.Equal(0x18, s.Es.Selector);
        Assert.Equal(0x18, s.Ss.Selector);
        Assert.Equal(0x00CF9B000000FFFFUL, _ram.Read64(s.GdtBase + 0x10));
        Assert.Equal(0x00CF93000000FFFFUL, _ram.Read64(s.GdtBase + 0x18));
        Assert.False(s.PagingEnabled);
        Assert.False(s.InterruptsEnabled);
        Assert.Equal(0UL, s.Rbp | s.Rdi | s.Rbx);

        // The protected-mode kernel at 0x100000.
        Assert.Equal(file.AsSpan(0x600, 0x1000).ToArray(), _ram.GetSpan(0x100000, 0x1000).ToArray());

        // The setup header copy, patched.
        Assert.Equal(2, _ram.Read8(zp + 0x1F1));
        Assert.Equal(0x53726448u, _ram.Read32(zp + 0x202));
        Assert.Equal(0xFFFF, _ram.Read16(zp + 0x1FA));                   // vid_mode: normal
        Assert.Equal(0xFF, _ram.Read8(zp + 0x210));                      // type_of_loader
        Assert.Equal(BzImage.LoadedHigh | BzImage.CanUseHeap, _ram.Read8(zp + 0x211) & (BzImage.LoadedHigh | BzImage.CanUseHeap));
        Assert.Equal(0xFE00 - 0x200, _ram.Read16(zp + 0x224));           // heap_end_ptr
        Assert.Equal(0x100000u, _ram.Read32(zp + 0x214));                // code32_start
        Assert.Equal("console=ttyS0,115200", _ram.ReadCString(_ram.Read32(zp + 0x228)));
        Assert.Equal(file[0x230..0x268], _ram.GetSpan(zp + 0x230, 0x38).ToArray());   // the rest copied as is

        // The initrd, page-aligned at the top of RAM.
        uint rdImage = _ram.Read32(zp + 0x218), rdSize = _ram.Read32(zp + 0x21C);
        Assert.Equal(10000u, rdSize);
        Assert.Equal((64u << 20) - 0x3000, rdImage);

        // E820 from the one memory map.
        var map = PcMemoryLayout.Build(_ram);
        Assert.Equal(map, r.MemoryMap);
        Assert.Equal(map.Count, _ram.Read8(zp + 0x1E8));
        for (int i = 0; i < map.Count; i++)
        {
            ulong e = zp + 0x2D0 + (ulong)(20 * i);
            Assert.Equal(map[i], new MemoryMapEntry(_ram.Read64(e), _ram.Read64(e + 8), (MemoryType)_ram.Read32(e + 16)));
        }
        Assert.Equal((64u << 10) - 1024, _ram.Read32(zp + 0x1E0));    // alt_mem_k

        // screen_info: 80x25 VGA text.
        Assert.Equal(3, _ram.Read8(zp + 0x06));
        Assert.Equal(80, _ram.Read8(zp + 0x07));
        Assert.Equal(25, _ram.Read8(zp + 0x0E));
        Assert.Equal(1, _ram.Read8(zp + 0x0F));
        Assert.Equal(16, _ram.Read16(zp + 0x10));
    }

    [Fact]
    public void NoVgaConsole_ScreenInfoIsZero()
    {
        var r = KernelLoader.Load(_ram, new BootRequest { KernelPath = MemtestIa32, VgaConsole = false });
        ulong zp = r.InitialState.Rsi;
        var screen = _ram.GetSpan(zp, 0x40).ToArray();
        screen[2] = screen[3] = 0;   // ext_mem_k is memory, not display
        Assert.All(screen, b => Assert.Equal(0, b));
    }

    [Fact]
    public void MemtestX64_LoadsWithThe32BitEntry()
    {
        var r = KernelLoader.Load(_ram, new BootRequest { KernelPath = MemtestX64 });
        Assert.Equal(0x100000UL, r.InitialState.Rip);
        Assert.Equal(0x10, r.InitialState.Cs.Selector);
    }

    [Fact]
    public void ZeroPage_BuiltInABuffer_MatchesTheLoader()
    {
        var image = BzImage.Parse(MemtestIa32, File.ReadAllBytes(MemtestIa32));
        var zp = LinuxBootParams.Build(new LinuxBootParams.Inputs(image, 0x100000, 0xA000, 0, 0, PcMemoryLayout.Build(_ram), true));
        Assert.Equal(4096, zp.Length);
        Assert.Equal(0xA000u, BinaryPrimitives.ReadUInt32LittleEndian(zp.AsSpan(0x228)));
        Assert.Equal(0, zp[0x1EF]);   // sentinel: the loader zeroed boot_params
        Assert.All(zp[0x268..0x290], b => Assert.Equal(0, b));   // nothing past the header the image declares
    }

    [Fact]
    public void RelocatableKernel_GoesToPrefAddress()
    {
        byte[] file = File.ReadAllBytes(MemtestIa32);
        BinaryPrimitives.WriteUInt64LittleEndian(file.AsSpan(0x258), 0x2000000);
        file[0x234] = 1;
        var r = KernelLoader.Load(_ram, new BootRequest { KernelPath = _dir.Write("pref.bin", file) });
        Assert.Equal(0x2000000UL, r.InitialState.Rip);
        Assert.Equal(0x2000000u, _ram.Read32(r.InitialState.Rsi + 0x214));
        Assert.Equal(file.AsSpan(0x600, 0x100).ToArray(), _ram.GetSpan(0x2000000, 0x100).ToArray());
    }

    [Fact]
    public void PrefAddressTooHigh_RelocatableKernelMovesDown()
    {
        byte[] file = File.ReadAllBytes(MemtestIa32);
        BinaryPrimitives.WriteUInt64LittleEndian(file.AsSpan(0x258), 0x4000000);   // pref_address 64 MiB: past the end of RAM
        file[0x234] = 1;   // relocatable_kernel
        var r = KernelLoader.Load(_ram, new BootRequest { KernelPath = _dir.Write("reloc.bin", file) });
        Assert.Equal(0x100000UL, r.InitialState.Rip);
    }

    // ---- bad input ----

    private BootException Fails(BootRequest request, GuestRam? ram = null)
    {
        var e = Assert.Throws<BootException>(() => KernelLoader.Load(ram ?? _ram, request));
        Assert.DoesNotContain('\n', e.Message);
        return e;
    }

    private string Patched(string name, Action<byte[]> patch)
    {
        byte[] file = File.ReadAllBytes(MemtestIa32);
        patch(file);
        return _dir.Write(name, file);
    }

    [Fact]
    public void NotABzImage_IsRejected()
    {
        string k = Patched("nohdrs.bin", f => f[0x202] = (byte)'X');
        Assert.Equal($"{k}: not a bzImage (no \"HdrS\" signature at 0x202)", Fails(new BootRequest { KernelPath = k, Protocol = BootProtocol.Linux }).Message);
    }

    [Fact]
    public void TruncatedSetup_IsRejected()
    {
        string k = _dir.Write("short.bin", File.ReadAllBytes(MemtestIa32)[..0x300]);
        var e = Fails(new BootRequest { KernelPath = k });
        Assert.StartsWith(k + ": truncated setup", e.Message);
    }

    [Fact]
    public void TruncatedKernel_IsRejected()
    {
        string k = _dir.Write("cut.bin", File.ReadAllBytes(MemtestIa32)[..0x10000]);
        Assert.Contains("truncated: syssize says", Fails(new BootRequest { KernelPath = k }).Message);
    }

    [Fact]
    public void OldProtocol_IsRejected()
    {
        string k = Patched("old.bin", f => BinaryPrimitives.WriteUInt16LittleEndian(f.AsSpan(0x206), 0x0204));
        Assert.Equal($"{k}: Linux boot protocol 2.04 is too old (mykvm needs 2.06 or later)", Fails(new BootRequest { KernelPath = k }).Message);
    }

    [Fact]
    public void ZImage_IsRejected()
    {
        string k = Patched("zimage.bin", f => f[0x211] &= 0xFE);
        Assert.Contains("zImage", Fails(new BootRequest { KernelPath = k }).Message);
    }

    [Fact]
    public void CommandLineLongerThanCmdlineSize_IsRejected()
    {
        var e = Fails(new BootRequest { KernelPath = MemtestIa32, CommandLine = new string('a', 256) });
        Assert.Equal($"{MemtestIa32}: command line is 256 bytes, longer than the kernel's cmdline_size (255)", e.Message);
        KernelLoader.Load(_ram, new BootRequest { KernelPath = MemtestIa32, CommandLine = new string('a', 255) });
    }

    [Fact]
    public void InitrdTooLarge_IsRejected()
    {
        using var small = new GuestRam(4UL << 20);
        string initrd = _dir.Write("big.img", new byte[3 << 20]);
        var e = Fails(new BootRequest { KernelPath = MemtestIa32, InitrdPath = initrd }, small);
        Assert.StartsWith($"{initrd}: initrd ({3 << 20} bytes) too large for guest memory", e.Message);
        // What does fit goes just below the end of RAM.
        string fits = _dir.Write("fits.img", new byte[2 << 20]);
        var r = KernelLoader.Load(small, new BootRequest { KernelPath = MemtestIa32, InitrdPath = fits });
        Assert.Equal(2u << 20, small.Read32(r.InitialState.Rsi + 0x218));
    }

    [Fact]
    public void InitrdAddrMax_IsRespected()
    {
        string k = Patched("rdmax.bin", f => BinaryPrimitives.WriteUInt32LittleEndian(f.AsSpan(0x22C), 0x1FFFFFF));   // 32 MiB - 1
        string initrd = _dir.Write("rd.img", new byte[0x1000]);
        var r = KernelLoader.Load(_ram, new BootRequest { KernelPath = k, InitrdPath = initrd });
        Assert.Equal(0x1FFF000u, _ram.Read32(r.InitialState.Rsi + 0x218));
    }

    [Fact]
    public void InitSizeLargerThanRam_IsRejected()
    {
        string k = Patched("huge.bin", f =>
        {
            BinaryPrimitives.WriteUInt32LittleEndian(f.AsSpan(0x260), 0x10000000);
            f[0x234] = 1;   // relocatable
        });
        Assert.Contains("kernel needs 0x10000000 bytes (init_size)", Fails(new BootRequest { KernelPath = k }).Message);
        string fixedAddress = Patched("huge2.bin", f =>
        {
            BinaryPrimitives.WriteUInt32LittleEndian(f.AsSpan(0x260), 0x10000000);
            f[0x234] = 0;   // not relocatable, as memtest86+ is
        });
        Assert.Contains("kernel needs [0x100000, 0x10100000)", Fails(new BootRequest { KernelPath = fixedAddress }).Message);
    }

    [Fact]
    public void Modules_AreRejected()
    {
        string m = _dir.Write("m.ko", "x");
        Assert.Contains("no modules", Fails(new BootRequest { KernelPath = MemtestIa32, ModulePaths = [m] }).Message);
    }
}
