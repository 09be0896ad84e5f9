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
    public Memory.RamPhysicalMemory Physical => _g.Physical;
    public string Serial => _serial.ToString();
    public int? ExitCode { get; private set; }

    public SoftCpuGuest(string guest)
    {
        string path = TestEnvironment.Guest(guest);
        _g.LoadElf32(path);
        Symbols = SymbolTable.Load(path);
        var io = new IoBus();
        io.Register(0x3F8, 8, this);
        io.Register(0xF4, 1, this);
        var ctx = new VcpuContext { Ram = _g.Ram, Io = io, Mmio = new MmioBus(), Signals = _signals, Clock = new MachineClock(ClockMode.Virtual) };
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
        Assert.Matches(@"#1 +0x[0-9a-f]{8} in recurse[.a-z0-9]*\+0x[0-9a-f]+ at stackoverflow\.c:\d+", text);
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
