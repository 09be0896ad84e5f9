using System.Buffers.Binary;
using MyKvm.Boot.Images;
using MyKvm.Boot.Tests.Support;
using MyKvm.Core;

namespace MyKvm.Boot.Tests;

/// <summary>
/// The Linux 64-bit boot protocol (boot.rst, "64-bit Boot Protocol"), entry selection and initrd placement, tested
/// with Debian's x86_64 kernel where it has been fetched and with memtest86+ x64 (also XLF_KERNEL_64).
/// </summary>
public sealed class LinuxEntry64Tests : IDisposable
{
    private const string MemtestX64 = "/boot/memtest86+x64.bin";
    private const string MemtestIa32 = "/boot/memtest86+ia32.bin";
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [DebianKernelFact]
    public void Debian_SetupHeader()
    {
        string path = DebianKernel.Require();
        var image = BzImage.Parse(path, File.ReadAllBytes(path));
        Assert.True(image.Version >= 0x020F, image.VersionText);        // 6.1 speaks protocol 2.15
        Assert.True(image.HasEntry64);
        Assert.True(image.CanBeLoadedAbove4G);
        Assert.True(image.Relocatable);
        Assert.Equal(0x1000000UL, image.PrefAddress);                 // CONFIG_PHYSICAL_START 16 MiB
        Assert.Equal(0x200000u, image.KernelAlignment);               // CONFIG_PHYSICAL_ALIGN 2 MiB
        Assert.Equal(21, image.MinAlignment);
        Assert.Equal(0x7FFFFFFFu, image.InitrdAddrMax);
        Assert.Equal(2047u, image.CmdlineSize);
        Assert.InRange(image.InitSize, 0x2000000u, 0x8000000u);      // tens of MiB: the decompressed kernel and its bss
        Assert.True(image.InitSize > image.ProtectedModeKernel.Length);
        Assert.Equal(BzImage.LoadedHigh, image.LoadFlags & BzImage.LoadedHigh);
    }

    [DebianKernelFact]
    public void Debian_Entry64_State()
    {
        string path = DebianKernel.Require();
        using var ram = new GuestRam(256UL << 20);
        string initrd = _dir.Write("initrd.img", Enumerable.Range(0, 50000).Select(i => (byte)i).ToArray());
        var r = KernelLoader.Load(ram, new BootRequest
        {
            KernelPath = path, CommandLine = "console=ttyS0 earlyprintk=serial", InitrdPath = initrd, LinuxEntry = LinuxEntry.Entry64,
        });
        var s = r.InitialState;
        Assert.Contains("64-bit entry 0x1000200 (requested)", r.Summary);

        // Entered at startup_64, 0x200 past the load address (pref_address).
        Assert.Equal(0x1000200UL, s.Rip);
        byte[] file = File.ReadAllBytes(path);
        int setup = (file[0x1F1] + 1) * 512;
        Assert.Equal(file.AsSpan(setup, 0x400).ToArray(), ram.GetSpan(0x1000000, 0x400).ToArray());

        // Long mode: PE, PG, PAE, LME, LMA; interrupts off.
        Assert.Equal(VcpuState.Cr0PE | VcpuState.Cr0PG, s.Cr0 & (VcpuState.Cr0PE | VcpuState.Cr0PG));
        Assert.Equal(VcpuState.Cr4PAE, s.Cr4 & VcpuState.Cr4PAE);
        Assert.Equal(VcpuState.EferLME | VcpuState.EferLMA, s.Efer & (VcpuState.EferLME | VcpuState.EferLMA));
        Assert.False(s.InterruptsEnabled);

        // __BOOT_CS 0x10 a 64-bit code segment, __BOOT_DS 0x18, both also in the GDT in memory.
        Assert.Equal(0x10, s.Cs.Selector);
        Assert.True(s.Cs.Long);
        Assert.False(s.Cs.DefaultBig);
        Assert.All(new[] { s.Ds, s.Es, s.Ss }, seg => Assert.Equal(0x18, seg.Selector));
        ulong code = ram.Read64(s.GdtBase + 0x10), data = ram.Read64(s.GdtBase + 0x18);
        Assert.True((code >> 53 & 1) == 1 && (code >> 54 & 1) == 0, $"code descriptor 0x{code:x}: L=1, D=0");
        Assert.Equal(0x9BUL, code >> 40 & 0xFF);
        Assert.Equal(0x93UL, data >> 40 & 0xFF);
        Assert.True(s.GdtLimit >= 0x1F);

        // RSI = the zero page, with the loader's fields.
        ulong zp = s.Rsi;
        Assert.Equal(0x53726448u, ram.Read32(zp + 0x202));
        Assert.Equal(0x1000000u, ram.Read32(zp + 0x214));
        Assert.Equal("console=ttyS0 earlyprintk=serial", ram.ReadCString(ram.Read32(zp + 0x228)));
        uint rdImage = ram.Read32(zp + 0x218), rdSize = ram.Read32(zp + 0x21C);
        Assert.Equal(50000u, rdSize);
        Assert.Equal(0u, ram.Read32(zp + 0x0C0) | ram.Read32(zp + 0x0C4));
        Assert.Equal(49, ram.Read8(rdImage + 49));   // the initrd's bytes (byte i is i mod 256)

        // The identity map: everything handed over, the GDT, the stack, the KVM trampoline page, the last byte
        // below 4 GiB (the APIC and BIOS windows included).
        ulong cmdline = ram.Read32(zp + 0x228);
        foreach (ulong a in new ulong[] { 0, s.Rip, 0x1000000 + 0x3F97FFF, zp, zp + 4095, cmdline, rdImage, rdImage + rdSize - 1, s.GdtBase,
                     s.Rsp - 8, PcMemoryLayout.TrampolineBase, PcMemoryLayout.LocalApicBase, 0xFFFF_FFFF })
            Assert.Equal(a, PageWalk.Translate(ram, s.Cr3, a));

        // The tables live in usable low memory (E820 still lists it usable) and overlap nothing handed over.
        Assert.InRange(s.Cr3, PcMemoryLayout.LowBootDataBase, PcMemoryLayout.ConventionalEnd - 0x6000);
        Assert.Equal(0UL, s.Cr3 & 0xFFF);
        ulong tablesEnd = s.Cr3 + 6 * 0x1000;
        Assert.True(zp + 4096 <= s.Cr3 || zp >= tablesEnd);
        Assert.True(cmdline + 2048 <= s.Cr3 || cmdline >= tablesEnd);
        Assert.Contains(r.MemoryMap, e => e.Type == MemoryType.Usable && e.Base <= s.Cr3 && e.End >= tablesEnd);
    }

    [DebianKernelFact]
    public void Debian_AutoWithoutLongMode_Uses32BitEntry_AutoWithLongMode_Uses64()
    {
        string path = DebianKernel.Require();
        using var ram = new GuestRam(128UL << 20);
        var r32 = KernelLoader.Load(ram, new BootRequest { KernelPath = path });
        Assert.Equal(0x1000000UL, r32.InitialState.Rip);
        Assert.False(r32.InitialState.PagingEnabled);
        Assert.Contains("32-bit entry 0x1000000 (auto: the CPU cannot start in long mode)", r32.Summary);

        using var ram2 = new GuestRam(128UL << 20);
        var r64 = KernelLoader.Load(ram2, new BootRequest { KernelPath = path, LongModeAvailable = true });
        Assert.Equal(0x1000200UL, r64.InitialState.Rip);
        Assert.Contains("(auto: XLF_KERNEL_64 and a CPU that starts in long mode)", r64.Summary);
    }

    [DebianKernelFact]
    public void Debian_InitrdAboveInitrdAddrMax_GoesAbove4GiB()
    {
        // With initrd_addr_max lowered to 96 MiB - 1, a 20 MiB initrd does not fit between the kernel (16 MiB +
        // init_size, ~80 MiB) and that limit; this kernel has XLF_CAN_BE_LOADED_ABOVE_4G, so it goes to the RAM above 4 GiB.
        byte[] file = File.ReadAllBytes(DebianKernel.Require());
        BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(0x22C), 0x05FFFFFF);
        string path = _dir.Write("vmlinuz", file);
        using var ram = new GuestRam(GuestRam.LowRamLimit + (1UL << 30));
        string big = _dir.Write("big.img", []);
        using (var f = File.OpenWrite(big)) f.SetLength(20L << 20);
        var r = KernelLoader.Load(ram, new BootRequest { KernelPath = path, InitrdPath = big, LinuxEntry = LinuxEntry.Entry64 });
        ulong zp = r.InitialState.Rsi;
        ulong at = ram.Read32(zp + 0x218) | (ulong)ram.Read32(zp + 0x0C0) << 32;
        ulong size = ram.Read32(zp + 0x21C) | (ulong)ram.Read32(zp + 0x0C4) << 32;
        Assert.Equal(20UL << 20, size);
        Assert.Equal(ram.EndOfRam - size, at);   // as high as it goes, page-aligned
        // The page tables now reach past 4 GiB: 4 GiB + the 1 GiB holding the initrd.
        Assert.Contains("identity-map 5 GiB", r.Summary);
        Assert.Equal(at + size - 1, PageWalk.Translate(ram, r.InitialState.Cr3, at + size - 1));
        Assert.Equal(at, PageWalk.Translate(ram, r.InitialState.Cr3, at));
        Assert.Null(PageWalk.Translate(ram, r.InitialState.Cr3, 5UL << 30));
    }

    [Fact]
    public void MemtestX64_Entry64()
    {
        using var ram = new GuestRam(64UL << 20);
        var r = KernelLoader.Load(ram, new BootRequest { KernelPath = MemtestX64, LinuxEntry = LinuxEntry.Entry64 });
        var s = r.InitialState;
        Assert.Equal(0x100200UL, s.Rip);
        Assert.True(s.Cs.Long);
        Assert.Equal(0x10, s.Cs.Selector);
        Assert.Equal(0x18, s.Ss.Selector);
        Assert.Equal(VcpuState.EferLME | VcpuState.EferLMA, s.Efer);
        Assert.Equal(r.InitialState.Rsi, PageWalk.Translate(ram, s.Cr3, r.InitialState.Rsi));
        // 4 GiB with 2 MiB pages: PML4, PDPT and four page directories.
        Assert.Contains("identity-map 4 GiB", r.Summary);
        for (ulong g = 0; g < 4; g++)
            Assert.Equal(g << 30 | 0x1234567 & 0x3FFFFFFF, PageWalk.Translate(ram, s.Cr3, g << 30 | 0x1234567 & 0x3FFFFFFF));
        Assert.Null(PageWalk.Translate(ram, s.Cr3, GuestRam.FourGiB));
        // Each leaf is a present, writable, supervisor 2 MiB page.
        ulong pd0 = ram.Read64(ram.Read64(s.Cr3) & ~0xFFFUL) & ~0xFFFUL;
        Assert.Equal(0x200000UL | 0x83, ram.Read64(pd0 + 8));
    }

    [Fact]
    public void MemtestX64_AutoIs32BitUnlessLongModeAvailable()
    {
        using var ram = new GuestRam(64UL << 20);
        Assert.Equal(0x100000UL, KernelLoader.Load(ram, new BootRequest { KernelPath = MemtestX64 }).InitialState.Rip);
        using var ram2 = new GuestRam(64UL << 20);
        Assert.Equal(0x100200UL, KernelLoader.Load(ram2, new BootRequest { KernelPath = MemtestX64, LongModeAvailable = true }).InitialState.Rip);
        using var ram3 = new GuestRam(64UL << 20);
        var r = KernelLoader.Load(ram3, new BootRequest { KernelPath = MemtestX64, LongModeAvailable = true, LinuxEntry = LinuxEntry.Entry32 });
        Assert.Equal(0x100000UL, r.InitialState.Rip);
        Assert.Equal(0UL, r.InitialState.Efer);
    }

    [Fact]
    public void Entry64_WithoutXlfKernel64_IsRejected()
    {
        using var ram = new GuestRam(64UL << 20);
        var e = Assert.Throws<BootException>(() => KernelLoader.Load(ram, new BootRequest { KernelPath = MemtestIa32, LinuxEntry = LinuxEntry.Entry64 }));
        Assert.Equal($"{MemtestIa32}: the 64-bit entry was requested but the kernel has none (xloadflags 0x4: XLF_KERNEL_64 clear, protocol 2.12)", e.Message);
        // Auto quietly takes the 32-bit entry.
        var r = KernelLoader.Load(ram, new BootRequest { KernelPath = MemtestIa32, LongModeAvailable = true });
        Assert.Contains("32-bit entry 0x100000 (auto: no XLF_KERNEL_64)", r.Summary);
    }

    [Fact]
    public void XLoadFlags_BeforeProtocol212_AreIgnored()
    {
        // The bytes at 0x236 were reserved before 2.12: a 2.11 kernel with them set has no 64-bit entry.
        byte[] file = File.ReadAllBytes(MemtestX64);
        BinaryPrimitives.WriteUInt16LittleEndian(file.AsSpan(0x206), 0x020B);
        var image = BzImage.Parse("x", file);
        Assert.False(image.HasEntry64);
        Assert.Equal(0, image.XLoadFlags);
    }

    [Fact]
    public void InitrdAbove4GiB_NeedsXlfCanBeLoadedAbove4G()
    {
        // memtest86+ x64 lacks the flag: an initrd that fits only above 4 GiB is refused, naming why.
        using var ram = new GuestRam(GuestRam.LowRamLimit + (1UL << 30));
        byte[] file = File.ReadAllBytes(MemtestX64);
        Assert.Equal(0, BinaryPrimitives.ReadUInt16LittleEndian(file.AsSpan(0x236)) & BzImage.XlfCanBeLoadedAbove4G);
        BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(0x22C), 0x00FFFFFF);   // initrd_addr_max 16 MiB - 1
        string k = _dir.Write("rdmax.bin", file);
        string initrd = _dir.Write("rd.img", []);
        using (var f = File.OpenWrite(initrd)) f.SetLength(16L << 20);
        var e = Assert.Throws<BootException>(() => KernelLoader.Load(ram, new BootRequest { KernelPath = k, InitrdPath = initrd, LinuxEntry = LinuxEntry.Entry64 }));
        Assert.Equal($"{initrd}: initrd ({16 << 20} bytes) too large for guest memory: no room between the kernel and 0x1000000 "
            + "(initrd_addr_max / end of RAM; the kernel cannot take it above 4 GiB: XLF_CAN_BE_LOADED_ABOVE_4G clear)", e.Message);

        // With the flag it goes above 4 GiB, with the 32-bit entry too (the kernel reads ext_ramdisk_image either way).
        BinaryPrimitives.WriteUInt16LittleEndian(file.AsSpan(0x236), BzImage.XlfKernel64 | BzImage.XlfCanBeLoadedAbove4G);
        string k2 = _dir.Write("above.bin", file);
        using var ram2 = new GuestRam(GuestRam.LowRamLimit + (1UL << 30));
        var r = KernelLoader.Load(ram2, new BootRequest { KernelPath = k2, InitrdPath = initrd, LinuxEntry = LinuxEntry.Entry32 });
        ulong zp = r.InitialState.Rsi;
        Assert.Equal(1u, ram2.Read32(zp + 0x0C0));                         // ext_ramdisk_image: the high half
        Assert.Equal(0u, ram2.Read32(zp + 0x0C4));
        Assert.Equal(GuestRam.FourGiB + (1UL << 30) - (16UL << 20), ram2.Read32(zp + 0x218) | (ulong)ram2.Read32(zp + 0x0C0) << 32);

        // A small initrd still goes below initrd_addr_max even when the kernel could take it higher.
        string small = _dir.Write("small.img", new byte[8192]);
        using var ram3 = new GuestRam(GuestRam.LowRamLimit + (1UL << 30));
        var r3 = KernelLoader.Load(ram3, new BootRequest { KernelPath = k2, InitrdPath = small });
        Assert.Equal(0x1000000u - 8192, ram3.Read32(r3.InitialState.Rsi + 0x218));
        Assert.Equal(0u, ram3.Read32(r3.InitialState.Rsi + 0x0C0));
    }

    [Fact]
    public void Entry64_GdtPageHoldsAllThreeTables()
    {
        using var ram = new GuestRam(64UL << 20);
        var r = KernelLoader.Load(ram, new BootRequest { KernelPath = MemtestX64, LinuxEntry = LinuxEntry.Entry64 });
        Assert.Equal(PcMemoryLayout.BootGdtBase + 0x80, r.InitialState.GdtBase);
        Assert.Equal(0x1F, r.InitialState.GdtLimit);
        // The 32-bit tables stay where they were (a kernel that drops to compatibility mode may not care, but the page is one unit).
        Assert.Equal(0x00CF9B000000FFFFUL, ram.Read64(PcMemoryLayout.BootGdtBase + 0x40 + 0x10));
        Assert.Equal(0x00CF9B000000FFFFUL, ram.Read64(PcMemoryLayout.BootGdtBase + 0x08));
        Assert.Equal(0x00AF9B000000FFFFUL, ram.Read64(PcMemoryLayout.BootGdtBase + 0x80 + 0x10));
    }
}
