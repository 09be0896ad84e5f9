using MyKvm.Core;

namespace MyKvm.Devices.Legacy;

/// <summary>
/// A National Semiconductor PC16550D UART (the PC's COM1..COM4), following the datasheet's register model:
/// RBR/THR, IER, IIR/FCR, LCR, MCR, LSR, MSR, SCR and the divisor latch (LCR.DLAB), 16-byte receive FIFO with
/// trigger levels 1/4/8/14, the four interrupt sources in their priority order (receiver line status,
/// received data available / character timeout, THR empty, modem status), and loopback mode.
/// <para>
/// Transmission is instantaneous: a THR write reaches <c>output</c> at once, LSR.THRE and LSR.TEMT are always
/// set, and the THRE interrupt is re-armed right after each byte (a real UART would do the same a character
/// time later). Bytes from the host wait in a queue "on the wire" and enter the receiver one character time
/// apart at the programmed baud rate (at once when no timers are given), and only while there is room,
/// so host input never overruns the FIFO and a guest that resets its FIFO at start-up loses at most what a
/// real line would have delivered by then.
/// </para>
/// <para>
/// The interrupt output is not gated by MCR.OUT2: xv6 and JOS program MCR=0 and still expect interrupts,
/// which they get on QEMU. The IRQ line is high exactly while IIR reports a pending interrupt, so an
/// edge-triggered PIC sees a new edge for every new interrupt condition.
/// </para>
/// Register with <c>io.Register(0x3F8, 8, uart)</c> (COM1, IRQ 4), 0x2F8 (COM2, IRQ 3), 0x3E8, 0x2E8.
/// </summary>
public sealed class Uart16550 : IPortDevice
{
    public const int FifoSize = 16;
    /// <summary>The 1.8432 MHz crystal of the PC serial ports, divided by 16 per bit.</summary>
    public const int InputClockHz = 1_843_200;
    /// <summary>Most host bytes kept waiting before further input is dropped.</summary>
    public const int MaxPendingInput = 1 << 20;

    // Register offsets (port & 7).
    private const int RegData = 0, RegIer = 1, RegIir = 2, RegLcr = 3, RegMcr = 4, RegLsr = 5, RegMsr = 6, RegScr = 7;

    // IER bits.
    public const byte IerRxData = 0x01, IerThrEmpty = 0x02, IerLineStatus = 0x04, IerModemStatus = 0x08;
    // IIR interrupt identification codes (bits 3..0; bit 0 = 1 means none pending).
    public const byte IirNone = 0x01, IirLineStatus = 0x06, IirRxData = 0x04, IirTimeout = 0x0C, IirThrEmpty = 0x02, IirModemStatus = 0x00;
    public const byte IirFifoEnabled = 0xC0;
    // FCR bits.
    public const byte FcrEnable = 0x01, FcrClearRx = 0x02, FcrClearTx = 0x04;
    // LCR bits.
    public const byte LcrBreak = 0x40, LcrDlab = 0x80;
    // MCR bits.
    public const byte McrDtr = 0x01, McrRts = 0x02, McrOut1 = 0x04, McrOut2 = 0x08, McrLoop = 0x10;
    // LSR bits.
    public const byte LsrDataReady = 0x01, LsrOverrun = 0x02, LsrParity = 0x04, LsrFraming = 0x08, LsrBreak = 0x10,
        LsrThrEmpty = 0x20, LsrTxEmpty = 0x40, LsrFifoError = 0x80;
    private const byte LsrErrorBits = LsrOverrun | LsrParity | LsrFraming | LsrBreak;
    // MSR bits.
    public const byte MsrDeltaCts = 0x01, MsrDeltaDsr = 0x02, MsrTrailingRi = 0x04, MsrDeltaDcd = 0x08,
        MsrCts = 0x10, MsrDsr = 0x20, MsrRi = 0x40, MsrDcd = 0x80;

    /// <summary>Modem inputs when not in loopback: a null-modem host that is always there (CTS, DSR, DCD).</summary>
    private const byte HostModemInputs = MsrCts | MsrDsr | MsrDcd;

    private readonly IIrqLine _irq;
    private readonly Action<byte> _output;
    private readonly IClock? _clock;
    private readonly DeviceTimer? _timeoutTimer;
    private readonly DeviceTimer? _receiveTimer;
    private long _nextReceiveNs;

    // Receive FIFO entries: data byte in bits 0..7, its LSR error bits (PE/FE/BI) in bits 8..15.
    private readonly ushort[] _rxFifo = new ushort[FifoSize];
    private int _rxHead, _rxCount;
    private readonly Queue<ushort> _hostInput = new();

    private byte _ier, _lcr, _mcr, _scr, _fcr;
    private ushort _divisor = 1;
    private byte _lsrErrors;       // OE/PE/FE/BI waiting to be read from LSR
    private byte _msrDeltas;       // DCTS/DDSR/TERI/DDCD waiting to be read from MSR
    private byte _lastRbr;
    private bool _thrInterrupt;    // the THRE interrupt condition (cleared by IIR read or THR write)
    private bool _timeoutPending;  // the FIFO character-timeout condition
    private bool _irqLevel;

    /// <summary>
    /// A UART that sends transmitted bytes to <paramref name="output"/> and signals <paramref name="irq"/>.
    /// With <paramref name="timers"/>, the FIFO character-timeout interrupt fires four character times after the
    /// last receive or read, as on the chip; without, it is reported at once.
    /// </summary>
    public Uart16550(IIrqLine irq, Action<byte> output, TimerQueue? timers = null)
    {
        ArgumentNullException.ThrowIfNull(irq);
        ArgumentNullException.ThrowIfNull(output);
        _irq = irq;
        _output = output;
        if (timers is not null)
        {
            _clock = timers.Clock;
            _timeoutTimer = timers.Create("uart-rx-timeout", _ => OnCharacterTimeout());
            _receiveTimer = timers.Create("uart-rx", _ => OnReceiveTimer());
        }
    }

    /// <summary>Host bytes waiting to enter the receive FIFO.</summary>
    public int PendingInput => _hostInput.Count;

    /// <summary>True when the guest has enabled the FIFOs (FCR bit 0).</summary>
    public bool FifoEnabled => (_fcr & FcrEnable) != 0;

    /// <summary>The programmed baud rate (115200 / divisor).</summary>
    public int BaudRate => InputClockHz / 16 / (_divisor == 0 ? 0x10000 : _divisor);

    /// <summary>Bytes from the host (terminal, pipe, test) for the guest to receive.</summary>
    public void ReceiveInput(ReadOnlySpan<byte> bytes)
    {
        foreach (byte b in bytes)
        {
            if (_hostInput.Count >= MaxPendingInput) break;
            _hostInput.Enqueue(b);
        }
        FillFromHost();
        UpdateIrq();
    }

    /// <summary>A break condition from the host: received as a NUL character with LSR.BI and LSR.FE.</summary>
    public void ReceiveBreak()
    {
        if (_hostInput.Count < MaxPendingInput)
            _hostInput.Enqueue((LsrBreak | LsrFraming) << 8);
        FillFromHost();
        UpdateIrq();
    }

    public uint PortRead(ushort port, int size)
    {
        byte value = ReadRegister(port & 7);
        UpdateIrq();
        return value;
    }

    public void PortWrite(ushort port, int size, uint value)
    {
        WriteRegister(port & 7, (byte)value);
        UpdateIrq();
    }

    private bool Dlab => (_lcr & LcrDlab) != 0;
    private bool Loopback => (_mcr & McrLoop) != 0;

    private byte ReadRegister(int reg)
    {
        switch (reg)
        {
            case RegData:
                return Dlab ? (byte)_divisor : ReadRbr();
            case RegIer:
                return Dlab ? (byte)(_divisor >> 8) : _ier;
            case RegIir:
            {
                byte iir = CurrentIir();
                // Reading IIR clears the THRE interrupt when it is the one being reported (datasheet table 4).
                if ((iir & 0x0F) == IirThrEmpty) _thrInterrupt = false;
                return iir;
            }
            case RegLcr:
                return _lcr;
            case RegMcr:
                return _mcr;
            case RegLsr:
                return ReadLsr();
            case RegMsr:
            {
                byte msr = (byte)(ModemInputs() | _msrDeltas);
                _msrDeltas = 0;
                return msr;
            }
            default:
                return _scr;
        }
    }

    private void WriteRegister(int reg, byte value)
    {
        switch (reg)
        {
            case RegData:
                if (Dlab) _divisor = (ushort)((_divisor & 0xFF00) | value);
                else Transmit(value);
                break;
            case RegIer:
                if (Dlab) _divisor = (ushort)((_divisor & 0x00FF) | (value << 8));
                else WriteIer(value);
                break;
            case RegIir:
                WriteFcr(value);
                break;
            case RegLcr:
            {
                bool breakStarted = (value & LcrBreak) != 0 && (_lcr & LcrBreak) == 0;
                _lcr = value;
                // In loopback the serial output feeds the receiver, so a break sent is a break received.
                if (breakStarted && Loopback) ReceiveCharacter((LsrBreak | LsrFraming) << 8);
                break;
            }
            case RegMcr:
                WriteMcr((byte)(value & 0x1F));
                break;
            case RegLsr:
            case RegMsr:
                // Writable only in factory test on the real part; ignored here.
                break;
            default:
                _scr = value;
                break;
        }
    }

    private void WriteIer(byte value)
    {
        byte old = _ier;
        _ier = (byte)(value & 0x0F);
        // Enabling ETBEI while THR is empty raises the THRE interrupt (Linux's 8250 driver tests for this at
        // startup and otherwise marks the port UART_BUG_THRE); disabling it drops the pending condition.
        if ((_ier & IerThrEmpty) != 0 && (old & IerThrEmpty) == 0) _thrInterrupt = true;
        else if ((_ier & IerThrEmpty) == 0) _thrInterrupt = false;
    }

    private void WriteFcr(byte value)
    {
        bool enable = (value & FcrEnable) != 0;
        if (enable != FifoEnabled)
        {
            // Changing FCR0 clears both FIFOs (datasheet, FCR bit 0).
            ClearRxFifo();
        }
        if (!enable)
        {
            // "FCR0 must be 1 when other FCR bits are written to or they will not be programmed."
            _fcr = 0;
        }
        else
        {
            if ((value & FcrClearRx) != 0) ClearRxFifo();
            // FcrClearTx: the transmit FIFO is always empty here. Keep enable, DMA mode and trigger bits.
            _fcr = (byte)(value & 0xC9);
        }
        FillFromHost();
    }

    private void WriteMcr(byte value)
    {
        byte oldInputs = ModemInputs();
        _mcr = value;
        byte newInputs = ModemInputs();
        byte changed = (byte)(oldInputs ^ newInputs);
        if ((changed & MsrCts) != 0) _msrDeltas |= MsrDeltaCts;
        if ((changed & MsrDsr) != 0) _msrDeltas |= MsrDeltaDsr;
        if ((changed & MsrDcd) != 0) _msrDeltas |= MsrDeltaDcd;
        // TERI: the RI input went inactive (MSR.RI from 1 to 0).
        if ((oldInputs & MsrRi) != 0 && (newInputs & MsrRi) == 0) _msrDeltas |= MsrTrailingRi;
        FillFromHost();
    }

    /// <summary>The upper MSR nibble: in loopback the MCR outputs are wired back (RTS→CTS, DTR→DSR, OUT1→RI, OUT2→DCD).</summary>
    private byte ModemInputs()
    {
        if (!Loopback) return HostModemInputs;
        byte m = 0;
        if ((_mcr & McrRts) != 0) m |= MsrCts;
        if ((_mcr & McrDtr) != 0) m |= MsrDsr;
        if ((_mcr & McrOut1) != 0) m |= MsrRi;
        if ((_mcr & McrOut2) != 0) m |= MsrDcd;
        return m;
    }

    private void Transmit(byte value)
    {
        _thrInterrupt = false;
        UpdateIrq();                          // the THRE condition ends with the write ...
        if (Loopback) ReceiveCharacter(value);
        else _output(value);
        _thrInterrupt = true;                 // ... and returns once the byte has left (immediately here)
    }

    private byte ReadRbr()
    {
        if (_rxCount == 0) return _lastRbr;
        ushort entry = _rxFifo[_rxHead];
        _rxHead = (_rxHead + 1) % FifoSize;
        _rxCount--;
        _lastRbr = (byte)entry;
        _timeoutPending = false;
        FillFromHost();
        if (_rxCount > 0)
        {
            // The next character's errors show in LSR once it reaches the top of the FIFO.
            _lsrErrors |= (byte)(_rxFifo[_rxHead] >> 8);
            RestartTimeout();
        }
        else
        {
            _timeoutTimer?.Cancel();
        }
        return _lastRbr;
    }

    private byte ReadLsr()
    {
        byte lsr = (byte)(LsrThrEmpty | LsrTxEmpty | _lsrErrors);
        if (_rxCount > 0) lsr |= LsrDataReady;
        if (FifoEnabled && FifoHasErrors()) lsr |= LsrFifoError;
        // Reading LSR clears OE/PE/FE/BI and the line-status interrupt; the top entry's errors are reported now.
        _lsrErrors = 0;
        if (_rxCount > 0) _rxFifo[_rxHead] &= 0x00FF;
        return lsr;
    }

    private bool FifoHasErrors()
    {
        for (int i = 0; i < _rxCount; i++)
            if ((_rxFifo[(_rxHead + i) % FifoSize] >> 8) != 0) return true;
        return false;
    }

    private int RxCapacity => FifoEnabled ? FifoSize : 1;

    private int TriggerLevel => !FifoEnabled ? 1 : (_fcr >> 6) switch { 0 => 1, 1 => 4, 2 => 8, _ => 14 };

    /// <summary>A character arriving at the receiver (host input or loopback), with its error bits in the high byte.</summary>
    private void ReceiveCharacter(int entry)
    {
        if (_rxCount == RxCapacity)
        {
            _lsrErrors |= LsrOverrun;
            // FIFO mode: the new character is lost. 16450 mode: it overwrites the holding register.
            if (!FifoEnabled) _rxFifo[_rxHead] = (ushort)entry;
            return;
        }
        _rxFifo[(_rxHead + _rxCount) % FifoSize] = (ushort)entry;
        _rxCount++;
        if (_rxCount == 1) _lsrErrors |= (byte)(entry >> 8);
        RestartTimeout();
    }

    private void FillFromHost()
    {
        // In loopback the receiver is disconnected from the serial input; host bytes wait.
        if (Loopback || _hostInput.Count == 0 || _rxCount >= RxCapacity) return;
        if (_receiveTimer is null || _clock is null)
        {
            while (_rxCount < RxCapacity && _hostInput.Count > 0)
                ReceiveCharacter(_hostInput.Dequeue());
            return;
        }
        if (!_receiveTimer.Armed) _receiveTimer.Arm(Math.Max(_clock.NowNs, _nextReceiveNs));
    }

    /// <summary>The next host byte has finished arriving on the line.</summary>
    private void OnReceiveTimer()
    {
        if (Loopback || _hostInput.Count == 0 || _rxCount >= RxCapacity) return;   // re-armed when there is room
        ReceiveCharacter(_hostInput.Dequeue());
        _nextReceiveNs = _clock!.NowNs + CharacterTimeNs();
        FillFromHost();
        UpdateIrq();
    }

    private void ClearRxFifo()
    {
        _rxCount = 0;
        _rxHead = 0;
        _timeoutPending = false;
        _timeoutTimer?.Cancel();
    }

    private void RestartTimeout()
    {
        _timeoutPending = false;
        if (!FifoEnabled || _rxCount == 0) return;
        if (_timeoutTimer is null || _clock is null)
        {
            _timeoutPending = true;
            return;
        }
        _timeoutTimer.Arm(_clock.NowNs + CharacterTimeNs() * 4);
    }

    private void OnCharacterTimeout()
    {
        if (FifoEnabled && _rxCount > 0) _timeoutPending = true;
        UpdateIrq();
    }

    /// <summary>Nanoseconds per character: start bit, 5..8 data bits, optional parity, 1 or 2 stop bits.</summary>
    internal long CharacterTimeNs()
    {
        int bits = 1 + 5 + (_lcr & 3) + ((_lcr & 0x08) != 0 ? 1 : 0) + ((_lcr & 0x04) != 0 ? 2 : 1);
        long divisor = _divisor == 0 ? 0x10000 : _divisor;
        return bits * divisor * 16 * 1_000_000_000L / InputClockHz;
    }

    /// <summary>IIR: the highest-priority enabled interrupt condition (datasheet table 4).</summary>
    private byte CurrentIir()
    {
        byte fifoBits = FifoEnabled ? IirFifoEnabled : (byte)0;
        if ((_ier & IerLineStatus) != 0 && (_lsrErrors & LsrErrorBits) != 0) return (byte)(fifoBits | IirLineStatus);
        if ((_ier & IerRxData) != 0)
        {
            if (_rxCount >= TriggerLevel) return (byte)(fifoBits | IirRxData);
            if (FifoEnabled && _timeoutPending && _rxCount > 0) return (byte)(fifoBits | IirTimeout);
        }
        if ((_ier & IerThrEmpty) != 0 && _thrInterrupt) return (byte)(fifoBits | IirThrEmpty);
        if ((_ier & IerModemStatus) != 0 && _msrDeltas != 0) return (byte)(fifoBits | IirModemStatus);
        return (byte)(fifoBits | IirNone);
    }

    private void UpdateIrq()
    {
        bool level = (CurrentIir() & 1) == 0;
        if (level == _irqLevel) return;
        _irqLevel = level;
        _irq.Set(level);
    }
}
