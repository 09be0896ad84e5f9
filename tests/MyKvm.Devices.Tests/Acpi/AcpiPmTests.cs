using MyKvm.Core;
using MyKvm.Devices.Acpi;
using MyKvm.Devices.Tests.Legacy;

namespace MyKvm.Devices.Tests.Acpi;

public class AcpiPmTests
{
    private const long Ms = 1_000_000, Sec = 1_000_000_000;
    private const ushort Sts = 0x600, En = 0x602, Cnt = 0x604, Tmr = 0x608;

    private readonly TestTime _time = new();
    private readonly RecordingIrqLine _sci = new();
    private readonly RecordingMachineControl _control = new();

    private AcpiPm NewPm(bool timer32Bit = true, byte sleepTypeS5 = 0) => new(_sci, _time.Timers, _control, timer32Bit, sleepTypeS5);

    [Fact]
    public void TimerCountsAt3Point579545MHz()
    {
        var pm = NewPm();
        Assert.Equal(0u, pm.PortRead(Tmr, 4));
        _time.Advance(1 * Ms);
        Assert.Equal(3579u, pm.PortRead(Tmr, 4));                  // 3579.545 ticks, truncated
        _time.AdvanceTo(1 * Sec);
        Assert.Equal(3_579_545u, pm.PortRead(Tmr, 4));
        _time.AdvanceTo(10 * Sec + 279);                          // one tick is 279.37 ns
        Assert.Equal(35_795_450u, pm.PortRead(Tmr, 4));
        _time.Advance(1);
        Assert.Equal(35_795_451u, pm.PortRead(Tmr, 4));
    }

    [Fact]
    public void TimerRateOverALinuxCalibrationWindow()
    {
        // Linux's verify_pmtmr_rate and the LAPIC calibration compare the PM timer over tens of milliseconds;
        // the count over any 50 ms must be 178977 or 178978 (3579545 * 0.05 = 178977.25).
        var pm = NewPm();
        foreach (long start in new[] { 0L, 123_456_789L, 7 * Sec + 1 })
        {
            _time.AdvanceTo(start);
            uint a = pm.PortRead(Tmr, 4);
            _time.Advance(50 * Ms);
            uint b = pm.PortRead(Tmr, 4);
            Assert.InRange(b - a, 178_977u, 178_978u);
        }
    }

    [Fact]
    public void TwentyFourBitTimerWrapsAndReadsZeroAbove()
    {
        var pm = NewPm(timer32Bit: false);
        _time.AdvanceTo(5 * Sec);                                  // 17897725 ticks
        Assert.Equal(17_897_725u - (1u << 24), pm.PortRead(Tmr, 4));
        Assert.Equal(0u, pm.PortRead(Tmr + 3, 1));
    }

    [Fact]
    public void ThirtyTwoBitTimerWrapsAfterTwentyMinutes()
    {
        var pm = NewPm();
        long wrapNs = AcpiPm.NsAt(1L << 32);                       // ≈ 1199.9 s
        _time.AdvanceTo(wrapNs - 1);
        Assert.Equal(uint.MaxValue, pm.PortRead(Tmr, 4));
        _time.AdvanceTo(wrapNs);
        Assert.Equal(0u, pm.PortRead(Tmr, 4));
    }

    [Fact]
    public void NarrowTimerReadsSeeTheSameCount()
    {
        var pm = NewPm();
        _time.AdvanceTo(3 * Sec);
        uint whole = pm.PortRead(Tmr, 4);
        uint fromWords = pm.PortRead(Tmr, 2) | pm.PortRead(Tmr + 2, 2) << 16;
        uint fromBytes = 0;
        for (int i = 0; i < 4; i++) fromBytes |= pm.PortRead((ushort)(Tmr + i), 1) << (8 * i);
        Assert.Equal(whole, fromWords);
        Assert.Equal(whole, fromBytes);
    }

    [Fact]
    public void TimerIgnoresWrites()
    {
        var pm = NewPm();
        _time.AdvanceTo(1 * Sec);
        pm.PortWrite(Tmr, 4, 0);
        Assert.Equal(3_579_545u, pm.PortRead(Tmr, 4));
    }

    [Fact]
    public void TimerStatusSetsWhenTheTopBitChanges()
    {
        var pm = NewPm(timer32Bit: false);
        long carryNs = AcpiPm.NsAt(1L << 23);                      // ≈ 2.34 s
        _time.AdvanceTo(carryNs - 1);
        Assert.Equal(0u, pm.PortRead(Sts, 2) & AcpiPm.TmrSts);
        _time.AdvanceTo(carryNs);
        Assert.Equal((uint)AcpiPm.TmrSts, pm.PortRead(Sts, 2) & AcpiPm.TmrSts);
        pm.PortWrite(Sts, 2, AcpiPm.TmrSts);                       // write 1 to clear
        Assert.Equal(0u, pm.PortRead(Sts, 2) & AcpiPm.TmrSts);
        _time.AdvanceTo(AcpiPm.NsAt(1L << 24));                    // the wrap is the next change
        Assert.Equal((uint)AcpiPm.TmrSts, pm.PortRead(Sts, 2) & AcpiPm.TmrSts);
        Assert.Empty(_sci.Calls);                                  // TMR_EN is clear: no SCI
    }

    [Fact]
    public void TimerCarryRaisesTheSciWhenEnabled()
    {
        var pm = NewPm(timer32Bit: false);
        pm.PortWrite(En, 2, AcpiPm.TmrEn);
        Assert.Equal((uint)AcpiPm.TmrEn, pm.PortRead(En, 2));
        long carryNs = AcpiPm.NsAt(1L << 23);
        Assert.Equal(carryNs, _time.Timers.NextDeadline);
        _time.AdvanceTo(carryNs - 1);
        Assert.False(_sci.Level);
        _time.AdvanceTo(carryNs);                                  // the timer queue fires the carry
        Assert.True(_sci.Level);
        pm.PortWrite(Sts, 2, AcpiPm.TmrSts);
        Assert.False(_sci.Level);
        Assert.Equal(AcpiPm.NsAt(1L << 24), _time.Timers.NextDeadline);
        pm.PortWrite(En, 2, 0);
        Assert.Equal(long.MaxValue, _time.Timers.NextDeadline);
    }

    [Fact]
    public void PowerButtonRaisesTheSciOnlyWhenEnabledAndUntilCleared()
    {
        var pm = NewPm();
        pm.PressPowerButton();
        Assert.Equal((uint)AcpiPm.PwrBtnSts, pm.PortRead(Sts, 2));
        Assert.False(_sci.Level);
        pm.PortWrite(En, 2, AcpiPm.PwrBtnEn);
        Assert.True(_sci.Level);                                   // level-triggered: stays up
        pm.PortWrite(Sts, 2, AcpiPm.TmrSts);                       // clearing another bit leaves it
        Assert.True(_sci.Level);
        pm.PortWrite(Sts + 1, 1, AcpiPm.PwrBtnSts >> 8);           // byte write to the high half clears it
        Assert.False(_sci.Level);
        Assert.Equal(0u, pm.PortRead(Sts, 2));
        Assert.Equal(1, _sci.RisingEdges);
    }

    [Fact]
    public void EnableKeepsOnlyDefinedBits()
    {
        var pm = NewPm();
        pm.PortWrite(En, 2, 0xFFFF);
        Assert.Equal((uint)(AcpiPm.TmrEn | AcpiPm.GblEn | AcpiPm.PwrBtnEn | AcpiPm.SlpBtnEn | AcpiPm.RtcEn | AcpiPm.PciExpWakeDis),
            pm.PortRead(En, 2));
        pm.PortWrite(En + 1, 1, 0);                                 // high byte only
        Assert.Equal((uint)(AcpiPm.TmrEn | AcpiPm.GblEn), pm.PortRead(En, 2));
    }

    [Fact]
    public void Pm1EventBlockReadsAsOneDword()
    {
        var pm = NewPm();
        pm.PortWrite(En, 2, AcpiPm.PwrBtnEn);
        pm.PressPowerButton();
        Assert.Equal((uint)AcpiPm.PwrBtnEn << 16 | AcpiPm.PwrBtnSts, pm.PortRead(Sts, 4));
    }

    [Fact]
    public void SciEnIsAlwaysSetAndWriteOnlyBitsReadZero()
    {
        var pm = NewPm();
        Assert.Equal((uint)AcpiPm.SciEn, pm.PortRead(Cnt, 2));
        pm.PortWrite(Cnt, 2, 0);                                     // an OS may not leave ACPI mode here
        Assert.Equal((uint)AcpiPm.SciEn, pm.PortRead(Cnt, 2));
        pm.PortWrite(Cnt, 2, AcpiPm.GblRls | AcpiPm.BmRld | (3 << AcpiPm.SlpTypShift));
        Assert.Equal((uint)(AcpiPm.SciEn | AcpiPm.BmRld | (3 << AcpiPm.SlpTypShift)), pm.PortRead(Cnt, 2));
        Assert.Empty(_control.Exits);
    }

    [Fact]
    public void SlpEnWithTheS5TypePowersOff()
    {
        var pm = NewPm();
        // What Linux's acpi_hw_legacy_sleep does: SLP_TYP first, then SLP_TYP | SLP_EN.
        pm.PortWrite(Cnt, 2, AcpiPm.SciEn);
        Assert.Empty(_control.Exits);
        pm.PortWrite(Cnt, 2, AcpiPm.SciEn | AcpiPm.SlpEn);
        var exit = Assert.Single(_control.Exits);
        Assert.Equal(0, exit.Code);
        Assert.Contains("ACPI S5", exit.Reason);
    }

    [Fact]
    public void ByteWritesThroughDevPortPowerOff()
    {
        // mykvm-poweroff with acpi=off: printf '\000\040' | dd of=/dev/port seek=0x604: two outb, low then high.
        var pm = NewPm();
        pm.PortWrite(Cnt, 1, 0x00);
        Assert.Empty(_control.Exits);
        pm.PortWrite(Cnt + 1, 1, 0x20);
        Assert.Equal(0, Assert.Single(_control.Exits).Code);
    }

    [Fact]
    public void SleepTypeComesFromTheConstructor()
    {
        var pm = NewPm(sleepTypeS5: 5);
        pm.PortWrite(Cnt, 2, AcpiPm.SlpEn);                          // type 0 is not S5 here
        Assert.Empty(_control.Exits);
        Assert.Equal((uint)AcpiPm.WakSts, pm.PortRead(Sts, 2) & AcpiPm.WakSts); // "woke" at once
        Assert.False(_sci.Level);                                  // WAK_STS is no SCI source
        pm.PortWrite(Cnt, 2, (5 << AcpiPm.SlpTypShift) | AcpiPm.SlpEn);
        Assert.Equal(0, Assert.Single(_control.Exits).Code);
    }

    [Fact]
    public void UnusedPortsReadAllOnes()
    {
        var pm = NewPm();
        Assert.Equal(0xFFu, pm.PortRead(0x606, 1));
        Assert.Equal(0xFFFFu, pm.PortRead(0x606, 2));
        pm.PortWrite(0x606, 2, 0xFFFF);
        Assert.Empty(_control.Exits);
    }

    [Fact]
    public void OtherBasePorts()
    {
        var pm = new AcpiPm(_sci, _time.Timers, _control, basePort: 0xB000);
        _time.AdvanceTo(1 * Sec);
        Assert.Equal(3_579_545u, pm.PortRead(0xB008, 4));
        pm.PortWrite(0xB004, 2, AcpiPm.SlpEn);
        Assert.Single(_control.Exits);
    }

    [Fact]
    public void WorksOnTheIoBus()
    {
        var io = new IoBus();
        var pm = NewPm();
        io.Register(AcpiPm.DefaultBase, AcpiPm.PortCount, pm);
        _time.AdvanceTo(2 * Sec);
        Assert.Equal(7_159_090u, io.Read(0x608, 4));
        io.Write(0x604, 2, 0x2000);
        Assert.Single(_control.Exits);
    }
}
