using MyKvm.Boot.Tests.Support;

namespace MyKvm.Boot.Integration;

/// <summary>
/// mini-stos booted through the stos protocol by the real machine on the software CPU, in the three ways a
/// student starts it: the CLI form, a .boot file, and a .boot file with command-line overrides. Its report is
/// compared with what the boot files say (<see cref="MinistosReport"/>). guest_exit(0) makes mykvm exit 1.
/// </summary>
public sealed class MinistosBootTests : IDisposable
{
    private const int GuestPassed = 1;
    private readonly CliRunner _cli = new();

    public void Dispose() => _cli.Dispose();

    private static string Kernel => Guests.Get("ministos.elf");
    private static string Hello => Guests.Get("ministos/hello.ko");
    private static string Greet => Guests.Get("ministos/greet.ko");
    private static string Initramfs => Guests.Get("ministos/initramfs.cpio");

    private static void AssertReport(CliRunner.Result r, int memoryMiB, string commandLine, IReadOnlyList<string> modules, string? initramfs)
    {
        Assert.True(r.ExitCode == GuestPassed, $"exit {r.ExitCode}\nstderr: {r.Stderr}\nserial:\n{r.Serial}");
        Assert.Equal(MinistosReport.Expected(memoryMiB, commandLine, modules, initramfs), MinistosReport.Select(r.Serial));
        Assert.DoesNotContain("FAIL", r.Serial);
    }

    [Fact]
    public void CliForm()
    {
        var r = _cli.Run("-m", "128", "--kernel", Kernel, "--initrd", Initramfs, "--modules", $"{Hello},{Greet}", "--accel", "soft",
            "init.mode=tests", "greet.who=you", "quiet");
        AssertReport(r, 128, "init.mode=tests greet.who=you quiet", [Hello, Greet], Initramfs);
    }

    [Fact]
    public void CliForm_KernelOnly()
    {
        var r = _cli.Run("-m", "32", "--kernel", Kernel, "--verbose");
        AssertReport(r, 32, "", [], null);
        Assert.Contains("stos (auto: ELF32 linked at 0xC0000000 or above, no Multiboot header)", r.Stderr);
    }

    [Fact]
    public void BootFileForm_PathsRelativeToTheFile()
    {
        _cli.Copy(Kernel, "course/kernel/stos");
        _cli.Copy(Hello, "course/modules/hello.ko");
        _cli.Copy(Greet, "course/modules/greet.ko");
        _cli.Copy(Initramfs, "course/initramfs.img");
        string boot = _cli.Write("course/stos.boot", """
            # the course's boot file
            commandline=init.mode=all hello.loud=yes
            kernel=kernel/stos
            initramfs=initramfs.img
            module=modules/greet.ko
            module=modules/hello.ko
            memory=64
            """);
        var r = _cli.Run("-f", boot);
        string dir = Path.GetDirectoryName(boot)!;
        AssertReport(r, 64, "init.mode=all hello.loud=yes",
            [Path.Combine(dir, "modules/greet.ko"), Path.Combine(dir, "modules/hello.ko")], Path.Combine(dir, "initramfs.img"));
    }

    [Fact]
    public void TheSampleBootFileInTheRepository()
    {
        _ = Kernel; _ = Hello; _ = Greet; _ = Initramfs;   // built
        string boot = Path.Combine(Guests.RepoRoot, "guests", "ministos", "ministos.boot");
        var r = _cli.Run("-f", boot);
        AssertReport(r, 128, "init.mode=tests greet.who=world", [Hello, Greet], Initramfs);
    }

    [Fact]
    public void Mixed_BootFileWithCommandLineOverrides()
    {
        string boot = _cli.Write("mixed.boot", $"""
            commandline=init.mode=all
            kernel={Kernel}
            module={Hello}
            """);
        // The CLI adds the initramfs and replaces the command line and the memory size.
        var r = _cli.Run("-f", boot, "-m", "48", "--initrd", Initramfs, "init.mode=uland", "hello.x=1");
        AssertReport(r, 48, "init.mode=uland hello.x=1", [Hello], Initramfs);
    }

    [Fact]
    public void BootFile_ProtocolMultibootOverridesTheStosDefault()
    {
        // mbinfo is a Multiboot kernel: a .boot file must say so, since .boot implies stos.
        string boot = _cli.Write("mb.boot", $"kernel={Guests.Get("mbinfo.elf")}\nprotocol=multiboot\ncommandline=x=1\n");
        var r = _cli.Run("-f", boot);
        Assert.Equal(GuestPassed, r.ExitCode);
        Assert.Contains("mbinfo: magic 0x2badb002 ok", r.Serial);
        string implied = _cli.Write("mb2.boot", $"kernel={Guests.Get("mbinfo.elf")}\n");
        var bad = _cli.Run("-f", implied);
        AssertOneLine(bad, "not linked high");
    }

    // ---- bad input: exit 2, one line naming the file ----

    private static void AssertOneLine(CliRunner.Result r, params string[] fragments)
    {
        Assert.Equal(2, r.ExitCode);
        var lines = r.Stderr.TrimEnd('\n').Split('\n');
        Assert.Single(lines);
        Assert.StartsWith("mykvm: ", lines[0]);
        foreach (var f in fragments) Assert.Contains(f, lines[0]);
    }

    [Fact]
    public void BootFile_MissingKernelPath()
    {
        string boot = _cli.Write("nokernel.boot", "kernel=kernel/missing\n");
        AssertOneLine(_cli.Run("-f", boot), Path.Combine(_cli.Dir, "kernel/missing"), "kernel file not found");
    }

    [Fact]
    public void BootFile_MissingModuleAndInitramfsPaths()
    {
        string boot = _cli.Write("nomod.boot", $"kernel={Kernel}\nmodule=gone.ko\n");
        AssertOneLine(_cli.Run("-f", boot), Path.Combine(_cli.Dir, "gone.ko"), "module file not found");
        boot = _cli.Write("noinitrd.boot", $"kernel={Kernel}\ninitramfs=gone.img\n");
        AssertOneLine(_cli.Run("-f", boot), Path.Combine(_cli.Dir, "gone.img"), "initramfs file not found");
    }

    [Fact]
    public void BootFile_DuplicateKernel()
    {
        string boot = _cli.Write("dup.boot", $"kernel={Kernel}\nkernel={Kernel}\n");
        AssertOneLine(_cli.Run("-f", boot), "dup.boot:2", "duplicate 'kernel='");
    }

    [Fact]
    public void ModuleThatIsNotElf()
    {
        string notes = _cli.Write("notes.txt", "hello");
        AssertOneLine(_cli.Run("--kernel", Kernel, "--modules", notes), notes, "module is not an ELF file");
    }

    [Fact]
    public void KernelNotLinkedHigh()
    {
        AssertOneLine(_cli.Run("--boot", "stos", "--kernel", Guests.Get("hello.elf")), "hello.elf", "not linked high");
    }

    [Fact]
    public void KernelNotElf32()
    {
        AssertOneLine(_cli.Run("--boot", "stos", "--kernel", "/boot/memtest86+ia32.bin"), "memtest86+ia32.bin", "not an ELF32 file");
    }

    [Fact]
    public void BootDataOverflowingTheMappedMemory()
    {
        string big = _cli.Write("big.cpio", new string('x', 3 << 20));
        AssertOneLine(_cli.Run("--kernel", Kernel, "--initrd", big), "stos boot data overflows");
    }
}
