using System.Text;
using MyKvm.Boot.Images;
using MyKvm.Boot.Protocols;
using MyKvm.Boot.X86;
using MyKvm.Core;

namespace MyKvm.Boot;

/// <summary>
/// The Linux x86 boot protocol (Documentation/arch/x86/boot.rst), 32-bit entry: the protected-mode kernel is
/// loaded at pref_address (protocol 2.10+, relocatable kernels; else 0x100000) with init_size bytes free from
/// there, the zero page and command line go to the low boot data area, the initrd as high as initrd_addr_max and
/// RAM allow. Entered in flat protected mode, paging off, IF=0, CS=__BOOT_CS 0x10, DS=ES=SS=__BOOT_DS 0x18,
/// ESI = zero page, EBP = EDI = EBX = 0 ("32-bit Boot Protocol"). The 64-bit entry (startup_64 at +0x200, needs
/// XLF_KERNEL_64 and identity page tables) will be a second <see cref="LinuxEntry"/> beside <see cref="LinuxEntry.Protected32"/>.
/// </summary>
internal static class LinuxLoader
{
    /// <summary>Where a relocatable kernel goes when pref_address does not fit; also where others must go.</summary>
    public const ulong DefaultLoadAddress = 0x100000;

    internal enum LinuxEntry { Protected32 }

    public static BootResult Load(GuestRam ram, BootRequest request, byte[] file, string reason)
    {
        string path = request.KernelPath;
        var image = BzImage.Parse(path, file);
        if (request.ModulePaths.Count != 0)
            throw new BootException($"{request.ModulePaths[0]}: the Linux boot protocol has no modules (give an initrd instead)");

        byte[] cmdline = Encoding.UTF8.GetBytes(request.CommandLine);
        if ((ulong)cmdline.Length > image.CmdlineSize)
            throw new BootException($"{path}: command line is {cmdline.Length} bytes, longer than the kernel's cmdline_size ({image.CmdlineSize})");

        var placement = new GuestPlacement(ram);
        var kernel = image.ProtectedModeKernel;
        ulong span = Math.Max((ulong)kernel.Length, image.InitSize);
        ulong load = PlaceKernel(placement, path, image, span);
        ImageLoading.LoadRaw(ram, load, kernel, span - (ulong)kernel.Length);

        ulong zeroPage = placement.Allocate(LinuxBootParams.Size, 4096, PcMemoryLayout.LowBootDataBase, PcMemoryLayout.ConventionalEnd, "the Linux zero page", path);
        ulong cmdlineAt = placement.Allocate((ulong)cmdline.Length + 1, 16, PcMemoryLayout.LowBootDataBase, PcMemoryLayout.ConventionalEnd, "the kernel command line", path);
        ram.Write(cmdlineAt, cmdline);
        ram.Write8(cmdlineAt + (ulong)cmdline.Length, 0);

        uint initrdAt = 0, initrdSize = 0;
        if (request.InitrdPath is { } initrdPath)
        {
            byte[] initrd = BootFiles.ReadAll(initrdPath, "initrd");
            // initrd_addr_max is the highest address the initrd may occupy (boot.rst); RAM above the 3 GiB hole is
            // out of reach of the 32-bit ramdisk_image field.
            ulong top = Math.Min((ulong)image.InitrdAddrMax + 1, ram.LowSize);
            ulong at = placement.TryAllocateTop((ulong)initrd.Length, 4096, PcMemoryLayout.HighMemoryStart, top, "the initrd")
                ?? throw new BootException($"{initrdPath}: initrd ({initrd.Length} bytes) too large for guest memory: no room between the kernel and 0x{top:x} (initrd_addr_max / end of RAM)");
            ram.Write(at, initrd);
            initrdAt = (uint)at;
            initrdSize = (uint)initrd.Length;
        }

        var map = PcMemoryLayout.Build(ram);
        var zp = LinuxBootParams.Build(new LinuxBootParams.Inputs(image, (uint)load, (uint)cmdlineAt, initrdAt, initrdSize, map, request.VgaConsole));
        ram.Write(zeroPage, zp);
        BiosDataArea.Write(ram);

        var state = EntryState(ram, LinuxEntry.Protected32, (uint)load, (uint)zeroPage);
        return new BootResult
        {
            InitialState = state,
            Protocol = BootProtocol.Linux,
            Summary = $"linux ({reason}): bzImage protocol {image.VersionText}, kernel 0x{kernel.Length:x} bytes at 0x{load:x} (init_size 0x{image.InitSize:x}), 32-bit entry 0x{load:x}, "
                + $"zero page at 0x{zeroPage:x}, initrd {(initrdSize == 0 ? "none" : $"{MultibootLoader.Kib(initrdSize)} at 0x{initrdAt:x}")}",
            MemoryMap = map,
            SymbolFile = null,
        };
    }

    /// <summary>
    /// Relocatable kernels (boot.rst: relocatable_kernel) go to pref_address if it is free, else to the lowest
    /// kernel_alignment-aligned address from 1 MiB; others must run where they were linked, 0x100000.
    /// </summary>
    private static ulong PlaceKernel(GuestPlacement placement, string path, BzImage image, ulong span)
    {
        ulong preferred = image.PrefAddress != 0 ? image.PrefAddress : DefaultLoadAddress;
        if (!image.Relocatable) preferred = DefaultLoadAddress;
        string? problem = placement.Problem(preferred, span);
        if (problem is null)
        {
            placement.Claim(preferred, span, "the kernel", path);
            return preferred;
        }
        if (!image.Relocatable)
            throw new BootException($"{path}: kernel needs [0x{preferred:x}, 0x{preferred + span:x}) (init_size 0x{image.InitSize:x}) but that range {problem}");
        ulong align = Math.Max(image.KernelAlignment, 4096);
        if ((align & (align - 1)) != 0) align = 1UL << 21;
        return placement.TryAllocate(span, align, DefaultLoadAddress, Math.Min(placement.Ram.LowSize, GuestRam.FourGiB), "the kernel")
            ?? throw new BootException($"{path}: kernel needs 0x{span:x} bytes (init_size) aligned to 0x{align:x}, which guest RAM (0x{placement.Ram.LowSize:x} bytes below 4 GiB) cannot hold");
    }

    private static VcpuState EntryState(GuestRam ram, LinuxEntry entry, uint load, uint zeroPage)
    {
        switch (entry)
        {
            case LinuxEntry.Protected32:
            {
                var state = BootGdt.Flat32(ram, GdtLayout.Linux, load);
                state.Rsi = zeroPage;
                state.Rbp = state.Rdi = state.Rbx = 0;
                return state;
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(entry));
        }
    }
}
