using System.Collections.Concurrent;
using MyKvm.Core;
using MyKvm.Debug.Explain;
using MyKvm.Debug.Memory;

namespace MyKvm.Debug;

/// <summary>
/// The <see cref="IDebugTarget"/> of a real machine: it sits in the machine's run loop on the vCPU thread and holds
/// the vCPU while the debugger has it stopped, serving requests (register reads, state changes) from the gdb and
/// monitor threads there, so the CPU's state is only ever touched by its own thread.
/// <para>The machine's run loop calls, on the vCPU thread:</para>
/// <code>
/// debugger.BeforeRun();                         // may block while stopped
/// var exit = vcpu.Run(budget);
/// if (debugger.AfterRun(exit)) continue;        // a debug stop, consumed
/// ... and when the run ends: debugger.OnMachineExit(exitCode, message);
/// </code>
/// Breakpoints, single steps and watchpoints need the backend to implement <see cref="IVcpuDebug"/>; without it the
/// debugger can still stop (Ctrl-C), read and write registers and memory.
/// </summary>
public sealed class VcpuDebugger : IDebugTarget
{
    private readonly IVcpu _vcpu;
    private readonly IVcpuDebug? _hooks;
    private readonly CpuSignals _signals;
    private readonly Action<string>? _endMachine;
    private readonly object _lock = new();
    private readonly Queue<Action> _requests = new();
    private readonly BlockingCollection<StopEvent> _stops = new();
    private readonly List<(BreakpointType Type, ulong Address, int Length)> _breakpoints = [];

    private bool _stopped;
    private bool _stopRequested;
    private bool _configure;
    private bool _resumeStep;
    private bool _steppingOver;
    private bool _exited;
    private bool _killed;
    private int _vcpuThread = -1;

    public VcpuDebugger(IVcpu vcpu, GuestRam ram, CpuSignals signals, Action<string>? endMachine = null, bool startStopped = false)
    {
        _vcpu = vcpu;
        _hooks = vcpu as IVcpuDebug;
        _signals = signals;
        _endMachine = endMachine;
        Physical = new RamPhysicalMemory(ram);
        _stopped = startStopped;
        LastStop = startStopped ? new StopEvent(StopReason.Interrupted, Detail: "waiting for the debugger before the first instruction") : null;
        if (_hooks is not null) _hooks.EventHook = OnVcpuEvent;
    }

    public IPhysicalMemory Physical { get; }

    /// <summary>True when the backend offers breakpoints, single steps and watchpoints.</summary>
    public bool SupportsExecutionControl => _hooks is not null;

    /// <summary>The exceptions seen recently (for the fault explainer).</summary>
    public FaultRecorder Faults { get; } = new();

    /// <summary>Raised on the vCPU thread for every exception (with the state) and interrupt (without) before delivery.</summary>
    public event Action<FaultRecord>? EventRaised;

    /// <summary>Stop (and report <see cref="StopReason.Exception"/>) after each exception is delivered.</summary>
    public bool StopOnExceptions { get; set; }

    /// <summary>
    /// While true (a gdb client is attached), a triple fault stops the target so the shutdown state can be inspected
    /// before the machine ends.
    /// </summary>
    public bool HoldOnTripleFault { get; set; }

    /// <summary>The stop the target is in (or last was in); null before the first stop.</summary>
    public StopEvent? LastStop { get; private set; }

    public bool IsRunning
    {
        get { lock (_lock) return !_stopped && !_exited; }
    }

    public bool HasExited
    {
        get { lock (_lock) return _exited; }
    }

    public long InstructionCount => _vcpu.RetiredInstructions;

    // ---------------------------------------------------------------- machine side (vCPU thread)

    /// <summary>Call before each <see cref="IVcpu.Run"/>: serves pending requests and blocks while the target is stopped.</summary>
    public void BeforeRun()
    {
        _vcpuThread = Environment.CurrentManagedThreadId;
        lock (_lock)
        {
            RunRequestsLocked();
            if (_stopRequested && !_stopped)
            {
                _stopRequested = false;
                EnterStopLocked(new StopEvent(StopReason.Interrupted));
            }
            while (_stopped && !_exited && !_killed)
            {
                if (_requests.Count > 0) RunRequestsLocked();
                else System.Threading.Monitor.Wait(_lock);
            }
            if (_configure)
            {
                _configure = false;
                ConfigureHooksLocked();
            }
            if (StepTrace is { } trace && _hooks is not null && !_exited && !_killed)
            {
                // --trace cpu: one instruction per Run, each logged before it executes.
                if (trace(_vcpu.GetState()))
                {
                    _hooks.SingleStep = true;
                }
                else
                {
                    StepTrace = null;
                    _hooks.SingleStep = _resumeStep || _steppingOver;
                }
            }
        }
    }

    /// <summary>
    /// <c>--trace cpu</c>: called on the vCPU thread with the state before each instruction; the CPU single-steps while it
    /// is set and returns true. Returning false ends the trace (the CPU runs at full speed again).
    /// </summary>
    public Func<VcpuState, bool>? StepTrace { get; set; }

    /// <summary>
    /// Call after each <see cref="IVcpu.Run"/>. Returns true when the exit was a debug event the debugger consumed
    /// (the loop just goes on: the next <see cref="BeforeRun"/> holds the vCPU if it stopped).
    /// </summary>
    public bool AfterRun(VcpuExit exit)
    {
        lock (_lock)
        {
            if (exit.Reason == VcpuExitReason.TripleFault)
            {
                if (HoldOnTripleFault && !_killed)
                {
                    EnterStopLocked(new StopEvent(StopReason.TripleFault, Detail: exit.Detail));
                    while (_stopped && !_exited && !_killed)
                    {
                        if (_requests.Count > 0) RunRequestsLocked();
                        else System.Threading.Monitor.Wait(_lock);
                    }
                }
                return false;
            }
            if (exit.Reason != VcpuExitReason.Debug || _hooks is null) return false;
            var stop = _hooks.LastStop;
            switch (stop.Kind)
            {
                case VcpuDebugStopKind.Step when _steppingOver:
                    // Stepped off a breakpoint: now really continue.
                    _steppingOver = false;
                    _hooks.SingleStep = false;
                    _hooks.SetBreakpoints(ExecutionBreakpoints());
                    return true;
                case VcpuDebugStopKind.Step when StepTrace is not null && !_resumeStep:
                    return true; // a trace step, not the user's
                case VcpuDebugStopKind.Step:
                    EnterStopLocked(new StopEvent(StopReason.Step));
                    return true;
                case VcpuDebugStopKind.Breakpoint:
                    bool hw = _breakpoints.Any(b => b.Address == stop.Address && b.Type == BreakpointType.Hardware)
                        && !_breakpoints.Any(b => b.Address == stop.Address && b.Type == BreakpointType.Software);
                    EnterStopLocked(new StopEvent(hw ? StopReason.HardwareBreakpoint : StopReason.Breakpoint, stop.Address));
                    return true;
                case VcpuDebugStopKind.Watchpoint:
                    EnterStopLocked(new StopEvent(StopReason.Watchpoint, stop.Address, stop.Access));
                    return true;
                case VcpuDebugStopKind.Event:
                    var last = Faults.Recent().LastOrDefault()?.Event;
                    EnterStopLocked(new StopEvent(StopReason.Exception, Vector: last?.Vector ?? -1, ErrorCode: last?.ErrorCode, Cr2: last?.Cr2 ?? 0));
                    return true;
                default:
                    return true;
            }
        }
    }

    /// <summary>The machine has ended: reports <see cref="StopReason.Exited"/> to whoever waits and serves requests directly from now on.</summary>
    public void OnMachineExit(int exitCode, string? message)
    {
        lock (_lock)
        {
            if (_exited) return;
            RunRequestsLocked();
            _exited = true;
            _stopped = true;
            var stop = new StopEvent(StopReason.Exited, ExitCode: exitCode, Detail: message);
            LastStop = stop;
            _stops.Add(stop);
            System.Threading.Monitor.PulseAll(_lock);
        }
    }

    /// <summary>True when the run loop should come back to <see cref="BeforeRun"/> soon (a stop or a request is pending).</summary>
    public bool WantsAttention
    {
        get { lock (_lock) return _stopRequested || _requests.Count > 0; }
    }

    private bool OnVcpuEvent(VcpuEvent ev)
    {
        bool exception = ev.Source == VcpuEventSource.Exception;
        var record = new FaultRecord(ev, exception ? _vcpu.GetState() : null);
        if (exception) Faults.Add(record);
        try
        {
            EventRaised?.Invoke(record);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // A tracer or explainer failure must not unwind through the CPU's exception delivery.
            EventRaised = null;
            System.Diagnostics.Debug.WriteLine($"mykvm debugger: event listener failed: {e}");
        }
        return exception && StopOnExceptions;
    }

    private void EnterStopLocked(StopEvent stop)
    {
        _stopped = true;
        _steppingOver = false;
        if (_hooks is not null) _hooks.SingleStep = false;
        LastStop = stop;
        _stops.Add(stop);
        System.Threading.Monitor.PulseAll(_lock);
    }

    private void RunRequestsLocked()
    {
        while (_requests.TryDequeue(out var action)) action();
    }

    private List<ulong> ExecutionBreakpoints() =>
        _breakpoints.Where(b => b.Type is BreakpointType.Software or BreakpointType.Hardware).Select(b => b.Address).Distinct().ToList();

    private void ConfigureHooksLocked()
    {
        if (_hooks is null) return;
        var watch = _breakpoints.Where(b => b.Type >= BreakpointType.WriteWatch)
            .Select(b => new VcpuWatchpoint(b.Address, b.Length, b.Type switch
            {
                BreakpointType.WriteWatch => WatchKind.Write,
                BreakpointType.ReadWatch => WatchKind.Read,
                _ => WatchKind.Access,
            })).ToList();
        _hooks.SetWatchpoints(watch);
        var exec = ExecutionBreakpoints();
        var s = _vcpu.GetState();
        ulong pc = s.Cs.Base + s.Rip;
        if (_resumeStep)
        {
            _hooks.SetBreakpoints([]);
            _hooks.SingleStep = true;
        }
        else if (exec.Contains(pc))
        {
            // Resuming from a breakpoint: step over it without the breakpoint, then continue with all of them.
            _steppingOver = true;
            _hooks.SetBreakpoints(exec.Where(a => a != pc).ToList());
            _hooks.SingleStep = true;
        }
        else
        {
            _hooks.SetBreakpoints(exec);
            _hooks.SingleStep = false;
        }
    }

    // ---------------------------------------------------------------- debugger side (any thread)

    /// <summary>Runs <paramref name="action"/> on the vCPU thread (at once if called there, or after the machine ended).</summary>
    public T Invoke<T>(Func<T> action)
    {
        TaskCompletionSource<T>? done = null;
        lock (_lock)
        {
            if (_exited || Environment.CurrentManagedThreadId == _vcpuThread) return action();
            done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
            _requests.Enqueue(() =>
            {
                try { done.SetResult(action()); }
                catch (Exception e) { done.SetException(e); }
            });
            System.Threading.Monitor.PulseAll(_lock);
        }
        _signals.Raise(CpuSignals.Attention);
        return done.Task.GetAwaiter().GetResult();
    }

    public VcpuState GetRegisters() => Invoke(() => _vcpu.GetState());

    public void SetRegisters(VcpuState state)
    {
        var copy = state.Clone();
        Invoke(() =>
        {
            _vcpu.SetState(copy);
            return true;
        });
    }

    public bool AddBreakpoint(BreakpointType type, ulong address, int length)
    {
        if (_hooks is null) return false;
        lock (_lock)
        {
            if (!_breakpoints.Contains((type, address, length))) _breakpoints.Add((type, address, length));
            _configure = true;
        }
        return true;
    }

    public bool RemoveBreakpoint(BreakpointType type, ulong address, int length)
    {
        lock (_lock)
        {
            bool removed = _breakpoints.Remove((type, address, length));
            _configure = true;
            return removed;
        }
    }

    public void RemoveAllBreakpoints()
    {
        lock (_lock)
        {
            _breakpoints.Clear();
            _configure = true;
        }
    }

    public IReadOnlyList<(BreakpointType Type, ulong Address, int Length)> Breakpoints
    {
        get { lock (_lock) return _breakpoints.ToList(); }
    }

    public void Resume(bool step)
    {
        lock (_lock)
        {
            if (_exited) return;
            while (_stops.TryTake(out _)) { }
            _resumeStep = step && _hooks is not null;
            _configure = true;
            _stopped = false;
            System.Threading.Monitor.PulseAll(_lock);
        }
    }

    public void Interrupt()
    {
        lock (_lock)
        {
            if (_stopped || _exited) return;
            _stopRequested = true;
        }
        _signals.Raise(CpuSignals.Attention);
    }

    public StopEvent? WaitForStop(TimeSpan timeout) => _stops.TryTake(out var stop, timeout) ? stop : null;

    /// <summary>Tells the CPU that the debugger changed guest RAM (so it drops decoded instructions from there).</summary>
    public void NotifyMemoryWritten(ulong physical, int length)
    {
        if (_hooks is { } hooks) Invoke(() =>
        {
            hooks.NotifyMemoryWritten(physical, length);
            return true;
        });
    }

    public void Kill()
    {
        lock (_lock)
        {
            if (_exited) return;
            _killed = true;
            System.Threading.Monitor.PulseAll(_lock);
        }
        _endMachine?.Invoke("killed by the debugger");
        _signals.Raise(CpuSignals.Stop);
    }
}
