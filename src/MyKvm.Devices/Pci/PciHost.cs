using MyKvm.Core;

namespace MyKvm.Devices.Pci;

/// <summary>
/// Bus 0 of the PCI hierarchy: up to 32 devices × 8 functions. Functions that are not present read
/// all ones (the master abort a PCI host bridge turns into 0xFFFFFFFF; PCI 3.0 §6.1), so a kernel's scan
/// sees vendor 0xFFFF and moves on.
/// </summary>
public sealed class PciBus
{
    private readonly IPciDevice?[] _functions = new IPciDevice?[32 * 8];

    public void Attach(int device, int function, IPciDevice dev)
    {
        ArgumentNullException.ThrowIfNull(dev);
        ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)device, 31u, nameof(device));
        ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)function, 7u, nameof(function));
        ref var slot = ref _functions[device * 8 + function];
        if (slot is not null) throw new InvalidOperationException($"PCI 00:{device:x2}.{function} is already in use");
        slot = dev;
    }

    public IPciDevice? FunctionAt(int device, int function) => _functions[device * 8 + function];

    /// <summary>First free device number (for devices that do not care where they sit).</summary>
    public int FreeDeviceNumber()
    {
        for (int d = 0; d < 32; d++)
            if (_functions[d * 8] is null) return d;
        throw new InvalidOperationException("PCI bus 0 is full");
    }

    public uint Read(int bus, int device, int function, int offset, int size)
    {
        var f = bus == 0 ? _functions[device * 8 + function] : null;
        if (f is null) return size switch { 1 => 0xFF, 2 => 0xFFFF, _ => 0xFFFF_FFFF };
        return f.ConfigRead(offset, size);
    }

    public void Write(int bus, int device, int function, int offset, int size, uint value)
    {
        var f = bus == 0 ? _functions[device * 8 + function] : null;
        f?.ConfigWrite(offset, size, value);
    }
}

/// <summary>
/// PCI configuration mechanism #1 (PCI 3.0 §3.2.2.3.2): CONFIG_ADDRESS at 0xCF8 (dword accesses only),
/// CONFIG_DATA at 0xCFC–0xCFF. Register it over ports 0xCF8–0xCFF (<see cref="FirstPort"/>, <see cref="PortCount"/>).
/// Byte port 0xCF9 is the PIIX reset control register (82371SB datasheet §4.1.2), which shares the dword with
/// CONFIG_ADDRESS: byte accesses to it are passed to <c>resetControl</c> (Legacy's <c>ResetControlRegister</c>).
/// </summary>
public sealed class PciHost : IPortDevice
{
    public const ushort FirstPort = 0xCF8;
    public const int PortCount = 8;
    private const uint AddressMask = 0x80FF_FFFC; // enable, bus, device, function, register; bits 30:24 and 1:0 reserved

    private readonly IPortDevice? _resetControl;
    private uint _address;

    /// <param name="bus">PCI bus 0.</param>
    /// <param name="resetControl">The device behind byte port 0xCF9 (the reset control register), if any.</param>
    public PciHost(PciBus bus, IPortDevice? resetControl = null)
    {
        Bus = bus;
        _resetControl = resetControl;
    }

    public PciBus Bus { get; }
    public uint ConfigAddress => _address;

    public uint PortRead(ushort port, int size)
    {
        if (port == 0xCF8 && size == 4) return _address;
        if (port == 0xCF9 && size == 1) return _resetControl?.PortRead(port, 1) ?? 0xFF;
        if (port >= 0xCFC && TryDecode(port, size, out int bus, out int dev, out int fn, out int offset))
            return Bus.Read(bus, dev, fn, offset, size);
        return size switch { 1 => 0xFF, 2 => 0xFFFF, _ => 0xFFFF_FFFF };
    }

    public void PortWrite(ushort port, int size, uint value)
    {
        if (port == 0xCF8 && size == 4)
        {
            _address = value & AddressMask;
            return;
        }
        if (port == 0xCF9 && size == 1)
        {
            _resetControl?.PortWrite(port, 1, value);
            return;
        }
        if (port >= 0xCFC && TryDecode(port, size, out int bus, out int dev, out int fn, out int offset))
            Bus.Write(bus, dev, fn, offset, size, value);
    }

    private bool TryDecode(ushort port, int size, out int bus, out int device, out int function, out int offset)
    {
        bus = (int)(_address >> 16) & 0xFF;
        device = (int)(_address >> 11) & 0x1F;
        function = (int)(_address >> 8) & 7;
        int lane = port & 3;
        offset = (int)(_address & 0xFC) + lane;
        // Disabled mechanism, or an access that would cross the dword: nothing answers.
        return (_address & 0x8000_0000) != 0 && lane + size <= 4;
    }
}
