using MyKvm.Boot.Images;
using MyKvm.Boot.Protocols;
using MyKvm.Boot.X86;
using MyKvm.Core;

namespace MyKvm.Boot;

/// <summary>
/// The stos protocol (issue #5). The kernel is an ELF32 linked at 0xC0000000 + physical; PT_LOAD segments go to
/// p_vaddr - 0xC0000000. It starts with paging on (see <see cref="StosPaging"/>), CS/DS 0x08/0x10 flat (GDTR at
/// 0x7000, reached through the identity mapping), IF=0, EBP=0, EAX = the virtual boot_interface*, and a stack as
/// if the loader had done <c>mov esp, 0xC03FFFFC; push bi; call e_entry</c>: ESP = 0xC03FFFF4, [ESP+4] = bi,
/// [ESP] = the virtual address of a <c>cli; hlt; jmp $-2</c> stub in the low boot data page (normally 0x9000), so a
/// kernel_main that returns parks the CPU.
/// Decisions where the protocol text leaves room:
/// <list type="bullet">
/// <item>struct frame is assumed to be <see cref="FrameSize"/> bytes; the table covers every 4 KiB frame of RAM below
/// the 3 GiB hole (a 32-bit kernel without PAE cannot use RAM above 4 GiB), sits at physical 4 MiB, is zeroed,
/// reserved in the segment list (page-rounded) and mapped with 4 MiB pages ending at the top of the address space.</item>
/// <item>The boot stack gets the top <see cref="StackReserve"/> bytes below 4 MiB; boot data that would reach it is
/// an error (everything must lie inside the 4 MiB mapped at entry).</item>
/// <item>A module that is not an ELF file is refused (a user passing the wrong file wants to hear it now, not from a
/// kernel panic); any ELF is accepted, the kernel judges class and machine.</item>
/// </list>
/// </summary>
internal static class StosLoader
{
    public const uint KernelBase = StosBootInterface.KernelBase;
    public const int FrameSize = 16;
    public const ulong IdentityMapped = StosPaging.LargePage;   // [0, 4 MiB)
    public const ulong StackReserve = 0x10000;
    public const uint InitialEsp = 0xC03F_FFFC;
    public const ulong FrameTableBase = StosPaging.LargePage;

    /// <summary>True if the image looks like a stos kernel: ELF32 with every loadable segment linked at or above 0xC0000000.</summary>
    public static bool IsLinkedHigh(ElfImage elf) =>
        !elf.Is64 && elf.LoadSegments.All(s => s.VirtualAddress >= KernelBase) && elf.Entry >= KernelBase;

    public static BootResult Load(GuestRam ram, BootRequest request, byte[] file, string reason)
    {
        string path = request.KernelPath;
        if (!ElfImage.HasElfMagic(file))
            throw new BootException($"{path}: not an ELF32 file (stos kernels are ELF32 linked at 0xC0000000)");
        var elf = ElfImage.Parse(path, file);
        if (elf.Is64)
            throw new BootException($"{path}: ELF64 kernel; stos kernels are ELF32");
        if (elf.LoadSegments.FirstOrDefault(s => s.VirtualAddress < KernelBase) is { MemorySize: not 0 } low)
            throw new BootException($"{path}: not linked high: segment {low.Index} is at 0x{low.VirtualAddress:x}, below 0xC0000000 (stos kernels are linked at 0xC0000000 + physical)");
        if (elf.Entry < KernelBase)
            throw new BootException($"{path}: entry point 0x{elf.Entry:x} is below 0xC0000000 (stos kernels are linked high)");

        ulong frames = ram.LowSize / 4096;
        ulong frameTableBytes = frames * FrameSize;
        ulong frameTableReserved = GuestPlacement.AlignUp(frameTableBytes, 4096);
        ulong needed = FrameTableBase + frameTableReserved;
        if (ram.LowSize < needed)
            throw new BootException($"{path}: stos needs at least {(needed + (1 << 20) - 1) >> 20} MiB of guest RAM (4 MiB mapped at entry plus a {frameTableBytes >> 10} KiB frame table), the machine has {ram.LowSize >> 20} MiB");

        var placement = new GuestPlacement(ram);
        placement.Claim(StosPaging.PageDirectory, 4096, "the stos page directory", path);
        placement.Claim(IdentityMapped - StackReserve, StackReserve, "the stos boot stack", path);
        placement.Claim(FrameTableBase, frameTableReserved, "the stos frame table", path);

        var image = ImageLoading.LoadElf(placement, path, file, elf, s => s.VirtualAddress - KernelBase);
        if (image.High > IdentityMapped - StackReserve)
            throw new BootException($"{path}: kernel ends at physical 0x{image.High:x}, past 0x{IdentityMapped - StackReserve:x} (the 4 MiB mapped at entry, less the {StackReserve >> 10} KiB boot stack)");
        ulong entryPhys = elf.Entry - KernelBase;
        if (!image.Contains(entryPhys))
            throw new BootException($"{path}: entry point 0x{elf.Entry:x} is outside the loaded image [0x{image.Low + KernelBase:x}, 0x{image.High + KernelBase:x})");

        byte[]? initramfs = request.InitrdPath is { } ip ? BootFiles.ReadAll(ip, "initramfs") : null;
        var modules = new List<byte[]>();
        foreach (string mp in request.ModulePaths)
        {
            byte[] bytes = BootFiles.ReadAll(mp, "module");
            if (!ElfImage.HasElfMagic(bytes))
                throw new BootException($"{mp}: module is not an ELF file (stos modules are .ko ELF objects)");
            modules.Add(bytes);
        }
        byte[] cmdline = StosBootInterface.EncodeCommandLine(request.CommandLine);

        var segments = MemoryMapEdit.Overlay(PcMemoryLayout.Build(ram), 0, IdentityMapped, MemoryType.Reserved);
        segments = MemoryMapEdit.Overlay(segments, FrameTableBase, frameTableReserved, MemoryType.Reserved);

        var layout = StosBootInterface.Layout(image.High, cmdline.Length, initramfs?.Length,
            modules.Select(m => m.Length).ToList(), segments.Count);
        ulong limit = IdentityMapped - StackReserve;
        if (layout.End > limit)
        {
            string culprit = request.InitrdPath is not null || modules.Count != 0 ? "kernel, initramfs and modules" : "kernel";
            throw new BootException($"{path}: stos boot data overflows: the {culprit} end at physical 0x{layout.End:x}, past 0x{limit:x} (the 4 MiB mapped at entry, less the {StackReserve >> 10} KiB boot stack)");
        }
        placement.Claim(layout.BootInterface, layout.End - layout.BootInterface, "the stos boot data", path);
        StosBootInterface.Write(ram, layout, cmdline, initramfs, modules, segments);

        uint frameTableVirtual = StosPaging.Write(ram, FrameTableBase, frameTableBytes);
        ImageLoading.ZeroFill(ram, FrameTableBase, frameTableReserved);
        BiosDataArea.Write(ram);

        // cli; hlt; jmp short back to the hlt (EB FD: -3 from the end of the jmp).
        ulong stub = placement.Allocate(4, 16, PcMemoryLayout.LowBootDataBase, PcMemoryLayout.ConventionalEnd, "the stos return stub", path);
        ram.Write(stub, [0xFA, 0xF4, 0xEB, 0xFD]);

        uint bi = StosBootInterface.Virt(layout.BootInterface);
        // mov esp, 0xC03FFFFC; push bi; call e_entry
        uint esp = InitialEsp - 8;
        ram.Write32(esp + 4 - KernelBase, bi);
        ram.Write32(esp - KernelBase, StosBootInterface.Virt(stub));

        var state = BootGdt.Flat32(ram, GdtLayout.Multiboot, (uint)elf.Entry);
        state.Cr4 |= VcpuState.Cr4PSE;
        state.Cr3 = StosPaging.PageDirectory;
        state.Cr0 |= VcpuState.Cr0PG;
        state.Rax = bi;
        state.Rsp = esp;
        state.Rbp = 0;

        return new BootResult
        {
            InitialState = state,
            Protocol = BootProtocol.Stos,
            Summary = $"stos ({reason}): ELF32 kernel [0x{image.Low:x}, 0x{image.High:x}) {MultibootLoader.Kib(image.Size)}, entry 0x{elf.Entry:x}, "
                + $"boot_interface at 0x{bi:x}, {modules.Count} module(s), initramfs {(initramfs is null ? "none" : MultibootLoader.Kib((ulong)initramfs.Length))}, "
                + $"first_useable_addr 0x{StosBootInterface.Virt(layout.End):x}, frame table {frames} x {FrameSize} B at 0x{frameTableVirtual:x}",
            MemoryMap = segments,
            SymbolFile = path,
        };
    }
}
