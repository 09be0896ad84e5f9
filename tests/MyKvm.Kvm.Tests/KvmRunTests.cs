using System.Diagnostics;
using MyKvm.Core;
using static Iced.Intel.AssemblerRegisters;

namespace MyKvm.Kvm.Tests;

/// <summary>Guests run on /dev/kvm. Skipped, with the reason, where KVM is missing or unusable.</summary>
public class KvmRunTests
{
    private static string Print(Iced.Intel.Assembler a, string text)
    {
        a.mov(dx, GuestBench.OutPort);
        foreach (char c in text)
        {
            a.mov(al, (byte)c);
            a.@out(dx, al);
        }
        return text;
    }

    [KvmFact]
    public void PortIoAndHaltWithInterruptsOff()
    {
        using var bench = new GuestBench();
        var state = bench.Load32(a =>
        {
            Print(a, "hi ");
            a.@in(al, GuestBench.InPort);     // 0x5A 'Z'
            a.mov(dx, GuestBench.OutPort);
            a.@out(dx, al);
            a.cli();
            a.hlt();
        });
        using var vcpu = KvmVcpu.Create(bench.Context);
        Assert.Equal("kvm", vcpu.BackendName);
        vcpu.SetState(state);
        var exit = vcpu.Run(1_000_000_000);
        Assert.Equal(VcpuExitReason.HaltedForever, exit.Reason);
        Assert.Equal("hi Z", bench.Output.Text);
        var after = vcpu.GetState();
        Assert.Equal(0x5AUL, after.Rax & 0xFF);
        Assert.Equal(state.Cs.ToString(), after.Cs.ToString());
    }

    [KvmFact]
    public void MmioGoesToTheDeviceAndUnclaimedMmioIsAnErrorWithADump()
    {
        using var bench = new GuestBench();
        var device = new ScratchMmio();
        bench.Mmio.Register(0xFEB0_0000, 0x1000, device);
        var state = bench.Load32(a =>
        {
            a.mov(__dword_ptr[0xFEB0_0010], 0x1234_5678);
            a.mov(eax, __dword_ptr[0xFEB0_0020]);
            a.mov(ebx, eax);
            a.mov(eax, __dword_ptr[0xFED0_0000]); // nothing there
            a.hlt();
        });
        using var vcpu = KvmVcpu.Create(bench.Context);
        vcpu.SetState(state);
        var exit = vcpu.Run(1_000_000_000);
        Assert.Equal((0x10UL, 4, 0x1234_5678UL), device.LastWrite);
        Assert.Equal(VcpuExitReason.Error, exit.Reason);
        Assert.StartsWith("guest MMIO read of 4 bytes from 0xfed00000, which is neither RAM nor any device\n", exit.Detail);
        Assert.Contains("EBX=00000020", exit.Detail);
    }

    [KvmFact]
    public void ATripleFaultIsReportedWithRegisters()
    {
        using var bench = new GuestBench();
        var state = bench.Load32(a =>
        {
            a.mov(eax, 0xDEAD);
            a.int3(); // IDT limit 0: #GP, then #DF, then shutdown
        });
        using var vcpu = KvmVcpu.Create(bench.Context);
        vcpu.SetState(state);
        var exit = vcpu.Run(1_000_000_000);
        Assert.Equal(VcpuExitReason.TripleFault, exit.Reason);
        Assert.Contains("EAX=0000dead", exit.Detail);
    }

    [KvmFact]
    public void AnInterruptIsInjectedWhenTheGuestEnablesInterrupts()
    {
        using var bench = new GuestBench();
        const ulong idt = 0x2000;
        const byte vector = 0x30;
        ulong handler = 0x10_1000;
        bench.Load32(a =>
        {
            Print(a, "irq");
            a.cli();
            a.hlt();
        }, handler);
        // An interrupt gate for the vector: selector 0x08, present, DPL 0, 32-bit (type 0xE).
        bench.Ram.Write64(idt + vector * 8, (handler & 0xFFFF) | 0x08UL << 16 | 0x8E00UL << 32 | (handler >> 16) << 48);
        var state = bench.Load32(a =>
        {
            Print(a, "wait ");
            a.sti();
            a.hlt();
            a.jmp(a.@F);
            a.AnonymousLabel();
        });
        state.IdtBase = idt;
        state.IdtLimit = 0x7FF;
        var controller = new OneShotController(bench.Signals, vector);
        bench.Signals.Controller = controller;
        using var vcpu = KvmVcpu.Create(bench.Context);
        vcpu.SetState(state);
        Assert.Equal(VcpuExitReason.Halted, vcpu.Run(1_000_000_000).Reason);
        Assert.Equal("wait ", bench.Output.Text);
        bench.Signals.Raise(CpuSignals.Intr);
        Assert.Equal(VcpuExitReason.HaltedForever, vcpu.Run(1_000_000_000).Reason);
        Assert.Equal("wait irq", bench.Output.Text);
        Assert.Equal(1, controller.Acknowledged);
    }

    [KvmFact]
    public void ASpinningGuestReturnsAtTheEndOfItsSliceAndOnAKick()
    {
        using var bench = new GuestBench();
        var state = bench.Load32(a =>
        {
            var spin = a.CreateLabel();
            a.Label(ref spin);
            a.jmp(spin);
        });
        using var vcpu = KvmVcpu.Create(bench.Context);
        vcpu.SetState(state);
        var sw = Stopwatch.StartNew();
        Assert.Equal(VcpuExitReason.BudgetExhausted, vcpu.Run(5_000_000).Reason); // 5 ms
        Assert.InRange(sw.ElapsedMilliseconds, 4, 2000);
        Assert.InRange(vcpu.RetiredInstructions, 1_000_000, 2_000_000_000);

        using var stopper = new Timer(_ => bench.Signals.Raise(CpuSignals.Stop), null, 50, Timeout.Infinite);
        sw.Restart();
        Assert.Equal(VcpuExitReason.Stopped, vcpu.Run(long.MaxValue).Reason);
        Assert.InRange(sw.ElapsedMilliseconds, 40, 5000);
    }

    [KvmFact(needsPaging: true)]
    public void AHigherHalfKernelStartsThroughTheTrampoline()
    {
        using var bench = new GuestBench();
        var target = TestGuests.HigherHalf32(bench.Ram);
        // Code at physical 1 MiB, run at 0xC0100000: print through the high mapping, then stop.
        bench.Load32(a =>
        {
            Print(a, "high");
            a.cli();
            a.hlt();
        });
        using var vcpu = KvmVcpu.Create(bench.Context);
        vcpu.SetState(target);
        Assert.NotNull(vcpu.TrampolineDescription);
        Assert.Equal(0xC010_0000UL, vcpu.GetState().Rip); // the requested state, until it runs
        Assert.Equal(VcpuExitReason.HaltedForever, vcpu.Run(1_000_000_000).Reason);
        Assert.Equal("high", bench.Output.Text);
        var s = vcpu.GetState();
        Assert.True(s.PagingEnabled);
        Assert.Equal(target.Cr3, s.Cr3);
        Assert.Equal(target.Cr4, s.Cr4);
        Assert.Equal(target.Rbx, s.Rbx);
        Assert.InRange(s.Rip, 0xC010_0000UL, 0xC010_0100UL);
    }

    [KvmFact(needsPaging: true)]
    public void ALongModeKernelStartsThroughTheTrampoline()
    {
        using var bench = new GuestBench();
        var target = TestGuests.Long64(bench.Ram, entry: 0x20_0000);
        bench.Ram.Write(0x20_0000, GuestBench.Assemble64(a =>
        {
            a.mov(rbx, rax);          // the 64-bit value the trampoline put in RAX
            a.mov(dx, GuestBench.OutPort);
            a.mov(al, (byte)'L');
            a.@out(dx, al);
            a.cli();
            a.hlt();
        }, 0x20_0000));
        using var vcpu = KvmVcpu.Create(bench.Context);
        vcpu.SetState(target);
        Assert.Equal(VcpuExitReason.HaltedForever, vcpu.Run(1_000_000_000).Reason);
        Assert.Equal("L", bench.Output.Text);
        var s = vcpu.GetState();
        Assert.Equal(0x1122_3344_5566_7788UL, s.Rbx);
        Assert.Equal(target.R8, s.R8);
        Assert.NotEqual(0UL, s.Efer & VcpuState.EferLMA);
        Assert.True(s.Cs.Long);
        Assert.Equal(target.GdtBase, s.GdtBase);
    }

    [KvmFact(needsPaging: true)]
    public void TheProbeGuestRuns()
    {
        var result = KvmProbe.Run();
        Assert.True(result.Usable, result.Reason);
    }
}
