using MyKvm.Boot.Images;
using MyKvm.Boot.Protocols;
using MyKvm.Boot.X86;
using MyKvm.Core;

namespace MyKvm.Boot;

/// <summary>
/// Multiboot 1 (spec 0.6.96) and plain ELF. Decisions where the spec leaves room, chosen to match QEMU's
/// <c>-kernel</c> so the same guest prints the same thing under both:
/// <list type="bullet">
/// <item>The command line is the kernel path as given, a space, then the arguments (QEMU's "%s %s").</item>
/// <item>Modules: "file args" strings (the whole string is the module's string), loaded page-aligned from the
/// page after the kernel, in order.</item>
/// <item>ELF kernels load by p_paddr; e_entry is translated through the segment whose virtual range holds it (as
/// GRUB does). The a.out kludge (flag 16) takes precedence over ELF headers, as in GRUB and QEMU.</item>
/// <item>ELF64 kernels with a Multiboot header are loaded too (QEMU refuses them): by p_paddr, entered in 32-bit
/// mode at the kludge's entry_addr or at e_entry, translated then truncated to 32 bits.</item>
/// <item>ESP = 0x7000: a small stack in free conventional memory below the GDT page (the spec leaves ESP undefined).</item>
/// <item>Flags 0..15 we do not know (3–15) make the load fail, as §3.1.2 requires and GRUB does; the video
/// mode request (flag 2) is ignored, as QEMU does.</item>
/// <item>ELF kernels (not the a.out kludge) get info flag 5, the section header table, as GRUB gives it (QEMU does not):
/// sections with sh_addr 0 and bytes in the file (.symtab, .strtab, ...) are loaded after the modules and their
/// sh_addr set, so a kernel can print its own symbols.</item>
/// </list>
/// </summary>
internal static class MultibootLoader
{
    public const string LoaderName = "mykvm";

    public static BootResult LoadMultiboot(GuestRam ram, BootRequest request, byte[] file, MultibootHeader header, string reason)
    {
        string path = request.KernelPath;
        if ((header.Flags & MultibootHeader.UnknownRequiredFlags) != 0)
            throw new BootException($"{path}: Multiboot header requests features mykvm does not know (flags 0x{header.Flags & MultibootHeader.UnknownRequiredFlags:x})");

        var placement = new GuestPlacement(ram);
        LoadedImage image;
        uint entry;
        string format;
        ElfImage? elf = null;
        bool isElf = ElfImage.HasElfMagic(file);
        if (header.HasAoutKludge)
        {
            (image, entry) = LoadAoutKludge(placement, path, file, header);
            format = "a.out kludge";
        }
        else
        {
            if (!isElf)
                throw new BootException($"{path}: Multiboot header without the a.out kludge (flag 16), but the file is not ELF");
            elf = ElfImage.Parse(path, file);
            image = ImageLoading.LoadElf(placement, path, file, elf, s => s.PhysicalAddress);
            entry = CheckEntry(path, elf.PhysicalEntry(), image, elf.Is64);
            format = elf.ClassName;
        }

        var modules = LoadModules(placement, request, image);
        // As GRUB: an ELF kernel (not one loaded through the a.out kludge) gets its section headers, with the
        // sections it does not load itself (.symtab, .strtab, ...) placed after the modules.
        ulong afterModules = GuestPlacement.AlignUp(Math.Max(modules.Count == 0 ? image.High : modules[^1].End, PcMemoryLayout.HighMemoryStart), 0x1000);
        var sections = elf is null ? null : ElfSymbolLoading.Load(placement, path, file, elf, afterModules);
        var map = PcMemoryLayout.Build(ram);
        string cmdline = request.KernelPath + " " + request.CommandLine;
        BiosDataArea.Write(ram);
        uint info = MultibootInfo.Write(placement, path, map, cmdline, modules, LoaderName, sections, afterModules);

        var state = BootGdt.Flat32(ram, GdtLayout.Multiboot, entry);
        state.Rax = MultibootHeader.BootloaderMagic;
        state.Rbx = info;

        ulong moduleBytes = modules.Aggregate(0UL, (sum, m) => sum + (m.End - m.Start));
        return new BootResult
        {
            InitialState = state,
            Protocol = BootProtocol.Multiboot,
            Summary = $"multiboot ({reason}): {format} kernel [0x{image.Low:x}, 0x{image.High:x}) {Kib(image.Size)}, entry 0x{entry:x}, "
                + $"{modules.Count} module(s) {Kib(moduleBytes)}"
                + (sections is null ? "" : $", {sections.Count} section headers ({sections.LoadedCount} sections loaded, {Kib(sections.LoadedBytes)})")
                + $", info at 0x{info:x}",
            MemoryMap = map,
            SymbolFile = isElf ? path : null,
        };
    }

    /// <summary>A plain ELF32: loaded as Multiboot would, entered with EAX = EBX = 0 and no info structure.</summary>
    public static BootResult LoadPlainElf(GuestRam ram, BootRequest request, byte[] file, string reason)
    {
        string path = request.KernelPath;
        var elf = ElfImage.Parse(path, file);
        if (elf.Is64)
            throw new BootException($"{path}: ELF64 kernel without a Multiboot header: mykvm enters plain ELF kernels in 32-bit mode only");
        if (request.ModulePaths.Count != 0 || request.InitrdPath is not null)
            throw new BootException($"{path}: plain ELF kernels get no modules or initrd (use a Multiboot header)");
        var placement = new GuestPlacement(ram);
        var image = ImageLoading.LoadElf(placement, path, file, elf, s => s.PhysicalAddress);
        uint entry = CheckEntry(path, elf.PhysicalEntry(), image, false);
        BiosDataArea.Write(ram);
        var state = BootGdt.Flat32(ram, GdtLayout.Multiboot, entry);
        state.Rax = 0;
        state.Rbx = 0;
        return new BootResult
        {
            InitialState = state,
            Protocol = BootProtocol.Elf,
            Summary = $"elf ({reason}): ELF32 kernel [0x{image.Low:x}, 0x{image.High:x}) {Kib(image.Size)}, entry 0x{entry:x}, no boot information (EAX=0)",
            MemoryMap = PcMemoryLayout.Build(ram),
            SymbolFile = path,
        };
    }

    private static uint CheckEntry(string path, ulong entry, LoadedImage image, bool truncate)
    {
        if (truncate) entry &= 0xFFFF_FFFF;
        if (entry > uint.MaxValue || !image.Contains(entry))
            throw new BootException($"{path}: entry point 0x{entry:x} is outside the loaded image [0x{image.Low:x}, 0x{image.High:x})");
        return (uint)entry;
    }

    /// <summary>Multiboot §3.1.3, header flag 16: the header's addresses say where the file goes.</summary>
    private static (LoadedImage, uint) LoadAoutKludge(GuestPlacement placement, string path, byte[] file, MultibootHeader h)
    {
        if (h.LoadAddr > h.HeaderAddr)
            throw new BootException($"{path}: Multiboot load_addr 0x{h.LoadAddr:x} is above header_addr 0x{h.HeaderAddr:x}");
        long fileOffset = h.FileOffset - (long)(h.HeaderAddr - h.LoadAddr);
        if (fileOffset < 0)
            throw new BootException($"{path}: Multiboot load_addr 0x{h.LoadAddr:x} lies before the start of the file (header at file offset 0x{h.FileOffset:x}, header_addr 0x{h.HeaderAddr:x})");
        ulong loadLength;
        if (h.LoadEndAddr == 0)
            loadLength = (ulong)(file.Length - fileOffset);
        else if (h.LoadEndAddr < h.LoadAddr)
            throw new BootException($"{path}: Multiboot load_end_addr 0x{h.LoadEndAddr:x} is below load_addr 0x{h.LoadAddr:x}");
        else
            loadLength = h.LoadEndAddr - h.LoadAddr;
        if ((ulong)fileOffset + loadLength > (ulong)file.Length)
            throw new BootException($"{path}: truncated: Multiboot load_end_addr needs 0x{loadLength:x} bytes from file offset 0x{fileOffset:x}, the file has 0x{file.Length:x}");
        ulong loadEnd = h.LoadAddr + loadLength;
        ulong bssEnd = loadEnd;
        if (h.BssEndAddr != 0)
        {
            if (h.BssEndAddr < loadEnd)
                throw new BootException($"{path}: Multiboot bss_end_addr 0x{h.BssEndAddr:x} is below the end of the loaded image 0x{loadEnd:x}");
            bssEnd = h.BssEndAddr;
        }
        placement.Claim(h.LoadAddr, bssEnd - h.LoadAddr, "the Multiboot image", path);
        ImageLoading.LoadRaw(placement.Ram, h.LoadAddr, file.AsSpan((int)fileOffset, (int)loadLength), bssEnd - loadEnd);
        var image = new LoadedImage(h.LoadAddr, bssEnd);
        return (image, CheckEntry(path, h.EntryAddr, image, false));
    }

    /// <summary>
    /// The modules: first the QEMU-style list in InitrdPath, then ModulePaths; page-aligned after the kernel. Each
    /// module's <see cref="MultibootModule.String"/> is its whole spec ("file args").
    /// </summary>
    internal static List<MultibootModule> LoadModules(GuestPlacement placement, BootRequest request, LoadedImage kernel)
    {
        var specs = new List<string>();
        if (request.InitrdPath is { } list) specs.AddRange(SplitModuleList(list));
        specs.AddRange(request.ModulePaths);

        var modules = new List<MultibootModule>();
        ulong next = GuestPlacement.AlignUp(Math.Max(kernel.High, PcMemoryLayout.HighMemoryStart), 0x1000);
        // Module addresses are 32-bit fields: keep them below 4 GiB.
        ulong limit = placement.Ram.LowSize;
        foreach (string spec in specs)
        {
            string modulePath = ModuleFileName(spec);
            byte[] bytes = BootFiles.ReadAll(modulePath, "module");
            ulong at = placement.TryAllocate((ulong)bytes.Length, 0x1000, next, limit, $"module {modulePath}")
                ?? throw new BootException($"{modulePath}: module ({bytes.Length} bytes) does not fit in guest RAM above 0x{next:x} (RAM ends at 0x{limit:x})");
            placement.Ram.Write(at, bytes);
            modules.Add(new MultibootModule(at, at + (ulong)bytes.Length, spec));
            next = GuestPlacement.AlignUp(at + (ulong)bytes.Length, 0x1000);
        }
        return modules;
    }

    /// <summary>Splits "a args,b" at commas; ",," stands for a literal comma (QEMU's option syntax).</summary>
    internal static IEnumerable<string> SplitModuleList(string list)
    {
        var current = new System.Text.StringBuilder();
        for (int i = 0; i < list.Length; i++)
        {
            if (list[i] == ',')
            {
                if (i + 1 < list.Length && list[i + 1] == ',')
                {
                    current.Append(',');
                    i++;
                    continue;
                }
                yield return current.ToString();
                current.Clear();
                continue;
            }
            current.Append(list[i]);
        }
        yield return current.ToString();
    }

    /// <summary>The arguments part of a module spec: everything after the first space ("" if none).</summary>
    internal static string ModuleArguments(string spec)
    {
        int space = spec.IndexOf(' ');
        return space < 0 ? "" : spec[(space + 1)..];
    }

    /// <summary>The file part of a module string: everything before the first space.</summary>
    internal static string ModuleFileName(string spec)
    {
        int space = spec.IndexOf(' ');
        return space < 0 ? spec : spec[..space];
    }

    internal static string Kib(ulong bytes) => bytes < 10 * 1024 ? $"{bytes} B" : $"{(bytes + 1023) / 1024} KiB";
}
