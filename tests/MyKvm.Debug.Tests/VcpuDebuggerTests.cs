using MyKvm.Core;
using MyKvm.Debug.Explain;

namespace MyKvm.Debug.Tests;

public class VcpuDebuggerTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    // nop; inc eax; mov [0x2000], eax; nop; jmp -2 (spin)   at 0x100000
    internal static readonly byte[] Program = [0x90, 0x40, 0xA3, 0x00, 0x20, 0x00, 0x00, 0x90, 0xEB, 0xFE];

    [Fact]
    public void StartsStoppedThenStepsOneInstructionAtATime()
    {
        using var m = new FakeMachine(Program);
        m.Start();
        Assert.False(m.Debugger.IsRunning);
        Assert.Equal(0x10_0000UL, m.Debugger.GetRegisters().Rip);
        m.Debugger.Resume(step: true);
        Assert.Equal(StopReason.Step, m.Debugger.WaitForStop(Wait)!.Reason);
        Assert.Equal(0x10_0001UL, m.Debugger.GetRegisters().Rip);
        m.Debugger.Resume(step: true);
        m.Debugger.WaitForStop(Wait);
        var s = m.Debugger.GetRegisters();
        Assert.Equal(0x10_0002UL, s.Rip);
        Assert.Equal(1UL, s.Rax);
    }

    [Fact]
    public void ContinueStopsAtABreakpointAndStepsOverItOnResume()
    {
        using var m = new FakeMachine(Program);
        m.Start();
        Assert.True(m.Debugger.AddBreakpoint(BreakpointType.Software, 0x10_0007, 1));
        m.Debugger.Resume(false);
        var stop = m.Debugger.WaitForStop(Wait)!;
        Assert.Equal(StopReason.Breakpoint, stop.Reason);
        Assert.Equal(0x10_0007UL, stop.Address);
        Assert.Equal(0x10_0007UL, m.Debugger.GetRegisters().Rip);
        // Resuming from the breakpoint executes it, and the spin loop after it never comes back: Ctrl-C stops it.
        m.Debugger.Resume(false);
        Thread.Sleep(50);
        Assert.True(m.Debugger.IsRunning);
        m.Debugger.Interrupt();
        Assert.Equal(StopReason.Interrupted, m.Debugger.WaitForStop(Wait)!.Reason);
        Assert.Equal(0x10_0008UL, m.Debugger.GetRegisters().Rip);
    }

    [Fact]
    public void WatchpointReportsTheWriteAfterItHappened()
    {
        using var m = new FakeMachine(Program);
        m.Start();
        m.Debugger.AddBreakpoint(BreakpointType.WriteWatch, 0x2000, 4);
        m.Debugger.Resume(false);
        var stop = m.Debugger.WaitForStop(Wait)!;
        Assert.Equal(StopReason.Watchpoint, stop.Reason);
        Assert.Equal(0x2000UL, stop.Address);
        Assert.Equal(1u, m.Ram.Read32(0x2000));
        Assert.Equal(0x10_0007UL, m.Debugger.GetRegisters().Rip);
    }

    [Fact]
    public void RegistersWrittenWhileStoppedAreWhatTheCpuRunsWith()
    {
        using var m = new FakeMachine(Program);
        m.Start();
        var s = m.Debugger.GetRegisters();
        s.Rax = 41;
        m.Debugger.SetRegisters(s);
        m.Debugger.Resume(true);
        m.Debugger.WaitForStop(Wait);
        m.Debugger.Resume(true);
        m.Debugger.WaitForStop(Wait);
        Assert.Equal(42UL, m.Debugger.GetRegisters().Rax);
    }

    [Fact]
    public void ExceptionsAreRecordedWithStateAndCanStopTheTarget()
    {
        // ud2 at 0x100000; IDT gate 6 points at 0x100010 (hlt)
        using var m = new FakeMachine([0x0F, 0x0B]);
        m.Ram.Write8(0x10_0010, 0xF4);
        var s = m.Cpu.GetState();
        s.IdtBase = 0x3000;
        s.IdtLimit = 0x7FF;
        m.Cpu.SetState(s);
        m.Ram.Write64(0x3000 + 6 * 8, 0x0010_8E00_0008_0010);
        m.Debugger.StopOnExceptions = true;
        FaultRecord? seen = null;
        m.Debugger.EventRaised += r => seen = r;
        m.Start();
        m.Debugger.Resume(false);
        var stop = m.Debugger.WaitForStop(Wait)!;
        Assert.Equal(StopReason.Exception, stop.Reason);
        Assert.Equal(6, stop.Vector);
        Assert.NotNull(seen);
        Assert.Equal(0x10_0000UL, seen!.State!.Rip);
        Assert.Single(m.Debugger.Faults.Chain());
        Assert.Equal(0x10_0010UL, m.Debugger.GetRegisters().Rip);
        m.Debugger.Resume(false);
        var end = m.Debugger.WaitForStop(Wait)!;
        Assert.Equal(StopReason.Exited, end.Reason);
        Assert.True(m.Debugger.HasExited);
        // After the end, requests are served on the caller's thread.
        Assert.Equal(0x10_0011UL, m.Debugger.GetRegisters().Rip);
    }

    [Fact]
    public void RequestsAreServedWhileRunning()
    {
        using var m = new FakeMachine(Program, startStopped: false);
        m.Start();
        for (int i = 0; i < 20; i++)
        {
            var s = m.Debugger.GetRegisters();
            Assert.InRange(s.Rip, 0x10_0000UL, 0x10_0009UL);
        }
        Assert.True(m.Debugger.IsRunning);
    }
}
