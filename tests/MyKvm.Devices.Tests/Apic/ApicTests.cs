using MyKvm.Core;
using MyKvm.Devices.Apic;

namespace MyKvm.Devices.Tests.Apic;

internal sealed class ManualClock : IClock
{
    public long NowNs { get; set; }
}

internal sealed class FakePic : IInterruptController
{
    public bool Pending { get; set; }
    public byte Vector { get; set; } = 0x20;
    public int Acks { get; private set; }
    public bool InterruptPending => Pending;
    public byte Acknowledge()
    {
        Acks++;
        if (!Pending) return 0x27;
        Pending = false;
        return Vector;
    }
}

public class LocalApicTests
{
    private readonly ManualClock _clock = new();
    private readonly TimerQueue _timers;
    private readonly CpuSignals _signals = new();
    private readonly ApicBus _bus = new();
    private readonly FakePic _pic = new();
    private readonly LocalApic _apic;

    public LocalApicTests()
    {
        _timers = new TimerQueue(_clock);
        _apic = new LocalApic(_signals, _timers, _bus, _pic);
    }

    private bool Intr => (_signals.Flags & CpuSignals.Intr) != 0;
    private uint R(uint reg) => (uint)_apic.MmioRead(reg, 4);
    private void W(uint reg, uint value) => _apic.MmioWrite(reg, 4, value);
    private void EnableApic() => W(0xF0, 0x1FF);

    private void AdvanceTo(long ns)
    {
        while (_timers.NextDeadline <= ns)
        {
            _clock.NowNs = _timers.NextDeadline;
            _timers.RunDue(_clock.NowNs);
        }
        _clock.NowNs = ns;
    }

    private void SelfIpi(byte vector) => W(0x300, 0x0004_0000u | vector);

    [Fact]
    public void PowerUpStateMatchesTheSdm()
    {
        Assert.Same(_apic, _signals.Controller);
        Assert.Equal(0u, R(0x20));
        Assert.Equal(0x0005_0014u, R(0x30));
        Assert.Equal(0xFFu, R(0xF0));
        Assert.Equal(0xFFFF_FFFFu, R(0xE0));
        Assert.Equal(0x0001_0000u, R(0x320));
        Assert.Equal(0x700u, R(0x350)); // LINT0 ExtINT (virtual wire)
        Assert.Equal(0x400u, R(0x360)); // LINT1 NMI
        Assert.True(_apic.TryReadMsr(0x1B, out ulong apicBase));
        Assert.Equal(0xFEE0_0900UL, apicBase);
    }

    [Fact]
    public void PicPassesThroughWhileSoftwareDisabled()
    {
        _pic.Pending = true;
        _apic.Lint0.Set(true);
        Assert.True(Intr);
        Assert.Equal(0x20, _apic.Acknowledge());
        Assert.False(Intr);
    }

    [Fact]
    public void PicIsBlockedWhenLint0IsMaskedAfterEnable()
    {
        EnableApic();
        W(0x350, 0x0001_0700);
        _pic.Pending = true;
        _apic.Lint0.Set(true);
        Assert.False(Intr);
        Assert.False(_apic.InterruptPending);
        W(0x350, 0x0000_0700); // ExtINT, unmasked
        Assert.True(Intr);
        Assert.Equal(0x20, _apic.Acknowledge());
    }

    [Fact]
    public void SelfIpiIsAcknowledgedIntoIsrAndClearedByEoi()
    {
        EnableApic();
        SelfIpi(0x41);
        Assert.True(Intr);
        Assert.Equal(1u << 1, R(0x200 + 0x20)); // IRR bit 0x41 in the third dword
        Assert.Equal(0x41, _apic.Acknowledge());
        Assert.False(Intr);
        Assert.Equal(0u, R(0x220));
        Assert.Equal(1u << 1, R(0x120));
        Assert.Equal(0x40u, R(0xA0)); // PPR follows the in-service class
        W(0xB0, 0);
        Assert.Equal(0u, R(0x120));
        Assert.Equal(0u, R(0xA0));
        Assert.Contains(_apic.SentIpis, i => i.Vector == 0x41 && i.Shorthand == 1);
    }

    [Fact]
    public void TaskPriorityHoldsBackLowerClasses()
    {
        EnableApic();
        W(0x80, 0x50);
        SelfIpi(0x45);
        Assert.False(Intr);
        SelfIpi(0x61);
        Assert.True(Intr);
        Assert.Equal(0x61, _apic.Acknowledge());
        W(0xB0, 0);
        Assert.False(Intr);
        _apic.Cr8 = 0;                  // lowering through CR8 releases it
        Assert.Equal(0u, R(0x80));
        Assert.True(Intr);
        Assert.Equal(0x45, _apic.Acknowledge());
        _apic.Cr8 = 0xF;
        Assert.Equal(0xF0u, R(0x80));
    }

    [Fact]
    public void InServiceVectorBlocksSameOrLowerClassUntilEoi()
    {
        EnableApic();
        SelfIpi(0x61);
        Assert.Equal(0x61, _apic.Acknowledge());
        SelfIpi(0x65);
        Assert.False(Intr);
        SelfIpi(0x71);
        Assert.Equal(0x71, _apic.Acknowledge()); // nests
        W(0xB0, 0);                               // ends 0x71
        Assert.False(Intr);
        W(0xB0, 0);                               // ends 0x61
        Assert.Equal(0x65, _apic.Acknowledge());
    }

    [Fact]
    public void NothingPendingGivesTheSpuriousVector()
    {
        EnableApic();
        W(0x350, 0x0001_0000);
        W(0xF0, 0x1EF);
        Assert.Equal(0xEF, _apic.Acknowledge());
        Assert.Equal(0u, R(0x100 + 0x70)); // no ISR bit for the spurious vector
    }

    [Fact]
    public void IllegalVectorsAreLatchedInEsr()
    {
        EnableApic();
        W(0x370, 0x00FE);       // error LVT vector 0xFE
        SelfIpi(0x03);
        Assert.Equal(0u, R(0x280));
        W(0x280, 0);
        Assert.Equal(0x20u, R(0x280)); // send illegal vector
        Assert.Equal(0xFE, _apic.Acknowledge());
    }

    [Fact]
    public void OneShotTimerCountsDownAndFiresOnce()
    {
        EnableApic();
        W(0x3E0, 0xB);          // divide by 1: one count per ns at 1 GHz
        W(0x320, 0x30);         // one-shot, vector 0x30
        _clock.NowNs = 100;
        W(0x380, 1000);
        AdvanceTo(600);
        Assert.Equal(500u, R(0x390));
        Assert.False(Intr);
        AdvanceTo(1099);
        Assert.False(Intr);
        AdvanceTo(1100);
        Assert.True(Intr);
        Assert.Equal(0u, R(0x390));
        Assert.Equal(0x30, _apic.Acknowledge());
        W(0xB0, 0);
        AdvanceTo(10_000);
        Assert.False(Intr);
        Assert.Equal(1000u, R(0x380));
    }

    [Fact]
    public void PeriodicTimerReloadsAndUsesTheDivider()
    {
        EnableApic();
        W(0x3E0, 0x3);          // divide by 16
        W(0x320, 0x2_0031);     // periodic, vector 0x31
        W(0x380, 100);          // 1600 ns per period
        int fired = 0;
        for (long t = 0; t <= 16_000; t += 100)
        {
            AdvanceTo(t);
            if (Intr)
            {
                Assert.Equal(0x31, _apic.Acknowledge());
                W(0xB0, 0);
                fired++;
            }
        }
        Assert.Equal(10, fired);
        AdvanceTo(16_000 + 800);
        Assert.Equal(50u, R(0x390));
    }

    [Fact]
    public void MaskedTimerCountsButDoesNotInterrupt()
    {
        EnableApic();
        W(0x3E0, 0xB);
        W(0x320, 0x1_0030);
        W(0x380, 1000);
        Assert.Equal(long.MaxValue, _timers.NextDeadline);
        AdvanceTo(400);
        Assert.Equal(600u, R(0x390));
        AdvanceTo(2000);
        Assert.False(Intr);
        Assert.Equal(0u, R(0x390));
    }

    [Fact]
    public void ChangingTheDividerKeepsTheCurrentCount()
    {
        EnableApic();
        W(0x3E0, 0xB);
        W(0x320, 0x30);
        W(0x380, 1000);
        AdvanceTo(400);
        W(0x3E0, 0x0);          // divide by 2
        Assert.Equal(600u, R(0x390));
        AdvanceTo(600);
        Assert.Equal(500u, R(0x390));
        AdvanceTo(1599);
        Assert.False(Intr);
        AdvanceTo(1600);
        Assert.True(Intr);
    }

    [Fact]
    public void TscDeadlineModeFiresAtTheDeadlineAndClearsTheMsr()
    {
        EnableApic();
        Assert.True(_apic.TryWriteMsr(0x6E0, 500));
        Assert.True(_apic.TryReadMsr(0x6E0, out ulong ignored));
        Assert.Equal(0UL, ignored);                // ignored outside TSC-deadline mode
        W(0x320, 0x4_0032);
        W(0x380, 1234);                             // initial count ignored in this mode
        Assert.Equal(0u, R(0x380));
        _clock.NowNs = 100;
        Assert.Equal(100UL, _apic.Tsc);
        Assert.True(_apic.TryWriteMsr(0x6E0, 500));
        AdvanceTo(499);
        Assert.False(Intr);
        AdvanceTo(500);
        Assert.True(Intr);
        Assert.True(_apic.TryReadMsr(0x6E0, out ulong deadline));
        Assert.Equal(0UL, deadline);
        Assert.Equal(0x32, _apic.Acknowledge());
    }

    [Fact]
    public void InitAndStartupIpisToOtherCpusAreRecorded()
    {
        EnableApic();
        W(0x310, 0x0100_0000);
        W(0x300, 0x0000_C500);  // INIT, level assert
        W(0x300, 0x0000_0608);  // SIPI vector 08
        Assert.Equal(2, _bus.Undelivered.Count);
        Assert.Equal(ApicDeliveryMode.Init, _apic.SentIpis[^2].Mode);
        Assert.Equal(ApicDeliveryMode.StartUp, _apic.SentIpis[^1].Mode);
        Assert.Equal(8, _apic.SentIpis[^1].Vector);
        Assert.Equal(1, _apic.SentIpis[^1].Destination);
        Assert.False(Intr);
    }

    [Fact]
    public void SoftwareDisableMasksLvtsAndKeepsThemMasked()
    {
        EnableApic();
        W(0x320, 0x30);
        W(0xF0, 0xFF);
        Assert.NotEqual(0u, R(0x320) & 0x1_0000);
        W(0x320, 0x30);
        Assert.NotEqual(0u, R(0x320) & 0x1_0000);
    }

    [Fact]
    public void GlobalDisableThroughTheMsrResetsAndPassesThePicThrough()
    {
        EnableApic();
        W(0x350, 0x1_0700);
        SelfIpi(0x50);
        Assert.True(_apic.TryWriteMsr(0x1B, 0xFEE0_0000));
        Assert.False(_apic.GloballyEnabled);
        Assert.Equal(0u, R(0x210));
        _pic.Pending = true;
        _apic.Lint0.Set(true);
        Assert.True(Intr);
        Assert.Equal(0x20, _apic.Acknowledge());
        Assert.False(_apic.TryWriteMsr(0x1B, 0xFEE0_0C00)); // x2APIC enable is refused
    }

    [Fact]
    public void LogicalDestinationsFollowFlatAndClusterModels()
    {
        W(0xD0, 0x0400_0000);
        Assert.True(_apic.IsDestination(0x04, logical: true));
        Assert.True(_apic.IsDestination(0x0C, logical: true));
        Assert.False(_apic.IsDestination(0x01, logical: true));
        W(0xE0, 0x0FFF_FFFF);   // cluster model
        W(0xD0, 0x2100_0000);   // cluster 2, member 1
        Assert.True(_apic.IsDestination(0x21, logical: true));
        Assert.False(_apic.IsDestination(0x11, logical: true));
        Assert.True(_apic.IsDestination(0x00, logical: false)); // physical ID 0
        Assert.True(_apic.IsDestination(0xFF, logical: false));
    }

    [Fact]
    public void BackendsReachMsrsAndCr8ThroughTheControllerInterface()
    {
        var lapic = Assert.IsAssignableFrom<ILocalInterruptController>(_signals.Controller);
        Assert.True(lapic.OwnsMsr(0x1B));
        Assert.True(lapic.OwnsMsr(0x6E0));
        Assert.False(lapic.OwnsMsr(0x10));
        Assert.Equal(0xFEE0_0900UL, lapic.ReadMsr(0x1B));
        Assert.False(lapic.WriteMsr(0x1B, 0xFEE0_0D00)); // x2APIC: #GP
        lapic.Cr8 = 3;
        Assert.Equal(0x30u, R(0x80));
    }

    [Fact]
    public void NmiIpiToSelfRaisesNmi()
    {
        EnableApic();
        W(0x300, 0x0004_0400);
        Assert.NotEqual(0, _signals.Flags & CpuSignals.Nmi);
    }

    [Fact]
    public void FollowPicRoutesAPicThatRaisesItsOwnSignals()
    {
        var picSignals = new CpuSignals();
        _apic.FollowPic(_pic, picSignals);
        _pic.Pending = true;
        picSignals.Raise(CpuSignals.Intr);
        Assert.True(Intr);
        Assert.Same(_apic, _signals.Controller);
    }
}

public class IoApicTests
{
    private readonly ManualClock _clock = new();
    private readonly CpuSignals _signals = new();
    private readonly ApicBus _bus = new();
    private readonly LocalApic _lapic;
    private readonly IoApic _io;

    public IoApicTests()
    {
        _lapic = new LocalApic(_signals, new TimerQueue(_clock), _bus);
        _lapic.MmioWrite(0xF0, 4, 0x1FF);
        _io = new IoApic(_bus, id: 1);
    }

    private bool Intr => (_signals.Flags & CpuSignals.Intr) != 0;
    private uint Reg(uint index)
    {
        _io.MmioWrite(0, 4, index);
        return (uint)_io.MmioRead(0x10, 4);
    }
    private void SetReg(uint index, uint value)
    {
        _io.MmioWrite(0, 4, index);
        _io.MmioWrite(0x10, 4, value);
    }
    private void Route(int pin, uint low, byte destination = 0)
    {
        SetReg((uint)(0x10 + 2 * pin + 1), (uint)destination << 24);
        SetReg((uint)(0x10 + 2 * pin), low);
    }

    [Fact]
    public void IdVersionAndResetEntries()
    {
        Assert.Equal(0x0100_0000u, Reg(0));
        Assert.Equal(0x0017_0011u, Reg(1));
        Assert.Equal(0x0001_0000u, Reg(0x10));
        Assert.Equal(0x0001_0000u, Reg(0x10 + 2 * 23));
        SetReg(0, 0x0F00_0000);
        Assert.Equal(0x0F00_0000u, Reg(0));
        Assert.Equal(0u, Reg(0x10 + 2 * 24)); // beyond the table
    }

    [Fact]
    public void EdgePinDeliversOnRisingEdgeOnly()
    {
        Route(2, 0x30);
        _io.GetPin(2).Set(true);
        Assert.True(Intr);
        Assert.Equal(0x30, _lapic.Acknowledge());
        _lapic.MmioWrite(0xB0, 4, 0);
        _io.GetPin(2).Set(true);   // still high: no new edge
        Assert.False(Intr);
        _io.GetPin(2).Set(false);
        _io.GetPin(2).Set(true);
        Assert.True(Intr);
    }

    [Fact]
    public void EdgeOnMaskedPinIsLost()
    {
        Route(4, 0x1_0034);
        _io.GetPin(4).Pulse();
        Route(4, 0x34);
        Assert.False(Intr);
    }

    [Fact]
    public void LevelPinSetsRemoteIrrAndRedeliversAfterEoiWhileAsserted()
    {
        Route(10, 0x8000 | 0x3A);
        _io.GetPin(10).Set(true);
        Assert.NotEqual(0u, Reg(0x10 + 20) & 0x4000);
        Assert.Equal(0x3A, _lapic.Acknowledge());
        Assert.False(Intr);
        Assert.Equal(1u << 26, (uint)_lapic.MmioRead(0x180 + 0x10, 4)); // TMR bit for 0x3A
        _lapic.MmioWrite(0xB0, 4, 0);  // EOI broadcast; the line is still high
        Assert.True(Intr);
        Assert.Equal(0x3A, _lapic.Acknowledge());
        _io.GetPin(10).Set(false);
        _lapic.MmioWrite(0xB0, 4, 0);
        Assert.Equal(0u, Reg(0x10 + 20) & 0x4000);
        Assert.False(Intr);
    }

    [Fact]
    public void UnmaskingAnAssertedLevelPinDelivers()
    {
        Route(11, 0x1_803B);
        _io.GetPin(11).Set(true);
        Assert.False(Intr);
        Route(11, 0x803B);
        Assert.True(Intr);
    }

    [Fact]
    public void MessagesForOtherApicsAreNotAccepted()
    {
        Route(3, 0x33, destination: 5);
        _io.GetPin(3).Set(true);
        Assert.False(Intr);
        Assert.Single(_bus.Undelivered);
    }

    [Fact]
    public void IsaRoutingSendsIrq0ToPin2AndToThePic()
    {
        var picLines = new List<(int irq, bool level)>();
        var lines = IsaInterruptRouting.Create(irq => new CallbackLine(l => picLines.Add((irq, l))), _io);
        Route(2, 0x20);
        lines[0].Set(true);
        Assert.True(Intr);
        Assert.Equal(0x20, _lapic.Acknowledge());
        Assert.Equal((0, true), picLines[0]);
        Assert.Equal(2, IsaInterruptRouting.IoApicPin(0));
        Assert.Equal(14, IsaInterruptRouting.IoApicPin(14));
    }

    private sealed class CallbackLine(Action<bool> action) : IIrqLine
    {
        public void Set(bool level) => action(level);
    }
}

public class PcInterruptSystemTests
{
    private readonly CpuSignals _signals = new();
    private readonly IoBus _io = new();
    private readonly MmioBus _mmio = new();
    private readonly PcInterruptSystem _irqs;

    public PcInterruptSystemTests()
    {
        _irqs = new PcInterruptSystem(_signals, new TimerQueue(new ManualClock()));
        _irqs.RegisterOn(_io, _mmio);
        // 8259 initialisation as a kernel does it: vectors 0x20/0x28, everything unmasked.
        foreach (var (port, v) in new (ushort, uint)[] { (0x20, 0x11), (0xA0, 0x11), (0x21, 0x20), (0xA1, 0x28), (0x21, 4), (0xA1, 2), (0x21, 1), (0xA1, 1), (0x21, 0), (0xA1, 0) })
            _io.Write(port, 1, v);
    }

    private bool Intr => (_signals.Flags & CpuSignals.Intr) != 0;

    [Fact]
    public void ThePicReachesTheCpuThroughTheApicAfterReset()
    {
        Assert.Same(_irqs.LocalApic, _signals.Controller);
        _irqs.IsaIrq(0).Pulse();
        Assert.True(Intr);
        Assert.Equal(0x20, _signals.Controller!.Acknowledge());
        _io.Write(0x20, 1, 0x20); // EOI
        Assert.False(Intr);
    }

    [Fact]
    public void MaskingAPendingPicInterruptLowersIntr()
    {
        _irqs.IsaIrq(1).Pulse();
        Assert.True(Intr);
        _io.Write(0x21, 1, 0xFF);
        Assert.False(Intr); // without the refresh the CPU would take a spurious IRQ 7 here
    }

    [Fact]
    public void IsaIrqsAlsoReachTheIoApic()
    {
        _mmio.Write(0xFEE000F0, 4, 0x1FF);         // APIC on
        _mmio.Write(0xFEE00350, 4, 0x10700);       // LINT0 masked: the 8259 is out of the picture
        _mmio.Write(0xFEC00000, 4, 0x10 + 2 * 2);  // pin 2 -> vector 0x30
        _mmio.Write(0xFEC00010, 4, 0x30);
        _irqs.IsaIrq(0).Pulse();
        Assert.True(Intr);
        Assert.Equal(0x30, _signals.Controller!.Acknowledge());
        _mmio.Write(0xFEC00000, 4, 0x10 + 2 * 14); // IRQ 14 on pin 14, still masked
        _irqs.IsaIrq(14).Pulse();
        Assert.False(Intr);
    }

    [Fact]
    public void WithoutApicThePicDrivesIntrItself()
    {
        var signals = new CpuSignals();
        var irqs = new PcInterruptSystem(signals, new TimerQueue(new ManualClock()), withApic: false);
        Assert.Same(irqs.Pic, signals.Controller);
        Assert.Null(irqs.LocalApic);
        var mmio = new MmioBus();
        irqs.RegisterOn(new IoBus(), mmio);
        Assert.False(mmio.IsClaimed(0xFEE00000));
    }
}
