using MyKvm.Core;

namespace MyKvm.Devices.Legacy;

/// <summary>
/// The PC's Motorola MC146818A real-time clock and its 128 bytes of CMOS RAM, at ports 0x70 (index, bit 7
/// masks NMI) and 0x71 (data). Keeps the time of day and the date in BCD or binary, 12- or 24-hour format
/// (register B), advancing once per second on the machine clock; status registers A–D; periodic, alarm and
/// update-ended interrupts on IRQ 8 with the flags in register C (cleared by reading it, which is how a guest
/// acknowledges: the IRQ line stays high until then). The time starts at the host's UTC time, or at a fixed
/// date for deterministic runs.
/// <para>
/// The CMOS RAM holds what a BIOS would have left there: base memory (0x15–0x16), extended memory
/// (0x17–0x18, 0x30–0x31), memory above 16 MiB in 64 KiB units (0x34–0x35), memory above 4 GiB in 64 KiB
/// units (0x5B–0x5D, the QEMU/SeaBIOS convention), the equipment byte (0x14), the century (0x32), and the
/// standard checksum over 0x10–0x2D at 0x2E–0x2F.
/// </para>
/// Deviations from the chip: the time is held as numbers, so switching register B between BCD and binary
/// converts the visible registers instead of leaving them stale; the daylight-saving bit is stored but has no
/// effect; divider settings other than 010 (32.768 kHz) stop the clock.
/// Register: <c>io.Register(0x70, 2, rtc)</c>.
/// </summary>
public sealed class CmosRtc : IPortDevice
{
    public const int RegSeconds = 0x00, RegSecondsAlarm = 0x01, RegMinutes = 0x02, RegMinutesAlarm = 0x03,
        RegHours = 0x04, RegHoursAlarm = 0x05, RegDayOfWeek = 0x06, RegDayOfMonth = 0x07, RegMonth = 0x08, RegYear = 0x09,
        RegA = 0x0A, RegB = 0x0B, RegC = 0x0C, RegD = 0x0D, RegShutdownStatus = 0x0F, RegEquipment = 0x14, RegCentury = 0x32;

    // Register A.
    public const byte AUpdateInProgress = 0x80;
    // Register B.
    public const byte BSet = 0x80, BPeriodicIe = 0x40, BAlarmIe = 0x20, BUpdateIe = 0x10, BSquareWave = 0x08,
        BBinary = 0x04, B24Hour = 0x02, BDaylightSaving = 0x01;
    // Register C.
    public const byte CIrqf = 0x80, CPeriodic = 0x40, CAlarm = 0x20, CUpdate = 0x10;

    private const long NsPerSecond = 1_000_000_000;
    private const int DividerHz = 32768;
    /// <summary>UIP rises this long before each update (datasheet: "at least 244 µs").</summary>
    private const long UipLeadNs = 244_000;

    private readonly IIrqLine _irq;
    private readonly IClock _clock;
    private readonly DeviceTimer _periodicTimer;
    private readonly DeviceTimer _updateTimer;
    private readonly byte[] _ram = new byte[128];
    private byte _index;
    private bool _nmiMasked;

    // Time of day and date as numbers (hour 0–23, day of week 1–7 with Sunday = 1, year 0–99).
    private int _sec, _min, _hour, _dow, _day, _month, _year;
    private byte _regA = 0x26, _regB = B24Hour, _flags;
    private bool _irqLevel;

    private long _dividerOriginNs;    // periodic interrupts fall on this + k·period
    private long _updateOriginNs;     // updates happen at this + k·1 s, k ≥ 1
    private long _syncedNs;           // time up to which updates have been applied
    private long _periodicCheckedNs;  // time up to which PF has been accounted for

    /// <param name="irq">IRQ 8.</param>
    /// <param name="timers">The machine's timers; the clock comes from them.</param>
    /// <param name="lowRamBytes">RAM below 4 GiB (<see cref="GuestRam.LowSize"/>).</param>
    /// <param name="highRamBytes">RAM above 4 GiB (<see cref="GuestRam.HighSize"/>).</param>
    /// <param name="startTime">The date and time at power-on (the CLI's <c>--rtc</c>); null for the host's UTC time now.</param>
    public CmosRtc(IIrqLine irq, TimerQueue timers, ulong lowRamBytes, ulong highRamBytes = 0, DateTime? startTime = null)
    {
        ArgumentNullException.ThrowIfNull(irq);
        ArgumentNullException.ThrowIfNull(timers);
        _irq = irq;
        _clock = timers.Clock;
        _periodicTimer = timers.Create("rtc-periodic", OnPeriodicTimer);
        _updateTimer = timers.Create("rtc-update", _ => OnUpdateTimer());

        long now = _clock.NowNs;
        _dividerOriginNs = now;
        _updateOriginNs = now;
        _syncedNs = now;
        _periodicCheckedNs = now;
        SetTime(startTime ?? DateTime.UtcNow);
        FillMemoryConfiguration(lowRamBytes, highRamBytes);
    }

    /// <summary>Port 0x70 bit 7: set while the guest keeps NMI masked.</summary>
    public bool NmiMasked => _nmiMasked;

    /// <summary>CMOS byte 0x0F: what the BIOS should do after the next reset.</summary>
    public byte ShutdownStatus => _ram[RegShutdownStatus];

    /// <summary>
    /// The clock's date and time now, or null when the guest has written values that are not a date.
    /// </summary>
    public DateTime? Now
    {
        get
        {
            Sync(_clock.NowNs);
            return TryGetDateTime(out var dt) ? dt : null;
        }
    }

    /// <summary>Sets the clock (as a BIOS setup screen would).</summary>
    public void SetTime(DateTime time)
    {
        Sync(_clock.NowNs);
        _sec = time.Second;
        _min = time.Minute;
        _hour = time.Hour;
        _dow = (int)time.DayOfWeek + 1;
        _day = time.Day;
        _month = time.Month;
        _year = time.Year % 100;
        _ram[RegCentury] = ToBcd(time.Year / 100 % 100);
        UpdateChecksum();
    }

    /// <summary>A CMOS RAM byte (0x0E–0x7F), as the machine sets it up (boot order, CPU count ...).</summary>
    public byte GetByte(int index) => _ram[index & 0x7F];

    /// <summary>Sets a CMOS RAM byte; the checksum at 0x2E–0x2F follows changes to 0x10–0x2D.</summary>
    public void SetByte(int index, byte value)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(index, 0x0E);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(index, 0x7F);
        _ram[index] = value;
        if (index is >= 0x10 and <= 0x2D) UpdateChecksum();
    }

    private void FillMemoryConfiguration(ulong low, ulong high)
    {
        const ulong KiB = 1024, MiB = 1024 * 1024;
        _ram[RegEquipment] = 0x06;   // math coprocessor, PS/2 mouse, EGA/VGA display, no floppies
        SetWord(0x15, 640);          // base memory in KiB
        ulong extKiB = low > MiB ? Math.Min((low - MiB) / KiB, 0xFFFF) : 0;
        SetWord(0x17, (ushort)extKiB);
        SetWord(0x30, (ushort)extKiB);
        ulong above16M = low > 16 * MiB ? Math.Min((low - 16 * MiB) / (64 * KiB), 0xFFFF) : 0;
        SetWord(0x34, (ushort)above16M);
        ulong above4G = Math.Min(high / (64 * KiB), 0xFF_FFFF);
        _ram[0x5B] = (byte)above4G;
        _ram[0x5C] = (byte)(above4G >> 8);
        _ram[0x5D] = (byte)(above4G >> 16);
        UpdateChecksum();
    }

    private void SetWord(int index, ushort value)
    {
        _ram[index] = (byte)value;
        _ram[index + 1] = (byte)(value >> 8);
    }

    /// <summary>The IBM AT checksum: the 16-bit sum of bytes 0x10–0x2D, high byte at 0x2E.</summary>
    private void UpdateChecksum()
    {
        int sum = 0;
        for (int i = 0x10; i <= 0x2D; i++) sum += _ram[i];
        _ram[0x2E] = (byte)(sum >> 8);
        _ram[0x2F] = (byte)sum;
    }

    public uint PortRead(ushort port, int size)
    {
        // The index register is write-only; QEMU and most chipsets return all ones.
        if ((port & 1) == 0) return 0xFF;
        long now = _clock.NowNs;
        Sync(now);
        byte value = ReadRegister(_index, now);
        UpdateIrq();
        return value;
    }

    public void PortWrite(ushort port, int size, uint value)
    {
        if ((port & 1) == 0)
        {
            _index = (byte)(value & 0x7F);
            _nmiMasked = (value & 0x80) != 0;
            return;
        }
        long now = _clock.NowNs;
        Sync(now);
        WriteRegister(_index, (byte)value, now);
        UpdateIrq();
        Reschedule(now);
    }

    private byte ReadRegister(int index, long now)
    {
        switch (index)
        {
            case RegSeconds: return Encode(_sec);
            case RegMinutes: return Encode(_min);
            case RegHours: return EncodeHour(_hour);
            case RegDayOfWeek: return Encode(_dow);
            case RegDayOfMonth: return Encode(_day);
            case RegMonth: return Encode(_month);
            case RegYear: return Encode(_year);
            case RegA:
                return (byte)((_regA & 0x7F) | (UpdateInProgress(now) ? AUpdateInProgress : 0));
            case RegB:
                return _regB;
            case RegC:
            {
                AccountPeriodic(now);
                byte c = _flags;
                if ((c & _regB & (BPeriodicIe | BAlarmIe | BUpdateIe)) != 0) c |= CIrqf;
                _flags = 0;
                return c;
            }
            case RegD:
                return 0x80;   // VRT: the battery is fine
            default:
                return _ram[index];
        }
    }

    private void WriteRegister(int index, byte value, long now)
    {
        switch (index)
        {
            case RegSeconds: _sec = Decode(value); break;
            case RegMinutes: _min = Decode(value); break;
            case RegHours: _hour = DecodeHour(value); break;
            case RegDayOfWeek: _dow = Decode(value); break;
            case RegDayOfMonth: _day = Decode(value); break;
            case RegMonth: _month = Decode(value); break;
            case RegYear: _year = Decode(value); break;
            case RegA:
            {
                bool wasRunning = Running;
                AccountPeriodic(now);
                _regA = (byte)(value & 0x7F);
                if (!wasRunning && Running)
                {
                    // Leaving divider reset: the first update comes 500 ms later (datasheet, "Divider Control").
                    _dividerOriginNs = now;
                    _updateOriginNs = now - NsPerSecond / 2;
                    _syncedNs = now;
                    _periodicCheckedNs = now;
                }
                break;
            }
            case RegB:
                // Setting SET stops updates and clears UIE (datasheet, register B bit 7).
                if ((value & BSet) != 0) value &= unchecked((byte)~BUpdateIe);
                _regB = value;
                break;
            case RegC:
            case RegD:
                break;   // read-only
            default:
                _ram[index] = value;
                break;
        }
    }

    private bool Running => (_regA & 0x70) == 0x20;
    private bool Updating => Running && (_regB & BSet) == 0;

    private bool UpdateInProgress(long now)
    {
        if (!Updating) return false;
        long next = NextUpdateAfter(now);
        return next - now <= UipLeadNs;
    }

    private long NextUpdateAfter(long now)
    {
        long k = FloorDiv(now - _updateOriginNs, NsPerSecond) + 1;
        return _updateOriginNs + k * NsPerSecond;
    }

    private static long FloorDiv(long a, long b) => a >= 0 ? a / b : -((-a + b - 1) / b);

    /// <summary>Applies every once-a-second update between the last sync and <paramref name="now"/>.</summary>
    private void Sync(long now)
    {
        if (now <= _syncedNs) return;
        if (Updating)
        {
            long done = FloorDiv(_syncedNs - _updateOriginNs, NsPerSecond);
            long due = FloorDiv(now - _updateOriginNs, NsPerSecond);
            long count = due - done;
            if (count > 0) AdvanceSeconds(count);
        }
        _syncedNs = now;
    }

    private void AdvanceSeconds(long count)
    {
        const long Day = 86400;
        if (count > 3 * Day && !TryGetChipDate(out _))
        {
            // Out-of-range values written by the guest: a day of stepping carries every field back into range.
            StepSeconds(Day + 1);
            count -= Day + 1;
        }
        if (count > 2 * Day && TryGetChipDate(out var dt))
        {
            // Jump most of the way; the last day is stepped so a matching alarm is still seen.
            long jump = count - Day;
            var later = jump < (DateTime.MaxValue - dt).TotalSeconds - Day ? dt.AddSeconds(jump) : dt;
            long daysCrossed = (long)(later.Date - dt.Date).TotalDays;
            if (_dow is >= 1 and <= 7) _dow = (int)((_dow - 1 + daysCrossed) % 7) + 1;
            _sec = later.Second; _min = later.Minute; _hour = later.Hour;
            _day = later.Day; _month = later.Month; _year = later.Year % 100;
            count = Day;
        }
        StepSeconds(Math.Min(count, 2 * Day));
    }

    private void StepSeconds(long count)
    {
        for (long i = 0; i < count; i++)
        {
            StepOneSecond();
            _flags |= CUpdate;
            if (AlarmMatches()) _flags |= CAlarm;
        }
    }

    /// <summary>The registers as a date in 2000–2099 (the chip knows no century), if they form one.</summary>
    private bool TryGetChipDate(out DateTime dt)
    {
        dt = default;
        int year = 2000 + _year;
        if (_year > 99 || _month is < 1 or > 12 || _day < 1 || _day > DateTime.DaysInMonth(year, _month) ||
            _hour > 23 || _min > 59 || _sec > 59)
            return false;
        dt = new DateTime(year, _month, _day, _hour, _min, _sec, DateTimeKind.Unspecified);
        return true;
    }

    /// <summary>The chip's carry chain, tolerant of out-of-range values a guest may have written.</summary>
    private void StepOneSecond()
    {
        if (++_sec < 60) return;
        _sec = 0;
        if (++_min < 60) return;
        _min = 0;
        if (++_hour < 24) return;
        _hour = 0;
        _dow = _dow >= 7 || _dow < 1 ? 1 : _dow + 1;
        if (++_day <= DaysInMonth(_month, _year)) return;
        _day = 1;
        if (++_month <= 12) return;
        _month = 1;
        _year = (_year + 1) % 100;
    }

    // The MC146818 leap-year rule: years divisible by four (right for 1901–2099).
    private static int DaysInMonth(int month, int year) => month switch
    {
        2 => year % 4 == 0 ? 29 : 28,
        4 or 6 or 9 or 11 => 30,
        _ => 31,
    };

    private bool AlarmMatches() =>
        AlarmByteMatches(_ram[RegSecondsAlarm], Encode(_sec)) &&
        AlarmByteMatches(_ram[RegMinutesAlarm], Encode(_min)) &&
        AlarmByteMatches(_ram[RegHoursAlarm], EncodeHour(_hour));

    // 0xC0–0xFF in an alarm byte is "don't care" (datasheet, "Alarm").
    private static bool AlarmByteMatches(byte alarm, byte current) => (alarm & 0xC0) == 0xC0 || alarm == current;

    private bool TryGetDateTime(out DateTime dt)
    {
        dt = default;
        int century = FromBcd(_ram[RegCentury]);
        int year = century * 100 + _year;
        if (year < 1 || _month is < 1 or > 12 || _day < 1 || _day > DateTime.DaysInMonth(year, _month) ||
            _hour is < 0 or > 23 || _min is < 0 or > 59 || _sec is < 0 or > 59)
            return false;
        dt = new DateTime(year, _month, _day, _hour, _min, _sec, DateTimeKind.Unspecified);
        return true;
    }

    private bool Binary => (_regB & BBinary) != 0;

    private byte Encode(int value) => Binary ? (byte)value : ToBcd(value);
    private int Decode(byte value) => Binary ? value : FromBcd(value);

    private byte EncodeHour(int hour)
    {
        if ((_regB & B24Hour) != 0) return Encode(hour);
        int h12 = hour % 12 == 0 ? 12 : hour % 12;
        return (byte)(Encode(h12) | (hour >= 12 ? 0x80 : 0));
    }

    private int DecodeHour(byte value)
    {
        if ((_regB & B24Hour) != 0) return Decode(value);
        bool pm = (value & 0x80) != 0;
        int h12 = Decode((byte)(value & 0x7F));
        return (h12 % 12) + (pm ? 12 : 0);
    }

    private static byte ToBcd(int v) => (byte)((v / 10 % 10) << 4 | (v % 10));
    private static int FromBcd(byte v) => (v >> 4) * 10 + (v & 0xF);

    /// <summary>The periodic interrupt period in 32.768 kHz clocks (datasheet table 3), or 0 for none.</summary>
    private int PeriodClocks
    {
        get
        {
            int rs = _regA & 0x0F;
            if (rs == 0 || !Running) return 0;
            return rs <= 2 ? 1 << (rs + 6) : 1 << (rs - 1);
        }
    }

    private long PeriodIndex(long ns, int periodClocks)
    {
        long clocks = (long)((Int128)(ns - _dividerOriginNs) * DividerHz / NsPerSecond);
        return FloorDiv(clocks, periodClocks);
    }

    private long PeriodStartNs(long index, int periodClocks) =>
        _dividerOriginNs + (long)(((Int128)index * periodClocks * NsPerSecond + DividerHz - 1) / DividerHz);

    /// <summary>PF is set at every period whether or not PIE is on; account for periods passed since last looked.</summary>
    private void AccountPeriodic(long now)
    {
        int p = PeriodClocks;
        if (p != 0 && now > _periodicCheckedNs && PeriodIndex(now, p) > PeriodIndex(_periodicCheckedNs, p))
            _flags |= CPeriodic;
        if (now > _periodicCheckedNs) _periodicCheckedNs = now;
    }

    private void OnPeriodicTimer(long deadline)
    {
        long now = _clock.NowNs;
        Sync(now);
        AccountPeriodic(Math.Max(now, deadline));
        UpdateIrq();
        Reschedule(now);
    }

    private void OnUpdateTimer()
    {
        long now = _clock.NowNs;
        Sync(now);
        UpdateIrq();
        Reschedule(now);
    }

    /// <summary>Arms timers only for the interrupts that are enabled; flags for the others are computed when read.</summary>
    private void Reschedule(long now)
    {
        int p = PeriodClocks;
        if (p != 0 && (_regB & BPeriodicIe) != 0)
            _periodicTimer.Arm(PeriodStartNs(PeriodIndex(now, p) + 1, p));
        else
            _periodicTimer.Cancel();

        if (Updating && (_regB & (BUpdateIe | BAlarmIe)) != 0)
            _updateTimer.Arm(NextUpdateAfter(now));
        else
            _updateTimer.Cancel();
    }

    private void UpdateIrq()
    {
        bool level = (_flags & _regB & (BPeriodicIe | BAlarmIe | BUpdateIe)) != 0;
        if (level == _irqLevel) return;
        _irqLevel = level;
        _irq.Set(level);
    }
}
