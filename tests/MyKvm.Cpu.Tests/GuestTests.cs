using MyKvm.Core;

namespace MyKvm.Cpu.Tests;

public class GuestTests
{
    [Fact]
    public void HelloRunsToDebugExit()
    {
        using var m = new TestMachine();
        m.LoadMultibootElf(TestMachine.GuestPath("hello.elf"));
        var exit = m.Run();
        Assert.True(exit.Reason == VcpuExitReason.Stopped, $"{exit.Reason}: {exit.Detail}\nserial: {m.Serial.Output}");
        Assert.Equal(0, m.Exit.Code);
        Assert.Equal("my first kernel\nmultiboot magic ok\n", m.Serial.Text);
    }

    /// <summary>Runs an in-repo system guest on the soft CPU and under QEMU; serial output and exit code must match.</summary>
    private static void SameAsQemu(string guest, string qemuArgs = "", int expectedExit = 0)
    {
        string elf = TestMachine.GuestPath(guest);
        using var m = new TestMachine();
        m.LoadMultibootElf(elf);
        var exit = m.Run();
        Assert.True(exit.Reason == VcpuExitReason.Stopped, $"{exit.Reason}: {exit.Detail}\nserial:\n{m.Serial.Text}");
        var (qemuSerial, qemuExit) = Qemu.Run(elf, qemuArgs);
        Assert.Equal(qemuSerial, m.Serial.Text);
        Assert.Equal(qemuExit, m.Exit.Code);
        Assert.Equal(expectedExit, m.Exit.Code);
    }

    [Fact]
    public void JosUserEnvironmentsMatchQemu() => SameAsQemu("cpu-jos.elf");

    [Fact]
    public void PaePagingWithNxMatchesQemu() => SameAsQemu("cpu-pae.elf", "-cpu max");

    [Fact]
    public void SysenterSysexitMatchesQemu() => SameAsQemu("cpu-sysenter.elf");
}
