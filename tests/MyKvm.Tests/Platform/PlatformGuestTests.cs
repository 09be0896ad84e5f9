using MyKvm.Boot;
using MyKvm.Machine;
using MyKvm.TestSupport;

namespace MyKvm.Tests.Platform;

/// <summary>
/// The platform guests (guests/plat-*) booted on the whole machine with the software CPU: MP tables, local and I/O
/// APIC, and the IDE disk. Each prints verdict lines with a fixed prefix that must read the same as under QEMU
/// (detail lines, indented, differ: see the comments at the top of each guest).
/// </summary>
public class PlatformGuestTests
{
    private static string Verdicts(string serial, string prefix) =>
        string.Join('\n', TestEnvironment.Normalize(serial).Split('\n').Where(l => l.StartsWith(prefix, StringComparison.Ordinal)));

    private static GuestRuns.Outcome Boot(string kernel, IReadOnlyList<DriveConfig>? drives = null)
    {
        var config = new MachineConfig
        {
            Boot = new BootRequest { KernelPath = kernel },
            Serial = new SerialTarget(SerialKind.None),
            TimeoutSeconds = 60,
            SerialInput = new MemoryStream(),
            Drives = drives ?? [],
        };
        using var machine = Machine.Machine.Create(config);
        var result = machine.Run();
        return new GuestRuns.Outcome(result, TestEnvironment.Normalize(machine.Serial.Captured));
    }

    private static void AssertSameVerdictsAsQemu(string prefix, string serial, string kernel, IEnumerable<string>? qemuArgs = null)
    {
        var qemu = TestEnvironment.RunQemu(kernel, extra: qemuArgs);
        if (qemu is null) return; // no QEMU on this machine: nothing to compare with
        Assert.Equal(Verdicts(qemu.Stdout, prefix), Verdicts(serial, prefix));
        Assert.Equal(1, qemu.ExitCode);
    }

    [Fact]
    public void MpTablesAreFoundAndValid()
    {
        string kernel = TestEnvironment.Guest("plat-mptables.elf");
        var run = Boot(kernel);
        Assert.Contains("mp: all checks passed\n", run.Serial);
        Assert.Contains("  floating pointer at 0x9fc10 (ebda), table at 0x9fc20", run.Serial);
        Assert.Equal(1, run.Result.ExitCode);
        AssertSameVerdictsAsQemu("mp:", run.Serial, kernel);
    }

    [Fact]
    public void LocalApicTimerIpisAndIoApicWork()
    {
        string kernel = TestEnvironment.Guest("plat-lapic.elf");
        var run = Boot(kernel);
        Assert.Contains("lapic: periodic timer ticked 10 times: ok\n", run.Serial);
        Assert.Contains("lapic: all checks passed\n", run.Serial);
        // The SDM's behaviour for an illegal vector (QEMU delivers it instead).
        Assert.Contains("  illegal-vector self-IPI: ESR 0x20, error interrupts 1, vector 3 delivered 0\n", run.Serial);
        Assert.Equal(1, run.Result.ExitCode);
        AssertSameVerdictsAsQemu("lapic:", run.Serial, kernel);
    }

    [Fact]
    public void IdeDiskInterruptDrivenOnASnapshotLeavesTheImageUntouched()
    {
        string kernel = TestEnvironment.Guest("plat-ide.elf");
        string image = TestEnvironment.Guest("plat-ide/scratch.img");
        var before = File.ReadAllBytes(image);
        var run = Boot(kernel, [new DriveConfig(image, 0, Snapshot: true)]);
        Assert.Contains("ide: capacity 4096 sectors\n", run.Serial);
        Assert.Contains("ide: crc32 of sectors 0-15: 0x9e2e54a2\n", run.Serial);
        Assert.Contains("ide: all checks passed\n", run.Serial);
        Assert.Equal(1, run.Result.ExitCode);
        Assert.Equal(before, File.ReadAllBytes(image));
        AssertSameVerdictsAsQemu("ide:", run.Serial, kernel, ["-drive", $"file={image},format=raw,if=ide", "-snapshot"]);
    }

    [Fact]
    public void IdeWritesReachTheImageFileByTheEndOfTheRun()
    {
        string copy = Path.Combine(Path.GetTempPath(), $"mykvm-plat-ide-{Environment.ProcessId}.img");
        File.Copy(TestEnvironment.Guest("plat-ide/scratch.img"), copy, overwrite: true);
        try
        {
            var run = Boot(TestEnvironment.Guest("plat-ide.elf"), [new DriveConfig(copy, 0)]);
            Assert.Contains("ide: all checks passed\n", run.Serial);
            var disk = File.ReadAllBytes(copy);
            // The guest wrote sectors 100-107 with byte i = i*31 + 5 (ide.c).
            for (int i = 0; i < 8 * 512; i++)
                Assert.Equal((byte)(i * 31 + 5), disk[100 * 512 + i]);
            Assert.Equal(unchecked((byte)(99 * 7)), disk[99 * 512]); // untouched neighbour, pattern of mkscratch.c
        }
        finally
        {
            File.Delete(copy);
        }
    }
}
