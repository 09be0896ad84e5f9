using MyKvm.Core;
using MyKvm.Debug.Trace;
using MyKvm.TestSupport;

namespace MyKvm.Debug.Tests;

public class SessionAndTraceTests
{
    [Fact]
    public void TraceOptionsParse()
    {
        var o = TraceOptions.Parse("int,exc,cpu=0x100000-0x100100:50");
        Assert.True(o.Interrupts && o.Exceptions && o.Cpu && !o.Io);
        Assert.Equal((0x10_0000UL, 0x10_0100UL, 50L), (o.CpuStart, o.CpuEnd, o.CpuLimit));
        Assert.Equal(1000, TraceOptions.Parse("cpu=1000").CpuLimit);
        Assert.Equal(TraceOptions.DefaultCpuLimit, TraceOptions.Parse("cpu").CpuLimit);
        Assert.Equal("--trace: unknown category 'irq' (known: int, exc, pf, io, mmio, cpu)",
            Assert.Throws<ArgumentException>(() => TraceOptions.Parse("irq")).Message);
        Assert.Throws<ArgumentException>(() => TraceOptions.Parse("cpu=nosuch"));
        Assert.Throws<ArgumentException>(() => TraceOptions.Parse("io=5"));
    }

    /// <summary>
    /// The session as the machine wires it, on dbg-rowrite: a bounded instruction trace of kmain, port writes, the page
    /// fault with its walk, and the triple-fault explanation at the end.
    /// </summary>
    [Fact]
    public void SessionTracesAndExplainsARealRun()
    {
        using var g = new SoftCpuGuest("dbg-rowrite.elf");
        var log = new StringWriter();
        string traceFile = Path.Combine(Path.GetTempPath(), $"mykvm-trace-{Guid.NewGuid():N}.txt");
        using (var session = DebugSession.Create(
            new DebugOptions { Trace = "cpu=kmain:6,io,pf,exc", TraceFile = traceFile, SymbolFile = TestEnvironment.Guest("dbg-rowrite.elf") },
            g.Cpu, g.Ram, g.Signals, g.Io, g.Mmio, _ => { }, log, exactBudget: true))
        {
            Assert.IsType<SteppingDebugAdapter>(session.Vcpu);
            g.Cpu.ExceptionObserver = e => session.ReportEvent((byte)e.Vector,
                e.External ? VcpuEventSource.ExternalInterrupt : VcpuEventSource.Exception, e.HasErrorCode ? e.ErrorCode : null, e.Cr2, e.Cs, e.Rip);
            VcpuExit exit;
            while (true)
            {
                session.BeforeRun();
                g.Signals.Clear(CpuSignals.Attention);
                exit = session.Vcpu.Run(100_000);
                if (session.AfterRun(exit)) continue;
                if (exit.Reason != VcpuExitReason.BudgetExhausted) break;
            }
            Assert.Equal(VcpuExitReason.TripleFault, exit.Reason);
            string explanation = session.ExplainTripleFault();
            Assert.Contains("kernel write to a read-only page", explanation);
            session.OnMachineExit(2, "triple fault");
        }
        string trace = File.ReadAllText(traceFile);
        File.Delete(traceFile);
        var cpuLines = trace.Split('\n').Where(l => l.Contains("] cpu  ")).ToList();
        Assert.Equal(7, cpuLines.Count); // six instructions and the limit notice
        Assert.Matches(@"^\[ +\d+\] cpu  0008:[0-9a-f]{8} <kmain>  push   %ebp +EAX=2badb002", cpuLines[0]);
        Assert.Contains("(trace limit of 6 instructions reached)", cpuLines[6]);
        Assert.Matches(@"\] io   write 0x3f8 size 1 value 0x64", trace); // 'd' of "dbg-rowrite"
        Assert.Matches(@"\] pf   CR2=0x[0-9a-f]+ <config\+0x4> 0x3: P=1 protection violation .* \| PDE=0x[0-9a-f]+ PTE=0x[0-9a-f]+ => 0x[0-9a-f]+ R-X kernel", trace);
        Assert.Matches(@"\] exc  #DF double fault while delivering #PF", trace);
    }
}
