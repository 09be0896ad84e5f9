using System.Globalization;
using System.Text;
using MyKvm.Core;
using MyKvm.Debug.Memory;

namespace MyKvm.Debug.Gdb;

/// <summary>
/// A gdb remote stub for one vCPU (gdb manual, "Remote Protocol"): registers (<c>g G p P</c>), memory
/// (<c>m M X</c>, linear addresses through the guest's page tables), execution (<c>c s vCont</c>, Ctrl-C),
/// breakpoints and watchpoints (<c>Z0</c>–<c>Z4</c>), target descriptions (<c>qXfer:features:read</c>), monitor
/// commands (<c>qRcmd</c>), <c>k</c> and <c>D</c>. All-stop mode, one thread.
/// </summary>
public sealed class GdbStub
{
    private readonly IDebugTarget _target;
    private readonly Func<string, string>? _monitor;
    private readonly TextWriter _log;
    private TargetDescription? _description;
    private VcpuState? _registers;
    private bool _swbreakFeature, _hwbreakFeature;

    /// <summary>Set once the client has been told that the machine ended (the W packet).</summary>
    public ManualResetEventSlim ExitReported { get; } = new(false);

    /// <param name="monitor">Runs a monitor command (gdb's <c>monitor ...</c>) and returns its output.</param>
    /// <param name="log">Where to say that a debugger attached or left (null: nowhere).</param>
    public GdbStub(IDebugTarget target, Func<string, string>? monitor = null, TextWriter? log = null)
    {
        _target = target;
        _monitor = monitor;
        _log = log ?? TextWriter.Null;
    }

    /// <summary>Serves one gdb connection until gdb detaches, kills the target or the stream closes.</summary>
    public void Serve(Stream stream)
    {
        using var conn = new RspConnection(stream);
        conn.InterruptReceived += _target.Interrupt;
        if (_target is VcpuDebugger d) d.HoldOnTripleFault = true;
        try
        {
            // gdb expects a stopped target when it attaches.
            if (_target.IsRunning)
            {
                _target.Interrupt();
                WaitForStop(conn);
            }
            _description = null;
            _registers = null;
            bool done = false;
            while (!done)
            {
                string? packet = conn.Receive();
                if (packet is null) break;
                (string? reply, bool end) = (null, false);
                try
                {
                    (reply, end) = Handle(packet, conn);
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    // A malformed packet (or a guest state we did not expect) is an error reply, not a crash.
                    _log.WriteLine($"mykvm: gdb packet '{(packet.Length > 40 ? packet[..40] + "..." : packet)}' failed: {e.Message}");
                    reply = "E01";
                }
                if (reply is not null) conn.Send(reply);
                if (packet == "QStartNoAckMode" && reply == "OK") conn.NoAckMode = true;
                done = end;
            }
        }
        finally
        {
            if (_target is VcpuDebugger d2) d2.HoldOnTripleFault = false;
            // A vanished gdb must not leave the machine frozen or full of breakpoints.
            if (!_target.HasExited)
            {
                _target.RemoveAllBreakpoints();
                if (!_target.IsRunning) _target.Resume(false);
            }
        }
    }

    private VcpuState Registers => _registers ??= _target.GetRegisters();

    private TargetDescription Description => _description ??= TargetDescription.For(Registers);

    private (string? Reply, bool End) Handle(string p, RspConnection conn)
    {
        if (p.Length == 0) return ("", false);
        switch (p[0])
        {
            case '?':
                return (StopReply(_target.HasExited ? new StopEvent(StopReason.Exited) : (_target as VcpuDebugger)?.LastStop ?? new StopEvent(StopReason.Interrupted)), false);
            case 'g':
                return (Description.EncodeAll(Registers), false);
            case 'G':
            {
                var s = Registers.Clone();
                if (!Description.DecodeAll(p[1..], s)) return ("E01", false);
                SetRegisters(s);
                return ("OK", false);
            }
            case 'p':
            {
                if (!int.TryParse(p.AsSpan(1), NumberStyles.HexNumber, null, out int n) || n < 0 || n >= Description.Registers.Count)
                    return ("E01", false);
                return (Description.EncodeOne(n, Registers), false);
            }
            case 'P':
            {
                int eq = p.IndexOf('=');
                if (eq < 0 || !int.TryParse(p.AsSpan(1, eq - 1), NumberStyles.HexNumber, null, out int n)) return ("E01", false);
                var s = Registers.Clone();
                if (!Description.DecodeOne(n, p[(eq + 1)..], s)) return ("E01", false);
                SetRegisters(s);
                return ("OK", false);
            }
            case 'm':
                return (ReadMemory(p[1..]), false);
            case 'M':
                return (WriteMemory(p[1..], binary: false), false);
            case 'X':
                return (WriteMemory(p[1..], binary: true), false);
            case 'c':
            case 's':
            case 'C':
            case 'S':
            {
                bool step = p[0] is 's' or 'S';
                string arg = p[1..];
                if (p[0] is 'C' or 'S')
                {
                    int semi = arg.IndexOf(';');
                    arg = semi < 0 ? "" : arg[(semi + 1)..];
                }
                if (arg.Length > 0 && ulong.TryParse(arg, NumberStyles.HexNumber, null, out ulong addr))
                {
                    var s = Registers.Clone();
                    s.Rip = addr;
                    SetRegisters(s);
                }
                return (ResumeAndWait(step, conn), false);
            }
            case 'v':
                return (HandleV(p, conn), false);
            case 'Z':
            case 'z':
                return (HandleBreakpoint(p), false);
            case 'H':
            case 'T':
                return ("OK", false);
            case 'k':
                _log.WriteLine("mykvm: gdb killed the machine");
                _target.Kill();
                return (null, true);
            case 'D':
                _log.WriteLine("mykvm: gdb detached; the guest runs on");
                conn.Send("OK");
                return (null, true);
            case 'q':
            case 'Q':
                return (HandleQuery(p), false);
            default:
                return ("", false);
        }
    }

    private void SetRegisters(VcpuState s)
    {
        _target.SetRegisters(s);
        _registers = null;
    }

    private string HandleQuery(string p)
    {
        if (p.StartsWith("qSupported"))
        {
            _swbreakFeature = p.Contains("swbreak+");
            _hwbreakFeature = p.Contains("hwbreak+");
            var features = "PacketSize=4000;qXfer:features:read+;QStartNoAckMode+;vContSupported+";
            if (_swbreakFeature) features += ";swbreak+";
            if (_hwbreakFeature) features += ";hwbreak+";
            return features;
        }
        if (p == "QStartNoAckMode") return "OK";
        if (p.StartsWith("qXfer:features:read:"))
        {
            // qXfer:features:read:ANNEX:OFFSET,LENGTH
            var rest = p["qXfer:features:read:".Length..];
            int colon = rest.LastIndexOf(':');
            if (colon < 0) return "E00";
            string annex = rest[..colon];
            if (annex != "target.xml") return "E00";
            var range = rest[(colon + 1)..].Split(',');
            if (range.Length != 2 || !int.TryParse(range[0], NumberStyles.HexNumber, null, out int off) ||
                !int.TryParse(range[1], NumberStyles.HexNumber, null, out int len)) return "E00";
            _description = TargetDescription.For(Registers);
            string xml = _description.ToXml();
            if (off >= xml.Length) return "l";
            int n = Math.Min(len, xml.Length - off);
            return (off + n >= xml.Length ? "l" : "m") + xml.Substring(off, n);
        }
        if (p == "qAttached") return "1";
        if (p == "qC") return "QC01";
        if (p == "qfThreadInfo") return "m01";
        if (p == "qsThreadInfo") return "l";
        if (p.StartsWith("qSymbol")) return "OK";
        if (p.StartsWith("qThreadExtraInfo")) return HexText("vCPU 0");
        if (p.StartsWith("qRcmd,"))
        {
            string cmd = FromHex(p["qRcmd,".Length..]);
            if (_monitor is null) return HexText("no monitor in this session\n");
            string output;
            try
            {
                output = _monitor(cmd);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                output = $"monitor: {e.Message}\n";
            }
            _registers = null;
            if (output.Length > 0 && !output.EndsWith('\n')) output += "\n";
            return output.Length == 0 ? "OK" : HexText(output);
        }
        return "";
    }

    private string HandleV(string p, RspConnection conn)
    {
        if (p == "vCont?") return "vCont;c;C;s;S";
        if (p.StartsWith("vCont;"))
        {
            // All-stop with one thread: a step action for our thread (or all threads) means step; else continue.
            var actions = p["vCont;".Length..].Split(';');
            bool step = actions.Any(a => a.Length > 0 && a[0] is 's' or 'S');
            return ResumeAndWait(step, conn);
        }
        if (p == "vMustReplyEmpty") return "";
        if (p.StartsWith("vKill"))
        {
            _target.Kill();
            return "OK";
        }
        return "";
    }

    private string HandleBreakpoint(string p)
    {
        var parts = p[1..].Split(',');
        if (parts.Length < 3 || !int.TryParse(parts[0], out int type) || type is < 0 or > 4 ||
            !ulong.TryParse(parts[1], NumberStyles.HexNumber, null, out ulong addr) ||
            !int.TryParse(parts[2].Split(';')[0], NumberStyles.HexNumber, null, out int kind))
            return "E01";
        var bt = (BreakpointType)type;
        // For Z0/Z1, kind is the breakpoint instruction size gdb would patch: the watch length is only for Z2-Z4.
        int length = bt >= BreakpointType.WriteWatch ? kind : 1;
        // E01 rather than "unsupported": gdb would fall back to patching int3 into guest memory, which the guest would take.
        if (p[0] == 'Z') return _target.AddBreakpoint(bt, addr, length) ? "OK" : "E01";
        _target.RemoveBreakpoint(bt, addr, length);
        return "OK";
    }

    private string ReadMemory(string args)
    {
        if (!TryAddrLen(args, out ulong addr, out int len)) return "E01";
        len = Math.Min(len, 0x2000);
        var buf = new byte[len];
        int got = new LinearMemory(_target.Physical, Registers).Read(addr, buf);
        if (got == 0 && len > 0) return "E14";
        return Convert.ToHexStringLower(buf, 0, got);
    }

    private string WriteMemory(string args, bool binary)
    {
        int colon = args.IndexOf(':');
        if (colon < 0 || !TryAddrLen(args[..colon], out ulong addr, out int len)) return "E01";
        string data = args[(colon + 1)..];
        byte[] bytes;
        if (binary)
        {
            bytes = Encoding.Latin1.GetBytes(data);
        }
        else
        {
            try { bytes = Convert.FromHexString(data); }
            catch (FormatException) { return "E01"; }
        }
        if (bytes.Length != len) return "E01";
        if (len == 0) return "OK";
        var mem = new LinearMemory(_target.Physical, Registers);
        int put = mem.Write(addr, bytes);
        if (_target is VcpuDebugger d)
        {
            var walk = PageWalker.Walk(_target.Physical, Registers, addr);
            if (walk.Mapped) d.NotifyMemoryWritten(walk.Physical, len);
        }
        return put == len ? "OK" : "E14";
    }

    private static bool TryAddrLen(string s, out ulong addr, out int len)
    {
        len = 0;
        addr = 0;
        int comma = s.IndexOf(',');
        return comma > 0 && ulong.TryParse(s.AsSpan(0, comma), NumberStyles.HexNumber, null, out addr)
            && int.TryParse(s.AsSpan(comma + 1), NumberStyles.HexNumber, null, out len) && len >= 0;
    }

    private string ResumeAndWait(bool step, RspConnection conn)
    {
        if (_target.HasExited) return StopReply(new StopEvent(StopReason.Exited));
        _registers = null;
        _target.Resume(step);
        var stop = WaitForStop(conn);
        _registers = null;
        return stop is null ? "" : StopReply(stop);
    }

    private StopEvent? WaitForStop(RspConnection conn)
    {
        while (!conn.IsClosed)
        {
            if (_target.WaitForStop(TimeSpan.FromMilliseconds(100)) is { } stop) return stop;
        }
        return null;
    }

    /// <summary>The stop reply packet (gdb manual, "Stop Reply Packets").</summary>
    private string StopReply(StopEvent stop)
    {
        const string thread = "thread:01;";
        switch (stop.Reason)
        {
            case StopReason.Exited:
                ExitReported.Set();
                return $"W{stop.ExitCode & 0xFF:x2}";
            case StopReason.Breakpoint:
                return _swbreakFeature ? $"T05swbreak:;{thread}" : $"T05{thread}";
            case StopReason.HardwareBreakpoint:
                return _hwbreakFeature ? $"T05hwbreak:;{thread}" : $"T05{thread}";
            case StopReason.Watchpoint:
                string kind = stop.Access == WatchKind.Write ? "watch" : stop.Access == WatchKind.Read ? "rwatch" : "awatch";
                return $"T05{kind}:{stop.Address:x};{thread}";
            case StopReason.Interrupted:
                return $"T02{thread}";
            case StopReason.Exception:
                return $"T{SignalFor(stop.Vector):x2}{thread}";
            case StopReason.TripleFault:
                return $"T0b{thread}";
            default:
                return $"T05{thread}";
        }
    }

    /// <summary>gdb's signal numbers for the exceptions a debugger user would recognise.</summary>
    private static int SignalFor(int vector) => vector switch
    {
        0 => 8,        // #DE: SIGFPE
        1 or 3 => 5,   // #DB, #BP: SIGTRAP
        6 => 4,        // #UD: SIGILL
        16 or 19 => 8, // x87/SIMD errors: SIGFPE
        17 => 10,      // #AC: SIGBUS
        _ => 11,       // #GP, #PF, #SS, #NP, ...: SIGSEGV
    };

    private static string HexText(string s) => Convert.ToHexStringLower(Encoding.UTF8.GetBytes(s));

    private static string FromHex(string hex)
    {
        try { return Encoding.UTF8.GetString(Convert.FromHexString(hex)); }
        catch (FormatException) { return ""; }
    }
}
