using MyKvm.Devices.Legacy;

namespace MyKvm.Devices.Tests.Legacy;

public class CmosRtcTests
{
    private const long Ms = 1_000_000;
    private const long Sec = 1_000_000_000;
    private static readonly DateTime Start = new(2024, 2, 28, 23, 59, 58);

    private readonly TestTime _time = new();
    private readonly RecordingIrqLine _irq = new();

    private CmosRtc NewRtc(ulong low = 128UL << 20, ulong high = 0, DateTime? start = null) =>
        new(_irq, _time.Timers, low, high, start ?? Start);

    private static byte Read(CmosRtc rtc, int index)
    {
        rtc.PortWrite(0x70, 1, (uint)index);
        return (byte)rtc.PortRead(0x71, 1);
    }

    private static void Write(CmosRtc rtc, int index, int value)
    {
        rtc.PortWrite(0x70, 1, (uint)index);
        rtc.PortWrite(0x71, 1, (uint)value);
    }

    [Fact]
    public void TimeAndDateInBcdAnd24HourByDefault()
    {
        var rtc = NewRtc();
        Assert.Equal(0x58, Read(rtc, 0x00));
        Assert.Equal(0x59, Read(rtc, 0x02));
        Assert.Equal(0x23, Read(rtc, 0x04));
        Assert.Equal(0x04, Read(rtc, 0x06));   // Wednesday: Sunday is 1
        Assert.Equal(0x28, Read(rtc, 0x07));
        Assert.Equal(0x02, Read(rtc, 0x08));
        Assert.Equal(0x24, Read(rtc, 0x09));
        Assert.Equal(0x20, Read(rtc, 0x32));
        Assert.Equal(0x26, Read(rtc, 0x0A));
        Assert.Equal(0x02, Read(rtc, 0x0B));
        Assert.Equal(0x80, Read(rtc, 0x0D));
    }

    [Fact]
    public void ClockAdvancesThroughLeapDay()
    {
        var rtc = NewRtc();
        _time.Advance(2 * Sec);
        Assert.Equal(new DateTime(2024, 2, 29, 0, 0, 0), rtc.Now);
        Assert.Equal(0x05, Read(rtc, 0x06));   // Thursday
        _time.Advance(86400 * Sec);
        Assert.Equal(new DateTime(2024, 3, 1, 0, 0, 0), rtc.Now);
        Assert.Equal(0x06, Read(rtc, 0x06));
    }

    [Fact]
    public void LongJumpsKeepDayOfWeekInStep()
    {
        var rtc = NewRtc(start: new DateTime(2023, 12, 31, 12, 0, 0));   // a Sunday
        _time.Advance(10L * 86400 * Sec);
        Assert.Equal(new DateTime(2024, 1, 10, 12, 0, 0), rtc.Now);
        Assert.Equal(0x04, Read(rtc, 0x06));   // Wednesday
    }

    [Fact]
    public void BinaryAnd12HourFormats()
    {
        var rtc = NewRtc(start: new DateTime(2024, 7, 4, 13, 5, 9));
        Write(rtc, 0x0B, 0x04);                // binary, 12-hour
        Assert.Equal(9, Read(rtc, 0x00));
        Assert.Equal(5, Read(rtc, 0x02));
        Assert.Equal(0x81, Read(rtc, 0x04));   // 1 PM
        Write(rtc, 0x0B, 0x00);                // BCD, 12-hour
        Assert.Equal(0x81, Read(rtc, 0x04));
        Write(rtc, 0x04, 0x12);                // 12 AM is midnight
        Write(rtc, 0x0B, 0x02);
        Assert.Equal(0x00, Read(rtc, 0x04));
        Write(rtc, 0x0B, 0x00);
        Write(rtc, 0x04, 0x92);                // 12 PM is noon
        Write(rtc, 0x0B, 0x06);
        Assert.Equal(12, Read(rtc, 0x04));
    }

    [Fact]
    public void SetBitStopsUpdatesAndTimeCanBeWritten()
    {
        var rtc = NewRtc();
        Write(rtc, 0x0B, 0x82);                // SET
        Write(rtc, 0x00, 0x30);
        Write(rtc, 0x02, 0x15);
        Write(rtc, 0x04, 0x10);
        Write(rtc, 0x07, 0x01);
        Write(rtc, 0x08, 0x01);
        Write(rtc, 0x09, 0x25);
        _time.Advance(5 * Sec);
        Assert.Equal(0x30, Read(rtc, 0x00));   // frozen
        Write(rtc, 0x0B, 0x02);
        _time.Advance(1 * Sec);
        Assert.Equal(new DateTime(2025, 1, 1, 10, 15, 31), rtc.Now);
    }

    [Fact]
    public void SetClearsUpdateInterruptEnable()
    {
        var rtc = NewRtc();
        Write(rtc, 0x0B, 0x12);
        Assert.Equal(0x12, Read(rtc, 0x0B));
        Write(rtc, 0x0B, 0x92);
        Assert.Equal(0x82, Read(rtc, 0x0B));
    }

    [Fact]
    public void UpdateInProgressJustBeforeEachSecond()
    {
        var rtc = NewRtc();
        _time.AdvanceTo(Sec - 300_000);
        Assert.Equal(0, Read(rtc, 0x0A) & 0x80);
        _time.AdvanceTo(Sec - 200_000);
        Assert.Equal(0x80, Read(rtc, 0x0A) & 0x80);
        Assert.Equal(0x58, Read(rtc, 0x00));
        _time.AdvanceTo(Sec);
        Assert.Equal(0, Read(rtc, 0x0A) & 0x80);
        Assert.Equal(0x59, Read(rtc, 0x00));
    }

    [Fact]
    public void PeriodicInterruptAt1024HzUntilRegisterCIsRead()
    {
        var rtc = NewRtc();
        Write(rtc, 0x0B, 0x42);                // PIE
        Assert.False(_irq.Level);
        _time.AdvanceTo(976_562 - 1);
        Assert.False(_irq.Level);
        _time.AdvanceTo(976_563);
        Assert.True(_irq.Level);
        // Without a register C read the line stays high: no further edges.
        _time.Advance(10 * Ms);
        Assert.Equal(1, _irq.RisingEdges);
        Assert.Equal(0xC0, Read(rtc, 0x0C));   // IRQF | PF
        Assert.False(_irq.Level);
        Assert.Equal(0x00, Read(rtc, 0x0C));
        _time.Advance(1 * Ms);
        Assert.True(_irq.Level);
        Assert.Equal(2, _irq.RisingEdges);
    }

    [Fact]
    public void PeriodicInterruptCountsAtTheProgrammedRate()
    {
        var rtc = NewRtc();
        Write(rtc, 0x0A, 0x2F);                // 2 Hz
        Write(rtc, 0x0B, 0x42);
        int interrupts = 0;
        for (int i = 0; i < 100; i++)
        {
            _time.Advance(50 * Ms);
            if (_irq.Level)
            {
                interrupts++;
                Read(rtc, 0x0C);
            }
        }
        Assert.Equal(10, interrupts);          // 5 s at 2 Hz
    }

    [Fact]
    public void PeriodicFlagIsSetEvenWithoutTheInterruptEnabled()
    {
        var rtc = NewRtc();
        Read(rtc, 0x0C);
        _time.Advance(2 * Ms);
        Assert.Equal(CmosRtc.CPeriodic, Read(rtc, 0x0C));   // PF but not IRQF
        Assert.False(_irq.Level);
        Assert.Equal(long.MaxValue, _time.Timers.NextDeadline);   // no timer armed for it
    }

    [Fact]
    public void UpdateEndedInterruptEverySecond()
    {
        var rtc = NewRtc();
        Write(rtc, 0x0B, 0x12);                // UIE
        _time.AdvanceTo(Sec - 1);
        Assert.False(_irq.Level);
        _time.AdvanceTo(Sec);
        Assert.True(_irq.Level);
        Assert.Equal(0x90, Read(rtc, 0x0C) & 0xB0);
        _time.AdvanceTo(2 * Sec);
        Assert.True(_irq.Level);
    }

    [Fact]
    public void AlarmInterruptWithDontCareBytes()
    {
        var rtc = NewRtc(start: new DateTime(2024, 1, 1, 8, 0, 0));
        Write(rtc, 0x01, 0x05);                // at second 5
        Write(rtc, 0x03, 0xFF);                // of any minute
        Write(rtc, 0x05, 0xC0);                // of any hour
        Write(rtc, 0x0B, 0x22);                // AIE
        _time.AdvanceTo(4 * Sec);
        Assert.False(_irq.Level);
        _time.AdvanceTo(5 * Sec);
        Assert.True(_irq.Level);
        Assert.Equal(0xB0, Read(rtc, 0x0C) & 0xB0);   // IRQF | AF | UF (PF runs at 1024 Hz too)
        _time.AdvanceTo(64 * Sec);
        Assert.False(_irq.Level);
        _time.AdvanceTo(65 * Sec);
        Assert.True(_irq.Level);
    }

    [Fact]
    public void DividerResetHoldsTheClockAndRestartsHalfASecondLater()
    {
        var rtc = NewRtc();
        Write(rtc, 0x0A, 0x70);                // divider in reset
        _time.Advance(10 * Sec);
        Assert.Equal(0x58, Read(rtc, 0x00));
        Write(rtc, 0x0A, 0x26);
        _time.Advance(499 * Ms);
        Assert.Equal(0x58, Read(rtc, 0x00));
        _time.Advance(1 * Ms);
        Assert.Equal(0x59, Read(rtc, 0x00));
    }

    [Fact]
    public void NmiMaskBitAndIndexPortReads()
    {
        var rtc = NewRtc();
        rtc.PortWrite(0x70, 1, 0x8F);
        Assert.True(rtc.NmiMasked);
        Assert.Equal(0xFFu, rtc.PortRead(0x70, 1));
        rtc.PortWrite(0x71, 1, 0x0A);
        Assert.Equal(0x0A, rtc.ShutdownStatus);
        rtc.PortWrite(0x70, 1, 0x0F);
        Assert.False(rtc.NmiMasked);
        Assert.Equal(0x0Au, rtc.PortRead(0x71, 1));
    }

    [Fact]
    public void MemorySizeRegistersAndChecksum()
    {
        var rtc = NewRtc(low: 3UL << 30, high: 1UL << 30);
        Assert.Equal(0x80, Read(rtc, 0x15));
        Assert.Equal(0x02, Read(rtc, 0x16));   // 640 KiB
        Assert.Equal(0xFF, Read(rtc, 0x17));
        Assert.Equal(0xFF, Read(rtc, 0x18));   // capped at 65535 KiB
        Assert.Equal(0xFF, Read(rtc, 0x30));
        int above16M = Read(rtc, 0x34) | Read(rtc, 0x35) << 8;
        Assert.Equal(((3L << 30) - (16L << 20)) / 65536, above16M);
        int above4G = Read(rtc, 0x5B) | Read(rtc, 0x5C) << 8 | Read(rtc, 0x5D) << 16;
        Assert.Equal((1 << 30) / 65536, above4G);
        Assert.Equal(0x06, Read(rtc, 0x14));
        AssertChecksum(rtc);
    }

    [Fact]
    public void SmallMachineMemory()
    {
        var rtc = NewRtc(low: 8UL << 20);
        Assert.Equal(7 * 1024, Read(rtc, 0x17) | Read(rtc, 0x18) << 8);
        Assert.Equal(0, Read(rtc, 0x34) | Read(rtc, 0x35));
        Assert.Equal(0, Read(rtc, 0x5B) | Read(rtc, 0x5C) | Read(rtc, 0x5D));
    }

    [Fact]
    public void SetByteKeepsTheChecksum()
    {
        var rtc = NewRtc();
        rtc.SetByte(0x10, 0x40);
        AssertChecksum(rtc);
        rtc.SetByte(0x5F, 3);
        Assert.Equal(3, Read(rtc, 0x5F));
        Assert.Throws<ArgumentOutOfRangeException>(() => rtc.SetByte(0x05, 1));
    }

    private static void AssertChecksum(CmosRtc rtc)
    {
        int sum = 0;
        for (int i = 0x10; i <= 0x2D; i++) sum += Read(rtc, i);
        Assert.Equal(sum, Read(rtc, 0x2E) << 8 | Read(rtc, 0x2F));
    }

    [Fact]
    public void GarbageTimeValuesDoNotBreakTheClock()
    {
        var rtc = NewRtc();
        Write(rtc, 0x0B, 0x86);
        Write(rtc, 0x00, 0xFF);
        Write(rtc, 0x04, 0xEE);
        Write(rtc, 0x08, 0x77);
        Write(rtc, 0x0B, 0x06);
        Assert.Null(rtc.Now);
        _time.Advance(3L * 365 * 86400 * Sec);   // years of garbage stepping, bounded
        Read(rtc, 0x00);
    }

    [Fact]
    public void HostClockIsTheDefaultStart()
    {
        var before = DateTime.UtcNow.AddSeconds(-2);
        var rtc = new CmosRtc(_irq, _time.Timers, 64UL << 20);
        var now = rtc.Now!.Value;
        Assert.InRange(now, before, DateTime.UtcNow.AddSeconds(2));
    }
}
