using System.Text;
using MyKvm.Boot.Images;
using MyKvm.Boot.Protocols;
using MyKvm.Boot.X86;
using MyKvm.Core;

namespace MyKvm.Boot;

/// <summary>
/// The Linux x86 boot protocol (Documentation/arch/x86/boot.rst). The protected-mode kernel is loaded at
/// pref_address (protocol 2.10+, relocatable kernels; else 0x100000) with init_size bytes free from there, the
/// zero page and command line go to the low boot data area, the initrd as high as initrd_addr_max and RAM allow
/// (above 4 GiB only for kernels with XLF_CAN_BE_LOADED_ABOVE_4G, when it does not fit below). Two entries:
/// <list type="bullet">
/// <item>32-bit ("32-bit Boot Protocol"): flat protected mode, paging off, IF=0, CS=__BOOT_CS 0x10,
/// DS=ES=SS=__BOOT_DS 0x18, ESI = zero page, EBP = EDI = EBX = 0, EIP = the load address.</item>
/// <item>64-bit ("64-bit Boot Protocol", kernels with XLF_KERNEL_64): long mode, IF=0, the same selectors with a
/// 64-bit __BOOT_CS, RSI = zero page, RIP = load address + 0x200, and identity-mapped page tables
/// (<see cref="LongModePaging"/>) covering the first 4 GiB — kernel, zero page, command line, initrd, the GDT and
/// the KVM trampoline page — and an initrd above 4 GiB if there is one. The tables sit in the low boot data area
/// after the command line, claimed from the loader's placement but left usable in E820, like the zero page.</item>
/// </list>
/// <see cref="Boot.LinuxEntry.Auto"/> takes the 64-bit entry only when the CPU says it can start in long mode.
/// </summary>
internal static class LinuxLoader
{
    /// <summary>Where a relocatable kernel goes when pref_address does not fit; also where others must go.</summary>
    public const ulong DefaultLoadAddress = 0x100000;

    public static BootResult Load(GuestRam ram, BootRequest request, byte[] file, string reason)
    {
        string path = request.KernelPath;
        var image = BzImage.Parse(path, file);
        if (request.ModulePaths.Count != 0)
            throw new BootException($"{request.ModulePaths[0]}: the Linux boot protocol has no modules (give an initrd instead)");

        byte[] cmdline = Encoding.UTF8.GetBytes(request.CommandLine);
        if ((ulong)cmdline.Length > image.CmdlineSize)
            throw new BootException($"{path}: command line is {cmdline.Length} bytes, longer than the kernel's cmdline_size ({image.CmdlineSize})");

        var (entry, entryWhy) = ChooseEntry(path, image, request);

        var placement = new GuestPlacement(ram);
        var kernel = image.ProtectedModeKernel;
        ulong span = Math.Max((ulong)kernel.Length, image.InitSize);
        ulong load = PlaceKernel(placement, path, image, span);
        ImageLoading.LoadRaw(ram, load, kernel, span - (ulong)kernel.Length);

        ulong zeroPage = placement.Allocate(LinuxBootParams.Size, 4096, PcMemoryLayout.LowBootDataBase, PcMemoryLayout.ConventionalEnd, "the Linux zero page", path);
        ulong cmdlineAt = placement.Allocate((ulong)cmdline.Length + 1, 16, PcMemoryLayout.LowBootDataBase, PcMemoryLayout.ConventionalEnd, "the kernel command line", path);
        ram.Write(cmdlineAt, cmdline);
        ram.Write8(cmdlineAt + (ulong)cmdline.Length, 0);

        ulong initrdAt = 0, initrdSize = 0;
        if (request.InitrdPath is { } initrdPath)
        {
            byte[] initrd = BootFiles.ReadAll(initrdPath, "initrd");
            initrdAt = PlaceInitrd(placement, image, initrdPath, (ulong)initrd.Length);
            ram.Write(initrdAt, initrd);
            initrdSize = (ulong)initrd.Length;
        }

        var map = PcMemoryLayout.Build(ram);
        var zp = LinuxBootParams.Build(new LinuxBootParams.Inputs(image, (uint)load, (uint)cmdlineAt, initrdAt, initrdSize, map, request.VgaConsole));
        ram.Write(zeroPage, zp);
        BiosDataArea.Write(ram);

        VcpuState state;
        string entryText;
        if (entry == LinuxEntry.Entry64)
        {
            // Everything the kernel is handed lies below 4 GiB but an initrd placed above it.
            ulong top = Math.Max(GuestRam.FourGiB, initrdAt + initrdSize);
            if (top > LongModePaging.MaxTop)
                throw new BootException($"{path}: the initrd ends at 0x{top:x}, beyond the 512 GiB the boot page tables map");
            int pages = LongModePaging.Pages(top);
            ulong tables = placement.Allocate((ulong)pages * 4096, 4096, PcMemoryLayout.LowBootDataBase, PcMemoryLayout.ConventionalEnd, "the long-mode page tables", path);
            ulong pml4 = LongModePaging.Write(ram, tables, top);
            state = BootGdt.Long64(ram, load + BzImage.Entry64Offset, pml4);
            entryText = $"64-bit entry 0x{state.Rip:x} ({entryWhy}), page tables at 0x{tables:x} identity-map {top >> 30} GiB";
        }
        else
        {
            state = BootGdt.Flat32(ram, GdtLayout.Linux, (uint)load);
            state.Rbp = state.Rdi = state.Rbx = 0;
            entryText = $"32-bit entry 0x{load:x} ({entryWhy})";
        }
        state.Rsi = zeroPage;

        return new BootResult
        {
            InitialState = state,
            Protocol = BootProtocol.Linux,
            Summary = $"linux ({reason}): bzImage protocol {image.VersionText}, kernel 0x{kernel.Length:x} bytes at 0x{load:x} (init_size 0x{image.InitSize:x}), {entryText}, "
                + $"zero page at 0x{zeroPage:x}, initrd {(initrdSize == 0 ? "none" : $"{MultibootLoader.Kib(initrdSize)} at 0x{initrdAt:x}")}",
            MemoryMap = map,
            SymbolFile = null,
        };
    }

    /// <summary>The entry to use and why (for the summary).</summary>
    private static (LinuxEntry, string) ChooseEntry(string path, BzImage image, BootRequest request)
    {
        switch (request.LinuxEntry)
        {
            case LinuxEntry.Entry32:
                return (LinuxEntry.Entry32, "requested");
            case LinuxEntry.Entry64:
                if (!image.HasEntry64)
                    throw new BootException($"{path}: the 64-bit entry was requested but the kernel has none (xloadflags 0x{image.XLoadFlags:x}: XLF_KERNEL_64 clear, protocol {image.VersionText})");
                return (LinuxEntry.Entry64, "requested");
            case LinuxEntry.Auto:
                if (!image.HasEntry64) return (LinuxEntry.Entry32, "auto: no XLF_KERNEL_64");
                return request.LongModeAvailable
                    ? (LinuxEntry.Entry64, "auto: XLF_KERNEL_64 and a CPU that starts in long mode")
                    : (LinuxEntry.Entry32, "auto: the CPU cannot start in long mode");
            default:
                throw new BootException($"{path}: unknown Linux entry {request.LinuxEntry}");
        }
    }

    /// <summary>
    /// The initrd goes as high as possible below min(initrd_addr_max + 1, end of low RAM) — initrd_addr_max is the
    /// highest address it may occupy (boot.rst). If it does not fit there and the kernel says XLF_CAN_BE_LOADED_ABOVE_4G,
    /// it goes as high as possible in RAM above 4 GiB (the zero page's ext_ramdisk_image/size carry the high halves).
    /// </summary>
    private static ulong PlaceInitrd(GuestPlacement placement, BzImage image, string initrdPath, ulong length)
    {
        var ram = placement.Ram;
        ulong top = Math.Min((ulong)image.InitrdAddrMax + 1, ram.LowSize);
        if (placement.TryAllocateTop(length, 4096, PcMemoryLayout.HighMemoryStart, top, "the initrd") is { } low)
            return low;
        bool above = image.CanBeLoadedAbove4G && ram.HighSize != 0;
        if (above && placement.TryAllocateTop(length, 4096, GuestRam.FourGiB, ram.EndOfRam, "the initrd") is { } high)
            return high;
        string reach = above ? $"0x{top:x} (initrd_addr_max / end of low RAM), nor in the RAM above 4 GiB"
            : image.CanBeLoadedAbove4G ? $"0x{top:x} (initrd_addr_max / end of RAM; the kernel could take it above 4 GiB but the machine has no RAM there)"
            : $"0x{top:x} (initrd_addr_max / end of RAM; the kernel cannot take it above 4 GiB: XLF_CAN_BE_LOADED_ABOVE_4G clear)";
        throw new BootException($"{initrdPath}: initrd ({length} bytes) too large for guest memory: no room between the kernel and {reach}");
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
}
