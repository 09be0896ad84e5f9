using MyKvm.Core;
using MyKvm.Cpu;
using MyKvm.Debug;
using MyKvm.Debug.Monitor;

namespace MyKvm.Machine;

/// <summary>
/// The debugger on every run: exceptions are recorded (cheaply) so a triple fault is always explained; the gdb stub,
/// traces, <c>--explain-faults</c> and the monitor when asked for.
/// </summary>
public sealed partial class Machine
{
    private DebugSession? _debug;

    public DebugSession? Debugger => _debug;

    /// <summary>The vCPU the run loop drives: the debugger's stepping adapter when it wraps the backend.</summary>
    private IVcpu RunTarget => _debug?.Vcpu ?? Vcpu;

    private void AttachDebugger()
    {
        var options = _config.Debug with { SymbolFile = _config.Debug.SymbolFile ?? Boot.SymbolFile };
        try
        {
            // The software CPU counts instructions exactly, so the debugger's stepping adapter can stop on budgets.
            _debug = DebugSession.Create(options, Vcpu, Ram, Signals, Io, Mmio,
                reason => End(new MachineResult(0, reason)), _log, ScreenDump, exactBudget: Vcpu is SoftCpu);
        }
        catch (ArgumentException e)
        {
            throw new ConfigException(e.Message);
        }
        if (Vcpu is SoftCpu soft)
        {
            var debug = _debug;
            soft.ExceptionObserver = e => debug.ReportEvent((byte)e.Vector,
                e.External ? VcpuEventSource.ExternalInterrupt : VcpuEventSource.Exception,
                e.HasErrorCode ? e.ErrorCode : null, e.Cr2, e.Cs, e.Rip);
        }
        if (_config.MonitorOnStdio)
            new MonitorConsole(_debug.Monitor, Console.In, Console.Out, () => End(new MachineResult(0, "quit from the monitor"))).Start();
    }

    private string ScreenDump(string path)
    {
        SaveScreenshot(path);
        return $"screen written to {path}";
    }

    /// <summary>
    /// The raw terminal's Ctrl-A escape, QEMU's keys: Ctrl-A c switches between the guest console and the monitor,
    /// Ctrl-A x quits, Ctrl-A h lists the keys, Ctrl-A Ctrl-A sends Ctrl-A.
    /// </summary>
    private Action<byte[]> CreateConsoleEscape()
    {
        var stderr = new StreamWriter(Console.OpenStandardError()) { AutoFlush = true, NewLine = "\r\n" };
        var mux = new SerialConsoleMux(_debug!.Monitor, stderr, ToGuest, () => End(new MachineResult(0, "quit from the console (Ctrl-A x)")));
        return bytes => mux.Feed(bytes);
    }
}
