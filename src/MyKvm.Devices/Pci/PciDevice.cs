using System.Buffers.Binary;

namespace MyKvm.Devices.Pci;

/// <summary>
/// One PCI function as the configuration mechanism sees it: a 256-byte configuration space
/// (PCI Local Bus Specification 3.0 §6.1). <paramref name="offset"/> is 0–255 and the access
/// (1, 2 or 4 bytes) never crosses a dword boundary; the host bridge guarantees both.
/// </summary>
public interface IPciDevice
{
    uint ConfigRead(int offset, int size);
    void ConfigWrite(int offset, int size, uint value);
}

/// <summary>Standard type-0 header offsets (PCI 3.0 §6.1, figure 6-1).</summary>
public static class PciConfig
{
    public const int VendorId = 0x00, DeviceId = 0x02, Command = 0x04, Status = 0x06;
    public const int RevisionId = 0x08, ProgIf = 0x09, SubClass = 0x0A, ClassCode = 0x0B;
    public const int CacheLineSize = 0x0C, LatencyTimer = 0x0D, HeaderType = 0x0E, Bist = 0x0F;
    public const int Bar0 = 0x10;
    public const int SubsystemVendorId = 0x2C, SubsystemId = 0x2E;
    public const int CapabilitiesPointer = 0x34, InterruptLine = 0x3C, InterruptPin = 0x3D;

    public const ushort CommandIo = 1, CommandMemory = 2, CommandBusMaster = 4, CommandInterruptDisable = 0x400;
    public const ushort StatusCapabilities = 0x10;
}

/// <summary>
/// A configuration space with per-bit write masks, base address registers that answer the usual
/// size probe (write all ones, read back the size mask; PCI 3.0 §6.2.5.1), and a hook when a BAR or
/// the command register changes so a device can move its I/O or MMIO window.
/// Derived devices fill in IDs and BARs in their constructor.
/// </summary>
public class PciFunction : IPciDevice
{
    private readonly byte[] _config = new byte[256];
    private readonly byte[] _writable = new byte[256];
    private readonly uint[] _barSize = new uint[6];
    private readonly bool[] _barIsIo = new bool[6];

    public PciFunction(ushort vendorId, ushort deviceId, byte classCode, byte subClass, byte progIf, byte revision = 0)
    {
        Set16(PciConfig.VendorId, vendorId);
        Set16(PciConfig.DeviceId, deviceId);
        _config[PciConfig.RevisionId] = revision;
        _config[PciConfig.ProgIf] = progIf;
        _config[PciConfig.SubClass] = subClass;
        _config[PciConfig.ClassCode] = classCode;
        // Command: I/O, memory, bus master, interrupt disable are software's to set.
        SetWritable(PciConfig.Command, 2, PciConfig.CommandIo | PciConfig.CommandMemory | PciConfig.CommandBusMaster | PciConfig.CommandInterruptDisable);
        SetWritable(PciConfig.CacheLineSize, 1, 0xFF);
        SetWritable(PciConfig.LatencyTimer, 1, 0xFF);
        SetWritable(PciConfig.InterruptLine, 1, 0xFF);
    }

    /// <summary>Raw configuration bytes (device-side view; guests go through <see cref="ConfigRead"/>).</summary>
    public Span<byte> Config => _config;

    public ushort Command => BinaryPrimitives.ReadUInt16LittleEndian(_config.AsSpan(PciConfig.Command));

    /// <summary>Raised after the guest writes a BAR (index) or the command register (index -1).</summary>
    public event Action<int>? DecodingChanged;

    public void Set8(int offset, byte value) => _config[offset] = value;
    public void Set16(int offset, ushort value) => BinaryPrimitives.WriteUInt16LittleEndian(_config.AsSpan(offset), value);
    public void Set32(int offset, uint value) => BinaryPrimitives.WriteUInt32LittleEndian(_config.AsSpan(offset), value);

    /// <summary>Marks bits of a field guest-writable (little-endian mask over <paramref name="length"/> bytes).</summary>
    public void SetWritable(int offset, int length, ulong mask)
    {
        for (int i = 0; i < length; i++)
            _writable[offset + i] = (byte)(mask >> (8 * i));
    }

    /// <summary>Declares BAR <paramref name="index"/> as an I/O or 32-bit memory window of <paramref name="size"/> bytes (a power of two).</summary>
    public void DefineBar(int index, uint size, bool io, bool prefetchable = false)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)index, 5u, nameof(index));
        if (size < (io ? 4u : 16u) || (size & (size - 1)) != 0)
            throw new ArgumentOutOfRangeException(nameof(size), "a BAR size is a power of two, at least 4 (I/O) or 16 (memory)");
        _barSize[index] = size;
        _barIsIo[index] = io;
        int off = PciConfig.Bar0 + 4 * index;
        // Low bits are hardwired: bit 0 = 1 for I/O; type 00 (32-bit) and the prefetchable bit for memory.
        Set32(off, io ? 1u : prefetchable ? 8u : 0u);
        SetWritable(off, 4, ~(size - 1) & (io ? 0xFFFF_FFFCu : 0xFFFF_FFF0u));
    }

    /// <summary>The address a BAR decodes, or null if it is undefined or its space is disabled in the command register.</summary>
    public uint? BarAddress(int index)
    {
        if (_barSize[index] == 0) return null;
        uint raw = BinaryPrimitives.ReadUInt32LittleEndian(_config.AsSpan(PciConfig.Bar0 + 4 * index));
        bool enabled = (Command & (_barIsIo[index] ? PciConfig.CommandIo : PciConfig.CommandMemory)) != 0;
        if (!enabled) return null;
        return raw & (_barIsIo[index] ? 0xFFFF_FFFCu : 0xFFFF_FFF0u);
    }

    public uint BarSize(int index) => _barSize[index];

    public virtual uint ConfigRead(int offset, int size)
    {
        uint v = 0;
        for (int i = 0; i < size; i++)
            v |= (uint)_config[offset + i] << (8 * i);
        return v;
    }

    public virtual void ConfigWrite(int offset, int size, uint value)
    {
        bool barTouched = false, commandTouched = false;
        for (int i = 0; i < size; i++)
        {
            int o = offset + i;
            byte mask = _writable[o];
            if (mask == 0) continue;
            _config[o] = (byte)((_config[o] & ~mask) | ((byte)(value >> (8 * i)) & mask));
            if (o >= PciConfig.Bar0 && o < PciConfig.Bar0 + 24) barTouched = true;
            if (o is PciConfig.Command or PciConfig.Command + 1) commandTouched = true;
        }
        if (barTouched) DecodingChanged?.Invoke((offset - PciConfig.Bar0) / 4);
        if (commandTouched) DecodingChanged?.Invoke(-1);
    }
}

/// <summary>The Intel 82441FX host bridge of the 440FX chipset (00:00.0), class 06/00 — what PC kernels look for first.</summary>
public sealed class PciHostBridgeFunction : PciFunction
{
    public PciHostBridgeFunction() : base(0x8086, 0x1237, classCode: 0x06, subClass: 0x00, progIf: 0x00, revision: 0x02)
    {
        // Memory and I/O decoding are always on in a host bridge; the guest may still write them.
        Set16(PciConfig.Command, PciConfig.CommandIo | PciConfig.CommandMemory);
        Set16(PciConfig.Status, 0x0280); // fast back-to-back capable, DEVSEL medium
    }
}
