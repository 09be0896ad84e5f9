using System.Diagnostics;

namespace MyKvm.Core;

/// <summary>The machine's notion of time, in nanoseconds since power-on.</summary>
public interface IClock
{
    long NowNs { get; }
}

/// <summary>What the virtual clock counts: instructions retired by the CPU.</summary>
public interface IInstructionCounter
{
    long RetiredInstructions { get; }
}

/// <summary>
/// The machine clock. In <see cref="ClockMode.Virtual"/> mode time is derived from retired instructions
/// (<see cref="NsPerInstruction"/> each) plus time skipped while the CPU halts, so a run is deterministic and
/// an idle guest costs nothing; in <see cref="ClockMode.RealTime"/> mode it follows the host's monotonic clock.
/// </summary>
public sealed class MachineClock : IClock
{
    private readonly Stopwatch _wall = Stopwatch.StartNew();
    private long _skippedNs;

    public MachineClock(ClockMode mode, long nsPerInstruction = 1)
    {
        Mode = mode;
        NsPerInstruction = Math.Max(1, nsPerInstruction);
    }

    public ClockMode Mode { get; }
    public long NsPerInstruction { get; }
    public IInstructionCounter? Counter { get; set; }

    public long NowNs => Mode == ClockMode.RealTime
        ? (long)(_wall.ElapsedTicks * (1e9 / Stopwatch.Frequency))
        : (Counter?.RetiredInstructions ?? 0) * NsPerInstruction + _skippedNs;

    /// <summary>Virtual mode: jumps forward to <paramref name="deadlineNs"/> (a halted CPU waiting for a timer).</summary>
    public void SkipTo(long deadlineNs)
    {
        if (Mode != ClockMode.Virtual) return;
        long now = NowNs;
        if (deadlineNs > now) _skippedNs += deadlineNs - now;
    }

    /// <summary>How many instructions may run before <paramref name="deadlineNs"/> (virtual mode).</summary>
    public long InstructionsUntil(long deadlineNs)
    {
        if (deadlineNs == long.MaxValue) return long.MaxValue;
        long delta = deadlineNs - NowNs;
        return delta <= 0 ? 0 : (delta + NsPerInstruction - 1) / NsPerInstruction;
    }
}

public enum ClockMode { Virtual, RealTime }

/// <summary>A one-shot timer owned by a device; re-armed by the device for periodic behaviour.</summary>
public sealed class DeviceTimer
{
    private readonly TimerQueue _queue;
    internal DeviceTimer(TimerQueue queue, string name, Action<long> callback)
    {
        _queue = queue;
        Name = name;
        Callback = callback;
    }

    public string Name { get; }
    internal Action<long> Callback { get; }
    public long Deadline { get; internal set; } = long.MaxValue;
    public bool Armed => Deadline != long.MaxValue;

    /// <summary>Fires the callback (with the deadline) once the clock reaches <paramref name="deadlineNs"/>.</summary>
    public void Arm(long deadlineNs) => _queue.Arm(this, deadlineNs);
    public void Cancel() => _queue.Arm(this, long.MaxValue);
}

/// <summary>
/// Device timers. All device code runs on the vCPU thread: the run loop asks for <see cref="NextDeadline"/>,
/// runs the CPU until then and calls <see cref="RunDue"/>.
/// </summary>
public sealed class TimerQueue
{
    private readonly List<DeviceTimer> _timers = [];

    public TimerQueue(IClock clock) => Clock = clock;

    public IClock Clock { get; }

    /// <summary>Raised when a timer is armed, so a sleeping or running backend can recompute its slice.</summary>
    public event Action? Rearmed;

    public DeviceTimer Create(string name, Action<long> callback)
    {
        var t = new DeviceTimer(this, name, callback);
        _timers.Add(t);
        return t;
    }

    internal void Arm(DeviceTimer t, long deadline)
    {
        t.Deadline = deadline;
        if (deadline != long.MaxValue) Rearmed?.Invoke();
    }

    public long NextDeadline
    {
        get
        {
            long next = long.MaxValue;
            foreach (var t in _timers)
                if (t.Deadline < next) next = t.Deadline;
            return next;
        }
    }

    /// <summary>Fires every timer whose deadline is at or before <paramref name="nowNs"/>, earliest first.</summary>
    public void RunDue(long nowNs)
    {
        while (true)
        {
            DeviceTimer? due = null;
            foreach (var t in _timers)
                if (t.Deadline <= nowNs && (due is null || t.Deadline < due.Deadline)) due = t;
            if (due is null) return;
            long deadline = due.Deadline;
            due.Deadline = long.MaxValue;
            due.Callback(deadline);
        }
    }
}
