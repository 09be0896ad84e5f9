namespace MyKvm.Core;

/// <summary>A device on the x86 I/O port space. <c>size</c> is 1, 2 or 4 bytes.</summary>
public interface IPortDevice
{
    uint PortRead(ushort port, int size);
    void PortWrite(ushort port, int size, uint value);
}

/// <summary>A device in guest-physical address space. <c>offset</c> is relative to its range base.</summary>
public interface IMmioDevice
{
    ulong MmioRead(ulong offset, int size);
    void MmioWrite(ulong offset, int size, ulong value);
}

/// <summary>Where an I/O or MMIO access that no device claims is reported (the <c>--trace io</c> flag).</summary>
public interface IBusTracer
{
    void Unclaimed(string space, ulong address, int size, bool write, ulong value);
    void Access(string space, ulong address, int size, bool write, ulong value);
}

/// <summary>
/// The 64K-entry I/O port table. Reads of an unclaimed port return all ones and writes are ignored,
/// as on a PC's ISA bus.
/// </summary>
public sealed class IoBus
{
    private readonly IPortDevice?[] _ports = new IPortDevice?[0x10000];

    /// <summary>Set to see unclaimed (and, with <see cref="TraceAll"/>, all) accesses.</summary>
    public IBusTracer? Tracer { get; set; }
    public bool TraceAll { get; set; }

    public void Register(ushort firstPort, int count, IPortDevice device)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (count <= 0 || firstPort + count > 0x10000)
            throw new ArgumentOutOfRangeException(nameof(count));
        for (int p = firstPort; p < firstPort + count; p++)
        {
            if (_ports[p] is { } existing && !ReferenceEquals(existing, device))
                throw new InvalidOperationException($"I/O port 0x{p:x} is already claimed by {existing.GetType().Name}");
            _ports[p] = device;
        }
    }

    public IPortDevice? DeviceAt(ushort port) => _ports[port];

    public uint Read(ushort port, int size)
    {
        var dev = _ports[port];
        uint value;
        if (dev is null)
        {
            value = size switch { 1 => 0xFFu, 2 => 0xFFFFu, _ => 0xFFFF_FFFFu };
            Tracer?.Unclaimed("io", port, size, false, value);
            return value;
        }
        value = dev.PortRead(port, size);
        if (TraceAll) Tracer?.Access("io", port, size, false, value);
        return value;
    }

    public void Write(ushort port, int size, uint value)
    {
        var dev = _ports[port];
        if (dev is null)
        {
            Tracer?.Unclaimed("io", port, size, true, value);
            return;
        }
        if (TraceAll) Tracer?.Access("io", port, size, true, value);
        dev.PortWrite(port, size, value);
    }
}

/// <summary>MMIO ranges kept sorted by base; lookup by binary search.</summary>
public sealed class MmioBus
{
    private readonly record struct Range(ulong Base, ulong Size, IMmioDevice Device);
    private Range[] _ranges = [];

    public IBusTracer? Tracer { get; set; }
    public bool TraceAll { get; set; }

    public void Register(ulong baseAddress, ulong size, IMmioDevice device)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (size == 0) throw new ArgumentOutOfRangeException(nameof(size));
        foreach (var r in _ranges)
            if (baseAddress < r.Base + r.Size && r.Base < baseAddress + size)
                throw new InvalidOperationException($"MMIO range 0x{baseAddress:x}+0x{size:x} overlaps {r.Device.GetType().Name} at 0x{r.Base:x}");
        _ranges = [.. _ranges.Append(new Range(baseAddress, size, device)).OrderBy(r => r.Base)];
    }

    /// <summary>True if some device claims <paramref name="address"/>.</summary>
    public bool IsClaimed(ulong address) => Find(address) >= 0;

    private int Find(ulong address)
    {
        int lo = 0, hi = _ranges.Length - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            var r = _ranges[mid];
            if (address < r.Base) hi = mid - 1;
            else if (address - r.Base >= r.Size) lo = mid + 1;
            else return mid;
        }
        return -1;
    }

    /// <summary>Reads from a device; unclaimed addresses read as all ones.</summary>
    public ulong Read(ulong address, int size)
    {
        int i = Find(address);
        if (i < 0)
        {
            ulong ones = size >= 8 ? ulong.MaxValue : (1UL << (size * 8)) - 1;
            Tracer?.Unclaimed("mmio", address, size, false, ones);
            return ones;
        }
        var r = _ranges[i];
        ulong v = r.Device.MmioRead(address - r.Base, size);
        if (TraceAll) Tracer?.Access("mmio", address, size, false, v);
        return v;
    }

    public void Write(ulong address, int size, ulong value)
    {
        int i = Find(address);
        if (i < 0)
        {
            Tracer?.Unclaimed("mmio", address, size, true, value);
            return;
        }
        var r = _ranges[i];
        if (TraceAll) Tracer?.Access("mmio", address, size, true, value);
        r.Device.MmioWrite(address - r.Base, size, value);
    }
}
