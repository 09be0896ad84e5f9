using MyKvm.Boot;
using MyKvm.Machine;
using MyKvm.TestSupport;

namespace MyKvm.Tests;

/// <summary>Boots a guest in-process on the software CPU and returns how it ended and what it printed.</summary>
public static class GuestRuns
{
    public sealed record Outcome(MachineResult Result, string Serial);

    public static Outcome Boot(string kernel, string commandLine = "", IReadOnlyList<string>? modules = null, string? initrd = null,
        BootProtocol protocol = BootProtocol.Auto, int memoryMiB = 128, double timeoutSeconds = 60, string? expect = null, Stream? input = null)
    {
        var config = new MachineConfig
        {
            MemoryMiB = memoryMiB,
            Boot = new BootRequest { KernelPath = kernel, CommandLine = commandLine, ModulePaths = modules ?? [], InitrdPath = initrd, Protocol = protocol },
            Serial = new SerialTarget(SerialKind.None),
            TimeoutSeconds = timeoutSeconds,
            Expect = expect,
            SerialInput = input ?? new MemoryStream(),
        };
        using var machine = Machine.Machine.Create(config);
        var result = machine.Run();
        return new Outcome(result, TestEnvironment.Normalize(machine.Serial.Captured));
    }
}

public class HelloGuestTests
{
    [Fact]
    public void HelloPrintsItsTextAndExitsThroughTheDebugPort()
    {
        var run = GuestRuns.Boot(TestEnvironment.Guest("hello.elf"));
        Assert.Equal("my first kernel\nmultiboot magic ok\n", run.Serial);
        Assert.Equal(1, run.Result.ExitCode);   // guest_exit(0) → (0 << 1) | 1
    }

    [Fact]
    public void HelloPrintsTheSameAsUnderQemu()
    {
        string kernel = TestEnvironment.Guest("hello.elf");
        var qemu = TestEnvironment.RunQemu(kernel);
        if (qemu is null) return; // QEMU is installed by scripts/setup.sh; without it there is nothing to compare
        var run = GuestRuns.Boot(kernel);
        Assert.Equal(TestEnvironment.Normalize(qemu.Stdout), run.Serial);
        Assert.Equal(qemu.ExitCode, run.Result.ExitCode);
    }

    [Fact]
    public void TheMykvmCommandRunsHelloAndReturnsTheGuestsExitCode()
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "mykvm.dll");
        var r = TestEnvironment.Run("dotnet", [dll, "--kernel", TestEnvironment.Guest("hello.elf")], timeout: TimeSpan.FromSeconds(60));
        Assert.Equal("my first kernel\nmultiboot magic ok\n", TestEnvironment.Normalize(r.Stdout));
        Assert.Equal("", r.Stderr);
        Assert.Equal(1, r.ExitCode);
    }

    [Fact]
    public void ExpectEndsTheRunWithZeroWhenTheTextAppears()
    {
        var run = GuestRuns.Boot(TestEnvironment.Guest("hello.elf"), expect: "first kernel");
        Assert.Equal(0, run.Result.ExitCode);
        Assert.StartsWith("my first kernel", run.Serial);
    }

    [Fact]
    public void ExpectFailsWithOneWhenTheGuestEndsFirst()
    {
        var run = GuestRuns.Boot(TestEnvironment.Guest("hello.elf"), expect: "never printed");
        Assert.Equal(1, run.Result.ExitCode);
        Assert.Contains("\"never printed\" did not appear", run.Result.Message);
    }
}

public class DisplayTests
{
    [Fact]
    public void PngDisplayWritesTheVgaTextScreenAtExit()
    {
        string png = Path.Combine(Path.GetTempPath(), $"mykvm-hello-{Environment.ProcessId}.png");
        var config = new MachineConfig
        {
            Boot = new BootRequest { KernelPath = TestEnvironment.Guest("hello.elf") },
            Serial = new SerialTarget(SerialKind.None),
            Display = DisplayTarget.Parse($"png:{png}"),
            TimeoutSeconds = 60,
            SerialInput = new MemoryStream(),
        };
        using (var machine = Machine.Machine.Create(config))
            Assert.Equal(1, machine.Run().ExitCode);
        var bytes = File.ReadAllBytes(png);
        File.Delete(png);
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, bytes[..4]);
        int width = (bytes[16] << 24) | (bytes[17] << 16) | (bytes[18] << 8) | bytes[19];
        int height = (bytes[20] << 24) | (bytes[21] << 16) | (bytes[22] << 8) | bytes[23];
        Assert.Equal((720, 400), (width, height));   // 80×25 cells of 9×16 pixels
    }
}
