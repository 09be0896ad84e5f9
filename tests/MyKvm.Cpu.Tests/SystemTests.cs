using Iced.Intel;
using MyKvm.Core;
using static Iced.Intel.AssemblerRegisters;

namespace MyKvm.Cpu.Tests;

/// <summary>A controller with one pending vector; acknowledging it drops INTR.</summary>
internal sealed class FakePic(CpuSignals signals) : IInterruptController
{
    public byte Vector = 0x20;
    public int Acks;
    public bool InterruptPending { get; private set; }
    public void Raise() { InterruptPending = true; signals.Set(CpuSignals.Intr); }
    public byte Acknowledge()
    {
        Acks++;
        InterruptPending = false;
        signals.Clear(CpuSignals.Intr);
        return Vector;
    }
}

/// <summary>System-level behaviour: interrupts and their shadow, HLT, exits and their reports, faults, real mode.</summary>
public class SystemTests
{
    private const uint Code = 0x10000, Idt = 0x20000, Stack = 0x30000, Data = 0x40000;

    private static void Asm(TestMachine m, uint at, Action<Assembler> build, int bitness = 32)
    {
        var a = new Assembler(bitness);
        build(a);
        var ms = new MemoryStream();
        a.Assemble(new StreamCodeWriter(ms), at);
        m.Ram.Write(at, ms.ToArray());
        m.Cpu.NotifyRamWritten(at, (ulong)ms.Length);
    }

    /// <summary>Flat 32-bit protected mode at <see cref="Code"/> with an IDT of 256 interrupt gates to <paramref name="handler"/>.</summary>
    private static TestMachine Flat(uint handler = 0, ushort idtLimit = 256 * 8 - 1)
    {
        var m = new TestMachine();
        m.Ram.Write64(TestMachine.GdtBase + 8, 0x00CF_9A00_0000_FFFFUL);
        m.Ram.Write64(TestMachine.GdtBase + 16, 0x00CF_9200_0000_FFFFUL);
        for (int v = 0; v < 256; v++)
            m.Ram.Write64(Idt + (ulong)v * 8, (handler & 0xFFFF) | (0x08UL << 16) | (0x8EUL << 40) | ((ulong)(handler >> 16) << 48));
        var st = VcpuState.Flat32(Code, 0x08, 0x10, TestMachine.GdtBase, 23);
        st.IdtBase = Idt;
        st.IdtLimit = idtLimit;
        st.Rsp = Stack;
        m.Cpu.SetState(st);
        return m;
    }

    [Fact]
    public void HltWakesOnInterruptAndHandlerRuns()
    {
        using var m = Flat(handler: Code + 0x100);
        var pic = new FakePic(m.Signals);
        m.Signals.Controller = pic;
        Asm(m, Code, a => { a.sti(); a.hlt(); a.mov(__dword_ptr[Data + 4], 7); a.mov(dx, 0xf4); a.@out(dx, eax); });
        Asm(m, Code + 0x100, a => { a.inc(__dword_ptr[Data]); a.iretd(); });
        var e = m.Cpu.Run(1000);
        Assert.Equal(VcpuExitReason.Halted, e.Reason);
        Assert.True(m.Cpu.IsHalted);
        e = m.Cpu.Run(1000);
        Assert.Equal(VcpuExitReason.Halted, e.Reason);           // still nothing pending
        pic.Raise();
        e = m.Cpu.Run(1000);
        Assert.Equal(VcpuExitReason.Stopped, e.Reason);
        Assert.Equal(1u, m.Ram.Read32(Data));
        Assert.Equal(7u, m.Ram.Read32(Data + 4));
        Assert.Equal(1, pic.Acks);
    }

    [Fact]
    public void StiShadowDelaysTheInterruptByOneInstruction()
    {
        using var m = Flat(handler: Code + 0x100);
        var pic = new FakePic(m.Signals);
        m.Signals.Controller = pic;
        pic.Raise();
        // The handler records what it saw: the instruction after STI has run, the one after that has not.
        Asm(m, Code, a => { a.sti(); a.mov(__dword_ptr[Data], 1); a.mov(__dword_ptr[Data + 4], 2); a.mov(dx, 0xf4); a.@out(dx, eax); });
        Asm(m, Code + 0x100, a => { a.mov(eax, __dword_ptr[Data]); a.mov(__dword_ptr[Data + 8], eax); a.mov(eax, __dword_ptr[Data + 4]); a.mov(__dword_ptr[Data + 12], eax); a.iretd(); });
        Assert.Equal(VcpuExitReason.Stopped, m.Cpu.Run(1000).Reason);
        Assert.Equal(1u, m.Ram.Read32(Data + 8));
        Assert.Equal(0u, m.Ram.Read32(Data + 12));
    }

    [Fact]
    public void InterruptsWaitWhileIfIsClear()
    {
        using var m = Flat(handler: Code + 0x100);
        var pic = new FakePic(m.Signals);
        m.Signals.Controller = pic;
        pic.Raise();
        Asm(m, Code, a => { a.mov(ecx, 1000); var l = a.CreateLabel(); a.Label(ref l); a.dec(ecx); a.jnz(l); a.hlt(); });
        Asm(m, Code + 0x100, a => { a.inc(__dword_ptr[Data]); a.iretd(); });
        Assert.Equal(VcpuExitReason.HaltedForever, m.Cpu.Run(100_000).Reason);
        Assert.Equal(0, pic.Acks);
        Assert.Equal(0u, m.Ram.Read32(Data));
    }

    [Fact]
    public void StopAndAttentionEndTheRun()
    {
        using var m = Flat();
        Asm(m, Code, a => { var l = a.CreateLabel(); a.Label(ref l); a.jmp(l); });
        Assert.Equal(VcpuExitReason.BudgetExhausted, m.Cpu.Run(5000).Reason);
        m.Signals.Set(CpuSignals.Attention);
        long before = m.Cpu.RetiredInstructions;
        Assert.Equal(VcpuExitReason.BudgetExhausted, m.Cpu.Run(1_000_000).Reason);
        Assert.Equal(before, m.Cpu.RetiredInstructions);
        m.Signals.Clear(CpuSignals.Attention);
        m.Signals.Set(CpuSignals.Stop);
        Assert.Equal(VcpuExitReason.Stopped, m.Cpu.Run(1_000_000).Reason);
    }

    [Fact]
    public void TripleFaultIsReportedWithTheChainAndInstruction()
    {
        using var m = Flat(idtLimit: 0);
        Asm(m, Code, a => { a.nop(); a.ud2(); });
        var e = m.Cpu.Run(1000);
        Assert.Equal(VcpuExitReason.TripleFault, e.Reason);
        Assert.Contains("#UD", e.Detail);
        Assert.Contains("#DF", e.Detail);
        Assert.Contains("0f 0b", e.Detail);
        Assert.Contains($"0008:{Code + 1:x8}", e.Detail);
        Assert.Equal(Code + 1, m.Cpu.GetState().Rip);
    }

    [Fact]
    public void UnimplementedInstructionIsAReportNotAnException()
    {
        using var m = Flat();
        Asm(m, Code, a => { a.mov(eax, 1); a.addps(xmm0, xmm1); });
        var e = m.Cpu.Run(1000);
        Assert.Equal(VcpuExitReason.Unimplemented, e.Reason);
        Assert.Contains("0f 58 c1", e.Detail);
        Assert.Contains($"0008:{Code + 5:x8}", e.Detail);
        Assert.Contains("32-bit protected mode", e.Detail);
        Assert.Equal(Code + 5, m.Cpu.GetState().Rip);
        Assert.Equal(1UL, m.Cpu.GetState().Rax);
    }

    [Fact]
    public void GarbageCodeNeverThrows()
    {
        var rng = new Random(7);
        int n = int.TryParse(Environment.GetEnvironmentVariable("MYKVM_FUZZ_CASES"), out int f) && f > 0 ? f * 3 : 200;
        for (int k = 0; k < n; k++)
        {
            using var m = Flat(handler: Code + 0x800);
            var junk = new byte[0x800];
            rng.NextBytes(junk);
            m.Ram.Write(Code, junk);
            m.Ram.Write(Code + 0x800, [0xF4]);
            var e = m.Cpu.Run(10_000);
            Assert.NotEqual(VcpuExitReason.Error, e.Reason);
        }
    }

    [Fact]
    public void SelfModifyingCodeSeesTheNewInstruction()
    {
        using var m = Flat();
        // Overwrite the immediate of an instruction later in the same block, then run it.
        Asm(m, Code, a =>
        {
            var patch = a.CreateLabel();
            a.mov(__byte_ptr[Code + 0x20 + 1], 0x55);
            a.jmp(patch);
            a.nop();
            a.Label(ref patch);
            a.hlt();
        });
        Asm(m, Code + 0x20, a => a.mov(eax, 0x11111111));
        // Execute the target once first so it is decoded, then patch and jump back to it.
        Asm(m, Code + 0x40, a => { a.mov(__byte_ptr[Code + 0x20 + 1], 0x77); a.jmp(Code + 0x20); });
        m.Ram.Write(Code + 0x25, [0xF4]);
        var st = m.Cpu.GetState();
        st.Rip = Code + 0x20;
        m.Cpu.SetState(st);
        Assert.Equal(VcpuExitReason.HaltedForever, m.Cpu.Run(100).Reason);
        Assert.Equal(0x11111111UL, m.Cpu.GetState().Rax);
        st = m.Cpu.GetState();
        st.Rip = Code + 0x40;
        m.Cpu.SetState(st);
        Assert.Equal(VcpuExitReason.HaltedForever, m.Cpu.Run(100).Reason);
        Assert.Equal(0x11111177UL, m.Cpu.GetState().Rax);
    }

    [Fact]
    public void RealModeInterruptThroughTheIvt()
    {
        using var m = new TestMachine();
        // IVT entry 0x10 -> 0000:8000, which sets BX and returns.
        m.Ram.Write32(0x10 * 4, 0x0000_8000);
        Asm(m, 0x8000, a => { a.mov(bx, 0x5678); a.iret(); }, 16);
        Asm(m, 0x7C00, a => { a.mov(ax, 0x1234); a.@int(0x10); a.mov(cx, __word_ptr[0x500]); a.hlt(); }, 16);
        m.Ram.Write16(0x500, 0xBEEF);
        var st = VcpuState.Real(0, 0x7C00);
        st.Rsp = 0x7000;
        m.Cpu.SetState(st);
        Assert.Equal(VcpuExitReason.HaltedForever, m.Cpu.Run(1000).Reason);
        var o = m.Cpu.GetState();
        Assert.Equal(0x1234UL, o.Rax);
        Assert.Equal(0x5678UL, o.Rbx);
        Assert.Equal(0xBEEFUL, o.Rcx);
        Assert.Equal(0x7000UL, o.Rsp);
    }

    [Fact]
    public void RealModeSegmentsAddSelectorTimesSixteen()
    {
        using var m = new TestMachine();
        Asm(m, 0x7C00, a => { a.mov(ax, 0x1000); a.mov(ds, ax); a.mov(__word_ptr[0x10], 0xCAFE); a.hlt(); }, 16);
        var st = VcpuState.Real(0, 0x7C00);
        st.Rsp = 0x7000;
        m.Cpu.SetState(st);
        Assert.Equal(VcpuExitReason.HaltedForever, m.Cpu.Run(1000).Reason);
        Assert.Equal(0xCAFE, m.Ram.Read16(0x10010));
    }

    [Fact]
    public void RdtscFollowsTheVirtualClock()
    {
        using var m = Flat();
        Asm(m, Code, a =>
        {
            a.rdtsc(); a.mov(esi, eax);
            a.mov(ecx, 100); var l = a.CreateLabel(); a.Label(ref l); a.dec(ecx); a.jnz(l);
            a.rdtsc(); a.sub(eax, esi); a.hlt();
        });
        Assert.Equal(VcpuExitReason.HaltedForever, m.Cpu.Run(10_000).Reason);
        // 1 ns per instruction, 1 GHz TSC: each RDTSC reads the clock before it retires; 1 + 2 + 200 lie between.
        Assert.Equal(203UL, m.Cpu.GetState().Rax);
    }

    [Fact]
    public void CpuidClaimsOnlyWhatIsImplemented()
    {
        using var m = Flat();
        Asm(m, Code, a => { a.xor(eax, eax); a.cpuid(); a.mov(__dword_ptr[Data], ebx); a.mov(__dword_ptr[Data + 4], edx); a.mov(__dword_ptr[Data + 8], ecx); a.mov(eax, 1); a.cpuid(); a.hlt(); });
        Assert.Equal(VcpuExitReason.HaltedForever, m.Cpu.Run(1000).Reason);
        var vendor = new byte[12];
        m.Ram.Read(Data, vendor);
        Assert.Equal("GenuineIntel", System.Text.Encoding.ASCII.GetString(vendor));
        ulong features = m.Cpu.GetState().Rdx;
        Assert.Equal(0UL, features & 1);                 // no x87 FPU yet
        Assert.NotEqual(0UL, features & (1 << 6));       // PAE
        Assert.NotEqual(0UL, features & (1 << 11));      // SEP
        Assert.Equal(0UL, features & (1 << 25));         // no SSE
    }

    [Fact]
    public void ReservedBitPageFaultSetsPresentAndRsvd()
    {
        using var m = Flat(handler: Code + 0x100);
        // PAE: PDPT at 0x50000, PD at 0x51000 (2 MiB identity pages), PT at 0x52000 for 0x00400000.
        m.Ram.Write64(0x50000, 0x51000 | 1);
        m.Ram.Write64(0x51000, 0x83);                      // 0..2 MiB
        m.Ram.Write64(0x51008, 0x52000 | 3);               // 2..4 MiB via a page table
        m.Ram.Write64(0x52000, 0x60000 | 3 | (1UL << 62)); // reserved bit 62
        Asm(m, Code, a =>
        {
            a.mov(eax, 0x50000); a.mov(cr3, eax);
            a.mov(eax, cr4); a.or(eax, 0x20); a.mov(cr4, eax);
            a.mov(eax, cr0); a.or(eax, 0x8000_0000); a.mov(cr0, eax);
            a.mov(eax, __dword_ptr[0x200000]);
            a.hlt();
        });
        Asm(m, Code + 0x100, a => { a.pop(eax); a.mov(ebx, cr2); a.hlt(); });
        Assert.Equal(VcpuExitReason.HaltedForever, m.Cpu.Run(1000).Reason);
        var o = m.Cpu.GetState();
        Assert.Equal(0x9UL, o.Rax);            // P | RSVD (SDM Vol. 3A §4.7)
        Assert.Equal(0x200000UL, o.Rbx);
    }

    [Fact]
    public void IoBitmapGrantsSinglePortsToRing3()
    {
        using var m = Flat(handler: Code + 0x100);
        // GDT: 0x18 user code, 0x20 user data, 0x28 TSS at 0x60000 with an I/O bitmap allowing only port 0xf4.
        m.Ram.Write64(TestMachine.GdtBase + 0x18, 0x00CF_FA00_0000_FFFFUL);
        m.Ram.Write64(TestMachine.GdtBase + 0x20, 0x00CF_F200_0000_FFFFUL);
        const uint tss = 0x60000, limit = 104 + 8192;
        m.Ram.Write64(TestMachine.GdtBase + 0x28, (limit & 0xFFFF) | ((ulong)tss << 16) | (0x89UL << 40));
        m.Ram.Write32(tss + 4, Stack);
        m.Ram.Write32(tss + 8, 0x10);
        m.Ram.Write16(tss + 102, 104);
        m.Ram.Fill(tss + 104, 8192, 0xFF);
        m.Ram.Write8(tss + 104 + 0xf4 / 8, unchecked((byte)~(1 << (0xf4 % 8))));
        var st = m.Cpu.GetState();
        st.GdtLimit = 0x2F;
        m.Cpu.SetState(st);
        Asm(m, Code, a =>
        {
            a.mov(ax, 0x28); a.ltr(ax);
            a.push(0x23); a.push(Stack - 0x100); a.push(0x002); a.push(0x1B); a.push(Code + 0x40);
            a.iretd();
        });
        // Ring 3: port 0x80 is denied (#GP -> handler halts with the error code), 0xf4 is allowed.
        Asm(m, Code + 0x40, a => { a.mov(dx, 0x80); a.@in(al, dx); });
        Asm(m, Code + 0x100, a => { a.pop(eax); a.hlt(); });
        Assert.Equal(VcpuExitReason.HaltedForever, m.Cpu.Run(1000).Reason);
        Assert.Equal(0UL, m.Cpu.GetState().Rax);
        Assert.Equal(0x1BU, m.Ram.Read32(Stack - 16));     // the CS of the frame: ring 3
        Asm(m, Code + 0x40, a => { a.mov(dx, 0xf4); a.@out(dx, al); });
        Assert.Equal(0x8B, m.Ram.Read8(TestMachine.GdtBase + 0x28 + 5));       // LTR marked the TSS busy
        m.Ram.Write64(TestMachine.GdtBase + 0x28, (limit & 0xFFFF) | ((ulong)tss << 16) | (0x89UL << 40));
        st = m.Cpu.GetState();
        st.Rip = Code;
        st.Rsp = Stack;
        st.Cs = SegmentState.FlatCode32(0x08);
        m.Cpu.SetState(st);
        Assert.Equal(VcpuExitReason.Stopped, m.Cpu.Run(1000).Reason);
    }

    [Fact]
    public void BreakpointsAndSingleStepStopWithDebugExits()
    {
        using var m = Flat();
        Asm(m, Code, a => { a.mov(eax, 1); a.mov(ebx, 2); a.mov(ecx, 3); a.hlt(); });
        m.Cpu.AddBreakpoint(Code + 5);
        var e = m.Cpu.Run(1000);
        Assert.Equal(VcpuExitReason.Debug, e.Reason);
        Assert.Contains("breakpoint", e.Detail);
        Assert.Equal(Code + 5, m.Cpu.GetState().Rip);
        Assert.Equal(1UL, m.Cpu.GetState().Rax);
        Assert.Equal(0UL, m.Cpu.GetState().Rbx);
        m.Cpu.SingleStep = true;
        e = m.Cpu.Run(1000);
        Assert.Equal(VcpuExitReason.Debug, e.Reason);
        Assert.Equal(Code + 10, m.Cpu.GetState().Rip);
        Assert.Equal(2UL, m.Cpu.GetState().Rbx);
        Assert.Equal(0UL, m.Cpu.GetState().Rcx);
        m.Cpu.SingleStep = false;
        m.Cpu.RemoveBreakpoint(Code + 5);
        Assert.Equal(VcpuExitReason.HaltedForever, m.Cpu.Run(1000).Reason);
        Assert.Equal(3UL, m.Cpu.GetState().Rcx);
    }

    [Fact]
    public void ExceptionObserverSeesVectorErrorAndCr2()
    {
        using var m = Flat(handler: Code + 0x100);
        var seen = new List<CpuEvent>();
        m.Cpu.ExceptionObserver = seen.Add;
        Asm(m, Code, a => { a.mov(eax, 0); a.div(eax); });
        Asm(m, Code + 0x100, a => a.hlt());
        Assert.Equal(VcpuExitReason.HaltedForever, m.Cpu.Run(1000).Reason);
        Assert.Single(seen);
        Assert.Equal(0, seen[0].Vector);
        Assert.Equal(Code + 5, seen[0].Rip);
        Assert.False(seen[0].External);
    }

    [Fact]
    public void IdivOfTheMostNegativeDividendByMinusOneIsDivideError()
    {
        using var m = Flat(handler: Code + 0x100);
        Asm(m, Code, a => { a.mov(edx, 0x8000_0000); a.xor(eax, eax); a.mov(ecx, -1); a.idiv(ecx); a.hlt(); });
        Asm(m, Code + 0x100, a => { a.mov(esi, 0xDE); a.hlt(); });
        Assert.Equal(VcpuExitReason.HaltedForever, m.Cpu.Run(1000).Reason);
        Assert.Equal(0xDEUL, m.Cpu.GetState().Rsi);
    }

    [Fact]
    public void RandomRing3CodeWithPagingNeverThrows()
    {
        var rng = new Random(11);
        int n = int.TryParse(Environment.GetEnvironmentVariable("MYKVM_FUZZ_CASES"), out int f) && f > 0 ? f * 3 : 150;
        for (int k = 0; k < n; k++)
        {
            using var m = Flat(handler: Code + 0x800);
            // 4 MiB user pages identity-mapping the first 16 MiB; ring-3 segments and a TSS.
            for (uint p = 0; p < 4; p++) m.Ram.Write32(0x50000 + p * 4, (p << 22) | 0x87);
            m.Ram.Write64(TestMachine.GdtBase + 0x18, 0x00CF_FA00_0000_FFFFUL);
            m.Ram.Write64(TestMachine.GdtBase + 0x20, 0x00CF_F200_0000_FFFFUL);
            m.Ram.Write64(TestMachine.GdtBase + 0x28, 0x67UL | ((ulong)0x60000 << 16) | (0x89UL << 40));
            m.Ram.Write32(0x60004, Stack);
            m.Ram.Write32(0x60008, 0x10);
            var st = m.Cpu.GetState();
            st.GdtLimit = 0x2F;
            m.Cpu.SetState(st);
            Asm(m, Code, a =>
            {
                a.mov(eax, 0x50000); a.mov(cr3, eax);
                a.mov(eax, cr4); a.or(eax, 0x10); a.mov(cr4, eax);
                a.mov(eax, cr0); a.or(eax, 0x8001_0000); a.mov(cr0, eax);
                a.mov(ax, 0x28); a.ltr(ax);
                a.push(0x23); a.push(Stack - 0x1000); a.push(0x3202); a.push(0x1B); a.push(Code + 0x1000);
                a.iretd();
            });
            var junk = new byte[0x1000];
            rng.NextBytes(junk);
            m.Ram.Write(Code + 0x1000, junk);
            m.Ram.Write(Code + 0x800, [0xF4]);
            var e = m.Cpu.Run(20_000);
            Assert.NotEqual(VcpuExitReason.Error, e.Reason);
            _ = m.Cpu.GetState();
        }
    }
}
