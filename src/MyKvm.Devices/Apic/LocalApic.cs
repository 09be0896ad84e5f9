using System.Numerics;
using MyKvm.Core;

namespace MyKvm.Devices.Apic;

/// <summary>An IPI the local APIC sent through its ICR.</summary>
public readonly record struct IpiRecord(ApicDeliveryMode Mode, byte Vector, int Shorthand, bool LogicalDestination, byte Destination, bool Level, bool Assert);

/// <summary>
/// The xAPIC local APIC (Intel SDM Vol. 3A chapter 10) at 0xFEE00000, and the interrupt controller the CPU
/// acknowledges: <see cref="CpuSignals.Controller"/> is this object and it drives <see cref="CpuSignals.Intr"/>.
/// <para>
/// It wraps the 8259 pair (any <see cref="IInterruptController"/>): while the APIC is globally disabled
/// (IA32_APIC_BASE.EN = 0) or software disabled (SVR bit 8 = 0, the state after reset) the 8259's INTR passes
/// straight through, as the LINT0 pin does in virtual-wire mode (MP spec §3.6.2.2); once software enables
/// the APIC, the 8259 reaches the CPU only if LVT LINT0 is unmasked with delivery mode ExtINT, which is how reset
/// leaves it (the virtual-wire setup a BIOS would make). Tell the APIC when the 8259's output changes through
/// <see cref="Lint0"/> (or <see cref="FollowPic"/>).
/// </para>
/// <para>
/// Implemented: ID, version, TPR (and CR8 through <see cref="Cr8"/>), APR/PPR, EOI (with the broadcast to I/O APICs
/// for level-triggered vectors), LDR/DFR (flat and cluster logical destinations), SVR, ISR/TMR/IRR, ESR, ICR
/// (fixed, NMI, INIT, SIPI; self-IPIs are delivered, IPIs to other CPUs go to the <see cref="ApicBus"/> and are
/// recorded in <see cref="SentIpis"/>), the LVT (timer, thermal, perf, LINT0, LINT1, error) and the timer in
/// one-shot, periodic and TSC-deadline modes, counting at <see cref="BusFrequencyHz"/> divided by the divide
/// configuration. Time comes from the machine clock through the <see cref="TimerQueue"/>.
/// </para>
/// </summary>
public sealed class LocalApic : IMmioDevice, ILocalInterruptController
{
    public const ulong DefaultBase = 0xFEE0_0000;
    public const ulong MmioSize = 0x1000;
    public const uint VersionValue = 0x0005_0014;   // integrated APIC, version 14h, 6 LVT entries (max LVT index 5)
    public const uint MsrApicBase = 0x1B, MsrTscDeadline = 0x6E0;

    private const uint LvtMasked = 1u << 16;
    private const int LvtTimer = 0, LvtThermal = 1, LvtPerf = 2, LvtLint0 = 3, LvtLint1 = 4, LvtError = 5;
    private const uint SvrEnable = 0x100;
    private const ulong ApicBaseEnable = 0x800, ApicBaseBsp = 0x100;

    private readonly CpuSignals _signals;
    private readonly ApicBus _bus;
    private readonly IClock _clock;
    private readonly DeviceTimer _timer;
    private IInterruptController? _pic;

    private readonly uint[] _irr = new uint[8], _isr = new uint[8], _tmr = new uint[8];
    private readonly uint[] _lvt = new uint[6];
    private uint _id, _tpr, _ldr, _dfr, _svr, _esr, _esrPending, _icrLow, _icrHigh;
    private uint _initialCount, _divideConfig;
    private long _timerStartNs;
    private bool _timerCounting;
    private ulong _tscDeadline;
    private ulong _apicBase;
    private bool _lint0Level, _lint1Level, _extIntRequested, _intrOut;
    private readonly List<IpiRecord> _sentIpis = [];

    /// <param name="signals">The vCPU's signals; this APIC becomes their <see cref="CpuSignals.Controller"/>.</param>
    /// <param name="timers">The machine's timer queue (its clock is the APIC timer's time base).</param>
    /// <param name="bus">The APIC bus shared with the I/O APIC.</param>
    /// <param name="pic">The 8259 pair, for ExtINT; null if there is none.</param>
    /// <param name="apicId">This CPU's APIC ID (0 for the bootstrap processor).</param>
    public LocalApic(CpuSignals signals, TimerQueue timers, ApicBus bus, IInterruptController? pic = null, byte apicId = 0, bool bootstrapProcessor = true)
    {
        _signals = signals;
        _bus = bus;
        _clock = timers.Clock;
        _pic = pic;
        _timer = timers.Create($"lapic{apicId}", OnTimer);
        IsBootstrapProcessor = bootstrapProcessor;
        _apicBase = DefaultBase | ApicBaseEnable | (bootstrapProcessor ? ApicBaseBsp : 0);
        _id = (uint)apicId << 24;
        Reset();
        signals.Controller = this;
        bus.Attach(this);
    }

    /// <summary>APIC timer input clock before the divider (QEMU's is 1 GHz too; guests calibrate against the PIT).</summary>
    public long BusFrequencyHz { get; init; } = 1_000_000_000;

    /// <summary>The TSC rate used for TSC-deadline mode: TSC = ns × rate / 10⁹. RDTSC must use the same conversion.</summary>
    public long TscFrequencyHz { get; init; } = 1_000_000_000;

    public bool IsBootstrapProcessor { get; }
    public byte Id => (byte)(_id >> 24);
    public bool GloballyEnabled => (_apicBase & ApicBaseEnable) != 0;
    public bool SoftwareEnabled => (_svr & SvrEnable) != 0;
    private bool Enabled => GloballyEnabled && SoftwareEnabled;

    /// <summary>IPIs sent through the ICR, newest last (at most 64).</summary>
    public IReadOnlyList<IpiRecord> SentIpis => _sentIpis;
    /// <summary>Raised for every IPI sent through the ICR (the SMP machine starts APs on INIT/SIPI).</summary>
    public event Action<IpiRecord>? IpiSent;
    /// <summary>The vector of the last start-up IPI this APIC received (an AP waiting for SIPI), or null.</summary>
    public byte? ReceivedStartupVector { get; private set; }

    /// <summary>The 8259's INTR output as seen on LINT0 (drive it from the PIC; see <see cref="FollowPic"/>).</summary>
    public IIrqLine Lint0 => new LintPin(this, 0);
    /// <summary>The LINT1 pin (wired to NMI sources on a PC).</summary>
    public IIrqLine Lint1 => new LintPin(this, 1);

    /// <summary>
    /// Connects an 8259 that reports its INT output only by raising <paramref name="picSignals"/> (its own
    /// <see cref="CpuSignals"/> object). That shows rising edges only; a falling output is noticed at the next APIC
    /// event or <see cref="RefreshPic"/>. For <c>Pic8259Pair</c> prefer its <c>OutputChanged</c> event driving
    /// <see cref="Lint0"/>, as <see cref="PcInterruptSystem"/> does.
    /// </summary>
    public void FollowPic(IInterruptController pic, CpuSignals picSignals)
    {
        _pic = pic;
        picSignals.Kick = () => Lint0.Set((picSignals.Flags & CpuSignals.Intr) != 0);
        picSignals.Controller = pic;
        UpdateIntr();
    }

    /// <summary>Re-reads the 8259's output (call after anything that may have lowered it: its ports, its IRQ inputs).</summary>
    public void RefreshPic() => UpdateIntr();

    // ------------------------------------------------------------------ CPU side

    /// <summary>CR8 is TPR[7:4] (SDM Vol. 3A §10.8.6.1).</summary>
    public ulong Cr8
    {
        get => _tpr >> 4;
        set
        {
            _tpr = (uint)(value & 0xF) << 4;
            UpdateIntr();
        }
    }

    public byte TaskPriority => (byte)_tpr;

    public bool OwnsMsr(uint msr) => msr is MsrApicBase or MsrTscDeadline;

    public ulong ReadMsr(uint msr) => TryReadMsr(msr, out ulong v) ? v : 0;

    public bool WriteMsr(uint msr, ulong value) => TryWriteMsr(msr, value);

    /// <summary>Handles RDMSR of IA32_APIC_BASE and IA32_TSC_DEADLINE; false for other MSRs.</summary>
    public bool TryReadMsr(uint msr, out ulong value)
    {
        switch (msr)
        {
            case MsrApicBase: value = _apicBase; return true;
            case MsrTscDeadline: value = TimerMode == 2 ? _tscDeadline : 0; return true;
            default: value = 0; return false;
        }
    }

    /// <summary>Handles WRMSR; false means the write is not valid (the CPU raises #GP).</summary>
    public bool TryWriteMsr(uint msr, ulong value)
    {
        switch (msr)
        {
            case MsrApicBase:
                // Bits 0-7, 9, 10 (x2APIC, not offered) and above the 36-bit physical address are reserved.
                if ((value & 0xFFFF_FFF0_0000_06FFUL) != 0) return false;
                bool wasEnabled = GloballyEnabled;
                // The MMIO window stays at 0xFEE00000; moving it is recorded but not acted on.
                _apicBase = (value & ~ApicBaseBsp) | (IsBootstrapProcessor ? ApicBaseBsp : 0);
                // Globally disabling the APIC returns it to its power-up state (SDM Vol. 3A §10.4.3).
                if (wasEnabled && !GloballyEnabled) Reset();
                UpdateIntr();
                return true;
            case MsrTscDeadline:
                // Writes are ignored unless the timer is in TSC-deadline mode (§10.5.4.1).
                if (TimerMode != 2) return true;
                _tscDeadline = value;
                ArmTscDeadline();
                return true;
            default:
                return false;
        }
    }

    /// <summary>The APIC's power-up / INIT state (SDM Vol. 3A §10.4.7.1), apart from the APIC ID.</summary>
    public void Reset()
    {
        Array.Clear(_irr);
        Array.Clear(_isr);
        Array.Clear(_tmr);
        for (int i = 0; i < _lvt.Length; i++) _lvt[i] = LvtMasked;
        // The virtual-wire setup a PC BIOS leaves (MP spec §3.6.2.2): LINT0 ExtINT, LINT1 NMI.
        if (IsBootstrapProcessor)
        {
            _lvt[LvtLint0] = (uint)ApicDeliveryMode.ExtInt << 8;
            _lvt[LvtLint1] = (uint)ApicDeliveryMode.Nmi << 8;
        }
        _tpr = _ldr = _esr = _esrPending = _icrLow = _icrHigh = 0;
        _dfr = 0xFFFF_FFFF;
        _svr = 0xFF;
        _initialCount = _divideConfig = 0;
        _timerCounting = false;
        _tscDeadline = 0;
        _extIntRequested = false;
        _timer.Cancel();
        UpdateIntr();
    }

    public bool InterruptPending
    {
        get
        {
            if (_pic is not null && (PicPassesThrough || _extIntRequested) && _pic.InterruptPending) return true;
            return Enabled && HighestDeliverable() >= 0;
        }
    }

    /// <summary>The INTA cycle: the 8259's vector for ExtINT, else the highest deliverable IRR vector moves to ISR.</summary>
    public byte Acknowledge()
    {
        byte vector;
        if (_pic is not null && (PicPassesThrough || _extIntRequested) && _pic.InterruptPending)
        {
            _extIntRequested = false;
            vector = _pic.Acknowledge();
        }
        else if (Enabled && HighestDeliverable() is int v and >= 0)
        {
            Clear(_irr, v);
            Set(_isr, v);
            vector = (byte)v;
        }
        else if (_pic is not null && PicPassesThrough)
            vector = _pic.Acknowledge(); // INTR went away before INTA: the 8259 answers with its spurious IRQ 7 vector
        else
            vector = (byte)_svr;         // spurious-interrupt vector (§10.9); no ISR bit, no EOI
        UpdateIntr();
        return vector;
    }

    private bool PicPassesThrough
    {
        get
        {
            if (!Enabled) return true;
            uint lint0 = _lvt[LvtLint0];
            return (lint0 & LvtMasked) == 0 && (ApicDeliveryMode)((lint0 >> 8) & 7) == ApicDeliveryMode.ExtInt;
        }
    }

    private void UpdateIntr()
    {
        bool pending = InterruptPending;
        if (pending == _intrOut && pending == ((_signals.Flags & CpuSignals.Intr) != 0)) return;
        _intrOut = pending;
        if (pending) _signals.Raise(CpuSignals.Intr);
        else _signals.Clear(CpuSignals.Intr);
    }

    // ------------------------------------------------------------------ priority logic (§10.8.3)

    private static int Highest(uint[] bits)
    {
        for (int i = 7; i >= 0; i--)
            if (bits[i] != 0) return i * 32 + 31 - BitOperations.LeadingZeroCount(bits[i]);
        return -1;
    }

    private static void Set(uint[] bits, int v) => bits[v >> 5] |= 1u << (v & 31);
    private static void Clear(uint[] bits, int v) => bits[v >> 5] &= ~(1u << (v & 31));
    private static bool Test(uint[] bits, int v) => (bits[v >> 5] & (1u << (v & 31))) != 0;

    private uint ProcessorPriority
    {
        get
        {
            int isrv = Math.Max(Highest(_isr), 0);
            return (_tpr >> 4) >= (uint)(isrv >> 4) ? _tpr : (uint)isrv & 0xF0;
        }
    }

    private int HighestDeliverable()
    {
        int irrv = Highest(_irr);
        if (irrv < 0) return -1;
        return (irrv & 0xF0) > (ProcessorPriority & 0xF0) ? irrv : -1;
    }

    // ------------------------------------------------------------------ message acceptance

    internal bool IsDestination(byte destination, bool logical)
    {
        if (!logical) return destination == 0xFF || destination == Id;
        if (destination == 0xFF) return true;
        byte ldr = (byte)(_ldr >> 24);
        if ((_dfr >> 28) == 0xF) return (ldr & destination) != 0;           // flat model
        return (ldr >> 4) == (destination >> 4) && (ldr & destination & 0xF) != 0; // cluster model
    }

    /// <summary>A message from the APIC bus (I/O APIC or an IPI).</summary>
    public void Accept(in ApicMessage message)
    {
        switch (message.Mode)
        {
            case ApicDeliveryMode.Fixed or ApicDeliveryMode.LowestPriority:
                AcceptFixed(message.Vector, message.LevelTriggered);
                break;
            case ApicDeliveryMode.Nmi:
                _signals.Raise(CpuSignals.Nmi);
                break;
            case ApicDeliveryMode.Init:
                if (!message.Assert && message.LevelTriggered) break; // INIT level de-assert: arbitration IDs only
                _signals.Raise(CpuSignals.Init);
                break;
            case ApicDeliveryMode.StartUp:
                ReceivedStartupVector = message.Vector;
                break;
            case ApicDeliveryMode.ExtInt:
                _extIntRequested = true;
                UpdateIntr();
                break;
        }
    }

    private void AcceptFixed(byte vector, bool level)
    {
        if (vector < 16)
        {
            _esrPending |= 0x40; // received illegal vector (§10.5.3)
            SignalError();
            return;
        }
        Set(_irr, vector);
        if (level) Set(_tmr, vector); else Clear(_tmr, vector);
        UpdateIntr();
    }

    private void SignalError()
    {
        uint lvt = _lvt[LvtError];
        if ((lvt & LvtMasked) == 0 && (byte)lvt >= 16) Set(_irr, (byte)lvt);
        UpdateIntr();
    }

    private void SetLint(int pin, bool level)
    {
        ref bool old = ref pin == 0 ? ref _lint0Level : ref _lint1Level;
        bool rising = level && !old;
        old = level;
        uint lvt = _lvt[pin == 0 ? LvtLint0 : LvtLint1];
        var mode = (ApicDeliveryMode)((lvt >> 8) & 7);
        if (Enabled && (lvt & LvtMasked) == 0 && rising)
        {
            if (mode == ApicDeliveryMode.Fixed) AcceptFixed((byte)lvt, level: false);
            else if (mode == ApicDeliveryMode.Nmi) _signals.Raise(CpuSignals.Nmi);
        }
        else if (pin == 1 && !Enabled && rising)
            _signals.Raise(CpuSignals.Nmi); // with the APIC off, LINT1 is the NMI pin
        UpdateIntr(); // ExtINT pass-through follows the level
    }

    private sealed class LintPin(LocalApic apic, int pin) : IIrqLine
    {
        public void Set(bool level) => apic.SetLint(pin, level);
    }

    // ------------------------------------------------------------------ registers (§10.4.1, table 10-1)

    public ulong MmioRead(ulong offset, int size)
    {
        if (size == 8) return MmioRead(offset, 4) | (MmioRead(offset + 4, 4) << 32);
        uint reg = (uint)offset & 0xFF0;
        int byteInReg = (int)(offset & 0xF);
        if (byteInReg >= 4) return 0;
        return ReadRegister(reg) >> (8 * byteInReg);
    }

    public void MmioWrite(ulong offset, int size, ulong value)
    {
        if (size == 8)
        {
            MmioWrite(offset, 4, (uint)value);
            return;
        }
        // Registers are only defined for aligned 32-bit accesses (§10.4.1); others land in the low bytes.
        if ((offset & 0xF) != 0) return;
        WriteRegister((uint)offset & 0xFF0, (uint)value);
    }

    public uint ReadRegister(uint reg)
    {
        switch (reg)
        {
            case 0x020: return _id;
            case 0x030: return VersionValue;
            case 0x080: return _tpr;
            case 0x090: return 0; // arbitration priority: not meaningful on a system bus APIC
            case 0x0A0: return ProcessorPriority;
            case 0x0B0: return 0; // EOI is write-only
            case 0x0D0: return _ldr;
            case 0x0E0: return _dfr;
            case 0x0F0: return _svr;
            case >= 0x100 and <= 0x170: return _isr[(reg - 0x100) >> 4];
            case >= 0x180 and <= 0x1F0: return _tmr[(reg - 0x180) >> 4];
            case >= 0x200 and <= 0x270: return _irr[(reg - 0x200) >> 4];
            case 0x280: return _esr;
            case 0x300: return _icrLow; // delivery status (bit 12) is always idle: delivery is immediate
            case 0x310: return _icrHigh;
            case >= 0x320 and <= 0x370: return _lvt[(reg - 0x320) >> 4];
            case 0x380: return _initialCount;
            case 0x390: return CurrentCount();
            case 0x3E0: return _divideConfig;
            default:
                _esrPending |= 0x80; // illegal register address
                return 0;
        }
    }

    public void WriteRegister(uint reg, uint value)
    {
        switch (reg)
        {
            case 0x020: _id = value & 0xFF00_0000; break;
            case 0x080: _tpr = value & 0xFF; UpdateIntr(); break;
            case 0x0B0: EndOfInterrupt(); break;
            case 0x0D0: _ldr = value & 0xFF00_0000; break;
            case 0x0E0: _dfr = value | 0x0FFF_FFFF; break;
            case 0x0F0: WriteSvr(value); break;
            case 0x280:
                // A write latches the errors collected since the last write (§10.5.3).
                _esr = _esrPending;
                _esrPending = 0;
                break;
            case 0x300:
                _icrLow = value & 0x000C_CFFF;
                SendIpi();
                break;
            case 0x310: _icrHigh = value & 0xFF00_0000; break;
            case >= 0x320 and <= 0x370: WriteLvt((int)(reg - 0x320) >> 4, value); break;
            case 0x380:
                if (TimerMode == 2) break; // ignored in TSC-deadline mode (§10.5.4.1)
                _initialCount = value;
                StartCount();
                break;
            case 0x3E0: WriteDivide(value & 0xB); break;
            case 0x030 or 0x090 or 0x0A0 or 0x390 or (>= 0x100 and <= 0x270):
                break; // read-only
            default:
                _esrPending |= 0x80;
                break;
        }
    }

    private void WriteSvr(uint value)
    {
        _svr = value & 0x3FF;
        // Software disable masks every LVT entry, and they stay masked until it is enabled again (§10.4.7.2).
        if (!SoftwareEnabled)
            for (int i = 0; i < _lvt.Length; i++) _lvt[i] |= LvtMasked;
        RearmTimer();
        UpdateIntr();
    }

    private void EndOfInterrupt()
    {
        int v = Highest(_isr);
        if (v < 0) return;
        Clear(_isr, v);
        if (Test(_tmr, v))
        {
            Clear(_tmr, v);
            _bus.BroadcastEoi((byte)v);
        }
        UpdateIntr();
    }

    private void WriteLvt(int index, uint value)
    {
        uint mask = index switch
        {
            LvtTimer => 0x0007_00FF,             // vector, mask, timer mode (incl. TSC-deadline)
            LvtLint0 or LvtLint1 => 0x0001_A7FF, // vector, delivery mode, polarity, trigger, mask
            LvtError => 0x0001_00FF,
            _ => 0x0001_07FF,                    // thermal, perf: vector, delivery mode, mask
        };
        if (index == LvtTimer && ((value >> 17) & 3) == 3) value &= ~(1u << 18); // mode 11b is reserved
        uint old = _lvt[index];
        uint v = value & mask;
        if (!SoftwareEnabled) v |= LvtMasked;
        _lvt[index] = v;
        if (index == LvtTimer)
        {
            int oldMode = (int)(old >> 17) & 3, newMode = (int)(v >> 17) & 3;
            if ((oldMode == 2) != (newMode == 2))
            {
                // Switching to or from TSC-deadline mode stops the timer (§10.5.4.1).
                _timerCounting = false;
                _initialCount = 0;
                _tscDeadline = 0;
            }
            RearmTimer();
        }
        UpdateIntr();
    }

    private void SendIpi()
    {
        var mode = (ApicDeliveryMode)((_icrLow >> 8) & 7);
        byte vector = (byte)_icrLow;
        bool logical = (_icrLow & (1u << 11)) != 0;
        bool assert = (_icrLow & (1u << 14)) != 0;
        bool level = (_icrLow & (1u << 15)) != 0;
        int shorthand = (int)(_icrLow >> 18) & 3;
        byte destination = (byte)(_icrHigh >> 24);
        var record = new IpiRecord(mode, vector, shorthand, logical, destination, level, assert);
        if (_sentIpis.Count == 64) _sentIpis.RemoveAt(0);
        _sentIpis.Add(record);
        IpiSent?.Invoke(record);

        if ((mode is ApicDeliveryMode.Fixed or ApicDeliveryMode.LowestPriority) && vector < 16)
        {
            _esrPending |= 0x20; // send illegal vector
            SignalError();
            return;
        }
        // Fixed IPIs are edge-triggered; only INIT uses the level bits.
        var message = new ApicMessage(vector, mode, logical, destination, mode == ApicDeliveryMode.Init && level, mode != ApicDeliveryMode.Init || assert);
        switch (shorthand)
        {
            case 1: // self
                Accept(message);
                break;
            case 2: // all including self
                foreach (var apic in _bus.LocalApics) apic.Accept(message);
                break;
            case 3: // all excluding self
                int others = 0;
                foreach (var apic in _bus.LocalApics)
                    if (!ReferenceEquals(apic, this)) { apic.Accept(message); others++; }
                if (others == 0) _bus.RecordUndelivered(message);
                break;
            default:
                _bus.Deliver(message);
                break;
        }
    }

    // ------------------------------------------------------------------ timer (§10.5.4)

    private int TimerMode => (int)(_lvt[LvtTimer] >> 17) & 3; // 0 one-shot, 1 periodic, 2 TSC-deadline

    /// <summary>Divide configuration bits 3,1,0 → 2, 4, 8, 16, 32, 64, 128, 1 (§10.5.4, figure 10-10).</summary>
    private int Divisor
    {
        get
        {
            int code = (int)((_divideConfig & 3) | ((_divideConfig >> 1) & 4));
            return code == 7 ? 1 : 2 << code;
        }
    }

    /// <summary>Nanoseconds per count at the current divider, as a rational: ticks = ns × BusHz / (divisor × 10⁹).</summary>
    private long TicksSince(long startNs, long nowNs) =>
        (long)((Int128)(nowNs - startNs) * BusFrequencyHz / ((Int128)Divisor * 1_000_000_000));

    private long NsForTicks(long ticks) =>
        (long)(((Int128)ticks * Divisor * 1_000_000_000 + BusFrequencyHz - 1) / BusFrequencyHz);

    private uint CurrentCount()
    {
        if (!_timerCounting || _initialCount == 0 || TimerMode == 2) return 0;
        long elapsed = TicksSince(_timerStartNs, _clock.NowNs);
        if (TimerMode == 1) return (uint)(_initialCount - elapsed % _initialCount);
        if (elapsed >= _initialCount)
        {
            _timerCounting = false;
            return 0;
        }
        return (uint)(_initialCount - elapsed);
    }

    private void StartCount()
    {
        _timerStartNs = _clock.NowNs;
        _timerCounting = _initialCount != 0;
        RearmTimer();
    }

    private void WriteDivide(uint value)
    {
        if (_timerCounting && TimerMode != 2)
        {
            // Keep the current count and go on at the new rate.
            uint current = CurrentCount();
            _divideConfig = value;
            if (_timerCounting)
                _timerStartNs = _clock.NowNs - NsForTicks(_initialCount - current);
            RearmTimer();
        }
        else
            _divideConfig = value;
    }

    /// <summary>Arms the host timer for the next expiry that would raise an interrupt.</summary>
    private void RearmTimer()
    {
        if (TimerMode == 2)
        {
            ArmTscDeadline();
            return;
        }
        if (!_timerCounting || _initialCount == 0 || (_lvt[LvtTimer] & LvtMasked) != 0)
        {
            // A masked timer still counts (CurrentCount reads the clock); nothing to wake up for.
            _timer.Cancel();
            return;
        }
        long now = _clock.NowNs;
        long period = NsForTicks(_initialCount);
        if (TimerMode == 0)
        {
            long expiry = _timerStartNs + period;
            if (expiry <= now && TicksSince(_timerStartNs, now) >= _initialCount)
            {
                _timerCounting = false; // expired while masked: that interrupt is lost
                _timer.Cancel();
                return;
            }
            _timer.Arm(expiry);
        }
        else
        {
            long periods = (now - _timerStartNs) / period + 1;
            _timer.Arm(_timerStartNs + periods * period);
        }
    }

    private void ArmTscDeadline()
    {
        if (TimerMode != 2 || _tscDeadline == 0 || (_lvt[LvtTimer] & LvtMasked) != 0)
        {
            _timer.Cancel();
            return;
        }
        _timer.Arm(TscToNs(_tscDeadline));
    }

    private long TscToNs(ulong tsc)
    {
        var ns = ((UInt128)tsc * 1_000_000_000 + (ulong)TscFrequencyHz - 1) / (ulong)TscFrequencyHz;
        return ns > long.MaxValue - 1 ? long.MaxValue - 1 : (long)ns;
    }

    /// <summary>The TSC value the APIC compares with IA32_TSC_DEADLINE.</summary>
    public ulong Tsc => (ulong)((Int128)_clock.NowNs * TscFrequencyHz / 1_000_000_000);

    private void OnTimer(long deadline)
    {
        uint lvt = _lvt[LvtTimer];
        switch (TimerMode)
        {
            case 2:
                if (_tscDeadline == 0) return;
                _tscDeadline = 0; // the deadline MSR clears when it fires
                break;
            case 0:
                _timerCounting = false;
                break;
            default:
                if (!_timerCounting) return;
                RearmTimer();
                break;
        }
        if ((lvt & LvtMasked) == 0) AcceptFixed((byte)lvt, level: false);
    }
}
