using MyKvm.Core;

namespace MyKvm.Devices.Acpi;

/// <summary>
/// The ACPI fixed hardware registers of a PC chipset's power-management function (ACPI 6.5 §4.8), in I/O space
/// laid out as QEMU's PIIX4 at 0x600 (and as <c>AcpiTables</c> describes them in the FADT):
/// <list type="table">
/// <item><term>base+0</term><description>PM1a_STS (16 bits, write 1 to clear): TMR, BM, GBL, PWRBTN, SLPBTN, RTC, WAK status</description></item>
/// <item><term>base+2</term><description>PM1a_EN (16 bits): the matching enables; a status bit whose enable is set asserts the SCI</description></item>
/// <item><term>base+4</term><description>PM1a_CNT (16 bits): SCI_EN (always 1: no SMI_CMD, the chipset is always in ACPI mode),
/// BM_RLD, GBL_RLS, SLP_TYP, SLP_EN</description></item>
/// <item><term>base+8</term><description>PM_TMR (32 bits, read-only): the 3.579545 MHz power-management timer, 24 or 32 bits</description></item>
/// </list>
/// Writing SLP_EN with the S5 sleep type ends the machine (<see cref="IMachineControl.RequestExit"/> with status 0).
/// Any access size at any byte offset works (Linux's /dev/port makes byte accesses); a 16-bit write to PM1a_CNT is one
/// write, so SLP_TYP and SLP_EN take effect together.
/// <para>
/// The timer is not ticked: its value is computed from <see cref="IClock.NowNs"/> (Linux uses it as the acpi_pm
/// clocksource and to check the TSC and LAPIC timer calibrations, so the rate must be exact). TMR_STS is set each time
/// the counter's top bit changes (§4.8.3.3); a <see cref="TimerQueue"/> deadline raises the SCI then, only while TMR_EN is set.
/// </para>
/// Register: <c>io.Register(AcpiPm.DefaultBase, AcpiPm.PortCount, pm)</c>; the SCI is ISA IRQ 9, level-triggered.
/// </summary>
public sealed class AcpiPm : IPortDevice
{
    public const long TimerFrequencyHz = 3_579_545;
    public const ushort DefaultBase = 0x600;
    /// <summary>Ports from the base the device claims: PM1a_EVT (4), PM1a_CNT (2), 2 unused, PM_TMR (4).</summary>
    public const int PortCount = 12;
    public const int StatusOffset = 0, EnableOffset = 2, ControlOffset = 4, TimerOffset = 8;

    // PM1 status bits (§4.8.3.1.1, Table 4.16) and their enables (Table 4.17, same positions).
    public const ushort TmrSts = 1 << 0, BmSts = 1 << 4, GblSts = 1 << 5, PwrBtnSts = 1 << 8, SlpBtnSts = 1 << 9,
        RtcSts = 1 << 10, PciExpWakeSts = 1 << 14, WakSts = 1 << 15;
    public const ushort TmrEn = 1 << 0, GblEn = 1 << 5, PwrBtnEn = 1 << 8, SlpBtnEn = 1 << 9, RtcEn = 1 << 10, PciExpWakeDis = 1 << 14;
    private const ushort StatusBits = TmrSts | BmSts | GblSts | PwrBtnSts | SlpBtnSts | RtcSts | PciExpWakeSts | WakSts;
    private const ushort EnableBits = TmrEn | GblEn | PwrBtnEn | SlpBtnEn | RtcEn | PciExpWakeDis;
    /// <summary>Status bits that assert the SCI when enabled (PCIEXP_WAKE is a wake source only).</summary>
    private const ushort SciSources = TmrSts | GblSts | PwrBtnSts | SlpBtnSts | RtcSts;

    // PM1 control bits (§4.8.3.2.1, Table 4.18).
    public const ushort SciEn = 1 << 0, BmRld = 1 << 1, GblRls = 1 << 2, SlpEn = 1 << 13;
    public const int SlpTypShift = 10;
    public const ushort SlpTypMask = 7 << SlpTypShift;

    private const long NsPerSecond = 1_000_000_000;

    private readonly ushort _base;
    private readonly IIrqLine _sci;
    private readonly IClock _clock;
    private readonly IMachineControl _control;
    private readonly DeviceTimer _overflowTimer;
    private readonly int _timerBits;
    private readonly byte _sleepTypeS5;
    private ushort _status;
    private ushort _enable;
    private ushort _control1 = SciEn;
    private long _timerHalfSeen;   // the timer's top-bit period last seen, for TMR_STS
    private bool _sciLevel;

    /// <param name="sci">The SCI line (ISA IRQ 9; the MADT declares it level-triggered, active high).</param>
    /// <param name="timers">The machine's timer queue; its clock drives the PM timer.</param>
    /// <param name="control">Where a soft-off (S5) request goes.</param>
    /// <param name="timer32Bit">A 32-bit timer (FADT TMR_VAL_EXT) rather than 24-bit; must match the FADT.</param>
    /// <param name="sleepTypeS5">The SLP_TYP value the DSDT's <c>\_S5</c> gives (0, as QEMU's, by default).</param>
    /// <param name="basePort">The first port; must match the FADT's PM1a_EVT_BLK.</param>
    public AcpiPm(IIrqLine sci, TimerQueue timers, IMachineControl control, bool timer32Bit = true, byte sleepTypeS5 = 0,
        ushort basePort = DefaultBase)
    {
        ArgumentNullException.ThrowIfNull(sci);
        ArgumentNullException.ThrowIfNull(timers);
        ArgumentNullException.ThrowIfNull(control);
        if (sleepTypeS5 > 7) throw new ArgumentOutOfRangeException(nameof(sleepTypeS5), "SLP_TYP is 3 bits");
        _sci = sci;
        _clock = timers.Clock;
        _control = control;
        _base = basePort;
        _timerBits = timer32Bit ? 32 : 24;
        _sleepTypeS5 = sleepTypeS5;
        _overflowTimer = timers.Create("acpi-pm-timer", _ => OnTimerCarry());
        _timerHalfSeen = TimerHalfPeriods(NowTick);
    }

    public ushort BasePort => _base;

    /// <summary>The PM timer's count now (24 or 32 bits).</summary>
    public uint TimerValue => (uint)(NowTick & TimerMask);

    /// <summary>PM1a_STS as the guest would read it now.</summary>
    public ushort Status
    {
        get
        {
            UpdateTimerStatus();
            return _status;
        }
    }

    public ushort Enable => _enable;
    public ushort Control => _control1;
    public bool SciAsserted => _sciLevel;

    /// <summary>A press of the fixed-feature power button (§4.8.2.2.1.1): sets PWRBTN_STS, which raises the SCI if enabled.</summary>
    public void PressPowerButton()
    {
        _status |= PwrBtnSts;
        UpdateSci();
    }

    private long TimerMask => (1L << _timerBits) - 1;
    private long NowTick => TicksAt(_clock.NowNs);
    private long TimerHalfPeriods(long tick) => tick >> (_timerBits - 1);

    internal static long TicksAt(long ns) => (long)((Int128)ns * TimerFrequencyHz / NsPerSecond);

    /// <summary>The first nanosecond at which the timer has counted <paramref name="tick"/>.</summary>
    internal static long NsAt(long tick) => (long)(((Int128)tick * NsPerSecond + TimerFrequencyHz - 1) / TimerFrequencyHz);

    public uint PortRead(ushort port, int size)
    {
        int offset = port - _base;
        // One snapshot per access, so a multi-byte timer read is consistent.
        UpdateTimerStatus();
        UpdateSci();
        uint timer = TimerValue;
        uint value = 0;
        for (int i = 0; i < size; i++)
            value |= (uint)ReadByte(offset + i, timer) << (8 * i);
        return value;
    }

    private byte ReadByte(int offset, uint timer) => offset switch
    {
        0 => (byte)_status,
        1 => (byte)(_status >> 8),
        2 => (byte)_enable,
        3 => (byte)(_enable >> 8),
        4 => (byte)_control1,
        5 => (byte)(_control1 >> 8),
        >= TimerOffset and < TimerOffset + 4 => (byte)(timer >> (8 * (offset - TimerOffset))),
        _ => 0xFF,
    };

    public void PortWrite(ushort port, int size, uint value)
    {
        int offset = port - _base;
        // Gather the bytes per 16-bit register, then apply each register once.
        ushort statusValue = 0, statusMask = 0, enableValue = 0, enableMask = 0, controlValue = 0, controlMask = 0;
        for (int i = 0; i < size; i++)
        {
            int o = offset + i;
            ushort b = (ushort)((value >> (8 * i)) & 0xFF);
            int shift = 8 * (o & 1);
            switch (o >> 1)
            {
                case StatusOffset / 2: statusValue |= (ushort)(b << shift); statusMask |= (ushort)(0xFF << shift); break;
                case EnableOffset / 2: enableValue |= (ushort)(b << shift); enableMask |= (ushort)(0xFF << shift); break;
                case ControlOffset / 2: controlValue |= (ushort)(b << shift); controlMask |= (ushort)(0xFF << shift); break;
                default: break; // the unused bytes and the read-only timer ignore writes
            }
        }
        if (statusMask != 0) WriteStatus((ushort)(statusValue & statusMask));
        if (enableMask != 0) WriteEnable(enableValue, enableMask);
        if (controlMask != 0) WriteControl(controlValue, controlMask);
    }

    /// <summary>Status bits are cleared by writing 1 (§4.8.3.1.1).</summary>
    private void WriteStatus(ushort ones)
    {
        UpdateTimerStatus();
        _status &= (ushort)~(ones & StatusBits);
        UpdateSci();
    }

    private void WriteEnable(ushort value, ushort mask)
    {
        _enable = (ushort)(((_enable & ~mask) | (value & mask)) & EnableBits);
        UpdateTimerStatus();
        ScheduleTimerCarry();
        UpdateSci();
    }

    private void WriteControl(ushort value, ushort mask)
    {
        ushort merged = (ushort)((_control1 & ~mask) | (value & mask));
        bool sleep = (mask & SlpEn) != 0 && (value & SlpEn) != 0;
        // SCI_EN stays set (no SMI_CMD: always ACPI mode); GBL_RLS and SLP_EN are write-only and read as 0.
        _control1 = (ushort)((merged & (BmRld | SlpTypMask)) | SciEn);
        if (!sleep) return;
        int type = (merged & SlpTypMask) >> SlpTypShift;
        if (type == _sleepTypeS5)
        {
            _control.RequestExit(0, "the guest powered off (ACPI S5)");
            return;
        }
        // Other sleep states are not in the DSDT; a guest that enters one anyway wakes at once (WAK_STS, §4.8.3.1.1)
        // rather than waiting forever in the loop that polls for it.
        _status |= WakSts;
        UpdateSci();
    }

    /// <summary>Sets TMR_STS if the counter's top bit has changed since last looked at.</summary>
    private void UpdateTimerStatus()
    {
        long half = TimerHalfPeriods(NowTick);
        if (half != _timerHalfSeen)
        {
            _timerHalfSeen = half;
            _status |= TmrSts;
        }
    }

    private void ScheduleTimerCarry()
    {
        if ((_enable & TmrEn) == 0)
        {
            _overflowTimer.Cancel();
            return;
        }
        long nextCarry = (_timerHalfSeen + 1) << (_timerBits - 1);
        _overflowTimer.Arm(NsAt(nextCarry));
    }

    private void OnTimerCarry()
    {
        UpdateTimerStatus();
        UpdateSci();
        ScheduleTimerCarry();
    }

    private void UpdateSci()
    {
        bool level = (_control1 & SciEn) != 0 && (_status & _enable & SciSources) != 0;
        if (level == _sciLevel) return;
        _sciLevel = level;
        _sci.Set(level);
    }
}
