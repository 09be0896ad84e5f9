using MyKvm.Core;
using MyKvm.Debug.Explain;
using MyKvm.Debug.Monitor;
using MyKvm.Debug.Symbols;
using MyKvm.TestSupport;

namespace MyKvm.Debug.Tests;

/// <summary>Damaged ELF files and garbage guest state give errors or "unknown", never a host exception.</summary>
public class RobustnessTests
{
    [Fact]
    public void MutatedElfFilesOnlyEverFailAsFormatErrors()
    {
        var good = File.ReadAllBytes(TestEnvironment.Guest("dbg-gdb.elf"));
        var rng = new Random(1234);
        for (int round = 0; round < 300; round++)
        {
            var bad = (byte[])good.Clone();
            int flips = rng.Next(1, 40);
            for (int i = 0; i < flips; i++)
            {
                // Aim most damage at the headers, section table and debug sections where parsing decisions are made.
                int at = rng.Next(3) == 0 ? rng.Next(0x40) : rng.Next(bad.Length);
                bad[at] = (byte)rng.Next(256);
            }
            if (rng.Next(4) == 0) bad = bad[..rng.Next(bad.Length)];
            try
            {
                var t = SymbolTable.FromElf(new ElfFile(bad));
                t.Describe(0x100080);
                t.SourceLine(0x100080);
            }
            catch (FormatException)
            {
            }
        }
    }

    [Fact]
    public void GarbageStateIsExplainedWithoutThrowing()
    {
        using var g = new GuestBuilder();
        var rng = new Random(99);
        var buf = new byte[0x10000];
        for (int round = 0; round < 100; round++)
        {
            rng.NextBytes(buf);
            g.Ram.Write(0, buf);               // garbage GDT, IDT, stack, code and page tables
            g.Ram.Write(0x80_0000, buf);
            var s = g.State.Clone();
            s.Cr0 |= rng.Next(2) == 0 ? VcpuState.Cr0PG : 0;
            s.Cr4 = (ulong)rng.Next(0x40);
            s.Efer = rng.Next(3) == 0 ? VcpuState.EferLMA | VcpuState.EferLME | VcpuState.EferNXE : 0;
            s.Cr3 = (ulong)rng.Next(0x1000) << 12;
            s.Rip = (ulong)rng.NextInt64();
            s.Rsp = (ulong)rng.Next(0x10000);
            s.Rbp = (ulong)rng.Next(0x10000);
            s.GdtLimit = (ushort)rng.Next(0x10000);
            s.IdtLimit = (ushort)rng.Next(0x10000);
            s.Ldtr = new SegmentState((ushort)rng.Next(0x10000), (ulong)rng.Next(0x10000), 0xFFFF, 0x82);
            var chain = new[]
            {
                new FaultRecord(new VcpuEvent((byte)rng.Next(32), VcpuEventSource.Exception, (uint)rng.Next(), (ulong)rng.NextInt64(), 8, s.Rip, 1), s),
                new FaultRecord(new VcpuEvent(13, VcpuEventSource.Exception, (uint)rng.Next(0x10000), 0, 8, s.Rip, 1, rng.Next(256)), s),
                new FaultRecord(new VcpuEvent(8, VcpuEventSource.Exception, 0, 0, 8, s.Rip, 1, 13), s),
            };
            string text = new FaultExplainer(g.Physical).ExplainTripleFault(chain, s);
            Assert.Contains("triple fault", text);
            var m = new DebugMonitor(new StaticTarget(g.Physical, s));
            foreach (var cmd in new[] { "info gdt", "info ldt", "info idt", "info tss", "info mem", "x/4i $eip", "bt", "walk $eip", "x/s $esp" })
                Assert.DoesNotContain(": failed: ", m.Execute(cmd));
        }
    }
}
