using MyKvm.Core;
using MyKvm.Debug.Explain;
using MyKvm.Debug.Symbols;
using MyKvm.TestSupport;

namespace MyKvm.Debug.Tests;

/// <summary>
/// The explainer on the four broken guests' situations, rebuilt from the guests' own code and symbols loaded into RAM
/// with the exception chains QEMU reports for them (qemu -d int): the key lines a kernel author needs must be there.
/// </summary>
public class FaultExplainerTests
{
    private static (GuestBuilder G, SymbolTable Sym) Load(string guest)
    {
        var g = new GuestBuilder();
        string path = TestEnvironment.Guest(guest);
        g.LoadElf32(path);
        return (g, SymbolTable.Load(path));
    }

    private static FaultRecord Ev(VcpuState s, byte vector, uint? error, int delivering = -1, ulong cr2 = 0, ulong? rip = null) =>
        new(new VcpuEvent(vector, VcpuEventSource.Exception, error, cr2, s.Cs.Selector, rip ?? s.Rip, 1234, delivering), s.Clone());

    [Fact]
    public void WrongCodeSelectorInTheGates()
    {
        var (g, sym) = Load("dbg-wrongcs.elf");
        using var _ = g;
        ulong fn = sym.Find("check_invariant")!.Address;
        var s = g.State;
        s.Rip = g.Find(fn, 0x0F, 0x0B);
        s.Rsp = 0x9_0000;
        for (int v = 0; v < 32; v++) g.SetGate(v, 0x10, (uint)fn);
        var chain = new[]
        {
            Ev(s, 6, null),
            Ev(s, 13, 0x11, delivering: 6),
            Ev(s, 8, 0, delivering: 13),
            Ev(s, 13, 0x11, delivering: 8),
        };
        string text = new FaultExplainer(g.Physical, sym).ExplainTripleFault(chain, s);
        Assert.Contains("#UD invalid opcode", text);
        Assert.Contains("-> #GP general protection while delivering #UD error 0x11", text);
        Assert.Contains("-> triple fault", text);
        Assert.Matches(@"What happened: +#UD invalid opcode at 0008:[0-9a-f]{8} <check_invariant(\.constprop\.0)?(\+0x[0-9a-f]+)?> \(wrongcs\.c:\d+\): UD2", text);
        Assert.Contains("Why it was fatal:     #GP while delivering #UD: the gate's code selector 0x10 names a data segment", text);
        Assert.Matches(@"instruction 0x[0-9a-f]{8} <check_invariant(\.constprop\.0)?(\+0x[0-9a-f]+)?>: 0f 0b +ud2", text);
        Assert.Contains("error code  0x11: GDT index 2 (selector 0x10); EXT=1", text);
        Assert.Contains("IDT[6]", text);
        Assert.Contains("gate's CS   selector 0x10 -> GDT[2] = 0x00cf92000000ffff: data read/write", text);
        Assert.Contains("Backtrace:", text);
        Assert.Matches(@"#0 +0x[0-9a-f]{8} in check_invariant(\.constprop\.0)?(\+0x[0-9a-f]+)? at wrongcs\.c:\d+", text);
    }

    [Fact]
    public void KernelWriteToAReadOnlyPageBeforeTheIdt()
    {
        var (g, sym) = Load("dbg-rowrite.elf");
        using var _ = g;
        ulong config = sym.Find("config")!.Address;
        g.Paging32();
        g.Ram.Write32(g.Pte32((uint)config), (uint)config | 1);
        var s = g.State;
        s.IdtLimit = 0;
        s.IdtBase = 0;
        s.Rip = g.Find(sym.Find("set_tick_rate")!.Address, 0xA3); // mov %eax, config+4
        s.Rsp = 0x9_0000;
        var chain = new[]
        {
            Ev(s, 14, 3, cr2: config + 4),
            Ev(s, 13, 0x73, delivering: 14),
            Ev(s, 8, 0, delivering: 13),
            Ev(s, 13, 0x43, delivering: 8),
        };
        string text = new FaultExplainer(g.Physical, sym).ExplainTripleFault(chain, s);
        Assert.Contains("error code  0x3: P=1 protection violation (the page is present), W=1 write, U=0 supervisor-mode access", text);
        Assert.Contains($"CR2         0x{config + 4:x} <config+0x4>", text);
        Assert.Contains("kernel write to a read-only page at", text);
        Assert.Contains("R/W=0 in the PTE, and CR0.WP=1 makes supervisor writes obey it", text);
        Assert.Matches(@"PDE +\[ +0\] at 0x[0-9a-f]+: 0x[0-9a-f]{8}  P RW S -> table", text);
        Assert.Matches(@"PTE +\[ *\d+\] at 0x[0-9a-f]+: 0x[0-9a-f]{8}  P RO S", text);
        Assert.Contains("=> physical 0x" + (config + 4).ToString("x") + " (4 KiB page, R-X kernel)", text);
        Assert.Matches(@"instruction 0x[0-9a-f]{8} <set_tick_rate[.a-z0-9]*\+0x[0-9a-f]+>: a3 [0-9a-f ]+mov +%eax,config\+0x4 \(0x[0-9a-f]{8}\)", text);
        Assert.Contains("Why it was fatal:     #GP while delivering #PF: vector 14 cannot be delivered: vector 14 is past the IDT limit 0x0 (0 gates)", text);
    }

    [Fact]
    public void StackOverflowIntoTheGuardPage()
    {
        var (g, sym) = Load("dbg-stackoverflow.elf");
        using var _ = g;
        ulong stack = sym.Find("stack")!.Address;
        g.Paging32();
        g.Ram.Write32(g.Pte32((uint)stack), 0);
        ulong recurse = sym.Find("recurse")!.Address;
        for (int v = 0; v < 32; v++) g.SetGate(v, 0x08, (uint)recurse);
        var s = g.State;
        s.Rip = recurse + 1;
        s.Rsp = stack + 0x1000;   // the push at ESP-4 lands in the guard page
        s.Rbp = stack + 0x1010;
        g.Ram.Write32(stack + 0x1010, (uint)(stack + 0x1050)); // saved EBP
        g.Ram.Write32(stack + 0x1014, (uint)(recurse + 0x30));  // return address into recurse
        var chain = new[]
        {
            Ev(s, 14, 2, cr2: stack + 0xFFC),
            Ev(s, 14, 2, delivering: 14, cr2: stack + 0xFFC),
            Ev(s, 8, 0, delivering: 14),
            Ev(s, 14, 2, delivering: 8, cr2: stack + 0xFFC),
        };
        string text = new FaultExplainer(g.Physical, sym).ExplainTripleFault(chain, s);
        Assert.Contains($"stack overflow: a write at 0x{stack + 0xFFC:x} <stack+0xffc>, right at ESP=0x{stack + 0x1000:x}, hit an unmapped page; the page above it (0x{stack + 0x1000:x}) is mapped, so this is the guard page below the stack", text);
        Assert.Contains("#PF while delivering #PF: pushing the exception frame for #PF faulted", text);
        Assert.Contains("not present", text);
        Assert.Matches(@"#1 +0x[0-9a-f]{8} in recurse\+0x30 at stackoverflow\.c:\d+", text);
    }

    [Fact]
    public void GatesWithoutThePresentBit()
    {
        var (g, sym) = Load("dbg-badidt.elf");
        using var _ = g;
        ulong average = sym.Find("average")!.Address;
        for (int v = 0; v < 32; v++) g.SetGate(v, 0x08, (uint)average, 0x0E);
        var s = g.State;
        s.Rip = g.Find(average, 0xF7); // the idiv
        s.Rsp = 0x9_0000;
        var chain = new[]
        {
            Ev(s, 0, null),
            Ev(s, 8, 0, delivering: 0),
            Ev(s, 11, 0x43, delivering: 8),
        };
        var explainer = new FaultExplainer(g.Physical, sym);
        string text = explainer.ExplainTripleFault(chain, s);
        Assert.Contains("#DE divide error at 0008:", text);
        Assert.Contains("division by zero", text);
        Assert.Contains("idiv", text);
        Assert.Contains("Why it was fatal:     #DF while delivering #DE: IDT entry 0 is not present (P=0), so delivery raises #NP", text);
        Assert.Contains("error code  0x43: IDT entry 8 (vector 0x8, #DF); EXT=1", text);
        Assert.Contains("32-bit interrupt gate -> 0008:", text);
        Assert.Contains("NOT PRESENT", text);
    }

    [Fact]
    public void WithoutAChainTheShutdownStateIsAnalysed()
    {
        using var g = new GuestBuilder();
        g.State.IdtLimit = 0;
        string text = new FaultExplainer(g.Physical).ExplainTripleFault([], g.State);
        Assert.Contains("The exception chain was not recorded", text);
        Assert.Contains("the IDT is empty (limit 0): any exception becomes a triple fault", text);
    }

    [Fact]
    public void WithoutAChainTheInstructionPointsAtTheFirstGate()
    {
        var (g, sym) = Load("dbg-wrongcs.elf");
        using var _ = g;
        ulong fn = sym.Find("check_invariant")!.Address;
        for (int v = 0; v < 32; v++) g.SetGate(v, 0x10, (uint)fn);
        g.State.Rip = g.Find(fn, 0x0F, 0x0B);
        string text = new FaultExplainer(g.Physical, sym).ExplainTripleFault([], g.State, "triple fault: #UD then #GP then #DF");
        Assert.Contains("The backend says: triple fault: #UD then #GP then #DF", text);
        Assert.Contains("the instruction suggests the first exception was #UD (invalid opcode)", text);
        Assert.Matches(@"IDT\[6\] #UD: 32-bit interrupt gate -> 0010:[0-9a-f]+, DPL 0, present <check_invariant[.a-z0-9]*>  <- the gate's code selector 0x10 names a data segment", text);
    }

    [Fact]
    public void RecorderRebuildsTheChainFromDeliveryLinks()
    {
        var rec = new FaultRecorder();
        var s = new VcpuState();
        rec.Add(new FaultRecord(new VcpuEvent(14, VcpuEventSource.Exception, 2, 0x1000, 8, 0x100, 5), s));     // handled earlier
        rec.Add(new FaultRecord(new VcpuEvent(32, VcpuEventSource.ExternalInterrupt, null, 0, 8, 0x200, 9), null));
        rec.Add(new FaultRecord(new VcpuEvent(6, VcpuEventSource.Exception, null, 0, 8, 0x300, 10), s));
        rec.Add(new FaultRecord(new VcpuEvent(13, VcpuEventSource.Exception, 0x11, 0, 8, 0x300, 10, 6), s));
        rec.Add(new FaultRecord(new VcpuEvent(8, VcpuEventSource.Exception, 0, 0, 8, 0x300, 10, 13), s));
        var chain = rec.Chain();
        Assert.Equal(new byte[] { 6, 13, 8 }, chain.Select(c => c.Event.Vector));
    }
}
