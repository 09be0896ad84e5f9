using MyKvm.Core;

namespace MyKvm.Debug.Memory;

/// <summary>
/// Guest-physical memory as the debugger sees it: RAM only. Reads never reach MMIO devices, so looking at memory
/// cannot change device state (a read of a UART's data register would eat a byte).
/// </summary>
public interface IPhysicalMemory
{
    /// <summary>Reads as many bytes as are RAM from <paramref name="address"/> on; returns how many were read.</summary>
    int Read(ulong address, Span<byte> destination);
    /// <summary>Writes as many bytes as are RAM; returns how many were written.</summary>
    int Write(ulong address, ReadOnlySpan<byte> data);
}

/// <summary><see cref="IPhysicalMemory"/> over <see cref="GuestRam"/>, bounds-checked, never throwing.</summary>
public sealed class RamPhysicalMemory(GuestRam ram) : IPhysicalMemory
{
    public GuestRam Ram { get; } = ram;

    public int Read(ulong address, Span<byte> destination)
    {
        int done = 0;
        while (done < destination.Length)
        {
            ulong pa = address + (ulong)done;
            if (pa < address || !Ram.TryGetHostOffset(pa, out _, out var contiguous)) break;
            int n = (int)Math.Min((ulong)(destination.Length - done), contiguous);
            Ram.GetSpan(pa, n).CopyTo(destination[done..]);
            done += n;
        }
        return done;
    }

    public int Write(ulong address, ReadOnlySpan<byte> data)
    {
        int done = 0;
        while (done < data.Length)
        {
            ulong pa = address + (ulong)done;
            if (pa < address || !Ram.TryGetHostOffset(pa, out _, out var contiguous)) break;
            int n = (int)Math.Min((ulong)(data.Length - done), contiguous);
            data.Slice(done, n).CopyTo(Ram.GetSpan(pa, n));
            done += n;
        }
        return done;
    }
}

public static class PhysicalMemoryExtensions
{
    public static bool TryRead32(this IPhysicalMemory m, ulong pa, out uint value)
    {
        Span<byte> b = stackalloc byte[4];
        bool ok = m.Read(pa, b) == 4;
        value = ok ? BitConverter.ToUInt32(b) : 0;
        return ok;
    }

    public static bool TryRead64(this IPhysicalMemory m, ulong pa, out ulong value)
    {
        Span<byte> b = stackalloc byte[8];
        bool ok = m.Read(pa, b) == 8;
        value = ok ? BitConverter.ToUInt64(b) : 0;
        return ok;
    }
}
