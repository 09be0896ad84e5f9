using MyKvm.Core;

namespace MyKvm.Devices.Tests.Legacy;

/// <summary>An IRQ line that records every <see cref="Set"/> call.</summary>
internal sealed class RecordingIrqLine : IIrqLine
{
    public List<bool> Calls { get; } = [];
    public bool Level { get; private set; }
    public int RisingEdges { get; private set; }

    public void Set(bool level)
    {
        if (level && !Level) RisingEdges++;
        Level = level;
        Calls.Add(level);
    }
}

/// <summary>A clock the test moves by hand.</summary>
internal sealed class ManualClock : IClock
{
    public long NowNs { get; set; }
}

/// <summary>A clock and a timer queue, advanced by the test the way the machine's run loop does.</summary>
internal sealed class TestTime
{
    public ManualClock Clock { get; } = new();
    public TimerQueue Timers { get; }

    public TestTime() => Timers = new TimerQueue(Clock);

    public long NowNs => Clock.NowNs;

    /// <summary>Moves to <paramref name="targetNs"/>, firing each timer at its own deadline on the way.</summary>
    public void AdvanceTo(long targetNs)
    {
        while (true)
        {
            long next = Timers.NextDeadline;
            if (next > targetNs) break;
            if (next > Clock.NowNs) Clock.NowNs = next;
            Timers.RunDue(Clock.NowNs);
        }
        if (targetNs > Clock.NowNs) Clock.NowNs = targetNs;
    }

    public void Advance(long ns) => AdvanceTo(Clock.NowNs + ns);
}

internal sealed class RecordingMachineControl : IMachineControl
{
    public List<(int Code, string Reason)> Exits { get; } = [];
    public List<string> Resets { get; } = [];
    public void RequestExit(int exitCode, string reason) => Exits.Add((exitCode, reason));
    public void RequestReset(string reason) => Resets.Add(reason);
}
