using MyKvm.Boot.Tests.Support;
using MyKvm.Core;

namespace MyKvm.Boot.Tests;

public sealed class StosLoaderTests : IDisposable
{
    private const uint High = 0xC000_0000;
    private readonly TempDir _dir = new();
    private readonly GuestRam _ram = new(128UL << 20);

    public void Dispose()
    {
        _ram.Dispose();
        _dir.Dispose();
    }

    private string Kernel(string name = "stos.elf", ulong bss = 0x2000)
    {
        var elf = TestImages.Elf(false, 0xC0100000, [new TestSegment(0xC0100000, 0x100000, TestImages.Code(0x300), 0x300 + bss)]);
        return _dir.Write(name, elf);
    }

    private string Ko(string name) => _dir.Write(name, TestImages.Elf(false, 0, [new TestSegment(0, 0, TestImages.Code(0x20), 0x20)], type: 1));

    private uint Phys(uint virt)
    {
        Assert.True(virt >= High, $"0x{virt:x} is not a kernel virtual address");
        return virt - High;
    }

    [Fact]
    public void BootInterface_FieldsAndBumpOrder()
    {
        string k = Kernel();
        byte[] initramfs = [.. Enumerable.Range(0, 3000).Select(i => (byte)i)];
        string ir = _dir.Write("initramfs.cpio", initramfs);
        string m1 = Ko("a.ko"), m2 = Ko("b.ko");
        var r = KernelLoader.Load(_ram, new BootRequest { KernelPath = k, InitrdPath = ir, ModulePaths = [m1, m2], CommandLine = "init.mode=tests" });
        Assert.Equal(BootProtocol.Stos, r.Protocol);

        uint bi = (uint)r.InitialState.Rax;
        uint biPhys = Phys(bi);
        Assert.Equal(0x102300u, biPhys);   // the kernel's physical end (0x100000 + 0x300 + 0x2000), 4-aligned
        uint segs = _ram.Read32(biPhys), mods = _ram.Read32(biPhys + 4), archdata = _ram.Read32(biPhys + 8);
        uint fua = _ram.Read32(biPhys + 12), cmdline = _ram.Read32(biPhys + 16), initrd = _ram.Read32(biPhys + 20);
        Assert.Equal(0u, archdata);

        // boot_interface, boot_modules, the module pointer array, the command line, the initramfs, each module, boot_segments.
        Assert.Equal(bi + 24, mods);
        Assert.Equal(2u, _ram.Read32(Phys(mods)));
        uint array = _ram.Read32(Phys(mods) + 4);
        Assert.Equal(mods + 8, array);
        Assert.Equal(array + 8, cmdline);
        Assert.Equal("init.mode=tests", _ram.ReadCString(Phys(cmdline)));
        Assert.True(initrd >= cmdline + 16 && (initrd & 0xFFF) == 0);
        Assert.Equal(initramfs, _ram.GetSpan(Phys(initrd), initramfs.Length).ToArray());
        uint mod0 = _ram.Read32(Phys(array)), mod1 = _ram.Read32(Phys(array) + 4);
        Assert.True(mod0 >= initrd + initramfs.Length && (mod0 & 0xFFF) == 0);
        Assert.True(mod1 > mod0 && (mod1 & 0xFFF) == 0);
        Assert.Equal(File.ReadAllBytes(m1), _ram.GetSpan(Phys(mod0), (int)new FileInfo(m1).Length).ToArray());
        Assert.Equal(File.ReadAllBytes(m2), _ram.GetSpan(Phys(mod1), (int)new FileInfo(m2).Length).ToArray());
        Assert.True(segs >= mod1 + new FileInfo(m2).Length);
        uint n = _ram.Read32(Phys(segs));
        Assert.Equal(segs + 4 + 20 * n, fua);

        // The segment list is the memory map handed back, [0, 4 MiB) reserved, the frame table reserved.
        var list = new List<MemoryMapEntry>();
        for (uint i = 0; i < n; i++)
        {
            ulong e = Phys(segs) + 4 + 20 * i;
            list.Add(new MemoryMapEntry(_ram.Read64(e), _ram.Read64(e + 8), (MemoryType)_ram.Read32(e + 16)));
        }
        Assert.Equal(r.MemoryMap, list);
        Assert.Equal(new MemoryMapEntry(0, 0x400000, MemoryType.Reserved), list[0]);
        // 128 MiB = 32768 frames of 16 bytes = 512 KiB at 4 MiB.
        Assert.Equal(new MemoryMapEntry(0x400000, 0x80000, MemoryType.Reserved), list[1]);
        Assert.Equal(new MemoryMapEntry(0x480000, (128UL << 20) - 0x480000, MemoryType.Usable), list[2]);
        for (int i = 1; i < list.Count; i++) Assert.True(list[i].Base >= list[i - 1].End);
    }

    [Fact]
    public void NoInitramfsNoModules_NullInitramfsAndEmptyModuleList()
    {
        var r = KernelLoader.Load(_ram, new BootRequest { KernelPath = Kernel() });
        uint bi = Phys((uint)r.InitialState.Rax);
        Assert.Equal(0u, _ram.Read32(bi + 20));
        Assert.Equal(0u, _ram.Read32(Phys(_ram.Read32(bi + 4))));
        Assert.Equal("", _ram.ReadCString(Phys(_ram.Read32(bi + 16))));
    }

    [Fact]
    public void InitialState_PagingOnStackAndRegisters()
    {
        var r = KernelLoader.Load(_ram, new BootRequest { KernelPath = Kernel() });
        var s = r.InitialState;
        Assert.Equal(0xC0100000UL, s.Rip);
        Assert.True(s.PagingEnabled);
        Assert.Equal(VcpuState.Cr0PE, s.Cr0 & VcpuState.Cr0PE);
        Assert.Equal(VcpuState.Cr4PSE, s.Cr4 & VcpuState.Cr4PSE);
        Assert.Equal(0x1000UL, s.Cr3);
        Assert.Equal(0UL, s.Rbp);
        Assert.False(s.InterruptsEnabled);
        // mov esp, 0xC03FFFFC; push bi; call e_entry
        Assert.Equal(0xC03FFFF4UL, s.Rsp);
        Assert.Equal((uint)s.Rax, _ram.Read32(0x3FFFF8));
        uint ret = _ram.Read32(0x3FFFF4);
        Assert.True(ret >= High);
        Assert.Equal(new byte[] { 0xFA, 0xF4 }, _ram.GetSpan(ret - High, 2).ToArray());   // cli; hlt
        Assert.Equal(0x08, s.Cs.Selector);
        Assert.Equal(0x10, s.Ds.Selector);
    }

    [Fact]
    public void PageDirectory_IdentityHighAndFrameTable()
    {
        _ram.Fill(0x400000, 0x1000, 0xEE);
        KernelLoader.Load(_ram, new BootRequest { KernelPath = Kernel() });
        Assert.Equal(0x83u, _ram.Read32(0x1000));                  // PDE[0]: 4 MiB at 0
        Assert.Equal(0x83u, _ram.Read32(0x1000 + 768 * 4));        // PDE[768]: 4 MiB at 0
        Assert.Equal(0x400083u, _ram.Read32(0x1000 + 1023 * 4));   // frame table (512 KiB fits one large page)
        int present = Enumerable.Range(0, 1024).Count(i => (_ram.Read32(0x1000 + (ulong)i * 4) & 1) != 0);
        Assert.Equal(3, present);
        Assert.Equal(0u, _ram.Read8(0x400000));   // zeroed
    }

    [Fact]
    public void LargeMemory_FrameTableSpansSeveralLargePages()
    {
        using var big = new GuestRam(2UL << 30);   // 524288 frames x 16 B = 8 MiB: two 4 MiB pages
        KernelLoader.Load(big, new BootRequest { KernelPath = Kernel() });
        Assert.Equal(0x400083u, big.Read32(0x1000 + 1022 * 4));
        Assert.Equal(0x800083u, big.Read32(0x1000 + 1023 * 4));
        Assert.Equal(0u, big.Read32(0x1000 + 1021 * 4));
    }

    [Fact]
    public void Ministos_IsChosenByAuto_WithAReason()
    {
        var r = KernelLoader.Load(_ram, new BootRequest { KernelPath = Guests.Get("ministos.elf") });
        Assert.Equal(BootProtocol.Stos, r.Protocol);
        Assert.Contains("auto: ELF32 linked at 0xC0000000", r.Summary);
        Assert.Equal(Guests.Get("ministos.elf"), r.SymbolFile);
    }

    // ---- bad input ----

    private BootException Fails(BootRequest request, GuestRam? ram = null)
    {
        var e = Assert.Throws<BootException>(() => KernelLoader.Load(ram ?? _ram, request));
        Assert.DoesNotContain('\n', e.Message);
        return e;
    }

    [Fact]
    public void NotElf_IsRejected()
    {
        string k = _dir.Write("x.bin", new byte[4096]);
        Assert.Equal($"{k}: not an ELF32 file (stos kernels are ELF32 linked at 0xC0000000)",
            Fails(new BootRequest { KernelPath = k, Protocol = BootProtocol.Stos }).Message);
    }

    [Fact]
    public void Elf64_IsRejected()
    {
        string k = _dir.Write("k64.elf", TestImages.Elf(true, 0xC0100000, [new TestSegment(0xC0100000, 0x100000, TestImages.Code(0x10), 0x10)]));
        Assert.Contains("ELF64 kernel; stos kernels are ELF32", Fails(new BootRequest { KernelPath = k, Protocol = BootProtocol.Stos }).Message);
    }

    [Fact]
    public void NotLinkedHigh_IsRejected()
    {
        string k = _dir.Write("low.elf", TestImages.Elf(false, 0x100000, [new TestSegment(0x100000, 0x100000, TestImages.Code(0x10), 0x10)]));
        var e = Fails(new BootRequest { KernelPath = k, Protocol = BootProtocol.Stos });
        Assert.Contains("not linked high: segment 0 is at 0x100000", e.Message);
        // Auto takes it for a plain ELF instead.
        Assert.Equal(BootProtocol.Elf, KernelLoader.Load(_ram, new BootRequest { KernelPath = k }).Protocol);
    }

    [Fact]
    public void ModuleNotElf_IsRejectedNamingTheModule()
    {
        string bad = _dir.Write("notes.txt", "not an object file");
        Assert.Equal($"{bad}: module is not an ELF file (stos modules are .ko ELF objects)",
            Fails(new BootRequest { KernelPath = Kernel(), ModulePaths = [Ko("ok.ko"), bad] }).Message);
    }

    [Fact]
    public void MissingInitramfs_IsRejected()
    {
        string missing = Path.Combine(_dir.Path, "missing.cpio");
        Assert.Equal($"{missing}: initramfs file not found", Fails(new BootRequest { KernelPath = Kernel(), InitrdPath = missing }).Message);
    }

    [Fact]
    public void BootDataPast4MiB_IsRejected()
    {
        string ir = _dir.Write("huge.cpio", new byte[3 << 20]);
        var e = Fails(new BootRequest { KernelPath = Kernel(), InitrdPath = ir });
        Assert.Contains("stos boot data overflows", e.Message);
        Assert.Contains("4 MiB mapped at entry", e.Message);
    }

    [Fact]
    public void RamTooSmall_IsRejected()
    {
        using var small = new GuestRam(4UL << 20);
        var e = Fails(new BootRequest { KernelPath = Kernel() }, small);
        Assert.Contains("stos needs at least 5 MiB of guest RAM", e.Message);
    }

    [Fact]
    public void KernelOverTheBootStack_IsRejected()
    {
        string k = _dir.Write("fat.elf", TestImages.Elf(false, 0xC0100000, [new TestSegment(0xC0100000, 0x100000, TestImages.Code(0x10), 0x2F8000)]));
        Assert.Contains("overlaps the stos boot stack", Fails(new BootRequest { KernelPath = k }).Message);
    }
}
