using System.Text;
using MyKvm.Core;
using MyKvm.Cpu;
using MyKvm.Debug.Explain;
using MyKvm.Debug.Symbols;
using MyKvm.TestSupport;

namespace MyKvm.Debug.Tests;

/// <summary>
/// Runs a 32-bit Multiboot guest on the real software CPU with just a serial port and the exit port, recording its
/// exceptions the way the debugger does, so the explainer can be checked on what the CPU really did.
/// </summary>
internal sealed class SoftCpuGuest : IDisposable, IPortDevice
{
    private readonly GuestBuilder _g = new();
    private readonly StringBuilder _serial = new();
    private readonly CpuSignals _signals = new();
    private CpuEvent? _previous;
    private long _previousCount = -1;

    public SoftCpu Cpu { get; }
    public FaultRecorder Faults { get; } = new();
    public SymbolTable Symbols { get; }
    public GuestRam Ram => _g.Ram;
    public CpuSignals Signals => _signals;
    public IoBus Io { get; }
    public MmioBus Mmio { get; } = new();
    public Memory.RamPhysicalMemory Physical => _g.Physical;
    public string Serial => _serial.ToString();
    public int? ExitCode { get; private set; }

    public SoftCpuGuest(string guest)
    {
        string path = TestEnvironment.Guest(guest);
        _g.LoadElf32(path);
        Symbols = SymbolTable.Load(path);
        var io = Io = new IoBus();
        io.Register(0x3F8, 8, this);
        io.Register(0xF4, 1, this);
        var ctx = new VcpuContext { Ram = _g.Ram, Io = io, Mmio = Mmio, Signals = _signals, Clock = new MachineClock(ClockMode.Virtual) };
        Cpu = new SoftCpu(ctx);
        var entry = new Symbols.ElfFile(File.ReadAllBytes(path)).Entry;
        var s = VcpuState.Flat32((uint)entry, 0x08, 0x10, GuestBuilder.GdtBase, 8 * 6 - 1);
        s.Rax = 0x2BADB002;
        s.Rbx = 0x9000;
        Cpu.SetState(s);
        // Until SoftCpu implements IVcpuDebug, its own observer stands in for the event hook. An event with no
        // instruction retired since the previous exception at the same CS:EIP was raised while delivering it.
        Cpu.ExceptionObserver = e =>
        {
            if (e.External) return;
            long count = Cpu.RetiredInstructions;
            int delivering = _previous is { } p && _previousCount == count && p.Rip == e.Rip && p.Cs == e.Cs ? p.Vector : -1;
            var ev = new VcpuEvent((byte)e.Vector, VcpuEventSource.Exception, e.HasErrorCode ? e.ErrorCode : null, e.Cr2, e.Cs, e.Rip, count, delivering);
            Faults.Add(new FaultRecord(ev, Cpu.GetState()));
            _previous = e;
            _previousCount = count;
        };
    }

    /// <summary>Runs until the guest exits, the CPU stops, or the instruction limit.</summary>
    public VcpuExit Run(long limit = 50_000_000)
    {
        while (Cpu.RetiredInstructions < limit)
        {
            var exit = Cpu.Run(1_000_000);
            if (exit.Reason != VcpuExitReason.BudgetExhausted) return exit;
        }
        return new VcpuExit(VcpuExitReason.BudgetExhausted);
    }

    public uint PortRead(ushort port, int size) => port == 0x3FD ? 0x60u : 0;

    public void PortWrite(ushort port, int size, uint value)
    {
        if (port == 0x3F8) _serial.Append((char)(value & 0xFF));
        else if (port == 0xF4)
        {
            ExitCode = (int)value;
            _signals.Raise(CpuSignals.Stop);
        }
    }

    public void Dispose()
    {
        Cpu.Dispose();
        _g.Dispose();
    }
}

/// <summary>The four broken guests on the software CPU: each triple-faults, and the explanation names the cause.</summary>
public class BrokenGuestTests
{
    private static (string Text, VcpuExit Exit, string Serial) Explain(string guest)
    {
        using var g = new SoftCpuGuest(guest);
        var exit = g.Run();
        string text = new FaultExplainer(g.Physical, g.Symbols).ExplainTripleFault(g.Faults.Chain(), g.Cpu.GetState());
        return (text, exit, g.Serial);
    }

    [Fact]
    public void BadIdtEntry()
    {
        var (text, exit, serial) = Explain("dbg-badidt.elf");
        Assert.Equal(VcpuExitReason.TripleFault, exit.Reason);
        Assert.Contains("dbg-badidt: dividing by zero", serial);
        Assert.Matches(@"What happened: +#DE divide error at 0008:[0-9a-f]{8} <average[.a-z0-9]*\+0x[0-9a-f]+> \(badidt\.c:\d+\): division by zero", text);
        Assert.Contains("IDT entry 0 is not present (P=0), so delivery raises #NP", text);
        Assert.Contains("idiv", text);
    }

    [Fact]
    public void StackOverflowIntoAGuardPage()
    {
        var (text, exit, serial) = Explain("dbg-stackoverflow.elf");
        Assert.Equal(VcpuExitReason.TripleFault, exit.Reason);
        Assert.Contains("recursing into the guard page", serial);
        Assert.Matches(@"What happened: +#PF page fault at 0008:[0-9a-f]{8} <recurse[.a-z0-9]*\+0x[0-9a-f]+> \(stackoverflow\.c:\d+\): stack overflow: a write at 0x[0-9a-f]+ <stack\+0x[0-9a-f]+>, right at ESP=0x[0-9a-f]+, hit an unmapped page; the page above it \(0x[0-9a-f]+\) is mapped, so this is the guard page below the stack", text);
        Assert.Matches(@"Why it was fatal: +#DF while delivering #PF: the exception frame goes on the current stack at 0x[0-9a-f]+ <stack\+0x[0-9a-f]+>, which is not mapped", text);
        Assert.Matches(@"#1-#\d+: 0x[0-9a-f]{8} in recurse[.a-z0-9]*\+0x[0-9a-f]+ at stackoverflow\.c:\d+   \(\d+ identical frames: recursion, and more below\)", text);
    }

    [Fact]
    public void WrongCodeSegmentInTheGates()
    {
        var (text, exit, serial) = Explain("dbg-wrongcs.elf");
        Assert.Equal(VcpuExitReason.TripleFault, exit.Reason);
        Assert.Contains("raising #UD", serial);
        Assert.Matches(@"What happened: +#UD invalid opcode at 0008:[0-9a-f]{8} <check_invariant[.a-z0-9]*(\+0x[0-9a-f]+)?> \(wrongcs\.c:\d+\): UD2", text);
        Assert.Matches(@"Why it was fatal: +#GP while delivering #UD: the gate's code selector 0x10 names a data segment \(data read/write[a-z ]*\), not a code segment", text);
        Assert.Matches(@"#1 +0x[0-9a-f]{8} in kmain\+0x[0-9a-f]+ at wrongcs\.c:\d+", text);
    }

    [Fact]
    public void KernelWriteToAReadOnlyPage()
    {
        var (text, exit, serial) = Explain("dbg-rowrite.elf");
        Assert.Equal(VcpuExitReason.TripleFault, exit.Reason);
        Assert.Contains("writing to a read-only page", serial);
        Assert.Matches(@"What happened: +#PF page fault at 0008:[0-9a-f]{8} <set_tick_rate[.a-z0-9]*\+0x[0-9a-f]+> \(rowrite\.c:\d+\): kernel write to a read-only page at 0x[0-9a-f]+ <config\+0x4>: R/W=0 in the PTE, and CR0.WP=1 makes supervisor writes obey it", text);
        Assert.Contains("error code  0x3: P=1 protection violation (the page is present), W=1 write, U=0 supervisor-mode access", text);
        Assert.Matches(@"Why it was fatal: +#(GP|DF) while delivering #PF: vector 14 cannot be delivered: vector 14 is past the IDT limit 0x0 \(0 gates\)", text);
        Assert.Matches(@"#1 +0x[0-9a-f]{8} in kmain\+0x[0-9a-f]+ at rowrite\.c:\d+", text);
    }
}

/// <summary>
/// A guest on the software CPU behind the debugger, as the machine will wire it: SoftCpu → SteppingDebugAdapter →
/// VcpuDebugger, a run loop thread, and a gdb server.
/// </summary>
internal sealed class DebuggedSoftGuest : IDisposable
{
    private readonly SoftCpuGuest _guest;
    private readonly Thread _loop;
    private volatile bool _end;

    public SteppingDebugAdapter Adapter { get; }
    public VcpuDebugger Debugger { get; }
    public Gdb.GdbServer Server { get; }
    public string Serial => _guest.Serial;
    public VcpuExit? FinalExit { get; private set; }

    public DebuggedSoftGuest(string guest)
    {
        _guest = new SoftCpuGuest(guest);
        Adapter = new SteppingDebugAdapter(_guest.Cpu, _guest.Ram);
        _guest.Cpu.ExceptionObserver = e => Adapter.ReportEvent((byte)e.Vector,
            e.External ? VcpuEventSource.ExternalInterrupt : VcpuEventSource.Exception, e.HasErrorCode ? e.ErrorCode : null, e.Cr2, e.Cs, e.Rip);
        Debugger = new VcpuDebugger(Adapter, _guest.Ram, _guest.Signals, _ => _end = true, startStopped: true);
        Server = Gdb.GdbServer.Start("tcp::0", Debugger, new Monitor.DebugMonitor(Debugger, _guest.Symbols).Execute);
        _loop = new Thread(Loop) { IsBackground = true, Name = "soft vcpu" };
        _loop.Start();
    }

    private void Loop()
    {
        while (true)
        {
            Debugger.BeforeRun();
            _guest.Signals.Clear(CpuSignals.Attention);
            var exit = Adapter.Run(100_000);
            if (Debugger.AfterRun(exit)) continue;
            if (_end || exit.Reason != VcpuExitReason.BudgetExhausted)
            {
                FinalExit = exit;
                Debugger.OnMachineExit(_guest.ExitCode ?? 3, exit.Reason.ToString());
                Server.WaitForExitReported(TimeSpan.FromSeconds(2));
                return;
            }
        }
    }

    public void Dispose()
    {
        _end = true;
        Debugger.Kill();
        _loop.Join(TimeSpan.FromSeconds(5));
        Server.Dispose();
        _guest.Dispose();
    }
}

public class RealGdbOnSoftCpuTests
{
    /// <summary>
    /// The issue's gdb batch test: break at kmain, continue, read registers and a local variable, single-step, watch a
    /// memory write, continue to exit — Debian's gdb against the stub and the real software CPU running dbg-gdb.elf.
    /// </summary>
    [Fact]
    public void GdbBatchSessionOnTheGdbGuest()
    {
        if (!TestEnvironment.HasCommand("gdb")) return;
        string elf = TestEnvironment.Guest("dbg-gdb.elf");
        using var g = new DebuggedSoftGuest("dbg-gdb.elf");
        var r = TestEnvironment.Run("gdb", [
            "-nx", "-batch",
            "-ex", "set confirm off",
            "-ex", $"target remote 127.0.0.1:{g.Server.Port}",
            "-ex", "break kmain",
            "-ex", "continue",
            "-ex", "info registers eip esp",
            "-ex", "next",
            "-ex", "print/x local_value",
            "-ex", "stepi",
            "-ex", "print $pc",
            "-ex", "watch watched_counter",
            "-ex", "continue",
            "-ex", "backtrace",
            "-ex", "monitor info gdt",
            "-ex", "continue",
            elf,
        ], timeout: TimeSpan.FromSeconds(90));
        string output = r.Stdout + r.Stderr;
        Assert.False(r.TimedOut, output);
        Assert.Matches(@"Breakpoint 1 at 0x[0-9a-f]+: file .*gdbguest\.c, line \d+\.", output);
        Assert.Matches(@"Breakpoint 1, kmain \(magic=732803074, info=\d+\) at .*gdbguest\.c:\d+", output);
        Assert.Matches(@"eip +0x[0-9a-f]+ +0x[0-9a-f]+ <kmain\+\d+>", output);
        Assert.Contains("$1 = 0x1234", output);
        Assert.Matches(@"\$2 = \(void \(\*\)\(\)\) 0x[0-9a-f]+ <serial_init>", output); // stepi entered the call
        Assert.Contains("Hardware watchpoint 2: watched_counter", output);
        Assert.Contains("Old value = 0", output);
        Assert.Contains("New value = 2705", output);
        Assert.Matches(@"#0 +kmain \(magic=732803074", output);
        Assert.Contains("sel 0x0008: 0x00cf9a000000ffff  code execute/read 32-bit", output);
        Assert.Contains("exited normally", output);
        Assert.Contains("dbg-gdb: counter 2705", g.Serial);
    }
}
