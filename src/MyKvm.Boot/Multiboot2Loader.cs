using System.Buffers.Binary;
using MyKvm.Boot.Images;
using MyKvm.Boot.Protocols;
using MyKvm.Boot.X86;
using MyKvm.Core;

namespace MyKvm.Boot;

/// <summary>
/// Multiboot 2 (Multiboot2 specification 2.0). No emulator implements it for <c>-kernel</c>, so where the
/// specification leaves room mykvm does what GRUB 2's <c>multiboot2</c>/<c>module2</c> do on a BIOS machine, the
/// implementation kernels are written against:
/// <list type="bullet">
/// <item>Command line: the arguments only (GRUB skips the file name); module strings: the arguments after the
/// module's file name. Modules are page-aligned from the page after the kernel whether or not the module alignment
/// tag asks (GRUB always page-aligns).</item>
/// <item>Information requests: a required request for a type the spec does not define (above 21) refuses the image;
/// a defined type mykvm has nothing for (boot device, VBE, APM, EFI, SMBIOS, network) is simply absent, as on GRUB.</item>
/// <item>Console: 80x25 EGA text at 0xB8000 is reported in a framebuffer tag (type 2) whenever the machine has its VGA
/// text console, including in answer to a framebuffer header tag (mykvm sets no graphics modes). A kernel that
/// requires a console (console flags bit 0) but supports no EGA text, or finds no VGA console, is refused.</item>
/// <item>EFI tags: the boot-services tag and the EFI i386/amd64 entry tags only matter to a loader that starts the
/// kernel from EFI firmware; mykvm is a BIOS-style loader and ignores them, optional or not (GRUB's BIOS build does).</item>
/// <item>Relocatable tag: honoured (lowest fitting address for preference none/low, highest for high), the entry
/// moved with the image; the image-load-base tag is always present (GRUB always writes it).</item>
/// <item>ELF images load by p_paddr (ELF64 too), entered at the entry address tag if present, else e_entry translated
/// through its segment; sections the image does not load (symbols, strings) are loaded after the modules and listed
/// in the ELF sections tag (u32 num/entsize/shndx, GRUB's layout).</item>
/// <item>The boot information goes 8-byte aligned into the low boot data area (0x9000 up), or above the kernel and
/// modules if it does not fit there.</item>
/// <item>Machine state (§3.3): EAX 0x36D76289, EBX the information, flat CS 0x08 / DS..SS 0x10 (GDTR 0x7000),
/// paging off, IF=0, ESP 0x7000 (undefined in the spec).</item>
/// </list>
/// </summary>
internal static class Multiboot2Loader
{
    public static BootResult Load(GuestRam ram, BootRequest request, byte[] file, Multiboot2Header header, string reason)
    {
        string path = request.KernelPath;
        CheckInformationRequests(path, header);
        bool egaText = CheckConsole(path, header, request.VgaConsole);
        byte[]? rsdp = request.AcpiRsdp is { } r ? CheckRsdp(r) : null;

        var placement = new GuestPlacement(ram);
        LoadedImage image;
        ulong entry;
        string format;
        ElfImage? elf = null;
        if (header.Address is { } address)
        {
            if (header.EntryAddress is not { } entryTag)
                throw new BootException($"{path}: Multiboot 2 address tag without an entry address tag (the spec needs one to know where to start)");
            (image, ulong offset) = LoadAddressTag(placement, path, file, header, address);
            entry = entryTag + offset;
            format = "address tag";
        }
        else
        {
            if (!ElfImage.HasElfMagic(file))
                throw new BootException($"{path}: Multiboot 2 header without an address tag, but the file is not ELF");
            elf = ElfImage.Parse(path, file);
            var segments = elf.LoadSegments.ToList();
            ulong low = segments.Min(s => s.PhysicalAddress), high = segments.Max(s => s.PhysicalAddress + s.MemorySize);
            ulong offset = Relocation(placement, path, header, low, high - low);
            image = ImageLoading.LoadElf(placement, path, file, elf, s => s.PhysicalAddress + offset);
            entry = (header.EntryAddress ?? elf.PhysicalEntry()) + offset;
            format = elf.ClassName;
        }
        if (entry > uint.MaxValue || !image.Contains(entry))
            throw new BootException($"{path}: entry point 0x{entry:x} is outside the loaded image [0x{image.Low:x}, 0x{image.High:x})");

        var modules = MultibootLoader.LoadModules(placement, request, image);
        ulong afterModules = GuestPlacement.AlignUp(Math.Max(modules.Count == 0 ? image.High : modules[^1].End, PcMemoryLayout.HighMemoryStart), 0x1000);
        var sections = elf is null ? null : ElfSymbolLoading.Load(placement, path, file, elf, afterModules);

        var map = PcMemoryLayout.Build(ram);
        var info = new Multiboot2Info();
        info.LoadBaseAddress((uint)image.Low);
        info.CommandLine(request.CommandLine);
        info.BootLoaderName(MultibootLoader.LoaderName);
        foreach (var m in modules)
            info.Module((uint)m.Start, (uint)m.End, MultibootLoader.ModuleArguments(m.String));
        ulong upper = map.Where(e => e.Type == MemoryType.Usable && e.Base == PcMemoryLayout.HighMemoryStart).Select(e => e.Length).FirstOrDefault();
        info.BasicMemoryInfo((uint)(PcMemoryLayout.ConventionalEnd / 1024), (uint)Math.Min(upper / 1024, uint.MaxValue));
        info.MemoryMap(map);
        if (egaText) info.EgaTextFramebuffer();
        if (sections is not null) info.ElfSections(sections.Count, sections.EntrySize, sections.NameIndex, sections.Headers);
        if (rsdp is not null) info.AcpiRsdp(rsdp, rsdp[15] >= 2);
        byte[] mbi = info.Finish();

        ulong at = placement.TryAllocate((ulong)mbi.Length, 8, PcMemoryLayout.LowBootDataBase, PcMemoryLayout.ConventionalEnd, "the Multiboot 2 information")
            ?? placement.TryAllocate((ulong)mbi.Length, 8, afterModules, Math.Min(ram.LowSize, GuestRam.FourGiB), "the Multiboot 2 information")
            ?? throw new BootException($"{path}: no room for the Multiboot 2 information ({mbi.Length} bytes) in guest RAM below 4 GiB");
        ram.Write(at, mbi);
        BiosDataArea.Write(ram);

        var state = BootGdt.Flat32(ram, GdtLayout.Multiboot, (uint)entry);
        state.Rax = Multiboot2Header.BootloaderMagic;
        state.Rbx = at;

        ulong moduleBytes = modules.Aggregate(0UL, (sum, m) => sum + (m.End - m.Start));
        return new BootResult
        {
            InitialState = state,
            Protocol = BootProtocol.Multiboot2,
            Summary = $"multiboot2 ({reason}): {format} kernel [0x{image.Low:x}, 0x{image.High:x}) {MultibootLoader.Kib(image.Size)}, entry 0x{entry:x}"
                + (header.Relocatable is null ? "" : " (relocatable)")
                + $", {modules.Count} module(s) {MultibootLoader.Kib(moduleBytes)}"
                + (sections is null ? "" : $", {sections.Count} section headers ({sections.LoadedCount} sections loaded, {MultibootLoader.Kib(sections.LoadedBytes)})")
                + $", info at 0x{at:x} ({mbi.Length} bytes, tags {string.Join(",", info.Tags.Select(t => (int)t))})",
            MemoryMap = map,
            SymbolFile = elf is null ? null : path,
        };
    }

    private static void CheckInformationRequests(string path, Multiboot2Header header)
    {
        foreach (var (types, optional) in header.InformationRequests)
            foreach (uint t in types)
                if (!optional && t > Multiboot2Header.HighestInformationTag)
                    throw new BootException($"{path}: Multiboot 2 header requires boot information tag type {t}, which the specification does not define (0-{Multiboot2Header.HighestInformationTag})");
    }

    /// <summary>Whether the EGA text framebuffer tag is given; throws if the kernel requires a console mykvm cannot give.</summary>
    private static bool CheckConsole(string path, Multiboot2Header header, bool vgaConsole)
    {
        uint flags = header.ConsoleFlags ?? Multiboot2Header.ConsoleEgaTextSupported;
        bool required = (flags & Multiboot2Header.ConsoleRequired) != 0;
        bool kernelTakesEga = (flags & Multiboot2Header.ConsoleEgaTextSupported) != 0;
        if (required && !kernelTakesEga)
            throw new BootException($"{path}: Multiboot 2 console flags require a console but rule out EGA text{(header.Framebuffer is null ? "" : "; mykvm sets no graphics framebuffer modes")}");
        if (required && !vgaConsole)
            throw new BootException($"{path}: Multiboot 2 console flags require a console, and this machine has no VGA text console");
        return vgaConsole;
    }

    /// <summary>The RSDP bytes to copy (ACPI 6.x §5.2.5.3): 20 for revision 0, <c>length</c> for revision 2+.</summary>
    private static byte[] CheckRsdp(byte[] rsdp)
    {
        if (rsdp.Length < 20 || !rsdp.AsSpan(0, 8).SequenceEqual("RSD PTR "u8))
            throw new BootException($"mykvm: the machine's ACPI RSDP is malformed ({rsdp.Length} bytes, no \"RSD PTR \" signature)");
        if (rsdp[15] < 2) return rsdp[..20];
        uint length = rsdp.Length >= 24 ? BinaryPrimitives.ReadUInt32LittleEndian(rsdp.AsSpan(20)) : 0;
        if (length < 36 || length > rsdp.Length)
            throw new BootException($"mykvm: the machine's ACPI {rsdp[15]}.0 RSDP says it is {length} bytes, but {rsdp.Length} were given (at least 36 needed)");
        return rsdp[..(int)length];
    }

    /// <summary>
    /// How far the image moves from where it is linked: 0 without a relocatable tag, else to an address in
    /// [min_addr, max_addr] (the whole image below max_addr, as GRUB) aligned as the tag asks.
    /// </summary>
    private static ulong Relocation(GuestPlacement placement, string path, Multiboot2Header header, ulong linkBase, ulong span)
    {
        if (header.Relocatable is not { } rel) return 0;
        ulong align = rel.Align == 0 ? 1 : rel.Align;
        ulong min = rel.MinAddr, maxEnd = rel.MaxAddr;
        if (min > maxEnd || span > maxEnd - min)
            throw new BootException($"{path}: Multiboot 2 relocatable tag range [0x{min:x}, 0x{maxEnd:x}] cannot hold the 0x{span:x}-byte image");
        // Conventional memory is for boot data; try above 1 MiB first.
        ulong? at = rel.Preference == Multiboot2RelocatableTag.PreferenceHigh
            ? placement.TryFindTop(span, align, min, maxEnd)
            : placement.TryFind(span, align, Math.Max(min, PcMemoryLayout.HighMemoryStart), maxEnd) ?? placement.TryFind(span, align, min, maxEnd);
        if (at is null)
            throw new BootException($"{path}: no free 0x{span:x} bytes aligned to 0x{align:x} in [0x{min:x}, 0x{maxEnd:x}] (Multiboot 2 relocatable tag) in guest RAM");
        return at.Value - linkBase;
    }

    /// <summary>§3.1.5: the address tag says which part of the file goes where (load_addr 0xFFFFFFFF: from the file's start).</summary>
    private static (LoadedImage, ulong Offset) LoadAddressTag(GuestPlacement placement, string path, byte[] file, Multiboot2Header h, Multiboot2AddressTag a)
    {
        ulong loadAddr = a.LoadAddr == uint.MaxValue ? (ulong)a.HeaderAddr - (ulong)h.FileOffset : a.LoadAddr;
        if (a.LoadAddr == uint.MaxValue && a.HeaderAddr < (ulong)h.FileOffset)
            throw new BootException($"{path}: Multiboot 2 header_addr 0x{a.HeaderAddr:x} is below the header's file offset 0x{h.FileOffset:x}, so the file cannot start at load_addr -1");
        if (loadAddr > a.HeaderAddr)
            throw new BootException($"{path}: Multiboot 2 load_addr 0x{loadAddr:x} is above header_addr 0x{a.HeaderAddr:x}");
        long fileOffset = h.FileOffset - (long)(a.HeaderAddr - loadAddr);
        if (fileOffset < 0)
            throw new BootException($"{path}: Multiboot 2 load_addr 0x{loadAddr:x} lies before the start of the file (header at file offset 0x{h.FileOffset:x}, header_addr 0x{a.HeaderAddr:x})");
        ulong loadLength;
        if (a.LoadEndAddr == 0)
            loadLength = (ulong)(file.Length - fileOffset);
        else if (a.LoadEndAddr < loadAddr)
            throw new BootException($"{path}: Multiboot 2 load_end_addr 0x{a.LoadEndAddr:x} is below load_addr 0x{loadAddr:x}");
        else
            loadLength = a.LoadEndAddr - loadAddr;
        if ((ulong)fileOffset + loadLength > (ulong)file.Length)
            throw new BootException($"{path}: truncated: Multiboot 2 load_end_addr needs 0x{loadLength:x} bytes from file offset 0x{fileOffset:x}, the file has 0x{file.Length:x}");
        ulong loadEnd = loadAddr + loadLength, bssEnd = loadEnd;
        if (a.BssEndAddr != 0)
        {
            if (a.BssEndAddr < loadEnd)
                throw new BootException($"{path}: Multiboot 2 bss_end_addr 0x{a.BssEndAddr:x} is below the end of the loaded image 0x{loadEnd:x}");
            bssEnd = a.BssEndAddr;
        }
        ulong span = bssEnd - loadAddr;
        ulong offset = Relocation(placement, path, h, loadAddr, span);
        ulong at = loadAddr + offset;
        placement.Claim(at, span, "the Multiboot 2 image", path);
        ImageLoading.LoadRaw(placement.Ram, at, file.AsSpan((int)fileOffset, (int)loadLength), bssEnd - loadEnd);
        return (new LoadedImage(at, at + span), offset);
    }
}
