using MyKvm.Core;
using MyKvm.Debug.Disasm;
using MyKvm.Debug.Explain;
using MyKvm.Debug.Gdb;
using MyKvm.Debug.Monitor;
using MyKvm.Debug.Symbols;
using MyKvm.Debug.Trace;

namespace MyKvm.Debug;

/// <summary>What the command line asks of the debugger.</summary>
public sealed record DebugOptions
{
    /// <summary><c>--gdb tcp::1234</c>: listen for gdb.</summary>
    public string? Gdb { get; init; }
    /// <summary><c>--gdb-wait</c>: hold the vCPU before its first instruction until gdb continues or steps.</summary>
    public bool GdbWait { get; init; }
    /// <summary><c>--explain-faults</c>: explain every exception as it is delivered, not only a triple fault.</summary>
    public bool ExplainFaults { get; init; }
    /// <summary><c>--trace int,exc,pf,io,mmio,cpu[=RANGE][:COUNT]</c>.</summary>
    public string? Trace { get; init; }
    /// <summary><c>--trace-file PATH</c> (default: the log writer, stderr).</summary>
    public string? TraceFile { get; init; }
    /// <summary>The kernel ELF whose symbols and lines annotate addresses (BootResult.SymbolFile).</summary>
    public string? SymbolFile { get; init; }
    public AsmSyntax Syntax { get; init; } = AsmSyntax.Att;
}

/// <summary>
/// Everything the debugger adds to a machine, behind four calls in its run loop. The machine creates one for every
/// run (it is cheap: exceptions are recorded, nothing is single-stepped) so that a triple fault is always explained:
/// <code>
/// var debug = DebugSession.Create(options, vcpu, ram, signals, io, mmio, endMachine, log: stderr, screendump, exactBudget: soft);
/// softCpu.ExceptionObserver = e => debug.ReportEvent(...);   // until the CPU implements IVcpuDebug itself
/// loop:  debug.BeforeRun();  var exit = debug.Vcpu.Run(budget);  if (debug.AfterRun(exit)) continue;
///        on TripleFault:     log.Write(debug.ExplainTripleFault());
/// end:   debug.OnMachineExit(exitCode, message);  debug.Dispose();
/// </code>
/// </summary>
public sealed class DebugSession : IDisposable
{
    private readonly TextWriter _log;
    private readonly TextWriter? _traceFile;
    private FaultRecord? _previous;

    public VcpuDebugger Debugger { get; }
    public DebugMonitor Monitor { get; }
    public SymbolTable Symbols { get; }
    public FaultExplainer Explainer { get; }
    public DebugTracer? Tracer { get; }
    public GdbServer? Gdb { get; }
    public DebugOptions Options { get; }

    /// <summary>
    /// The vCPU the run loop must call <see cref="IVcpu.Run"/> on: the backend itself, or the
    /// <see cref="SteppingDebugAdapter"/> around it when the backend has no <see cref="IVcpuDebug"/> of its own.
    /// </summary>
    public IVcpu Vcpu { get; }

    /// <summary>The adapter giving a backend without <see cref="IVcpuDebug"/> breakpoints and steps, if one was needed.</summary>
    public SteppingDebugAdapter? Adapter { get; }

    private DebugSession(DebugOptions options, IVcpu vcpu, GuestRam ram, CpuSignals signals, IoBus io, MmioBus mmio,
        Action<string> endMachine, TextWriter log, Func<string, string>? screendump, bool exactBudget)
    {
        Options = options;
        _log = log;
        if (vcpu is not IVcpuDebug && exactBudget)
        {
            Adapter = new SteppingDebugAdapter(vcpu, ram);
            vcpu = Adapter;
        }
        Vcpu = vcpu;
        Symbols = LoadSymbols(options.SymbolFile, log);
        Debugger = new VcpuDebugger(vcpu, ram, signals, endMachine, startStopped: options.Gdb is not null && options.GdbWait);
        Explainer = new FaultExplainer(Debugger.Physical, Symbols, options.Syntax);
        Monitor = new DebugMonitor(Debugger, Symbols, screendump, ExplainLastChain, options.Syntax);

        if (options.Trace is { } spec)
        {
            var traceOptions = TraceOptions.Parse(spec, Symbols);
            if (options.TraceFile is { } path)
            {
                try
                {
                    _traceFile = new StreamWriter(File.Create(path)) { AutoFlush = false };
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    throw new ArgumentException($"--trace-file {path}: {e.Message}");
                }
            }
            Tracer = new DebugTracer(traceOptions, _traceFile ?? log, vcpu, Debugger.Physical, Symbols);
            if (traceOptions.Io)
            {
                io.Tracer = Tracer;
                io.TraceAll = true;
            }
            if (traceOptions.Mmio)
            {
                mmio.Tracer = Tracer;
                mmio.TraceAll = true;
            }
            if (traceOptions.Interrupts || traceOptions.Exceptions || traceOptions.PageFaults)
                Debugger.EventRaised += Tracer.OnEvent;
            if (traceOptions.Cpu)
            {
                if (!Debugger.SupportsExecutionControl)
                    log.WriteLine($"mykvm: --trace cpu needs single-stepping, which the {vcpu.BackendName} backend does not offer; no instruction trace");
                var tracer = Tracer;
                Debugger.StepTrace = s =>
                {
                    tracer.OnInstruction(s);
                    return tracer.CpuTracing;
                };
            }
        }
        if (options.ExplainFaults)
            Debugger.EventRaised += ExplainAsDelivered;
        if (options.Gdb is { } gdb)
        {
            Gdb = GdbServer.Start(gdb, Debugger, cmd => Monitor.Execute(cmd), log);
            if (options.GdbWait)
                log.WriteLine($"mykvm: waiting for gdb on {gdb}: gdb -ex 'target remote :{Gdb.Port}'{(options.SymbolFile is { } f ? $" {f}" : "")}");
        }
    }

    /// <summary>
    /// Builds the session. Throws <see cref="ArgumentException"/> with a one-line message for a bad <c>--gdb</c>,
    /// <c>--trace</c> or <c>--trace-file</c> (the CLI prints it and exits 2).
    /// </summary>
    /// <param name="endMachine">Ends the run (gdb's kill, the monitor's quit), with a reason.</param>
    /// <param name="screendump">Writes the screen to a PNG and returns a message; null when there is no display.</param>
    /// <param name="exactBudget">The backend's <c>Run(n)</c> executes exactly n instructions (the software CPU): when it
    /// has no <see cref="IVcpuDebug"/>, a <see cref="SteppingDebugAdapter"/> then provides breakpoints, steps and write
    /// watchpoints. Run <see cref="Vcpu"/>, and feed the backend's exception callback to <see cref="ReportEvent"/>.</param>
    public static DebugSession Create(DebugOptions options, IVcpu vcpu, GuestRam ram, CpuSignals signals, IoBus io, MmioBus mmio,
        Action<string> endMachine, TextWriter log, Func<string, string>? screendump = null, bool exactBudget = false) =>
        new(options, vcpu, ram, signals, io, mmio, endMachine, log, screendump, exactBudget);

    /// <summary>
    /// For a backend without <see cref="IVcpuDebug"/>: its exception/interrupt callback, called before delivery with the
    /// state still at the faulting instruction (for the software CPU: <c>ExceptionObserver</c>).
    /// </summary>
    public void ReportEvent(byte vector, VcpuEventSource source, uint? errorCode, ulong cr2, ushort cs, ulong rip) =>
        Adapter?.ReportEvent(vector, source, errorCode, cr2, cs, rip);

    private static SymbolTable LoadSymbols(string? path, TextWriter log)
    {
        if (path is null) return SymbolTable.Empty;
        try
        {
            return SymbolTable.Load(path);
        }
        catch (Exception e) when (e is IOException or FormatException or UnauthorizedAccessException)
        {
            log.WriteLine($"mykvm: no symbols from {path}: {e.Message}");
            return SymbolTable.Empty;
        }
    }

    /// <summary>The run loop calls this before each <see cref="IVcpu.Run"/> (it blocks while the debugger holds the vCPU).</summary>
    public void BeforeRun() => Debugger.BeforeRun();

    /// <summary>The run loop calls this after each <see cref="IVcpu.Run"/>; true means "a debug stop, consumed: loop again".</summary>
    public bool AfterRun(VcpuExit exit) => Debugger.AfterRun(exit);

    /// <summary>True when the run loop should come back to <see cref="BeforeRun"/> promptly (check it while waiting for an interrupt).</summary>
    public bool WantsAttention => Debugger.WantsAttention;

    /// <summary>The full explanation of a triple fault, from the exceptions recorded and the state at shutdown.</summary>
    /// <param name="backendDetail">The triple-fault exit's <see cref="VcpuExit.Detail"/>, shown when no chain was recorded.</param>
    public string ExplainTripleFault(string? backendDetail = null)
    {
        var final = Debugger.GetRegisters();
        return Explainer.ExplainTripleFault(Debugger.Faults.Chain(), final, backendDetail);
    }

    private string? ExplainLastChain()
    {
        var chain = Debugger.Faults.Chain();
        if (chain.Count == 0) return null;
        return string.Concat(chain.Select((r, i) => Explainer.ExplainException(r, i > 0 ? chain[i - 1] : null, withState: i == 0)));
    }

    private void ExplainAsDelivered(FaultRecord record)
    {
        if (record.Event.Source != VcpuEventSource.Exception) return;
        _log.WriteLine("mykvm: --explain-faults:");
        _log.Write(Explainer.ExplainException(record, _previous, withState: false));
        _previous = record;
    }

    /// <summary>The machine has ended: tells gdb (W packet), flushes the trace.</summary>
    public void OnMachineExit(int exitCode, string? message)
    {
        Debugger.OnMachineExit(exitCode, message);
        Gdb?.WaitForExitReported(TimeSpan.FromSeconds(2));
        Tracer?.Flush();
    }

    public void Dispose()
    {
        Gdb?.Dispose();
        Tracer?.Flush();
        _traceFile?.Dispose();
    }
}
