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
}
