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

    private void AttachDebugger()
    {
        var options = _config.Debug with { SymbolFile = _config.Debug.SymbolFile ?? Boot.SymbolFile };
        try
        {
            _debug = DebugSession.Create(options, Vcpu, Ram, Signals, Io, Mmio,
                reason => End(new MachineResult(0, reason)), _log, ScreenDump);
        }
        catch (ArgumentException e)
        {
            throw new ConfigException(e.Message);
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
