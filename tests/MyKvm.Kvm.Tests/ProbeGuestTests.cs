using MyKvm.Core;
using MyKvm.Cpu;
using MyKvm.Kvm.Boot;

namespace MyKvm.Kvm.Tests;

/// <summary>The --accel auto probe guest, checked on the software CPU so a KVM verdict can be trusted.</summary>
public class ProbeGuestTests
{
    private sealed class Capture : IPortDevice
    {
        public List<uint> Values { get; } = [];
        public uint PortRead(ushort port, int size) => 0xFFFF_FFFF;
        public void PortWrite(ushort port, int size, uint value) => Values.Add(value);
    }

    [Fact]
    public void TheProbeGuestComputesItsAnswerThroughTheHigherHalfMapping()
    {
        using var ram = new GuestRam(4 << 20);
        var target = KvmProbe.WriteProbeGuest(ram);
        Assert.True(target.PagingEnabled);
        var entry = PagingTrampoline.Write(ram, target);
        Assert.Null(entry.Patch);
        var io = new IoBus();
        var capture = new Capture();
        io.Register(KvmProbe.ResultPort, 4, capture);
        var ctx = new VcpuContext { Ram = ram, Io = io, Mmio = new MmioBus(), Signals = new CpuSignals(), Clock = new MachineClock(ClockMode.Virtual) };
        using var cpu = new SoftCpu(ctx);
        cpu.SetState(entry.EntryState);
        var exit = cpu.Run(10_000);
        Assert.True(exit.Reason == VcpuExitReason.HaltedForever, $"{exit.Reason}: {exit.Detail}");
        Assert.Equal([KvmProbe.MagicA + KvmProbe.MagicB], capture.Values);
    }
}
