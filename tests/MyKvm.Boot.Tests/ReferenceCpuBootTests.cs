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
}
