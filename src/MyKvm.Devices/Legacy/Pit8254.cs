using MyKvm.Core;

namespace MyKvm.Devices.Legacy;

/// <summary>
/// The Intel 8254 programmable interval timer at ports 0x40–0x43: three 16-bit down counters clocked at
/// 1.193182 MHz, modes 0–5, binary or BCD counting, LSB/MSB/both access, counter latch and read-back
/// commands, null-count and output status. The counters are not ticked: each one's value and OUT level are
/// computed from <see cref="IClock.NowNs"/>, and channel 0's OUT transitions are scheduled as
/// <see cref="TimerQueue"/> deadlines to drive IRQ 0. Channel 1 (DRAM refresh) counts but drives nothing;
/// channel 2's gate and output are reached through port 0x61, <see cref="Port61"/>.
/// <para>
/// Like QEMU (and a PC after its BIOS), all three channels start in mode 3 with count 65536, so channel 0
/// produces the 18.2 Hz tick before a guest reprograms it.
/// </para>
/// Register: <c>io.Register(0x40, 4, pit)</c> and <c>io.Register(0x61, 1, pit.Port61)</c>.
/// </summary>
public sealed class Pit8254 : IPortDevice
{
    public const long FrequencyHz = 1_193_182;
    private const long NsPerSecond = 1_000_000_000;
    /// <summary>When the machine falls this far behind an IRQ 0 transition, it catches up to now at once (ticks are lost).</summary>
    private const long MaxCatchUpTicks = 1 << 16;

    private readonly IIrqLine _irq0;
    private readonly IClock _clock;
    private readonly DeviceTimer _irqTimer;
    private readonly Channel[] _channels = new Channel[3];
    private bool _irqLevel;
    private long _scheduledTick;
    private bool _scheduledRising;

    public Pit8254(IIrqLine irq0, TimerQueue timers)
    {
        ArgumentNullException.ThrowIfNull(irq0);
        ArgumentNullException.ThrowIfNull(timers);
        _irq0 = irq0;
        _clock = timers.Clock;
        _irqTimer = timers.Create("pit-ch0", _ => OnIrqTimer());
        for (int i = 0; i < 3; i++)
            _channels[i] = new Channel(gate: i != 2);
        long now = NowTick;
        foreach (var ch in _channels) ch.PowerOn(now);
        Port61 = new SystemControlPortB(this, _clock);
        ScheduleIrq();
    }

    /// <summary>System control port B (0x61): channel 2 gate and output, speaker enable, refresh toggle.</summary>
    public SystemControlPortB Port61 { get; }

    /// <summary>The OUT pin of a channel now.</summary>
    public bool GetOutput(int channel)
    {
        long t = NowTick;
        var ch = _channels[channel];
        ch.Normalize(t);
        return ch.Out(t);
    }

    /// <summary>The GATE input of a channel (channels 0 and 1 are tied high on a PC).</summary>
    public bool GetGate(int channel) => _channels[channel].Gate;

    /// <summary>Drives a channel's GATE input (channel 2 through port 0x61).</summary>
    public void SetGate(int channel, bool level)
    {
        _channels[channel].SetGate(level, NowTick);
        if (channel == 0) ScheduleIrq();
    }

    /// <summary>The reload value a channel is counting with, 1–65536 (or 1–10000 in BCD); 0 before one is written.</summary>
    public int GetInitialCount(int channel) => (int)_channels[channel].N;

    public int GetMode(int channel) => _channels[channel].Mode;

    internal long NowTick => TicksAt(_clock.NowNs);

    internal static long TicksAt(long ns) => (long)((Int128)ns * FrequencyHz / NsPerSecond);

    /// <summary>The first nanosecond at which the counter has seen <paramref name="tick"/> clock pulses.</summary>
    internal static long NsAt(long tick) => (long)(((Int128)tick * NsPerSecond + FrequencyHz - 1) / FrequencyHz);

    public uint PortRead(ushort port, int size)
    {
        int index = port & 3;
        if (index == 3) return 0xFF;   // the control word register cannot be read
        return _channels[index].Read(NowTick);
    }

    public void PortWrite(ushort port, int size, uint value)
    {
        int index = port & 3;
        byte b = (byte)value;
        long t = NowTick;
        if (index < 3)
        {
            _channels[index].WriteCount(b, t);
            if (index == 0) ScheduleIrq();
            return;
        }
        int sc = b >> 6;
        if (sc == 3)
        {
            // Read-back command (8254 datasheet, "Read-Back Command"): bit 5 clear latches counts, bit 4 clear
            // latches status, bits 1–3 select counters 0–2.
            for (int i = 0; i < 3; i++)
            {
                if ((b & (2 << i)) == 0) continue;
                if ((b & 0x10) == 0) _channels[i].LatchStatus(t);
                if ((b & 0x20) == 0) _channels[i].LatchCount(t);
            }
            return;
        }
        if ((b & 0x30) == 0) _channels[sc].LatchCount(t);
        else
        {
            _channels[sc].WriteControl(b, t);
            if (sc == 0) ScheduleIrq();
        }
    }

    /// <summary>Puts IRQ 0 at channel 0's OUT level now and arms the timer for its next transition.</summary>
    private void ScheduleIrq()
    {
        long t = NowTick;
        var ch = _channels[0];
        ch.Normalize(t);
        SetIrq(ch.Out(t));
        ArmNext(t);
    }

    private void ArmNext(long fromTick)
    {
        var ch = _channels[0];
        long next = ch.NextTransition(fromTick);
        if (next == long.MaxValue)
        {
            _irqTimer.Cancel();
            return;
        }
        _scheduledTick = next;
        _scheduledRising = !ch.Out(fromTick);
        _irqTimer.Arm(NsAt(next));
    }

    private void OnIrqTimer()
    {
        long now = NowTick;
        var ch = _channels[0];
        // Normally the run loop fires this at the deadline. In real-time mode a port access may already have
        // moved the channel past it; and a machine that fell far behind continues from now rather than
        // replaying every edge (those interrupts are lost, as on a PC that kept interrupts off too long).
        bool farBehind = now - _scheduledTick > MaxCatchUpTicks;
        long from = farBehind ? now : Math.Max(_scheduledTick, ch.NormalizedTick);
        ch.Normalize(from);
        // A rising edge happened if the scheduled transition was one, or if the transition after it (the
        // scheduled one was falling) also lies behind us; far behind, some surely did.
        bool rose = _scheduledRising || farBehind ||
                    (from > _scheduledTick && ch.NextTransition(_scheduledTick) <= from);
        if (rose)
        {
            // Deliver the edge even if the low phase in between was missed (mode 2's one-tick pulse).
            if (_irqLevel) SetIrq(false);
            SetIrq(true);
        }
        SetIrq(ch.Out(from));
        ArmNext(from);
    }

    private void SetIrq(bool level)
    {
        if (level == _irqLevel) return;
        _irqLevel = level;
        _irq0.Set(level);
    }

    /// <summary>One counter.</summary>
    private sealed class Channel(bool gate)
    {
        public int Mode;
        private bool _bcd;
        private int _access;            // 1: LSB, 2: MSB, 3: LSB then MSB
        private int _countRegister;     // CR: the raw 16-bit value last written
        private bool _nullCount;
        private bool _writeMsbNext;
        private byte _writeLsb;
        private bool _readMsbNext;

        private bool _countLatched, _latchMsbNext;
        private int _latchedCount;
        private bool _statusLatched;
        private byte _latchedStatus;

        public bool Gate = gate;

        /// <summary>The count being used (1..65536 or 1..10000); 0 before the first load.</summary>
        public long N;
        /// <summary>True once a count is loaded and (modes 1 and 5) the gate has triggered.</summary>
        private bool _armed;
        /// <summary>Modes 1 and 5: a count is loaded and waiting for a gate trigger.</summary>
        private bool _waitingForTrigger;
        /// <summary>OUT level while not armed (mode 0: low, others: high).</summary>
        private bool _idleOut = true;
        private bool _running;
        private long _runningSince, _elapsedBase;
        private long _pendingCount = -1, _switchTick;   // modes 2 and 3: count written while counting
        public long NormalizedTick { get; private set; }

        private long Modulus => _bcd ? 10000 : 65536;

        public void PowerOn(long t)
        {
            Mode = 3;
            _access = 3;
            _countRegister = 0;
            Load(t);
        }

        private long Decode(int raw)
        {
            long v = _bcd
                ? ((raw >> 12) & 0xF) * 1000 + ((raw >> 8) & 0xF) * 100 + ((raw >> 4) & 0xF) * 10 + (raw & 0xF)
                : raw;
            return v == 0 ? Modulus : v;
        }

        private int Encode(long value)
        {
            value %= Modulus;
            if (!_bcd) return (int)value;
            return (int)((value / 1000 % 10) << 12 | (value / 100 % 10) << 8 | (value / 10 % 10) << 4 | (value % 10));
        }

        private long Elapsed(long t) => _elapsedBase + (_running ? Math.Max(0, t - _runningSince) : 0);

        /// <summary>Applies a pending mode 2/3 reload once the current period has ended.</summary>
        public void Normalize(long t)
        {
            if (_pendingCount >= 0 && _running && t >= _switchTick)
            {
                N = _pendingCount;
                _pendingCount = -1;
                _runningSince = _switchTick;
                _elapsedBase = 0;
                _nullCount = false;
            }
            if (t > NormalizedTick) NormalizedTick = t;
        }

        /// <summary>CR → CE: counting starts over with the written count.</summary>
        private void Load(long t)
        {
            N = Decode(_countRegister);
            _pendingCount = -1;
            _nullCount = false;
            _elapsedBase = 0;
            _runningSince = t;
            if (Mode is 1 or 5)
            {
                // Loaded only by a gate trigger.
                _armed = false;
                _waitingForTrigger = true;
                _nullCount = true;
                _running = false;
                return;
            }
            _armed = true;
            _running = Gate;
        }

        public void WriteControl(byte b, long t)
        {
            int access = (b >> 4) & 3;
            int mode = (b >> 1) & 7;
            if (mode >= 6) mode -= 4;   // modes 6 and 7 are 2 and 3
            Mode = mode;
            _access = access;
            _bcd = (b & 1) != 0;
            _writeMsbNext = false;
            _readMsbNext = false;
            _countLatched = false;
            _statusLatched = false;
            _nullCount = true;
            _armed = false;
            _waitingForTrigger = false;
            _running = false;
            _pendingCount = -1;
            N = 0;
            // "When a Control Word is written to a Counter ... OUT goes to a known initial state": low in mode 0.
            _idleOut = mode != 0;
            Normalize(t);
        }

        public void WriteCount(byte b, long t)
        {
            Normalize(t);
            switch (_access)
            {
                case 1:
                    _countRegister = b;
                    break;
                case 2:
                    _countRegister = b << 8;
                    break;
                default:
                    if (!_writeMsbNext)
                    {
                        _writeLsb = b;
                        _writeMsbNext = true;
                        if (Mode == 0)
                        {
                            // Mode 0: writing the first byte stops counting and sets OUT low at once.
                            _armed = false;
                            _running = false;
                            _idleOut = false;
                        }
                        return;
                    }
                    _writeMsbNext = false;
                    _countRegister = _writeLsb | (b << 8);
                    break;
            }
            _nullCount = true;
            switch (Mode)
            {
                case 0:
                case 4:
                    Load(t);
                    break;
                case 1:
                case 5:
                    // Takes effect at the next trigger; a counter already running keeps counting.
                    if (!_armed) _waitingForTrigger = true;
                    break;
                default:
                    if (_armed && _running)
                    {
                        // Modes 2 and 3: a new count takes effect when the current period ends.
                        long e = Elapsed(t);
                        _pendingCount = Decode(_countRegister);
                        _switchTick = _runningSince + (e / N + 1) * N;
                    }
                    else if (!_armed || N == 0)
                    {
                        Load(t);
                    }
                    break;
            }
        }

        public void SetGate(bool level, long t)
        {
            Normalize(t);
            bool rising = level && !Gate;
            bool falling = !level && Gate;
            Gate = level;
            switch (Mode)
            {
                case 0:
                case 4:
                    // Gate low suspends counting; high resumes it.
                    if (!_armed) break;
                    if (falling) { _elapsedBase = Elapsed(t); _running = false; }
                    if (rising) { _runningSince = t; _running = true; }
                    break;
                case 1:
                case 5:
                    // A rising gate (re)triggers: the count register is loaded and counting starts.
                    if (rising && (_waitingForTrigger || _armed))
                    {
                        N = Decode(_countRegister);
                        _armed = true;
                        _waitingForTrigger = false;
                        _nullCount = false;
                        _elapsedBase = 0;
                        _runningSince = t;
                        _running = true;
                    }
                    break;
                default:
                    // Modes 2 and 3: gate low forces OUT high and stops; the rising edge reloads.
                    if (!_armed) break;
                    if (falling) { _elapsedBase = Elapsed(t); _running = false; }
                    if (rising)
                    {
                        N = Decode(_countRegister);
                        _pendingCount = -1;
                        _nullCount = false;
                        _elapsedBase = 0;
                        _runningSince = t;
                        _running = true;
                    }
                    break;
            }
        }

        /// <summary>The counting element's value at tick <paramref name="t"/>, 0..modulus-1.</summary>
        private long CounterValue(long t)
        {
            if (!_armed) return Decode(_countRegister) % Modulus;
            long e = Elapsed(t);
            switch (Mode)
            {
                case 2:
                    return (N - e % N) % Modulus;
                case 3:
                {
                    long p = e % N;
                    long high = (N + 1) / 2;
                    if (N % 2 == 0) return (p < high ? N - 2 * p : N - 2 * (p - high)) % Modulus;
                    // Odd counts load N-1 and count down by two; the high half is one clock longer.
                    return p < high ? Math.Max(0, N - 1 - 2 * p) : Math.Max(0, N - 1 - 2 * (p - high));
                }
                default:
                    return ((N - e) % Modulus + Modulus) % Modulus;
            }
        }

        public bool Out(long t)
        {
            if (!_armed) return _idleOut;
            long e = Elapsed(t);
            switch (Mode)
            {
                case 0:
                case 1:
                    return e >= N;
                case 2:
                    if (!_running) return true;
                    return e % N != N - 1;
                case 3:
                    if (!_running) return true;
                    return e % N < (N + 1) / 2;
                default: // 4 and 5: one clock low when the count reaches zero
                    return e != N;
            }
        }

        /// <summary>The first tick after <paramref name="t"/> at which OUT changes, or <see cref="long.MaxValue"/>.</summary>
        public long NextTransition(long t)
        {
            if (!_armed || !_running) return long.MaxValue;
            long e = Elapsed(t);
            switch (Mode)
            {
                case 0:
                case 1:
                    return e < N ? t + (N - e) : long.MaxValue;
                case 2:
                {
                    if (N < 2) return long.MaxValue;
                    long p = e % N;
                    return p < N - 1 ? t + (N - 1 - p) : t + 1;
                }
                case 3:
                {
                    if (N < 2) return long.MaxValue;
                    long p = e % N;
                    long high = (N + 1) / 2;
                    return p < high ? t + (high - p) : t + (N - p);
                }
                default:
                    if (e < N) return t + (N - e);
                    return e == N ? t + 1 : long.MaxValue;
            }
        }

        public void LatchCount(long t)
        {
            if (_countLatched) return;   // a second latch before the read is ignored
            Normalize(t);
            _latchedCount = Encode(CounterValue(t));
            _countLatched = true;
            _latchMsbNext = _access == 2;
        }

        public void LatchStatus(long t)
        {
            if (_statusLatched) return;
            Normalize(t);
            _latchedStatus = (byte)((Out(t) ? 0x80 : 0) | (_nullCount ? 0x40 : 0) | (_access << 4) | (Mode << 1) | (_bcd ? 1 : 0));
            _statusLatched = true;
        }

        public byte Read(long t)
        {
            if (_statusLatched)
            {
                _statusLatched = false;
                return _latchedStatus;
            }
            if (_countLatched)
            {
                byte b = _latchMsbNext ? (byte)(_latchedCount >> 8) : (byte)_latchedCount;
                if (_access == 3 && !_latchMsbNext) _latchMsbNext = true;
                else _countLatched = false;
                return b;
            }
            Normalize(t);
            int value = Encode(CounterValue(t));
            switch (_access)
            {
                case 1: return (byte)value;
                case 2: return (byte)(value >> 8);
                default:
                    byte r = _readMsbNext ? (byte)(value >> 8) : (byte)value;
                    _readMsbNext = !_readMsbNext;
                    return r;
            }
        }
    }
}

/// <summary>
/// PC/AT system control port B at 0x61. Bit 0: timer 2 gate; bit 1: speaker data enable; bits 2–3: parity and
/// channel-check enables (stored); reads add bit 4, the DRAM refresh toggle (flips every 15.085 µs, which
/// some kernels and BIOSes use as a delay loop), and bit 5, timer 2's OUT (Linux's PIT TSC calibration polls it).
/// </summary>
public sealed class SystemControlPortB : IPortDevice
{
    private const long RefreshHalfPeriodNs = 15_085;
    private readonly Pit8254 _pit;
    private readonly IClock _clock;
    private byte _value;

    internal SystemControlPortB(Pit8254 pit, IClock clock)
    {
        _pit = pit;
        _clock = clock;
    }

    /// <summary>True while the PC speaker sounds channel 2's square wave (gate and data enable both set).</summary>
    public bool SpeakerOn => (_value & 3) == 3;

    public uint PortRead(ushort port, int size)
    {
        int v = _value & 0x0F;
        if ((_clock.NowNs / RefreshHalfPeriodNs & 1) != 0) v |= 0x10;
        if (_pit.GetOutput(2)) v |= 0x20;
        return (uint)v;
    }

    public void PortWrite(ushort port, int size, uint value)
    {
        _value = (byte)(value & 0x0F);
        _pit.SetGate(2, (value & 1) != 0);
    }
}
