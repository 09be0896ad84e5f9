using MyKvm.Devices.Legacy;

namespace MyKvm.Devices.Tests.Legacy;

public class Pit8254Tests
{
    private readonly TestTime _time = new();
    private readonly RecordingIrqLine _irq = new();
    private readonly Pit8254 _pit;

    public Pit8254Tests() => _pit = new Pit8254(_irq, _time.Timers);

    private void Out(int port, int value) => _pit.PortWrite((ushort)port, 1, (uint)value);
    private byte In(int port) => (byte)_pit.PortRead((ushort)port, 1);
    private void Out61(int value) => _pit.Port61.PortWrite(0x61, 1, (uint)value);
    private byte In61() => (byte)_pit.Port61.PortRead(0x61, 1);

    private static long Ns(long ticks) => Pit8254.NsAt(ticks);

    /// <summary>Moves the clock so exactly <paramref name="ticks"/> more counter clocks have elapsed.</summary>
    private void AdvanceTicks(long ticks) => _time.AdvanceTo(Ns(Pit8254.TicksAt(_time.NowNs) + ticks));

    private void Program(int channel, int mode, int count, bool bcd = false)
    {
        Out(0x43, (channel << 6) | 0x30 | (mode << 1) | (bcd ? 1 : 0));
        Out(0x40 + channel, count & 0xFF);
        Out(0x40 + channel, count >> 8);
    }

    private int ReadLatched(int channel)
    {
        Out(0x43, channel << 6);   // counter latch
        int lo = In(0x40 + channel);
        return lo | In(0x40 + channel) << 8;
    }

    [Fact]
    public void PowerOnChannel0TicksAt18Hz()
    {
        Assert.Equal(3, _pit.GetMode(0));
        Assert.Equal(65536, _pit.GetInitialCount(0));
        Assert.True(_irq.Level);            // mode 3 starts with OUT high
        int before = _irq.RisingEdges;
        _time.AdvanceTo(1_000_000_000);
        // 1 s / (65536 / 1193182 Hz) = 18.2 periods: 18 rising edges.
        Assert.Equal(18, _irq.RisingEdges - before);
    }

    [Fact]
    public void Mode2RateGeneratorAt1000Hz()
    {
        Program(0, 2, 1193);
        int before = _irq.RisingEdges;
        _time.Advance(100_000_000);
        // 100 ms at 1193182/1193 Hz = 100.015 periods.
        Assert.Equal(100, _irq.RisingEdges - before);
    }

    [Fact]
    public void Mode2OutputIsLowForOneClockPerPeriod()
    {
        Program(0, 2, 10);
        Assert.True(_pit.GetOutput(0));
        AdvanceTicks(8);
        Assert.True(_pit.GetOutput(0));
        Assert.Equal(2, ReadLatched(0));
        AdvanceTicks(1);
        Assert.False(_pit.GetOutput(0));
        Assert.Equal(1, ReadLatched(0));
        AdvanceTicks(1);
        Assert.True(_pit.GetOutput(0));
        Assert.Equal(10, ReadLatched(0));
    }

    [Fact]
    public void LateTimersStillDeliverEveryEdge()
    {
        Program(0, 2, 100);
        int before = _irq.RisingEdges;
        // The run loop fires the timers late: the one-clock low pulse at tick 99 is already over.
        _time.Clock.NowNs = Ns(100) + 500;
        _time.Timers.RunDue(_time.NowNs);
        Assert.Equal(before + 1, _irq.RisingEdges);
        _time.Clock.NowNs = Ns(350) + 500;
        _time.Timers.RunDue(_time.NowNs);
        Assert.Equal(before + 3, _irq.RisingEdges);
    }

    [Fact]
    public void PortReadPastAFallingEdgeDoesNotAddAnInterrupt()
    {
        Program(0, 3, 1000);                   // square wave: falls at 500, rises at 1000
        int before = _irq.RisingEdges;
        // Real-time mode: the guest reads the counter just after the falling edge, before the timer runs.
        _time.Clock.NowNs = Ns(510);
        ReadLatched(0);
        _time.Timers.RunDue(_time.NowNs);
        Assert.False(_irq.Level);
        Assert.Equal(before, _irq.RisingEdges);
        _time.AdvanceTo(Ns(1000));
        Assert.Equal(before + 1, _irq.RisingEdges);
    }

    [Fact]
    public void FarBehindSkipsAheadButDeliversOneInterrupt()
    {
        Program(0, 2, 1000);
        int before = _irq.RisingEdges;
        _time.Clock.NowNs = 10_000_000_000;    // 10 s without running timers
        _time.Timers.RunDue(_time.NowNs);
        Assert.Equal(before + 1, _irq.RisingEdges);
        Assert.True(_time.Timers.NextDeadline > _time.NowNs);
        Assert.True(_time.Timers.NextDeadline <= _time.NowNs + Ns(1000) + 1);
    }

    [Fact]
    public void Mode0InterruptOnTerminalCountIsOneShot()
    {
        Program(0, 0, 100);
        Assert.False(_pit.GetOutput(0));
        Assert.False(_irq.Level);
        int before = _irq.RisingEdges;
        AdvanceTicks(99);
        Assert.False(_irq.Level);
        AdvanceTicks(1);
        Assert.True(_irq.Level);
        Assert.Equal(before + 1, _irq.RisingEdges);
        _time.Advance(1_000_000_000);
        Assert.Equal(before + 1, _irq.RisingEdges);
        Assert.Equal(long.MaxValue, _time.Timers.NextDeadline);   // nothing left to schedule
        // The counter keeps counting down through zero.
        Assert.InRange(ReadLatched(0), 0, 65535);
    }

    [Fact]
    public void Mode0FirstByteStopsCountingAndDropsOut()
    {
        Program(0, 0, 10);
        AdvanceTicks(20);
        Assert.True(_pit.GetOutput(0));
        Out(0x40, 50);
        Assert.False(_pit.GetOutput(0));
        AdvanceTicks(100);
        Assert.False(_pit.GetOutput(0));       // still waiting for the MSB
        Out(0x40, 0);
        AdvanceTicks(49);
        Assert.False(_pit.GetOutput(0));
        AdvanceTicks(1);
        Assert.True(_pit.GetOutput(0));
    }

    [Fact]
    public void CounterLatchFreezesTheValueUntilRead()
    {
        Program(0, 2, 1000);
        AdvanceTicks(100);
        Out(0x43, 0x00);
        AdvanceTicks(300);
        Out(0x43, 0x00);                   // ignored: already latched
        Assert.Equal(900, In(0x40) | In(0x40) << 8);
        Assert.Equal(600, ReadLatched(0));
    }

    [Fact]
    public void UnlatchedReadsAlternateLsbAndMsb()
    {
        Program(2, 0, 0x1234);
        Out61(0x01);                       // gate channel 2 on (it was programmed with gate low)
        Out(0x43, 0xB0);
        Out(0x42, 0x34); Out(0x42, 0x12);
        Assert.Equal(0x34, In(0x42));
        Assert.Equal(0x12, In(0x42));
    }

    [Fact]
    public void LsbOnlyAndMsbOnlyAccess()
    {
        Out(0x43, 0x14);                   // channel 0, LSB only, mode 2
        Out(0x40, 200);
        Assert.Equal(200, _pit.GetInitialCount(0));
        AdvanceTicks(50);
        Assert.Equal(150, In(0x40));
        Out(0x43, 0x24);                   // MSB only
        Out(0x40, 0x02);
        Assert.Equal(0x200, _pit.GetInitialCount(0));
        Assert.Equal(0x02, In(0x40));
    }

    [Fact]
    public void ReadBackStatusAndCount()
    {
        Program(1, 3, 500);
        Out(0x43, 0xC4);                   // read-back: count and status of counter 1
        byte status = In(0x41);
        Assert.Equal(0x80 | 0x30 | (3 << 1), status);   // OUT high, not null count, LSB/MSB, mode 3
        Assert.Equal(500, In(0x41) | In(0x41) << 8);
    }

    [Fact]
    public void StatusShowsNullCountUntilLoaded()
    {
        Out(0x43, 0x70);                   // channel 1, LSB/MSB, mode 0
        Out(0x43, 0xE4);                   // status only
        Assert.Equal(0x40 | 0x30, In(0x41));   // OUT low (mode 0), null count
        Out(0x41, 5); Out(0x41, 0);
        Out(0x43, 0xE4);
        Assert.Equal(0x30, In(0x41));
    }

    [Fact]
    public void BcdCounting()
    {
        Program(0, 2, 0x1000, bcd: true);  // 1000 decimal
        Assert.Equal(1000, _pit.GetInitialCount(0));
        AdvanceTicks(1);
        Assert.Equal(0x0999, ReadLatched(0));
        Program(1, 2, 0, bcd: true);       // 0 means 10000
        Assert.Equal(10000, _pit.GetInitialCount(1));
    }

    [Fact]
    public void Mode2NewCountTakesEffectAtTheEndOfThePeriod()
    {
        Program(0, 2, 100);
        AdvanceTicks(30);
        Out(0x40, 10); Out(0x40, 0);       // LSB/MSB of the new count
        Out(0x43, 0xE2);                   // status of channel 0: null count until reload
        Assert.Equal(0x40, In(0x40) & 0x40);
        Assert.Equal(70, ReadLatched(0));  // still counting the old period
        AdvanceTicks(70);
        Assert.Equal(10, ReadLatched(0));
        AdvanceTicks(3);
        Assert.Equal(7, ReadLatched(0));
    }

    [Fact]
    public void Mode3SquareWaveOnChannel2ThroughPort61()
    {
        Out61(0x01);
        Program(2, 3, 10);
        Assert.Equal(0x20, In61() & 0x20);
        AdvanceTicks(4);
        Assert.Equal(0x20, In61() & 0x20);
        AdvanceTicks(1);
        Assert.Equal(0x00, In61() & 0x20);  // low for the second half
        AdvanceTicks(5);
        Assert.Equal(0x20, In61() & 0x20);
        // Gate low forces OUT high in mode 3 and stops it.
        AdvanceTicks(6);
        Out61(0x00);
        Assert.Equal(0x20, In61() & 0x20);
    }

    [Fact]
    public void Mode3OddCountHasTheLongerHighHalf()
    {
        Out61(0x01);
        Program(2, 3, 5);
        AdvanceTicks(2);
        Assert.True(_pit.GetOutput(2));
        AdvanceTicks(1);
        Assert.False(_pit.GetOutput(2));
        AdvanceTicks(2);
        Assert.True(_pit.GetOutput(2));
    }

    [Fact]
    public void LinuxPitCalibrationLoopSeesOutputAfterTheCount()
    {
        // arch/x86/kernel/tsc.c pit_calibrate_tsc: gate high, speaker off, channel 2 mode 0, 50 ms.
        const int latch = 1193182 / 20;
        Out61((In61() & ~0x02) | 0x01);
        Out(0x43, 0xB0);
        Out(0x42, latch & 0xFF);
        Out(0x42, latch >> 8);
        long start = _time.NowNs;
        int polls = 0;
        while ((In61() & 0x20) == 0)
        {
            _time.Advance(100_000);
            polls++;
        }
        long elapsed = _time.NowNs - start;
        Assert.InRange(elapsed, 49_900_000, 50_100_000);
        Assert.True(polls > 400);
    }

    [Fact]
    public void Channel2GateLowSuspendsMode0()
    {
        Out61(0x00);
        Program(2, 0, 100);
        AdvanceTicks(500);
        Assert.False(_pit.GetOutput(2));   // gate low: not counting
        Out61(0x01);
        AdvanceTicks(60);
        Out61(0x00);
        AdvanceTicks(500);
        Assert.Equal(40, ReadLatched(2));
        Out61(0x01);
        AdvanceTicks(40);
        Assert.True(_pit.GetOutput(2));
    }

    [Fact]
    public void Mode1OneShotIsTriggeredByTheGate()
    {
        Out61(0x00);
        Program(2, 1, 20);
        Assert.True(_pit.GetOutput(2));
        AdvanceTicks(100);
        Assert.True(_pit.GetOutput(2));    // no trigger yet
        Out61(0x01);
        Assert.False(_pit.GetOutput(2));
        AdvanceTicks(19);
        Assert.False(_pit.GetOutput(2));
        AdvanceTicks(1);
        Assert.True(_pit.GetOutput(2));
        // Retrigger: low again for the full count.
        Out61(0x00); Out61(0x01);
        AdvanceTicks(10);
        Assert.False(_pit.GetOutput(2));
    }

    [Fact]
    public void Mode4SoftwareStrobe()
    {
        Program(0, 4, 50);
        int before = _irq.RisingEdges;
        Assert.True(_pit.GetOutput(0));
        AdvanceTicks(50);
        Assert.False(_pit.GetOutput(0));
        AdvanceTicks(1);
        Assert.True(_pit.GetOutput(0));
        Assert.Equal(before + 1, _irq.RisingEdges);
        _time.Advance(100_000_000);
        Assert.Equal(before + 1, _irq.RisingEdges);
    }

    [Fact]
    public void Mode5HardwareStrobe()
    {
        Out61(0x00);
        Program(2, 5, 30);
        AdvanceTicks(100);
        Assert.True(_pit.GetOutput(2));
        Out61(0x01);
        AdvanceTicks(30);
        Assert.False(_pit.GetOutput(2));
        AdvanceTicks(1);
        Assert.True(_pit.GetOutput(2));
    }

    [Fact]
    public void ModesSixAndSevenAreTwoAndThree()
    {
        Out(0x43, 0x3C);   // mode 6
        Assert.Equal(2, _pit.GetMode(0));
        Out(0x43, 0x3E);   // mode 7
        Assert.Equal(3, _pit.GetMode(0));
    }

    [Fact]
    public void Port61RefreshBitToggles()
    {
        var seen = new HashSet<int>();
        for (int i = 0; i < 8; i++)
        {
            seen.Add(In61() & 0x10);
            _time.Advance(7_000);
        }
        Assert.Equal(2, seen.Count);
        Out61(0x03);
        Assert.True(_pit.Port61.SpeakerOn);
        Assert.Equal(0x03, In61() & 0x0F);
    }

    [Fact]
    public void ControlRegisterReadsAsAllOnes() => Assert.Equal(0xFF, In(0x43));
}
