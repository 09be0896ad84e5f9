using MyKvm.Core;

namespace MyKvm.Devices.Apic;

/// <summary>
/// The Intel 82093AA I/O APIC (datasheet 290566-001) at 0xFEC00000: IOREGSEL at offset 0x00, IOWIN at 0x10;
/// registers 0x00 ID, 0x01 version (0x11, 24 pins), 0x02 arbitration ID, 0x10 + 2n redirection entry n.
/// Edge-triggered pins deliver on a rising edge while unmasked (an edge on a masked pin is lost, as the datasheet
/// says). Level-triggered pins deliver while asserted and set Remote IRR; the local APIC's EOI broadcast for the
/// vector clears it and a still-asserted pin delivers again.
/// An <see cref="IIrqLine"/> level of true means "asserted"; the polarity bit is kept but not applied
/// (devices here signal logically, as in QEMU).
/// </summary>
public sealed class IoApic : IMmioDevice
{
    public const int DefaultPins = 24;
    public const ulong MmioSize = 0x1000;
    private const ulong MaskBit = 1UL << 16, RemoteIrrBit = 1UL << 14, LevelBit = 1UL << 15;
    // Vector, delivery mode, destination mode, polarity, trigger mode, mask, destination: the guest's to write.
    private const ulong WritableBits = 0xFF00_0000_0000_0000UL | 0x1_AFFFUL;

    private readonly ApicBus _bus;
    private readonly ulong[] _redirection;
    private readonly bool[] _pinLevel;
    private readonly Pin[] _pins;
    private byte _id;
    private uint _select;

    public IoApic(ApicBus bus, byte id = 1, int pins = DefaultPins)
    {
        _bus = bus;
        _id = (byte)(id & 0x0F);
        _redirection = new ulong[pins];
        _pinLevel = new bool[pins];
        _pins = new Pin[pins];
        for (int i = 0; i < pins; i++)
        {
            _redirection[i] = MaskBit; // all masked at reset
            _pins[i] = new Pin(this, i);
        }
        bus.Attach(this);
    }

    public byte Id => _id;
    public int PinCount => _redirection.Length;
    public uint Version => (uint)((PinCount - 1) << 16) | 0x11;

    public IIrqLine GetPin(int pin) => _pins[pin];

    /// <summary>The 64-bit redirection table entry for a pin (delivery status always 0: delivery is instant).</summary>
    public ulong RedirectionEntry(int pin) => _redirection[pin];

    public ulong MmioRead(ulong offset, int size)
    {
        uint value = (offset & ~3UL) switch
        {
            0x00 => _select,
            0x10 => ReadRegister(_select),
            _ => 0,
        };
        return value >> (int)(8 * (offset & 3));
    }

    public void MmioWrite(ulong offset, int size, ulong value)
    {
        switch (offset)
        {
            case 0x00: _select = (uint)value & 0xFF; break;
            case 0x10: WriteRegister(_select, (uint)value); break;
        }
    }

    private uint ReadRegister(uint index)
    {
        switch (index)
        {
            case 0x00: return (uint)_id << 24;
            case 0x01: return Version;
            case 0x02: return (uint)_id << 24; // arbitration ID follows the APIC ID
        }
        int pin = (int)(index - 0x10) / 2;
        if (index < 0x10 || pin >= PinCount) return 0;
        ulong e = _redirection[pin];
        return (index & 1) == 0 ? (uint)e : (uint)(e >> 32);
    }

    private void WriteRegister(uint index, uint value)
    {
        if (index == 0x00)
        {
            _id = (byte)((value >> 24) & 0x0F);
            return;
        }
        int pin = (int)(index - 0x10) / 2;
        if (index < 0x10 || pin >= PinCount) return;
        ulong old = _redirection[pin];
        ulong e = (index & 1) == 0
            ? (old & 0xFFFF_FFFF_0000_0000UL) | value
            : (old & 0x0000_0000_FFFF_FFFFUL) | ((ulong)value << 32);
        e = (e & WritableBits) | (old & RemoteIrrBit);
        if ((e & LevelBit) == 0) e &= ~RemoteIrrBit; // Remote IRR means nothing for edge-triggered pins
        _redirection[pin] = e;
        // Unmasking an asserted level-triggered pin delivers it now.
        if ((e & LevelBit) != 0 && _pinLevel[pin]) TryDeliver(pin);
    }

    private void SetPin(int pin, bool level)
    {
        bool old = _pinLevel[pin];
        _pinLevel[pin] = level;
        ulong e = _redirection[pin];
        if ((e & LevelBit) != 0)
        {
            if (level) TryDeliver(pin);
        }
        else if (level && !old)
            TryDeliver(pin);
    }

    private void TryDeliver(int pin)
    {
        ulong e = _redirection[pin];
        if ((e & MaskBit) != 0) return;
        bool level = (e & LevelBit) != 0;
        if (level)
        {
            if ((e & RemoteIrrBit) != 0) return;
            _redirection[pin] = e | RemoteIrrBit;
        }
        var mode = (ApicDeliveryMode)((e >> 8) & 7);
        _bus.Deliver(new ApicMessage((byte)e, mode, (e & (1UL << 11)) != 0, (byte)(e >> 56), level));
    }

    /// <summary>An EOI broadcast from a local APIC: clears Remote IRR on level pins with this vector (82093AA §3.4.2).</summary>
    public void EndOfInterrupt(byte vector)
    {
        for (int pin = 0; pin < PinCount; pin++)
        {
            ulong e = _redirection[pin];
            if ((e & RemoteIrrBit) == 0 || (byte)e != vector) continue;
            _redirection[pin] = e & ~RemoteIrrBit;
            if (_pinLevel[pin]) TryDeliver(pin);
        }
    }

    private sealed class Pin(IoApic owner, int index) : IIrqLine
    {
        public void Set(bool level) => owner.SetPin(index, level);
    }
}
