using MyKvm.Core;

namespace MyKvm.Boot.Bios;

/// <summary>
/// A BIOS image (SeaBIOS's bios.bin, bios-256k.bin, …) as read from a file. It is mapped so that it ends at 4 GiB,
/// and its last 256 KiB (or all of it, if smaller) also appear below 1 MiB, ending at 0xFFFFF — the shadow RAM
/// (0xC0000–0xFFFFF) the 440FX's PAM registers control. That is what the BIOS's own shadowing would put there:
/// SeaBIOS copies [code start, 1 MiB) from the same offsets below 4 GiB, and its 256 KiB build starts its code
/// below 0xE0000.
/// </summary>
public sealed class BiosImage
{
    /// <summary>QEMU's rule: a BIOS is a whole number of 64 KiB blocks.</summary>
    public const int Granularity = 64 << 10;
    /// <summary>Up to 16 MiB: the image must end above the I/O APIC (0xFEC00000) and local APIC (0xFEE00000) windows.</summary>
    public const int MaxSize = 16 << 20;
    /// <summary>How much of the image's end is copied below 1 MiB: the PAM-controlled 0xC0000–0xFFFFF.</summary>
    public const int LowAliasMaxSize = 256 << 10;

    private BiosImage(string name, byte[] bytes)
    {
        Name = name;
        Bytes = bytes;
    }

    /// <summary>The file the image came from (for messages).</summary>
    public string Name { get; }
    public byte[] Bytes { get; }
    public int Size => Bytes.Length;

    /// <summary>Guest-physical address of the first byte of the flash mapping.</summary>
    public ulong FlashBase => GuestRam.FourGiB - (ulong)Size;

    /// <summary>Size of the copy below 1 MiB.</summary>
    public int LowAliasSize => Math.Min(Size, LowAliasMaxSize);

    /// <summary>Where the copy below 1 MiB starts (0xE0000 for a 128 KiB image, 0xC0000 for 256 KiB or more).</summary>
    public ulong LowAliasBase => PcMemoryLayout.HighMemoryStart - (ulong)LowAliasSize;

    public static BiosImage Load(string path) => FromBytes(BootFiles.ReadAll(path, "BIOS"), path);

    /// <summary>Checks the size rules and that the reset vector holds something; <see cref="BootException"/> otherwise.</summary>
    public static BiosImage FromBytes(byte[] bytes, string name)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        if (bytes.Length == 0 || bytes.Length % Granularity != 0)
            throw new BootException($"{name}: a BIOS image must be a non-empty multiple of 64 KiB, this one is {bytes.Length} bytes");
        if (bytes.Length > MaxSize)
            throw new BootException($"{name}: BIOS image of {bytes.Length >> 20} MiB is larger than the {MaxSize >> 20} MiB that fit below 4 GiB");
        // The reset vector is the image's 16th byte from the end (0xFFFFFFF0); erased flash (0xFF) or zeros there cannot start.
        var vector = bytes.AsSpan(bytes.Length - 16, 16);
        if (!vector.ContainsAnyExcept((byte)0x00) || !vector.ContainsAnyExcept((byte)0xFF))
            throw new BootException($"{name}: no code at the reset vector (the last 16 bytes of the image are all 0x{vector[0]:x2}); not a BIOS image?");
        return new BiosImage(name, bytes);
    }
}

/// <summary>What <see cref="BiosBoot.Prepare"/> did.</summary>
/// <param name="InitialState">The processor's power-on state (SDM Vol. 3A §9.1.1).</param>
/// <param name="Summary">One line for --verbose.</param>
public sealed record BiosBootResult(VcpuState InitialState, BiosImage Image, string Summary);

/// <summary>
/// The "BIOS boot" entry: instead of loading a kernel, the machine starts like a PC at power-on and the firmware does
/// the rest (POST, INT 19h, the disk's boot sector). This copies the image's end into RAM below 1 MiB — our model of
/// the 440FX shadow RAM (PAM), see <c>Devices/Firmware/FirmwareHostBridge</c> — and gives the reset state. The caller
/// maps the full image read-only at <see cref="BiosImage.FlashBase"/> (<c>Devices.Firmware.BiosRom</c>) and offers
/// fw_cfg (<c>Devices.Firmware.PcFirmwareConfig</c>).
/// </summary>
public static class BiosBoot
{
    public static BiosBootResult Prepare(GuestRam ram, BiosImage image)
    {
        ArgumentNullException.ThrowIfNull(ram);
        ArgumentNullException.ThrowIfNull(image);
        // GuestRam is at least 1 MiB, so the alias always lands in RAM.
        ram.Write(image.LowAliasBase, image.Bytes.AsSpan(image.Size - image.LowAliasSize));
        var state = ResetState();
        string summary = $"bios: {image.Name} ({image.Size >> 10} KiB) at 0x{image.FlashBase:x}-0xffffffff, " +
                         $"last {image.LowAliasSize >> 10} KiB copied to 0x{image.LowAliasBase:x}; reset at f000:fff0 (linear 0xfffffff0)";
        return new BiosBootResult(state, image, summary);
    }

    /// <summary>
    /// The state after RESET (Intel SDM Vol. 3A §9.1.1, Table 9-1): real mode, CS selector F000 with base FFFF0000 and
    /// EIP FFF0, so the first fetch is at 0xFFFFFFF0 (§9.1.4); other segments selector 0, base 0, limit FFFF; CR0
    /// 0x60000010 (CD, NW, ET); EFLAGS 2; EDX the processor signature (family 6); GDTR/IDTR base 0 limit FFFF.
    /// </summary>
    public static VcpuState ResetState()
    {
        var s = new VcpuState
        {
            Rip = 0xFFF0,
            Rflags = 0x2,
            Rdx = 0x600,
            Cr0 = 0x6000_0010,
            Cs = new SegmentState(0xF000, 0xFFFF_0000, 0xFFFF, 0x9B),
            GdtBase = 0,
            GdtLimit = 0xFFFF,
            IdtBase = 0,
            IdtLimit = 0xFFFF,
            Ldtr = new SegmentState(0, 0, 0xFFFF, 0x82),
            Tr = new SegmentState(0, 0, 0xFFFF, 0x8B),
        };
        s.Ds = s.Es = s.Fs = s.Gs = s.Ss = new SegmentState(0, 0, 0xFFFF, 0x93);
        return s;
    }

    /// <summary>
    /// The VGA BIOS to offer with <paramref name="biosPath"/> when none is named: SeaBIOS's ISA VGA build
    /// (vgabios-isavga.bin, for a plain VGA without a PCI function, like ours) from the same directory, if present.
    /// </summary>
    public static string? DefaultVgaBios(string biosPath)
    {
        string? dir = Path.GetDirectoryName(Path.GetFullPath(biosPath));
        if (dir is null) return null;
        string candidate = Path.Combine(dir, "vgabios-isavga.bin");
        return File.Exists(candidate) ? candidate : null;
    }

    /// <summary>Reads an option ROM (a VGA BIOS): a 0x55AA header and a size of at most 128 KiB.</summary>
    public static byte[] LoadOptionRom(string path)
    {
        byte[] rom = BootFiles.ReadAll(path, "option ROM");
        if (rom.Length < 512 || rom[0] != 0x55 || rom[1] != 0xAA)
            throw new BootException($"{path}: not an option ROM (no 55 AA signature)");
        if (rom.Length > 128 << 10)
            throw new BootException($"{path}: option ROM larger than 128 KiB");
        return rom;
    }
}
