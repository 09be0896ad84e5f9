using System.Collections.Concurrent;
using System.Diagnostics;
using MyKvm.Boot;
using MyKvm.Core;

namespace MyKvm.Machine;

/// <summary>How a run ended: the process exit code and what to tell the user (null: nothing to say).</summary>
/// <param name="ByGuest">The guest itself ended the run (debug-exit port, reset): its verdict needs no comment.</param>
public sealed record MachineResult(int ExitCode, string? Message, VcpuExitReason? CpuExit = null, bool ByGuest = false);

/// <summary>
/// A PC: RAM, buses, devices, a loaded kernel and one vCPU, run on the calling thread.
/// Exit codes: the guest's debug-exit value <c>(v &lt;&lt; 1) | 1</c>; 0 for HLT with interrupts off or
/// a matched <c>--expect</c>; 1 for a timeout with <c>--expect</c> pending; 124 for a plain timeout;
/// 2 for a triple fault; 3 for something mykvm cannot run (an unimplemented instruction, a backend error);
/// 130 for Ctrl-C.
/// </summary>
public sealed partial class Machine : IDisposable, IMachineControl
{
    public const int ExitTripleFault = 2;
    public const int ExitUnsupported = 3;
    public const int ExitTimeout = 124;
    public const int ExitInterrupted = 130;

    /// <summary>At most this many instructions run between two looks at timers, input and the wall clock.</summary>
    private const long SliceInstructions = 1_000_000;

    private readonly MachineConfig _config;
    private readonly TextWriter _log;
    private readonly SerialSink _serial;
    private readonly ConcurrentQueue<byte[]> _hostInput = new();
    private readonly AutoResetEvent _wake = new(false);
    private readonly Stopwatch _wall = new();
    private volatile bool _inputClosed;
    private MachineResult? _requestedEnd;
    private bool _disposed;
    private TerminalMode? _terminal;

    public GuestRam Ram { get; }
    public MachineClock Clock { get; }
    public TimerQueue Timers { get; }
    public IoBus Io { get; } = new();
    public MmioBus Mmio { get; } = new();
    public CpuSignals Signals { get; } = new();
    public IVcpu Vcpu { get; }
    public BootResult Boot { get; }
    public SerialSink Serial => _serial;
    /// <summary>Why this backend was chosen (for <c>--accel auto</c> and <c>--verbose</c>).</summary>
    public string BackendReason { get; }

    private Machine(MachineConfig config, TextWriter log)
    {
        _config = config;
        _log = log;
        _serial = OpenSerial(config);
        _serial.ExpectMatched += () => End(new MachineResult(0, $"saw the expected text \"{config.Expect}\""));
        try
        {
            Ram = new GuestRam((ulong)config.MemoryMiB << 20);
            var (accel, reason) = ChooseBackend(config);
            BackendReason = reason;
            Clock = new MachineClock(accel == Accelerator.Kvm ? ClockMode.RealTime : config.Clock);
            Timers = new TimerQueue(Clock);
            Timers.Rearmed += () => { if (Clock.Mode == ClockMode.RealTime) _wake.Set(); };
            AttachDevices();
            Boot = KernelLoader.Load(Ram, config.Boot);
            AfterBoot();
            var context = new VcpuContext { Ram = Ram, Io = Io, Mmio = Mmio, Signals = Signals, Clock = Clock };
            Vcpu = CreateVcpu(accel, context);
            Clock.Counter = Vcpu;
            Vcpu.SetState(Boot.InitialState);
            AttachDebugger();
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Builds the machine: RAM, devices, the kernel loaded, the vCPU ready at its entry point.</summary>
    public static Machine Create(MachineConfig config, TextWriter? log = null) => new(config, log ?? TextWriter.Null);

    private SerialSink OpenSerial(MachineConfig config)
    {
        switch (config.Serial.Kind)
        {
            case SerialKind.File:
                try
                {
                    return new SerialSink(File.Create(config.Serial.Path!), ownsTarget: true, config.Expect);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    throw new ConfigException($"--serial file:{config.Serial.Path}: cannot create: {BootFile.Describe(e)}");
                }
            case SerialKind.None:
                return new SerialSink(null, ownsTarget: false, config.Expect);
            default:
                return new SerialSink(ConsoleSerialOutput(), ownsTarget: false, config.Expect);
        }
    }

    /// <summary>For devices: the guest ends the run.</summary>
    public void RequestExit(int exitCode, string reason) => End(new MachineResult(exitCode, reason, ByGuest: true));

    private void End(MachineResult result)
    {
        _requestedEnd ??= result;
        Signals.Raise(CpuSignals.Stop);
        _wake.Set();
    }

    public void RequestReset(string reason) =>
        RequestExit(0, $"the guest reset the machine ({reason}); mykvm stops instead of rebooting");

    /// <summary>Called from any thread (Ctrl-C handler, tests).</summary>
    public void Interrupt() => End(new MachineResult(ExitInterrupted, "interrupted"));

    /// <summary>Runs the guest until it ends the run, faults fatally or the timeout passes.</summary>
    public MachineResult Run()
    {
        _wall.Start();
        using var timeoutTimer = _config.TimeoutSeconds is { } secs
            ? new Timer(_ => { Signals.Raise(CpuSignals.Attention); _wake.Set(); }, null, TimeSpan.FromSeconds(secs), Timeout.InfiniteTimeSpan)
            : null;
        StartInputReader();
        try
        {
            var result = RunLoop();
            // With --expect, the text is the verdict: any other ending before it appeared is a failure.
            if (_config.Expect is not null && !_serial.ExpectSeen && result.ExitCode != ExitInterrupted)
                result = result with { ExitCode = 1, ByGuest = false, Message = $"\"{_config.Expect}\" did not appear before the run ended ({result.Message})" };
            _debug?.OnMachineExit(result.ExitCode, result.Message);
            return result;
        }
        finally
        {
            _terminal?.Dispose();
            _serial.Flush();
            OnStopped();
        }
    }

    private MachineResult RunLoop()
    {
        while (true)
        {
            if (_requestedEnd is { } end) return end;
            if (TimedOut()) return TimeoutResult();
            Signals.Clear(CpuSignals.Attention);
            DrainHostInput();
            Timers.RunDue(Clock.NowNs);
            if (_requestedEnd is { } end2) return end2;

            long budget = Clock.Mode == ClockMode.Virtual
                ? Math.Clamp(Clock.InstructionsUntil(Timers.NextDeadline), 1, SliceInstructions)
                : Math.Clamp(Timers.NextDeadline - Clock.NowNs, 1, 10_000_000); // KVM: nanoseconds of wall time
            _debug?.BeforeRun();
            if (_requestedEnd is { } end3) return end3;
            var exit = RunTarget.Run(budget);
            _serial.Flush();
            RefreshDisplay();
            if (_debug?.AfterRun(exit) == true) continue;
            switch (exit.Reason)
            {
                case VcpuExitReason.BudgetExhausted:
                    break;
                case VcpuExitReason.Halted:
                    if (WaitForInterrupt() is { } idle) return idle;
                    break;
                case VcpuExitReason.HaltedForever:
                    return _requestedEnd ?? new MachineResult(0, "the guest halted with interrupts disabled", exit.Reason);
                case VcpuExitReason.Stopped:
                    if (_requestedEnd is { } stop) return stop;
                    break;
                case VcpuExitReason.TripleFault:
                    return new MachineResult(ExitTripleFault, _debug is { } d
                        ? $"triple fault: the CPU shut down.\n{d.ExplainTripleFault(exit.Detail).TrimEnd()}"
                        : $"triple fault: the CPU shut down. {exit.Detail}", exit.Reason);
                case VcpuExitReason.Unimplemented:
                    return new MachineResult(ExitUnsupported, $"the guest ran something mykvm does not implement: {exit.Detail}", exit.Reason);
                case VcpuExitReason.Debug:
                    break;
                default:
                    return new MachineResult(ExitUnsupported, $"{Vcpu.BackendName} backend error: {exit.Detail}", exit.Reason);
            }
        }
    }

    /// <summary>
    /// The vCPU halted with interrupts on: let time pass until the next timer (instantly on the virtual clock),
    /// host input, or the timeout. Returns a result when nothing can ever wake the guest.
    /// </summary>
    private MachineResult? WaitForInterrupt()
    {
        while (true)
        {
            RefreshDisplay();
            if ((Signals.Flags & (CpuSignals.Intr | CpuSignals.Nmi | CpuSignals.Stop)) != 0 || _requestedEnd is not null) return null;
            if (_debug?.WantsAttention == true) return null;
            if (TimedOut()) return null;
            if (!_hostInput.IsEmpty) return null;
            long next = Timers.NextDeadline;
            if (Clock.Mode == ClockMode.Virtual)
            {
                if (next != long.MaxValue)
                {
                    Clock.SkipTo(next);
                    Timers.RunDue(Clock.NowNs);
                    continue;
                }
                if (_inputClosed)
                    return new MachineResult(0,
                        "the guest is halted waiting for an interrupt, but no timer is armed and input is closed");
                _wake.WaitOne(RemainingWall(TimeSpan.FromMilliseconds(100)));
            }
            else
            {
                long now = Clock.NowNs;
                if (next <= now)
                {
                    Timers.RunDue(now);
                    continue;
                }
                var wait = next == long.MaxValue ? TimeSpan.FromMilliseconds(100) : TimeSpan.FromTicks(Math.Max(1, (next - now) / 100));
                _wake.WaitOne(RemainingWall(wait));
                Timers.RunDue(Clock.NowNs);
            }
        }
    }

    private TimeSpan RemainingWall(TimeSpan cap)
    {
        if (_config.TimeoutSeconds is not { } secs) return cap;
        var left = TimeSpan.FromSeconds(secs) - _wall.Elapsed;
        return left < TimeSpan.Zero ? TimeSpan.Zero : left < cap ? left : cap;
    }

    private bool TimedOut() => _config.TimeoutSeconds is { } secs && _wall.Elapsed.TotalSeconds >= secs;

    private MachineResult TimeoutResult() => new(ExitTimeout, $"timeout after {_config.TimeoutSeconds} s");

    /// <summary>
    /// Serial input: a stream the caller gave, piped standard input (<c>echo help | mykvm ...</c>), or the terminal
    /// in raw mode with the Ctrl-A escape. Read on a background thread, handed to the UART on the vCPU thread.
    /// </summary>
    private void StartInputReader()
    {
        Stream? input = _config.SerialInput;
        Action<byte[]>? console = null;
        if (input is null)
        {
            if (_config.Serial.Kind != SerialKind.Stdio && _config.Display.Kind != DisplayKind.Term)
            {
                _inputClosed = true;
                return;
            }
            if (!Console.IsInputRedirected)
            {
                _terminal = TerminalMode.TryEnterRaw();
                if (_terminal is null)
                {
                    _inputClosed = true;
                    return;
                }
                console = WithDisplayKeys(CreateConsoleEscape());
            }
            input = _terminal is not null ? OpenTerminalInput() : Console.OpenStandardInput();
        }
        var thread = new Thread(() =>
        {
            var buf = new byte[4096];
            try
            {
                int n;
                while ((n = input.Read(buf, 0, buf.Length)) > 0)
                {
                    if (console is null) ToGuest(buf[..n]);
                    else console(buf[..n]);
                }
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException)
            {
            }
            _inputClosed = true;
            _wake.Set();
        })
        { IsBackground = true, Name = "serial input" };
        thread.Start();
    }

    /// <summary>Hands host input to the vCPU thread (from the input thread).</summary>
    private void ToGuest(byte[] bytes)
    {
        if (bytes.Length == 0) return;
        _hostInput.Enqueue(bytes);
        Signals.Raise(CpuSignals.Attention);
        _wake.Set();
    }

    private void DrainHostInput()
    {
        while (_hostInput.TryDequeue(out var bytes))
            DeliverSerialInput(bytes);
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _terminal?.Dispose();
        _debug?.Dispose();
        Vcpu?.Dispose();
        DisposeDevices();
        _serial.Dispose();
        Ram?.Dispose();
        _wake.Dispose();
    }
}
