using MyKvm.Boot.Tests.Support;
using MyKvm.Core;
using Xunit.Abstractions;

namespace MyKvm.Boot.Tests;

/// <summary>Boots the test guests from what the loaders wrote, on the Unicorn reference CPU.</summary>
public sealed class ReferenceCpuBootTests(ITestOutputHelper output)
{
    [Fact]
    public void Mbinfo_RunsAndSeesTheMagic()
    {
        using var ram = new GuestRam(128UL << 20);
        var result = KernelLoader.Load(ram, new BootRequest { KernelPath = Guests.Get("mbinfo.elf"), CommandLine = "a=b" });
        using var cpu = new UnicornMachine(ram);
        cpu.Run(result.InitialState);
        output.WriteLine(result.Summary);
        output.WriteLine(cpu.Serial);
        Assert.Contains("mbinfo: magic 0x2badb002 ok", cpu.Serial);
        Assert.Equal(0, cpu.ExitCode);
    }

    [Fact]
    public void Ministos_AllChecksPass()
    {
        using var ram = new GuestRam(128UL << 20);
        var result = KernelLoader.Load(ram, new BootRequest
        {
            KernelPath = Guests.Get("ministos.elf"),
            CommandLine = "init.mode=tests hello.verbose=1 quiet",
            ModulePaths = [Guests.Get("ministos/hello.ko"), Guests.Get("ministos/greet.ko")],
            InitrdPath = Guests.Get("ministos/initramfs.cpio"),
        });
        using var cpu = new UnicornMachine(ram);
        cpu.Run(result.InitialState);
        output.WriteLine(result.Summary);
        output.WriteLine(cpu.Serial);
        Assert.True(cpu.ExitCode == 0, cpu.Serial);
    }

    /// <summary>
    /// Debian's kernel from the 64-bit entry: the decompressor (startup_64 at +0x200) relocates itself, builds its
    /// own page tables, finds the command line through RSI and the zero page, and prints its first line on the
    /// early serial console. Unicorn delivers no exceptions to the guest's IDT, so the run ends there: 6.1's
    /// decompressor maps the output buffer lazily from its #PF handler.
    /// </summary>
    [DebianKernelFact]
    public void Debian_Entry64_DecompressorReadsTheCommandLine()
    {
        using var ram = new GuestRam(256UL << 20);
        var result = KernelLoader.Load(ram, new BootRequest
        {
            KernelPath = DebianKernel.Require(),
            CommandLine = "console=ttyS0 earlyprintk=serial,ttyS0,115200 nokaslr",
            LinuxEntry = LinuxEntry.Entry64,
        });
        using var cpu = new UnicornMachine(ram, longMode: true) { StopAtSerial = "KASLR disabled: 'nokaslr' on cmdline." };
        cpu.Run(result.InitialState, 100_000_000);
        output.WriteLine(result.Summary);
        output.WriteLine(cpu.Serial);
        Assert.True(cpu.StoppedAtSerial, cpu.Serial);
    }

    /// <summary>
    /// memtest86+ 6.10 (x64) from the 64-bit entry: it reads "console=ttyS0" from the command line the zero page
    /// points at and clears the serial terminal, its first output.
    /// </summary>
    [Fact]
    public void MemtestX64_Entry64_OpensTheSerialConsole()
    {
        using var ram = new GuestRam(64UL << 20);
        var result = KernelLoader.Load(ram, new BootRequest
        {
            KernelPath = "/boot/memtest86+x64.bin", CommandLine = "console=ttyS0,115200", LinuxEntry = LinuxEntry.Entry64,
        });
        using var cpu = new UnicornMachine(ram, longMode: true) { StopAtSerial = "\x1b[2J" };
        cpu.Run(result.InitialState, 200_000_000);
        output.WriteLine(result.Summary);
        Assert.True(cpu.StoppedAtSerial, cpu.Serial);
    }
}
