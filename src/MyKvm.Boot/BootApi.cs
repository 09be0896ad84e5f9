using MyKvm.Core;

namespace MyKvm.Boot;

/// <summary>How a kernel image is entered. <see cref="Auto"/> picks one from the image's headers.</summary>
public enum BootProtocol { Auto, Multiboot, Stos, Linux, Elf, Multiboot2 }

/// <summary>
/// Which entry point of a Linux bzImage to use (Documentation/arch/x86/boot.rst, "32-bit Boot Protocol" and
/// "64-bit Boot Protocol").
/// </summary>
public enum LinuxEntry
{
    /// <summary>
    /// The 64-bit entry when the kernel has it (xloadflags XLF_KERNEL_64) and <see cref="BootRequest.LongModeAvailable"/>
    /// says the CPU can start in long mode; the 32-bit entry otherwise (every x86 bzImage has it).
    /// </summary>
    Auto,
    /// <summary>Flat 32-bit protected mode, paging off, at the load address.</summary>
    Entry32,
    /// <summary>Long mode with identity-mapped page tables, at the load address + 0x200. Needs XLF_KERNEL_64.</summary>
    Entry64,
}

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
    /// -initrd (Multiboot 2: only the args, as GRUB's module2). stos: each entry is the path of a .ko ELF file.
    /// Linux: must be empty.
    /// </summary>
    public IReadOnlyList<string> ModulePaths { get; init; } = [];

    public string CommandLine { get; init; } = "";
    public BootProtocol Protocol { get; init; } = BootProtocol.Auto;

    /// <summary>Linux screen_info: 80x25 VGA text when true, zeroed (no console) when false.</summary>
    public bool VgaConsole { get; init; } = true;

    /// <summary>Linux: which entry point to start the kernel at.</summary>
    public LinuxEntry LinuxEntry { get; init; } = LinuxEntry.Auto;

    /// <summary>
    /// The CPU that will run the guest can be started in long mode (KVM can; the software CPU cannot yet).
    /// Only <see cref="LinuxEntry.Auto"/> reads it; an explicit <see cref="LinuxEntry.Entry64"/> is honoured either way.
    /// </summary>
    public bool LongModeAvailable { get; init; }

    /// <summary>
    /// The machine's ACPI RSDP, byte for byte (20 bytes for ACPI 1.0, its <c>length</c> field's bytes for 2.0+), for
    /// Multiboot 2's ACPI tags (old RSDP for revision 0, new RSDP for revision 2 or later). Null: no ACPI tables.
    /// </summary>
    public byte[]? AcpiRsdp { get; init; }
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
