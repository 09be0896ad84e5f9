using MyKvm.Core;
using MyKvm.Cpu;
using static Iced.Intel.AssemblerRegisters;

namespace MyKvm.Kvm.Tests;

/// <summary>The same guest on KVM and on the software CPU: the same output and the same final registers.</summary>
public class BothBackendsTests
{
    /// <summary>Prints a CRC-like hash of a buffer as 8 hex digits, then the byte read from the input port, and halts.</summary>
    private static VcpuState LoadHashGuest(GuestBench bench, Func<GuestBench, VcpuState, VcpuState>? adjust = null)
    {
        const uint buffer = 0x20000;
        for (int i = 0; i < 256; i++) bench.Ram.Write8(buffer + (ulong)i, (byte)(i * 7 + 3));
        var state = bench.Load32(a =>
        {
            var loop = a.CreateLabel();
            var digit = a.CreateLabel();
            var letter = a.CreateLabel();
            var print = a.CreateLabel();
            a.mov(esi, buffer);
            a.mov(ecx, 256);
            a.mov(ebx, 0xFFFF_FFFF);
            a.Label(ref loop);
            a.movzx(eax, __byte_ptr[esi]);
            a.xor(ebx, eax);
            a.rol(ebx, 5);
            a.imul(ebx, ebx, 0x01000193);
            a.inc(esi);
            a.dec(ecx);
            a.jnz(loop);
            a.mov(ecx, 8);
            a.mov(dx, GuestBench.OutPort);
            a.Label(ref digit);
            a.rol(ebx, 4);
            a.mov(eax, ebx);
            a.and(eax, 0xF);
            a.cmp(eax, 10);
            a.jae(letter);
            a.add(eax, '0');
            a.jmp(print);
            a.Label(ref letter);
            a.add(eax, 'a' - 10);
            a.Label(ref print);
            a.@out(dx, al);
            a.dec(ecx);
            a.jnz(digit);
            a.@in(al, GuestBench.InPort);
            a.@out(dx, al);
            a.cli();
            a.hlt();
        });
        return adjust is null ? state : adjust(bench, state);
    }

    private static (string Output, VcpuState State) Run(Func<GuestBench, IVcpu> create, Func<GuestBench, VcpuState, VcpuState>? adjust = null)
    {
        using var bench = new GuestBench();
        var start = LoadHashGuest(bench, adjust);
        using var cpu = create(bench);
        cpu.SetState(start);
        VcpuExit exit = default;
        for (int i = 0; i < 100 && (exit = cpu.Run(10_000_000)).Reason == VcpuExitReason.BudgetExhausted; i++) { }
        Assert.True(exit.Reason == VcpuExitReason.HaltedForever, $"{cpu.BackendName}: {exit.Reason} {exit.Detail}");
        return (bench.Output.Text, cpu.GetState());
    }

    [Fact]
    public void TheHashGuestRunsOnTheSoftwareCpu()
    {
        var (output, _) = Run(b => new SoftCpu(b.Context));
        Assert.Matches("^[0-9a-f]{8}Z$", output);
    }

    [KvmFact]
    public void KvmAndTheSoftwareCpuPrintTheSame()
    {
        var soft = Run(b => new SoftCpu(b.Context));
        var kvm = Run(b => KvmVcpu.Create(b.Context));
        Assert.Equal(soft.Output, kvm.Output);
        Assert.Equal((soft.State.Rbx, soft.State.Rip, soft.State.Rflags & 0x8D5), (kvm.State.Rbx, kvm.State.Rip, kvm.State.Rflags & 0x8D5));
    }

    [KvmFact(needsPaging: true)]
    public void KvmAndTheSoftwareCpuPrintTheSameWithPaging()
    {
        // The same code entered with paging on at its identity address: KVM goes through the trampoline.
        static VcpuState Paged(GuestBench b, VcpuState s)
        {
            var t = TestGuests.HigherHalf32(b.Ram);
            s.Cr3 = t.Cr3;
            s.Cr4 = t.Cr4;
            s.Cr0 |= VcpuState.Cr0PG;
            return s;
        }
        var soft = Run(b => new SoftCpu(b.Context), Paged);
        var kvm = Run(b => KvmVcpu.Create(b.Context), Paged);
        Assert.Equal(soft.Output, kvm.Output);
    }
}
