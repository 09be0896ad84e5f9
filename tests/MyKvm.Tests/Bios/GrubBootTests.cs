using MyKvm.TestSupport;
using Xunit.Abstractions;

namespace MyKvm.Tests.Bios;

/// <summary>
/// MBR → GRUB 2 → a Multiboot kernel, all through SeaBIOS: guests/bios-grub has grub-pc-bin's boot.img in the MBR
/// and a core.img after it; GRUB reads guests/mbinfo and a module sector from the disk (INT 13h from protected mode
/// through GRUB's real-mode trampolines) and boots it. mbinfo's report — GRUB's Multiboot info, the memory map it got
/// from SeaBIOS's INT 15h E820, the module's CRC — must equal what it prints under QEMU from the same disk.
/// The image is built only when grub-pc-bin is installed.
/// </summary>
public class GrubBootTests(ITestOutputHelper output)
{
    private const string SeaBios = "/usr/share/seabios/bios.bin";

    private const string ExpectedReport = """
        mbinfo: magic 0x2badb002 ok
        flags 0x0000026f
        bda ebda 0x9fc0 base 639 KiB
        mem_lower 639 KiB mem_upper 130048 KiB
        cmdline "mbinfo loaded by grub"
        boot_loader_name "GRUB 2.06-13+deb12u2"
        mmap_length 120
        mmap 0x0000000000000000-0x000000000009fc00 type 1
        mmap 0x000000000009fc00-0x00000000000a0000 type 2
        mmap 0x00000000000f0000-0x0000000000100000 type 2
        mmap 0x0000000000100000-0x0000000008000000 type 1
        mmap 0x00000000fffc0000-0x0000000100000000 type 2
        mods_count 1
        module 0: start 0x0010a000 end 0x0010a200 page-aligned size 512 crc32 0xbc8f0e80 string "bios-grub-module"
        elf_sec num 15 size 40 addr set shndx 14
        elf_sec symtab .symtab: kmain found at its address
        mbinfo: done

        """;

    private static string? GrubDisk()
    {
        if (!File.Exists(SeaBios) || !File.Exists("/usr/lib/grub/i386-pc/boot.img")) return null;
        TestEnvironment.Guest("mbinfo.elf");   // builds the guests
        string path = Path.Combine(TestEnvironment.RepoRoot, "guests", "build", "bios-grub.img");
        Assert.True(File.Exists(path), "guests/bios-grub was not built although grub-pc-bin is installed");
        return path;
    }

    /// <summary>The kernel's report: from its first line to "mbinfo: done".</summary>
    private static string Report(string serial)
    {
        string s = SeaBiosBootTests.StripAnsi(serial);
        int start = s.IndexOf("mbinfo: magic", StringComparison.Ordinal);
        int end = s.IndexOf("mbinfo: done\n", StringComparison.Ordinal);
        return start < 0 || end < 0 ? s : s[start..(end + "mbinfo: done\n".Length)];
    }

    [Fact]
    public void GrubBootsAMultibootKernelFromTheDiskOnTheSoftCpu()
    {
        string? disk = GrubDisk();
        if (disk is null) return;
        using var m = new BiosTestMachine(new BiosMachineOptions { BiosPath = SeaBios, DiskPath = disk }, BiosTestMachine.CreateSoftCpu);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        m.Run(1_000_000_000);
        output.WriteLine($"{sw.ElapsedMilliseconds} ms wall, {m.Vcpu.RetiredInstructions} instructions; end: {m.EndReason}");
        output.WriteLine(SeaBiosBootTests.StripAnsi(m.Serial));
        string serial = SeaBiosBootTests.StripAnsi(m.Serial);
        Assert.Contains("Booting from Hard Disk...\nGRUB loading...\nWelcome to GRUB!\n", serial);
        Assert.Contains("bios-grub: GRUB 2 is running, loaded from the disk through INT 13h\n", serial);
        Assert.Equal(ExpectedReport, Report(m.Serial));
        Assert.Equal(1, m.ExitStatus);
    }

    [Fact]
    public void QemuPrintsTheSameReport()
    {
        string? disk = GrubDisk();
        if (disk is null || !TestEnvironment.HasCommand("qemu-system-i386")) return;
        string sercon = Path.Combine(Path.GetTempPath(), $"mykvm-sercon-grub-{Environment.ProcessId}.bin");
        File.WriteAllBytes(sercon, [0xF8, 0x03]);
        try
        {
            var r = TestEnvironment.Run("qemu-system-i386", [.. SeaBiosBootTests.QemuArgs(disk), "-fw_cfg", $"name=etc/sercon-port,file={sercon}"],
                timeout: TimeSpan.FromSeconds(60));
            Assert.Equal(1, r.ExitCode);
            Assert.Equal(ExpectedReport, Report(r.Stdout));
        }
        finally
        {
            File.Delete(sercon);
        }
    }
}
