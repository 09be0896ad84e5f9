using MyKvm.Core;

namespace MyKvm.Devices.Legacy;

/// <summary>
/// The PC/AT keyboard controller (Intel 8042, PS/2 variant) at ports 0x60 (data) and 0x64 (status/command),
/// with a PS/2 keyboard on its first port and a PS/2 mouse on the auxiliary port. Implements the controller
/// command set (command byte, self-tests, interface enable/disable, output port with the A20 gate and the
/// reset line, pulse commands), scan code set 2 → set 1 translation, IRQ 1 and IRQ 12, and the keyboard's
/// and mouse's own command sets.
/// <para>
/// The state at power-on is what a BIOS leaves behind, since mykvm boots kernels without one (SeaBIOS sets
/// the same): command byte 0x61 (translation on, keyboard interrupt on, mouse disabled), system flag set,
/// keyboard scanning in set 2, A20 enabled.
/// </para>
/// <para>
/// Host input (<see cref="KeyFromHost"/>, <see cref="TypeText"/>, <see cref="MouseFromHost"/>) must be handed
/// over on the vCPU thread like everything else. The output buffer refills from the devices as soon as the
/// guest reads it, raising a fresh IRQ edge per byte.
/// </para>
/// Register: <c>io.Register(0x60, 1, kbc)</c>, <c>io.Register(0x64, 1, kbc)</c>.
/// </summary>
public sealed class I8042Controller : IPortDevice
{
    // Status register bits.
    public const byte StatusOutputFull = 0x01, StatusInputFull = 0x02, StatusSystem = 0x04, StatusCommand = 0x08,
        StatusNotInhibited = 0x10, StatusAuxData = 0x20, StatusTimeout = 0x40, StatusParity = 0x80;
    // Command byte bits.
    public const byte CtrKeyboardInt = 0x01, CtrAuxInt = 0x02, CtrSystem = 0x04, CtrKeyboardDisabled = 0x10,
        CtrAuxDisabled = 0x20, CtrTranslate = 0x40;
    // Output port bits.
    private const byte OutResetLine = 0x01, OutA20 = 0x02, OutKeyboardFull = 0x10, OutAuxFull = 0x20;

    private const int MaxQueued = 1024;

    private readonly IIrqLine _irq1;
    private readonly IIrqLine _irq12;
    private readonly IMachineControl _control;
    private readonly byte[] _ram = new byte[32];          // controller RAM; byte 0 is the command byte
    private readonly Queue<(byte Value, bool Aux)> _controllerOutput = new();
    private readonly PS2Keyboard _keyboard;
    private readonly PS2Mouse _mouse;

    private byte _status = StatusSystem | StatusNotInhibited;
    private byte _outputBuffer;
    private bool _outputFull, _outputFromAux;
    private byte _pendingCommand;          // a controller command waiting for its data byte, or 0
    private byte _outputPort = 0xCF;       // reset line inactive, A20 on, clock/data lines idle
    private bool _translateBreak;          // a set 2 0xF0 prefix was swallowed by translation
    private bool _irq1Level, _irq12Level;

    public I8042Controller(IIrqLine irq1, IIrqLine irq12, IMachineControl control, A20Gate? a20 = null)
    {
        ArgumentNullException.ThrowIfNull(irq1);
        ArgumentNullException.ThrowIfNull(irq12);
        ArgumentNullException.ThrowIfNull(control);
        _irq1 = irq1;
        _irq12 = irq12;
        _control = control;
        A20 = a20 ?? new A20Gate();
        _ram[0] = CtrAuxDisabled | CtrTranslate | CtrKeyboardInt;
        _keyboard = new PS2Keyboard();
        _mouse = new PS2Mouse();
        A20.Changed += enabled => _outputPort = (byte)(enabled ? _outputPort | OutA20 : _outputPort & ~OutA20);
        if (!A20.Enabled) _outputPort &= unchecked((byte)~OutA20);
    }

    /// <summary>The A20 line this controller's output port drives (shared with port 0x92).</summary>
    public A20Gate A20 { get; }

    /// <summary>The command byte (controller RAM byte 0).</summary>
    public byte CommandByte => _ram[0];

    /// <summary>The keyboard's scan code set (1 or 2) as the guest selected it.</summary>
    public int ScancodeSet => _keyboard.ScancodeSet;

    /// <summary>The keyboard LEDs the guest set: bit 0 Scroll Lock, bit 1 Num Lock, bit 2 Caps Lock.</summary>
    public byte KeyboardLeds => _keyboard.Leds;

    /// <summary>A key went down or up on the host.</summary>
    public void KeyFromHost(PcKey key, bool pressed)
    {
        _keyboard.Key(key, pressed);
        Refill();
    }

    /// <summary>Types text as key presses and releases on a US layout (Shift and Ctrl as needed); unmappable characters are skipped.</summary>
    public void TypeText(string text)
    {
        foreach (char c in text)
        {
            if (!Scancodes.TryMapAscii(c, out var key, out bool shift, out bool ctrl)) continue;
            if (ctrl) _keyboard.Key(PcKey.LeftCtrl, true);
            if (shift) _keyboard.Key(PcKey.LeftShift, true);
            _keyboard.Key(key, true);
            _keyboard.Key(key, false);
            if (shift) _keyboard.Key(PcKey.LeftShift, false);
            if (ctrl) _keyboard.Key(PcKey.LeftCtrl, false);
        }
        Refill();
    }

    /// <summary>Mouse movement (right and up are positive, as PS/2 reports them) and buttons (bit 0 left, 1 right, 2 middle).</summary>
    public void MouseFromHost(int dx, int dy, int buttons)
    {
        _mouse.Move(dx, dy, buttons);
        Refill();
    }

    public uint PortRead(ushort port, int size)
    {
        if ((port & 4) != 0) return Status();
        byte value = _outputBuffer;
        if (_outputFull)
        {
            _outputFull = false;
            UpdateIrqs();      // the line drops here, so the next byte raises a new edge
            Refill();
        }
        return value;
    }

    public void PortWrite(ushort port, int size, uint value)
    {
        byte b = (byte)value;
        if ((port & 4) != 0)
        {
            _status |= StatusCommand;
            Command(b);
        }
        else
        {
            _status &= unchecked((byte)~StatusCommand);
            Data(b);
        }
        Refill();
    }

    private byte Status()
    {
        byte s = (byte)(_status & ~(StatusOutputFull | StatusAuxData | StatusInputFull));
        if (_outputFull) s |= StatusOutputFull;
        if (_outputFull && _outputFromAux) s |= StatusAuxData;
        return s;
    }

    private void Respond(byte value, bool aux = false)
    {
        _controllerOutput.Enqueue((value, aux));
    }

    /// <summary>A write to port 0x64 (8042 command set as on PS/2 systems).</summary>
    private void Command(byte cmd)
    {
        _pendingCommand = 0;
        switch (cmd)
        {
            case >= 0x20 and <= 0x3F:
                Respond(_ram[cmd & 0x1F]);
                break;
            case >= 0x60 and <= 0x7F:
            case 0xD1: case 0xD2: case 0xD3: case 0xD4:
                _pendingCommand = cmd;
                break;
            case 0xA4: Respond(0xF1); break;                     // no password installed
            case 0xA7: _ram[0] |= CtrAuxDisabled; break;
            case 0xA8: _ram[0] &= unchecked((byte)~CtrAuxDisabled); break;
            case 0xA9: Respond(0x00); break;                     // aux interface test passed
            case 0xAA:
                _status |= StatusSystem;
                Respond(0x55);                                   // controller self-test passed
                break;
            case 0xAB: Respond(0x00); break;                     // keyboard interface test passed
            case 0xAD: _ram[0] |= CtrKeyboardDisabled; break;
            case 0xAE: _ram[0] &= unchecked((byte)~CtrKeyboardDisabled); break;
            case 0xC0: Respond(0x80); break;                     // input port: keyboard not inhibited
            case 0xD0:
            {
                byte p = (byte)(_outputPort & ~(OutKeyboardFull | OutAuxFull));
                if (_outputFull) p |= _outputFromAux ? OutAuxFull : OutKeyboardFull;
                Respond(p);
                break;
            }
            case 0xDD: A20.Set(false); break;
            case 0xDF: A20.Set(true); break;
            case 0xE0: Respond(0x00); break;                     // test inputs
            case >= 0xF0:
                // Pulse output port bits 0–3 low for 6 µs where the command has a 0; bit 0 is the CPU reset line.
                if ((cmd & 0x01) == 0) _control.RequestReset($"keyboard controller command 0x{cmd:X2}");
                break;
            default:
                break;   // unknown or vendor commands are ignored
        }
        UpdateIrqs();
    }

    /// <summary>A write to port 0x60: the data byte of a pending controller command, or a byte for the keyboard.</summary>
    private void Data(byte b)
    {
        byte cmd = _pendingCommand;
        _pendingCommand = 0;
        switch (cmd)
        {
            case >= 0x60 and <= 0x7F:
                _ram[cmd & 0x1F] = b;
                if (cmd == 0x60)
                {
                    _ram[0] = (byte)(b & 0x7F);
                    if ((b & CtrSystem) != 0) _status |= StatusSystem; else _status &= unchecked((byte)~StatusSystem);
                }
                break;
            case 0xD1:
                WriteOutputPort(b);
                break;
            case 0xD2:
                Respond(b);
                break;
            case 0xD3:
                Respond(b, aux: true);
                break;
            case 0xD4:
                // Sending to a device re-enables its interface, as the 8042 firmware does.
                _ram[0] &= unchecked((byte)~CtrAuxDisabled);
                _mouse.Receive(b);
                break;
            default:
                _ram[0] &= unchecked((byte)~CtrKeyboardDisabled);
                _keyboard.Receive(b);
                break;
        }
        UpdateIrqs();
    }

    private void WriteOutputPort(byte value)
    {
        _outputPort = (byte)(value | 0x0C);
        A20.Set((value & OutA20) != 0);
        if ((value & OutResetLine) == 0) _control.RequestReset("keyboard controller output port reset line");
    }

    /// <summary>Moves the next byte into the empty output buffer: controller responses first, then keyboard, then mouse.</summary>
    private void Refill()
    {
        while (!_outputFull)
        {
            if (_controllerOutput.Count > 0)
            {
                var (value, aux) = _controllerOutput.Dequeue();
                Load(value, aux);
            }
            else if ((_ram[0] & CtrKeyboardDisabled) == 0 && _keyboard.TryDequeue(out byte k))
            {
                if ((_ram[0] & CtrTranslate) != 0)
                {
                    if (k == 0xF0)
                    {
                        _translateBreak = true;
                        continue;
                    }
                    k = Scancodes.TranslateSet2ToSet1(k);
                    if (_translateBreak) k |= 0x80;
                    _translateBreak = false;
                }
                Load(k, aux: false);
            }
            else if ((_ram[0] & CtrAuxDisabled) == 0 && _mouse.TryDequeue(out byte m))
            {
                Load(m, aux: true);
            }
            else
            {
                break;
            }
        }
        UpdateIrqs();
    }

    private void Load(byte value, bool aux)
    {
        _outputBuffer = value;
        _outputFull = true;
        _outputFromAux = aux;
    }

    private void UpdateIrqs()
    {
        bool kbd = _outputFull && !_outputFromAux && (_ram[0] & CtrKeyboardInt) != 0;
        bool aux = _outputFull && _outputFromAux && (_ram[0] & CtrAuxInt) != 0;
        if (kbd != _irq1Level) { _irq1Level = kbd; _irq1.Set(kbd); }
        if (aux != _irq12Level) { _irq12Level = aux; _irq12.Set(aux); }
    }

    /// <summary>A PS/2 keyboard: command set of the IBM keyboard technical reference, scan code sets 1 and 2.</summary>
    private sealed class PS2Keyboard
    {
        private readonly Queue<byte> _out = new();
        private byte _pendingCommand;
        private byte _lastSent = 0xAA;
        private bool _scanning = true;

        public int ScancodeSet { get; private set; } = 2;
        public byte Leds { get; private set; }

        public bool TryDequeue(out byte b)
        {
            if (_out.TryDequeue(out b))
            {
                _lastSent = b;
                return true;
            }
            return false;
        }

        private void Send(byte b)
        {
            if (_out.Count < MaxQueued) _out.Enqueue(b);
        }

        public void Key(PcKey key, bool pressed)
        {
            if (!_scanning) return;
            var bytes = Scancodes.Encode(key, pressed, ScancodeSet);
            if (_out.Count + bytes.Length > MaxQueued) return;
            foreach (byte b in bytes) _out.Enqueue(b);
        }

        public void Receive(byte b)
        {
            byte cmd = _pendingCommand;
            _pendingCommand = 0;
            switch (cmd)
            {
                case 0xED:
                    Leds = (byte)(b & 7);
                    Send(0xFA);
                    return;
                case 0xF3:
                    Send(0xFA);   // typematic rate and delay: accepted, host keys do not repeat here
                    return;
                case 0xF0:
                    if (b == 0)
                    {
                        Send(0xFA);
                        Send((byte)ScancodeSet);
                    }
                    else if (b is 1 or 2)
                    {
                        ScancodeSet = b;
                        Send(0xFA);
                    }
                    else
                    {
                        Send(0xFE);   // set 3 is not implemented: ask for something else
                    }
                    return;
            }
            // A command aborts anything queued from before (the keyboard clears its buffer on a command).
            _out.Clear();
            switch (b)
            {
                case 0xED:
                case 0xF3:
                case 0xF0:
                    _pendingCommand = b;
                    Send(0xFA);
                    break;
                case 0xEE:
                    Send(0xEE);   // echo
                    break;
                case 0xF2:
                    Send(0xFA); Send(0xAB); Send(0x83);   // MF2 keyboard
                    break;
                case 0xF4:
                    _scanning = true;
                    Send(0xFA);
                    break;
                case 0xF5:
                    _scanning = false;
                    Leds = 0;
                    Send(0xFA);
                    break;
                case 0xF6:
                    _scanning = true;
                    Send(0xFA);
                    break;
                case >= 0xF7 and <= 0xFD:
                    Send(0xFA);   // set 3 key types: accepted and ignored
                    break;
                case 0xFE:
                    Send(_lastSent);
                    break;
                case 0xFF:
                    _scanning = true;
                    ScancodeSet = 2;
                    Leds = 0;
                    Send(0xFA);
                    Send(0xAA);   // basic assurance test passed
                    break;
                default:
                    Send(0xFE);
                    break;
            }
        }
    }

    /// <summary>A PS/2 mouse (standard three-byte protocol), enough for drivers to detect and enable it.</summary>
    private sealed class PS2Mouse
    {
        private readonly Queue<byte> _out = new();
        private byte _pendingCommand;
        private byte _lastSent;
        private bool _reporting, _remote, _scaling21;
        private byte _resolution = 2, _sampleRate = 100;
        private int _buttons;
        private int _dx, _dy;

        public bool TryDequeue(out byte b)
        {
            if (_out.TryDequeue(out b))
            {
                _lastSent = b;
                return true;
            }
            return false;
        }

        private void Send(byte b)
        {
            if (_out.Count < MaxQueued) _out.Enqueue(b);
        }

        public void Move(int dx, int dy, int buttons)
        {
            _buttons = buttons & 7;
            // Stream mode with reporting off drops movement; remote mode accumulates it for "read data".
            if (!_remote && !_reporting) return;
            _dx += dx;
            _dy += dy;
            if (!_remote && _out.Count + 3 <= MaxQueued) SendPacket();
        }

        private void SendPacket()
        {
            int dx = Math.Clamp(_dx, -256, 255), dy = Math.Clamp(_dy, -256, 255);
            byte head = (byte)(0x08 | _buttons | (dx < 0 ? 0x10 : 0) | (dy < 0 ? 0x20 : 0)
                | (_dx != dx ? 0x40 : 0) | (_dy != dy ? 0x80 : 0));
            Send(head);
            Send((byte)dx);
            Send((byte)dy);
            _dx = 0;
            _dy = 0;
        }

        public void Receive(byte b)
        {
            byte cmd = _pendingCommand;
            _pendingCommand = 0;
            if (cmd == 0xE8) { _resolution = (byte)(b & 3); Send(0xFA); return; }
            if (cmd == 0xF3) { _sampleRate = b; Send(0xFA); return; }
            switch (b)
            {
                case 0xE6: _scaling21 = false; Send(0xFA); break;
                case 0xE7: _scaling21 = true; Send(0xFA); break;
                case 0xE8:
                case 0xF3:
                    _pendingCommand = b;
                    Send(0xFA);
                    break;
                case 0xE9:
                    Send(0xFA);
                    Send((byte)((_remote ? 0x40 : 0) | (_reporting ? 0x20 : 0) | (_scaling21 ? 0x10 : 0) | _buttons));
                    Send(_resolution);
                    Send(_sampleRate);
                    break;
                case 0xEA: _remote = false; Send(0xFA); break;
                case 0xEB: Send(0xFA); SendPacket(); break;
                case 0xEC: case 0xEE: Send(0xFA); break;   // wrap mode is not emulated
                case 0xF0: _remote = true; Send(0xFA); break;
                case 0xF2: Send(0xFA); Send(0x00); break;  // standard PS/2 mouse
                case 0xF4: _reporting = true; _dx = _dy = 0; Send(0xFA); break;
                case 0xF5: _reporting = false; Send(0xFA); break;
                case 0xF6: SetDefaults(); Send(0xFA); break;
                case 0xFE: Send(_lastSent); break;
                case 0xFF:
                    _out.Clear();
                    SetDefaults();
                    Send(0xFA); Send(0xAA); Send(0x00);
                    break;
                default: Send(0xFE); break;
            }
        }

        private void SetDefaults()
        {
            _reporting = false;
            _remote = false;
            _scaling21 = false;
            _resolution = 2;
            _sampleRate = 100;
            _dx = _dy = 0;
        }
    }
}

/// <summary>
/// The A20 gate: whether address bit 20 is passed to memory. The keyboard controller's output port and port
/// 0x92 both drive it; like QEMU, the last write wins. The machine reads <see cref="Enabled"/> (or listens to
/// <see cref="Changed"/>) to mask guest-physical addresses when it is off.
/// </summary>
public sealed class A20Gate
{
    public bool Enabled { get; private set; } = true;

    /// <summary>Raised with the new state when it changes.</summary>
    public event Action<bool>? Changed;

    public void Set(bool enabled)
    {
        if (enabled == Enabled) return;
        Enabled = enabled;
        Changed?.Invoke(enabled);
    }
}

/// <summary>
/// System control port A at 0x92 (PS/2 and PIIX): bit 1 is the "fast A20" gate, bit 0 a fast CPU reset on its
/// 0→1 transition. Register with <c>io.Register(0x92, 1, port)</c>.
/// </summary>
public sealed class SystemControlPortA : IPortDevice
{
    private readonly A20Gate _a20;
    private readonly IMachineControl _control;
    private byte _value;

    public SystemControlPortA(A20Gate a20, IMachineControl control)
    {
        ArgumentNullException.ThrowIfNull(a20);
        ArgumentNullException.ThrowIfNull(control);
        _a20 = a20;
        _control = control;
    }

    public uint PortRead(ushort port, int size) => (uint)((_value & ~0x03) | (_value & 0x01) | (_a20.Enabled ? 0x02 : 0));

    public void PortWrite(ushort port, int size, uint value)
    {
        byte old = _value;
        _value = (byte)value;
        _a20.Set((value & 0x02) != 0);
        if ((value & 0x01) != 0 && (old & 0x01) == 0) _control.RequestReset("port 0x92 fast reset");
    }
}

/// <summary>
/// The PIIX/ICH reset control register at 0xCF9 (byte access only): bit 1 selects a hard reset, bit 2
/// (RST_CPU) resets on its 0→1 transition, bit 3 asks for a full power cycle. Linux's <c>reboot=pci</c>
/// writes 0x02 then 0x06. It shares the dword at 0xCF8 with the PCI configuration address register, so
/// the PCI host bridge should pass byte accesses to 0xCF9 here.
/// </summary>
public sealed class ResetControlRegister : IPortDevice
{
    public const ushort Port = 0xCF9;
    private readonly IMachineControl _control;
    private byte _value;

    public ResetControlRegister(IMachineControl control)
    {
        ArgumentNullException.ThrowIfNull(control);
        _control = control;
    }

    public uint PortRead(ushort port, int size) => (uint)(_value & 0x0A);

    public void PortWrite(ushort port, int size, uint value)
    {
        byte old = _value;
        _value = (byte)(value & 0x0E);
        if ((value & 0x04) != 0 && (old & 0x04) == 0)
            _control.RequestReset((value & 0x02) != 0 ? "0xCF9 hard reset" : "0xCF9 soft reset");
    }
}
