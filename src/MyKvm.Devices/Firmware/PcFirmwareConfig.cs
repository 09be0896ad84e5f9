using System.Buffers.Binary;
using System.Text;
using MyKvm.Core;

namespace MyKvm.Devices.Firmware;

/// <summary>What the firmware is told about the machine beyond its RAM.</summary>
public sealed record FirmwareConfigOptions
{
    /// <summary>CPUs present at boot (<see cref="FwCfgKeys.NbCpus"/>, <see cref="FwCfgKeys.MaxCpus"/>).</summary>
    public int Cpus { get; init; } = 1;

    /// <summary>
    /// <c>etc/sercon-port</c>: SeaBIOS runs a serial console on this UART (0x3F8 = COM1), mirroring INT 10h text
    /// output there, as QEMU's <c>-nographic</c> does. Null: no serial console.
    /// </summary>
    public ushort? SerialConsolePort { get; init; }

    /// <summary><see cref="FwCfgKeys.BootMenu"/> (SeaBIOS's <c>etc/show-boot-menu</c>): off skips the "Press ESC" wait.</summary>
    public bool BootMenu { get; init; }

    /// <summary><see cref="FwCfgKeys.NoGraphic"/>: the machine has no display.</summary>
    public bool NoGraphic { get; init; }

    /// <summary>A VGA BIOS image (e.g. SeaBIOS's vgabios-isavga.bin) offered as <c>vgaroms/NAME</c>: SeaBIOS copies it to 0xC0000 and runs it.</summary>
    public byte[]? VgaBios { get; init; }

    public string VgaBiosName { get; init; } = "vgabios-isavga.bin";

    /// <summary>
    /// Other option ROMs, offered as <c>genroms/NAME</c> (QEMU's <c>-option-rom</c>): SeaBIOS copies each into the
    /// 0xC0000–0xEFFFF area after the VGA BIOS, checks its signature and checksum, and calls its init entry.
    /// </summary>
    public IReadOnlyList<(string Name, byte[] Image)> OptionRoms { get; init; } = [];

    /// <summary><c>etc/boot-menu-wait</c>: how long the boot menu prompt waits, in milliseconds (with <see cref="BootMenu"/>).</summary>
    public ushort? BootMenuWaitMs { get; init; }

    /// <summary>
    /// <c>etc/boot-fail-wait</c> in milliseconds: how long SeaBIOS waits before rebooting when nothing boots;
    /// -1 (QEMU's default) means print "No bootable device." and wait forever.
    /// </summary>
    public int BootFailWaitMs { get; init; } = -1;

    /// <summary><c>bootorder</c>: OpenFirmware device paths, one per line, most preferred first. Null: the BIOS default order.</summary>
    public IReadOnlyList<string>? BootOrder { get; init; }

    /// <summary>Offer the DMA interface.</summary>
    public bool Dma { get; init; } = true;
}

/// <summary>
/// The fw_cfg contents a QEMU PC gives SeaBIOS, for this machine: signature and features, RAM size, CPU count,
/// boot menu off, IRQ 0 routed to I/O APIC pin 2, option ROMs (<c>vgaroms/</c>, <c>genroms/</c>), and the RAM map as <c>etc/e820</c> (QEMU's layout: RAM from 0 to
/// the low-RAM end and from 4 GiB; SeaBIOS reserves its own areas — EBDA, 0xF0000, its high tables, the flash — and
/// hands the result to the OS through INT 15h E820).
/// </summary>
public static class PcFirmwareConfig
{
    /// <summary>E820 type 1 (ACPI "AddressRangeMemory").</summary>
    private const uint E820Ram = 1;

    public static FwCfgDevice Create(GuestRam ram, FirmwareConfigOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(ram);
        options ??= new FirmwareConfigOptions();
        if (options.Cpus is < 1 or > 255) throw new ArgumentOutOfRangeException(nameof(options), "1 to 255 CPUs");

        var fw = new FwCfgDevice(ram, options.Dma);
        fw.Add(FwCfgKeys.Uuid, new byte[16]);
        fw.AddU64(FwCfgKeys.RamSize, ram.Size);
        fw.AddU16(FwCfgKeys.NoGraphic, options.NoGraphic ? (ushort)1 : (ushort)0);
        fw.AddU16(FwCfgKeys.NbCpus, (ushort)options.Cpus);
        fw.AddU16(FwCfgKeys.MaxCpus, (ushort)options.Cpus);
        fw.AddU16(FwCfgKeys.BootMenu, options.BootMenu ? (ushort)1 : (ushort)0);
        // Our I/O APIC takes ISA IRQ 0 on pin 2 (Apic/README.md); SeaBIOS writes the override into its MP table.
        fw.AddU32(FwCfgKeys.Irq0Override, 1);

        fw.AddFile("etc/e820", E820(ram));
        var failWait = new byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(failWait, options.BootFailWaitMs);
        fw.AddFile("etc/boot-fail-wait", failWait);
        if (options.SerialConsolePort is { } port)
        {
            var p = new byte[2];
            BinaryPrimitives.WriteUInt16LittleEndian(p, port);
            fw.AddFile("etc/sercon-port", p);
        }
        if (options.VgaBios is { } vga)
            fw.AddFile("vgaroms/" + options.VgaBiosName, vga);
        foreach (var (name, image) in options.OptionRoms)
            fw.AddFile("genroms/" + name, image);
        if (options.BootMenuWaitMs is { } wait)
        {
            var w = new byte[2];
            BinaryPrimitives.WriteUInt16LittleEndian(w, wait);
            fw.AddFile("etc/boot-menu-wait", w);
        }
        if (options.BootOrder is { Count: > 0 } order)
            fw.AddFile("bootorder", Encoding.ASCII.GetBytes(string.Join('\n', order) + "\0"));
        return fw;
    }

    /// <summary>
    /// <c>etc/e820</c>: packed little-endian entries of address (u64), length (u64), type (u32) — the RAM regions of
    /// <paramref name="ram"/>.
    /// </summary>
    public static byte[] E820(GuestRam ram)
    {
        var regions = ram.Regions;
        var table = new byte[20 * regions.Length];
        for (int i = 0; i < regions.Length; i++)
        {
            var entry = table.AsSpan(20 * i, 20);
            BinaryPrimitives.WriteUInt64LittleEndian(entry, regions[i].GuestPhysical);
            BinaryPrimitives.WriteUInt64LittleEndian(entry[8..], regions[i].Size);
            BinaryPrimitives.WriteUInt32LittleEndian(entry[16..], E820Ram);
        }
        return table;
    }
}
