using System.Text.RegularExpressions;
using MyKvm.Core;
using MyKvm.TestSupport;
using Xunit.Abstractions;

namespace MyKvm.Tests.Bios;

/// <summary>
/// Debian's SeaBIOS boots guests/bios-boot (an MBR, and a stage 2 that checks INT 10h/12h/13h/15h/16h) on our
/// devices, fw_cfg and BIOS mapping: on the software CPU, and on Unicorn as an independent reference CPU. The
/// stage 2's "bios:" lines must read exactly as under qemu-system-i386 with the same BIOS, disk and devices
/// (<c>-nodefaults -no-acpi</c>: no CD-ROM, no parallel port, no ACPI tables in high memory — see
/// <see cref="QemuArgs"/>).
/// </summary>
public class SeaBiosBootTests(ITestOutputHelper output)
{
    private const string SeaBios = "/usr/share/seabios/bios.bin";
    private const string VgaBios = "/usr/share/seabios/vgabios-isavga.bin";

    /// <summary>What stage 2 prints under QEMU 7.2 + SeaBIOS 1.16.2 with 128 MiB (checked against QEMU when it is installed).</summary>
    private const string ExpectedVerdicts = """
        bios: stage 2 at 0000:8000, boot drive 80
        bios: int13 extensions version 30, api bitmap 0007
        bios: geometry 7 cylinders, 16 heads, 63 sectors per track, drives 1
        bios: edd: 8192 sectors of 512 bytes
        bios: chs read of lba 40: ok
        bios: lba read of 24 sectors at lba 100: ok
        bios: lba write and read back of lba 300: ok
        bios: read past the last sector fails with status 01
        bios: int12 base memory 639 KiB
        bios: int15/88 extended memory 64512 KiB
        bios: int15/e801 ax=3c00 bx=0700 cx=3c00 dx=0700
        bios: e820 0: 0000000000000000 000000000009fc00 type 1
        bios: e820 1: 000000000009fc00 0000000000000400 type 2
        bios: e820 2: 00000000000f0000 0000000000010000 type 2
        bios: e820 3: 0000000000100000 0000000007f00000 type 1
        bios: e820 4: 00000000fffc0000 0000000000040000 type 2
        bios: int15/2402 a20 state 01
        bios: timer ticks during a 200 ms int15/86 wait: ok
        bios: int16/01 keyboard buffer empty: ok
        bios: int10/0f video mode 03, 80 columns
        bios: all checks passed
        """;

    private static bool HaveSeaBios => File.Exists(SeaBios);

    /// <summary>Serial console text without the VT100 sequences SeaBIOS's serial console emits, LF line ends.</summary>
    internal static string StripAnsi(string s) => Regex.Replace(s, @"\x1b(\[[0-9;?]*[A-Za-z]|c)", "").Replace("\r", "");

    private static string Verdicts(string serial) =>
        string.Join('\n', StripAnsi(serial).Split('\n').Where(l => l.StartsWith("bios:", StringComparison.Ordinal))) + "\n";

    private BiosTestMachine Boot(Func<BiosTestMachine, IVcpu> cpu, bool disk = true, string? vgaBios = null, bool dma = true,
        string bios = SeaBios, int memoryMiB = 128, IReadOnlyList<string>? optionRoms = null)
    {
        var m = new BiosTestMachine(new BiosMachineOptions
        {
            BiosPath = bios,
            OptionRomPaths = optionRoms ?? [],
            MemoryMiB = memoryMiB,
            DiskPath = disk ? TestEnvironment.Guest("bios-boot.img") : null,
            VgaBiosPath = vgaBios,
            FwCfgDma = dma,
        }, cpu);
        return m;
    }

    private void Report(BiosTestMachine m, System.Diagnostics.Stopwatch sw)
    {
        output.WriteLine($"{m.Vcpu.BackendName}: {sw.ElapsedMilliseconds} ms wall, {m.Vcpu.RetiredInstructions} instructions, " +
                         $"{m.Clock.NowNs / 1_000_000} ms virtual; end: {m.EndReason}");
        output.WriteLine("--- serial (escape sequences removed) ---");
        output.WriteLine(StripAnsi(m.Serial));
        output.WriteLine("--- SeaBIOS debug log (port 0x402) ---");
        output.WriteLine(m.DebugLog);
    }

    /// <summary>The same disk under QEMU; null when QEMU is not installed.</summary>
    internal static IEnumerable<string> QemuArgs(string disk) =>
    [
        "-nodefaults", "-no-acpi", "-m", "128", "-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot",
        "-bios", SeaBios, "-snapshot", "-drive", $"file={disk},format=raw,if=ide",
        "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
        // No kvmvapic.bin option ROM (QEMU's TCG APIC adds it; we have nothing like it): option ROMs land at the same addresses.
        "-global", "apic-common.vapic=off",
    ];

    private static string? QemuSerial(string disk, params string[] extra)
    {
        if (!TestEnvironment.HasCommand("qemu-system-i386")) return null;
        // QEMU turns SeaBIOS's serial console on only with -nographic; pass the same fw_cfg file we do instead.
        string sercon = Path.Combine(Path.GetTempPath(), $"mykvm-sercon-{Environment.ProcessId}.bin");
        File.WriteAllBytes(sercon, [0xF8, 0x03]);
        try
        {
            var r = TestEnvironment.Run("qemu-system-i386", [.. QemuArgs(disk), "-fw_cfg", $"name=etc/sercon-port,file={sercon}", .. extra],
                timeout: TimeSpan.FromSeconds(60));
            Assert.Equal(1, r.ExitCode);
            return r.Stdout;
        }
        finally
        {
            File.Delete(sercon);
        }
    }

    private static void AssertBootedLikeQemu(BiosTestMachine m)
    {
        Assert.Equal(1, m.ExitStatus);
        string serial = StripAnsi(m.Serial);
        Assert.StartsWith("SeaBIOS (version 1.16.2-debian-1.16.2-1)\nBooting from Hard Disk...\nbios-boot: MBR at 0000:7c00, boot drive 80\n", serial);
        Assert.Equal(ExpectedVerdicts + "\n", Verdicts(m.Serial));
        // SeaBIOS took the QEMU path (fw_cfg found, files read) and found our IDE disk.
        Assert.Contains("Running on QEMU (i440fx)\nFound QEMU fw_cfg\n", m.DebugLog);
        Assert.Contains("qemu/e820: addr 0x0000000000000000 len 0x0000000008000000 [RAM]\n", m.DebugLog);
        Assert.Contains("ata0-0: MYKVM HARDDISK ATA-6 Hard-Disk (4 MiBytes)\n", m.DebugLog);
        Assert.Contains("Booting from 0000:7c00\n", m.DebugLog);
    }

    /// <summary>Both Debian builds: the 256 KiB one keeps code below 0xE0000 (the whole 0xC0000–0xFFFFF copy matters).</summary>
    [Theory]
    [InlineData("bios.bin")]
    [InlineData("bios-256k.bin")]
    public void SoftCpuBootsTheDiskLikeQemu(string image)
    {
        string bios = Path.Combine("/usr/share/seabios", image);
        if (!File.Exists(bios)) return;   // the seabios package comes from scripts/setup.sh
        using var m = Boot(BiosTestMachine.CreateSoftCpu, bios: bios);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        m.Run(200_000_000);
        Report(m, sw);
        AssertBootedLikeQemu(m);
        // The first instruction came from the flash at 0xFFFFFFF0 (MMIO fetches), not from the copy below 1 MiB.
        Assert.InRange(m.Rom.Reads, 5, 64);
        Assert.Contains("CPU Mhz=999\n", m.DebugLog);   // the software CPU's TSC runs at 1 GHz of machine time
    }

    [Fact]
    public void UnicornBootsTheDiskLikeQemu()
    {
        if (!HaveSeaBios || !UnicornVcpu.Available) return;
        using var m = Boot(BiosTestMachine.CreateUnicorn);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        m.Run(200_000_000);
        Report(m, sw);
        AssertBootedLikeQemu(m);
        Assert.True(((UnicornVcpu)m.Vcpu).InterruptsDelivered > 100, "IRQ 0 and INT n went through the real-mode IVT");
    }

    /// <summary>4 GiB: fw_cfg's etc/e820 has RAM below the 3 GiB hole and from 4 GiB; INT 15h E820 as QEMU -m 4096 reports it.</summary>
    [Fact]
    public void RamAboveTheHoleReachesTheE820Map()
    {
        if (!HaveSeaBios) return;
        using var m = Boot(BiosTestMachine.CreateSoftCpu, memoryMiB: 4096);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        m.Run(200_000_000);
        Report(m, sw);
        Assert.Equal(1, m.ExitStatus);
        string verdicts = Verdicts(m.Serial);
        Assert.Contains("""
            bios: int15/e801 ax=3c00 bx=bf00 cx=3c00 dx=bf00
            bios: e820 0: 0000000000000000 000000000009fc00 type 1
            bios: e820 1: 000000000009fc00 0000000000000400 type 2
            bios: e820 2: 00000000000f0000 0000000000010000 type 2
            bios: e820 3: 0000000000100000 00000000bff00000 type 1
            bios: e820 4: 00000000fffc0000 0000000000040000 type 2
            bios: e820 5: 0000000100000000 0000000040000000 type 1
            bios: int15/2402 a20 state 01
            """, verdicts);
        Assert.EndsWith("bios: all checks passed\n", verdicts);
    }

    [Fact]
    public void QemuPrintsTheSameVerdicts()
    {
        if (!HaveSeaBios) return;
        string? qemu = QemuSerial(TestEnvironment.Guest("bios-boot.img"));
        if (qemu is null) return;   // no QEMU here: the constant above was taken from it
        Assert.Equal(ExpectedVerdicts + "\n", Verdicts(qemu));
    }

    [Fact]
    public void VgaBiosPutsTheBootOnTheScreenThroughThePortInterface()
    {
        if (!HaveSeaBios || !File.Exists(VgaBios)) return;
        // fw_cfg without DMA: SeaBIOS reads every item, the VGA BIOS included, byte by byte through port 0x511.
        using var m = Boot(BiosTestMachine.CreateSoftCpu, vgaBios: VgaBios, dma: false);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        // The screen as INT 19h starts (the boot sector's lines later scroll the banner away).
        m.Run(300_000_000, until: mm => mm.Vga.CaptureText().ToPlainText().Contains("Booting from Hard Disk..."));
        string atBoot = m.Vga.CaptureText().ToPlainText();
        m.Run(300_000_000);
        Report(m, sw);
        string screen = m.Vga.CaptureText().ToPlainText();
        output.WriteLine("--- VGA text screen at INT 19h ---");
        output.WriteLine(atBoot);
        output.WriteLine("--- VGA text screen at the end ---");
        output.WriteLine(screen);
        Assert.Equal(1, m.ExitStatus);
        Assert.Equal(0, m.FwCfg.DmaTransfers);
        Assert.Contains("Running option rom at c000:0003\n", m.DebugLog);
        Assert.Contains("Start SeaVGABIOS (version 1.16.2-debian-1.16.2-1)\n", m.DebugLog);
        Assert.StartsWith("SeaBIOS (version 1.16.2-debian-1.16.2-1)\nBooting from Hard Disk...\n", atBoot);
        Assert.Contains("bios-boot: MBR at 0000:7c00, boot drive 80\nbios: stage 2 at 0000:8000, boot drive 80\n", screen);
        Assert.Contains("\nbios: all checks passed\nbios-boot: end\n", screen);
        // The serial console mirrors the same text.
        Assert.Equal(ExpectedVerdicts + "\n", Verdicts(m.Serial));
    }

    /// <summary>guests/bios-optrom as genroms/: SeaBIOS runs its init during POST, at the address QEMU -option-rom gives it.</summary>
    [Fact]
    public void OptionRomInitRunsDuringPost()
    {
        if (!HaveSeaBios) return;
        string rom = TestEnvironment.Guest("bios-optrom.rom");
        using var m = Boot(BiosTestMachine.CreateSoftCpu, optionRoms: [rom]);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        m.Run(200_000_000);
        Report(m, sw);
        Assert.Equal(1, m.ExitStatus);
        const string line = "bios-optrom: option ROM init called at c000:0003\n";
        Assert.Contains("SeaBIOS (version 1.16.2-debian-1.16.2-1)\n" + line + "Booting from Hard Disk...\n", StripAnsi(m.Serial));
        Assert.Equal(ExpectedVerdicts + "\n", Verdicts(m.Serial));
        if (QemuSerial(TestEnvironment.Guest("bios-boot.img"), "-option-rom", rom) is { } qemu)
            Assert.Contains(line, StripAnsi(qemu));
    }

    [Fact]
    public void WithoutADiskSeaBiosSaysSo()
    {
        if (!HaveSeaBios) return;
        using var m = Boot(BiosTestMachine.CreateSoftCpu, disk: false);
        m.Run(200_000_000, until: mm => StripAnsi(mm.Serial).Contains("No bootable device."));
        Report(m, new System.Diagnostics.Stopwatch());
        Assert.Null(m.ExitStatus);
        Assert.Contains("No bootable device.", StripAnsi(m.Serial));
        Assert.DoesNotContain("ata0-0:", m.DebugLog);
    }
}
