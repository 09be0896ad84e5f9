using MyKvm.Core;

namespace MyKvm.Debug;

/// <summary>
/// <see cref="IVcpuDebug"/> for a backend that has none yet but honours <see cref="IVcpu.Run"/>'s instruction budget
/// exactly (the software CPU): while a breakpoint, watchpoint or single step is active it runs one instruction per
/// <c>Run(1)</c>, checking breakpoints before and watched bytes after each one (a write watchpoint fires when the
/// watched bytes change, as gdb's software watchpoints do). With none active it passes <c>Run</c> straight through.
/// The backend's own exception callback feeds <see cref="ReportEvent"/>.
/// </summary>
public sealed class SteppingDebugAdapter : IVcpu, IVcpuDebug
{
    private readonly IVcpu _inner;
    private readonly GuestRam _ram;
    private HashSet<ulong> _breakpoints = [];
    private List<(VcpuWatchpoint W, byte[] Old)> _watch = [];
    private bool _stopAfterEvent;
    private (byte Vector, ushort Cs, ulong Rip, long Count)? _lastException;

    public SteppingDebugAdapter(IVcpu inner, GuestRam ram)
    {
        _inner = inner;
        _ram = ram;
    }

    public IVcpu Inner => _inner;
    public string BackendName => _inner.BackendName;
    public long RetiredInstructions => _inner.RetiredInstructions;
    public bool SingleStep { get; set; }
    public VcpuDebugStop LastStop { get; private set; }
    public Func<VcpuEvent, bool>? EventHook { get; set; }

    public void SetState(VcpuState state) => _inner.SetState(state);
    public VcpuState GetState() => _inner.GetState();
    public void SetBreakpoints(IReadOnlyCollection<ulong> linearAddresses) => _breakpoints = [.. linearAddresses];

    public bool SetWatchpoints(IReadOnlyList<VcpuWatchpoint> watchpoints)
    {
        // Only writes can be seen from outside the CPU (as changed bytes).
        if (watchpoints.Any(w => !w.Kind.HasFlag(WatchKind.Write) || w.Length is <= 0 or > 4096)) return false;
        var s = _inner.GetState();
        _watch = watchpoints.Select(w => (w, Read(s, w))).ToList();
        return true;
    }

    public void NotifyMemoryWritten(ulong physicalAddress, int length)
    {
        if (_inner is IVcpuDebug d) d.NotifyMemoryWritten(physicalAddress, length);
        // Re-read watched bytes so a debugger's own write does not trigger.
        if (_watch.Count > 0)
        {
            var s = _inner.GetState();
            _watch = _watch.Select(x => (x.W, Read(s, x.W))).ToList();
        }
    }

    private byte[] Read(VcpuState s, VcpuWatchpoint w)
    {
        var buf = new byte[w.Length];
        new Memory.LinearMemory(new Memory.RamPhysicalMemory(_ram), s).Read(w.LinearAddress, buf);
        return buf;
    }

    /// <summary>
    /// The backend's exception/interrupt callback, forwarded. An exception at the same CS:EIP as the previous one with
    /// no instruction retired in between was raised while delivering it (the chain the explainer rebuilds).
    /// Returns what the event hook returned.
    /// </summary>
    public bool ReportEvent(byte vector, VcpuEventSource source, uint? errorCode, ulong cr2, ushort cs, ulong rip)
    {
        long count = _inner.RetiredInstructions;
        int delivering = -1;
        if (source == VcpuEventSource.Exception && _lastException is { } p && p.Count == count && p.Cs == cs && p.Rip == rip)
            delivering = p.Vector;
        if (source == VcpuEventSource.Exception) _lastException = (vector, cs, rip, count);
        bool stop = EventHook?.Invoke(new VcpuEvent(vector, source, errorCode, cr2, cs, rip, count, delivering)) ?? false;
        _stopAfterEvent |= stop;
        return stop;
    }

    public VcpuExit Run(long instructionBudget)
    {
        bool slow = SingleStep || _breakpoints.Count > 0 || _watch.Count > 0 || _stopAfterEvent;
        if (!slow) return _inner.Run(instructionBudget);
        for (long n = 0; n < Math.Max(1, instructionBudget); n++)
        {
            var s = _inner.GetState();
            ulong pc = s.Cs.Base + s.Rip;
            if (_breakpoints.Contains(pc))
            {
                LastStop = new VcpuDebugStop(VcpuDebugStopKind.Breakpoint, pc);
                return new VcpuExit(VcpuExitReason.Debug);
            }
            long before = _inner.RetiredInstructions;
            var exit = _inner.Run(1);
            if (_stopAfterEvent)
            {
                _stopAfterEvent = false;
                LastStop = new VcpuDebugStop(VcpuDebugStopKind.Event);
                return new VcpuExit(VcpuExitReason.Debug);
            }
            if (_watch.Count > 0)
            {
                var after = _inner.GetState();
                for (int i = 0; i < _watch.Count; i++)
                {
                    var now = Read(after, _watch[i].W);
                    if (!now.AsSpan().SequenceEqual(_watch[i].Old))
                    {
                        _watch[i] = (_watch[i].W, now);
                        LastStop = new VcpuDebugStop(VcpuDebugStopKind.Watchpoint, _watch[i].W.LinearAddress, WatchKind.Write);
                        return new VcpuExit(VcpuExitReason.Debug);
                    }
                }
            }
            if (exit.Reason != VcpuExitReason.BudgetExhausted) return exit;
            if (_inner.RetiredInstructions == before) return exit; // returned early (attention): let the machine look
            if (SingleStep && _inner.RetiredInstructions != before)
            {
                LastStop = new VcpuDebugStop(VcpuDebugStopKind.Step);
                return new VcpuExit(VcpuExitReason.Debug);
            }
        }
        return new VcpuExit(VcpuExitReason.BudgetExhausted);
    }

    public void Dispose() => _inner.Dispose();
}
