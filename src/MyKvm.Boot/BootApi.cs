using MyKvm.Core;

namespace MyKvm.Boot;

/// <summary>How a kernel image is entered. <see cref="Auto"/> picks one from the image's headers.</summary>
public enum BootProtocol { Auto, Multiboot, Stos, Linux, Elf }

/// <summary>What to boot: the kernel, its modules or initrd, and the command line.</summary>
public sealed record BootRequest
{
    public required string KernelPath { get; init; }

    /// <summary>
    /// Linux: the initrd. stos: the initramfs (a cpio archive). Multiboot: a QEMU-style module list,
    /// "file args,file2" (",," for a literal comma), loaded before <see cref="ModulePaths"/>.
    /// </summary>
    public string? InitrdPath { get; init; }

    /// <summary>
    /// Multiboot: each entry is "file [args]"; the whole string becomes the module's string, as with QEMU's
    /// -initrd. stos: each entry is the path of a .ko ELF file. Linux: must be empty.
    /// </summary>
    public IReadOnlyList<string> ModulePaths { get; init; } = [];

    public string CommandLine { get; init; } = "";
    public BootProtocol Protocol { get; init; } = BootProtocol.Auto;

    /// <summary>Linux screen_info: 80x25 VGA text when true, zeroed (no console) when false.</summary>
    public bool VgaConsole { get; init; } = true;
}

/// <summary>What a loader did: the vCPU state to start from, and what it told the guest.</summary>
public sealed class BootResult
{
    public required VcpuState InitialState { get; init; }

    /// <summary>The protocol used (never <see cref="BootProtocol.Auto"/>).</summary>
    public required BootProtocol Protocol { get; init; }

    /// <summary>One line for --verbose: protocol, why it was chosen, entry point, sizes.</summary>
    public required string Summary { get; init; }

    /// <summary>The memory map given to the guest (E820 table, Multiboot mmap, stos segment list).</summary>
    public required IReadOnlyList<MemoryMapEntry> MemoryMap { get; init; }

    /// <summary>The ELF whose symbols the debugger should load, if any.</summary>
    public string? SymbolFile { get; init; }
}

/// <summary>A kernel, module or initrd that cannot be booted. The message is one line naming the file.</summary>
public sealed class BootException : Exception
{
    public BootException(string message) : base(message) { }
    public BootException(string message, Exception inner) : base(message, inner) { }
}
