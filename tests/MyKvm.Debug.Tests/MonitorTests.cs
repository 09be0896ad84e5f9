using MyKvm.Core;
using MyKvm.Debug.Memory;
using MyKvm.Debug.Monitor;
using MyKvm.Debug.Symbols;
using MyKvm.TestSupport;

namespace MyKvm.Debug.Tests;

/// <summary>A target frozen in a known state (no execution): what the inspection commands are tested on.</summary>
internal sealed class StaticTarget(IPhysicalMemory physical, VcpuState state) : IDebugTarget
{
    public bool Killed { get; private set; }
    public VcpuState GetRegisters() => state.Clone();
    public void SetRegisters(VcpuState s) { }
    public IPhysicalMemory Physical => physical;
    public bool AddBreakpoint(BreakpointType type, ulong address, int length) => true;
    public bool RemoveBreakpoint(BreakpointType type, ulong address, int length) => false;
    public void RemoveAllBreakpoints() { }
    public void Resume(bool step) { }
    public void Interrupt() { }
    public StopEvent? WaitForStop(TimeSpan timeout) => null;
    public bool IsRunning => false;
    public bool HasExited => false;
    public long InstructionCount => 0;
    public void Kill() => Killed = true;
}

public class MonitorTests : IDisposable
{
    private readonly GuestBuilder _g = new();
    private readonly SymbolTable _sym;
    private readonly DebugMonitor _m;
    private readonly StaticTarget _target;
    private readonly ulong _kmain;
    private string? _dumped;

    public MonitorTests()
    {
        string path = TestEnvironment.Guest("dbg-gdb.elf");
        _g.LoadElf32(path);
        _sym = SymbolTable.Load(path);
        _kmain = _sym.Find("kmain")!.Address;
        var s = _g.State;
        _g.Paging32();
        _g.Ram.Write32(_g.Pte32(0x40_0000), 0);          // a hole
        _g.Ram.Write32(_g.Pte32(0x10_0000), 0x10_0000 | 1); // kernel text page read-only
        s.Rip = _kmain;
        s.Rflags = 0x202;
        s.Rsp = 0x9_0000;
        s.Rbp = 0;
        s.Cr2 = 0x40_0010;
        _g.Ram.Write32(0x9_0000, 0x1234_5678);
        _g.Ram.Write(0x9_0010, "hello\0"u8);
        _g.SetGate(14, 0x08, (uint)_kmain);
        _g.SetGate(13, 0x10, (uint)_kmain);     // wrong CS
        _g.SetGate(6, 0x08, (uint)_kmain, 0x0E); // not present
        _g.Ram.Write32(GuestBuilder.TssBase + 4, 0x9_F000);  // ESP0
        _g.Ram.Write16(GuestBuilder.TssBase + 8, 0x10);      // SS0
        _target = new StaticTarget(_g.Physical, s);
        _m = new DebugMonitor(_target, _sym, path => { _dumped = path; return $"saved {path}"; });
    }

    public void Dispose() => _g.Dispose();

    [Fact]
    public void InfoRegistersDecodesControlBits()
    {
        string r = _m.Execute("info registers");
        Assert.Contains($"EIP={_kmain:x8} <kmain> at gdbguest.c:", r);
        Assert.Contains("EFL=00000202 [ IF ] CPL=0 protected mode (32-bit), 32-bit paging", r);
        Assert.Contains("CR0=80010011 [ PE ET WP PG ]", r);
        Assert.Contains("CS =0008 0000000000000000 ffffffff c09b  code execute/read accessed 32-bit DPL0", r);
        Assert.Contains("TR =0028 0000000000003000 00000067 008b  32-bit TSS (busy) DPL0", r);
        Assert.Contains("EFER=0000000000000000 [ - ]", r);
    }

    [Fact]
    public void InfoGdtMarksTheLoadedSelectors()
    {
        string r = _m.Execute("info gdt");
        Assert.Contains("GDT at 0x1000, limit 0x2f (6 entries)", r);
        Assert.Contains("[   1] sel 0x0008: 0x00cf9a000000ffff  code execute/read 32-bit, base 0x0, limit 0xffffffff, DPL 0, present  <- CS", r);
        Assert.Contains("[   3] sel 0x0018: 0x00cffa000000ffff  code execute/read 32-bit, base 0x0, limit 0xffffffff, DPL 3, present", r);
        Assert.Contains("[   5] sel 0x0028: ", r);
        Assert.Contains("32-bit TSS (available), base 0x3000, limit 0x67, DPL 0, present  <- TR", r);
    }

    [Fact]
    public void InfoIdtDecodesGatesAndFlagsBrokenOnes()
    {
        string r = _m.Execute("info idt");
        Assert.Contains("IDT at 0x2000, limit 0x7ff (256 gates)", r);
        Assert.Contains($"[ 14] #PF    32-bit interrupt gate -> 0008:{_kmain:x}, DPL 0, present <kmain>", r);
        Assert.Contains("!! the gate's code selector 0x10 names a data segment", r);
        Assert.Contains("!! IDT entry 6 is not present (P=0), so delivery raises #NP", r);
        Assert.Contains("(253 empty gates not shown)", r);
    }

    [Fact]
    public void InfoTssShowsTheRingZeroStack()
    {
        string r = _m.Execute("info tss");
        Assert.Contains("TR=0x0028", r);
        Assert.Contains("SS0:ESP0 0010:0009f000", r);
    }

    [Fact]
    public void InfoMemSummarisesRangesAndInfoTlbListsPages()
    {
        string r = _m.Execute("info mem");
        Assert.Contains("0x00000000-0x00100000 0x100000   -> 0x00000000 RWX kernel", r);
        Assert.Contains("0x00100000-0x00101000 0x1000     -> 0x00100000 R-X kernel  <_start-0x10>".Replace("  <_start-0x10>", ""), r);
        Assert.Contains("0x00101000-0x00400000", r);
        Assert.Contains("0x00401000-0x00800000", r);
        string t = _m.Execute("info tlb");
        Assert.Contains("0x00100000 -> 0x00100000 (4 KiB)      R-X kernel", t);
        Assert.StartsWith("32-bit paging, CR3=0x800000\n", t);
        Assert.DoesNotContain("0x00400000 ->", t);
    }

    [Fact]
    public void ExamineMemoryInEveryFormat()
    {
        Assert.Equal("0x00090000: 0x12345678 0x00000000\n", _m.Execute("x/2xw 0x90000"));
        Assert.Equal("0x00090000: 0x78 0x56\n", _m.Execute("x/2xb $esp"));
        Assert.Equal("0x00090010: \"hello\"\n", _m.Execute("x/s 0x90010"));
        Assert.Equal("0x00090010: 'h' 'e'\n", _m.Execute("x/2c 0x90010"));
        Assert.Equal("0x00090000: 305419896\n", _m.Execute("x/d 0x90000"));
        Assert.Contains("(not mapped)", _m.Execute("x/x 0x400000"));
        Assert.Equal("0x00090000: 0x5678\n", _m.Execute("xp/xh 0x90000"));
        string code = _m.Execute("x/2i kmain");
        Assert.Contains($"=> 0x{_kmain:x8} <kmain>: 55", code);
        Assert.Contains("push   %ebp", code);
        Assert.Contains("mov    %esp,%ebp", code);
    }

    [Fact]
    public void DisassembleWithSourceLinesAndSyntaxes()
    {
        string d = _m.Execute("disas kmain 3");
        Assert.Contains("gdbguest.c:", d);
        Assert.Contains($"=> 0x{_kmain:x8} <kmain>: 55", d);
        Assert.Contains("sub    $0x28,%esp", d);
        _m.Execute("set syntax intel");
        Assert.Contains("sub    esp, 0x28", _m.Execute("disas"));
    }

    [Fact]
    public void SymbolsWalksAndErrors()
    {
        Assert.StartsWith($"0x{_kmain + 4:x8} <kmain+0x4> at gdbguest.c:", _m.Execute("sym kmain+4"));
        string w = _m.Execute("walk $cr2");
        Assert.Contains("PTE", w);
        Assert.Contains("=> not mapped: PTE 0 is not present", w);
        Assert.Equal("no symbol 'nosuch'\n", _m.Execute("x nosuch"));
        Assert.StartsWith("unknown command 'frobnicate'", _m.Execute("frobnicate"));
        Assert.Contains("info registers", _m.Execute("help"));
    }

    [Fact]
    public void ScreendumpAndQuitGoToTheHost()
    {
        Assert.Equal("saved /tmp/x.png\n", _m.Execute("screendump /tmp/x.png"));
        Assert.Equal("/tmp/x.png", _dumped);
        _m.Execute("quit");
        Assert.True(_m.QuitRequested);
        Assert.True(_target.Killed);
    }

    [Fact]
    public void BreakStepAndContinueDriveTheCpu()
    {
        using var m = new FakeMachine(VcpuDebuggerTests.Program);
        m.Start();
        var mon = new DebugMonitor(m.Debugger);
        Assert.Equal("breakpoint at 0x00100007\n", mon.Execute("break 0x100007"));
        Assert.Contains("Software     0x00100007", mon.Execute("info break"));
        Assert.Equal("", mon.Execute("cont"));
        var stop = m.Debugger.WaitForStop(TimeSpan.FromSeconds(10));
        Assert.Equal(StopReason.Breakpoint, stop!.Reason);
        string step = mon.Execute("step");
        Assert.StartsWith("stepped\n=> 0x00100008: eb fe", step);
        Assert.Contains("jmp    0x100008", step);
        Assert.Equal("all breakpoints deleted\n", mon.Execute("delete"));
        mon.Execute("cont");
        Assert.StartsWith("stopped\n", mon.Execute("stop"));
    }

    [Fact]
    public void ConsoleMuxSwitchesBetweenGuestAndMonitor()
    {
        var console = new StringWriter();
        var guest = new List<byte>();
        bool quit = false;
        var mux = new SerialConsoleMux(_m, console, b => guest.AddRange(b), () => quit = true);
        mux.Feed("ab\u0001\u0001c"u8);
        Assert.Equal("ab\u0001c"u8.ToArray(), guest);
        mux.Feed("\u0001c"u8);
        Assert.True(mux.InMonitor);
        mux.Feed("sym kmain\r"u8);
        Assert.Contains("sym kmain\r\n0x", console.ToString());
        Assert.Contains("<kmain> at gdbguest.c:", console.ToString());
        mux.Feed("\u0001cz"u8);
        Assert.False(mux.InMonitor);
        Assert.Equal((byte)'z', guest[^1]);
        mux.Feed("\u0001x"u8);
        Assert.True(quit);
    }
}
