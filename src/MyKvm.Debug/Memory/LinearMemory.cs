using MyKvm.Core;

namespace MyKvm.Debug.Memory;

/// <summary>
/// Linear (virtual) memory through the guest's current paging structures, as the debugger's <c>x</c>, gdb's
/// <c>m</c>/<c>M</c> and the explainer's stack reads need it. The walk is redone per page, so it always reflects
/// the page tables in RAM (not the CPU's TLB).
/// </summary>
public sealed class LinearMemory(IPhysicalMemory physical, VcpuState state)
{
    public IPhysicalMemory Physical { get; } = physical;
    public VcpuState State { get; } = state;

    /// <summary>Reads until the first unmapped or non-RAM byte; returns how many bytes were read.</summary>
    public int Read(ulong linear, Span<byte> destination)
    {
        int done = 0;
        while (done < destination.Length)
        {
            ulong la = linear + (ulong)done;
            var walk = PageWalker.Walk(Physical, State, la);
            if (!walk.Mapped) break;
            ulong inPage = walk.PageSize - (walk.Physical & (walk.PageSize - 1));
            int n = (int)Math.Min((ulong)(destination.Length - done), Math.Min(inPage, 0x1000 - (la & 0xFFF)));
            int got = Physical.Read(walk.Physical, destination.Slice(done, n));
            done += got;
            if (got < n) break;
        }
        return done;
    }

    /// <summary>Writes through the page tables regardless of R/W (a debugger may patch read-only text).</summary>
    public int Write(ulong linear, ReadOnlySpan<byte> data)
    {
        int done = 0;
        while (done < data.Length)
        {
            ulong la = linear + (ulong)done;
            var walk = PageWalker.Walk(Physical, State, la);
            if (!walk.Mapped) break;
            int n = (int)Math.Min((ulong)(data.Length - done), 0x1000 - (la & 0xFFF));
            int put = Physical.Write(walk.Physical, data.Slice(done, n));
            done += put;
            if (put < n) break;
        }
        return done;
    }

    public bool TryRead32(ulong linear, out uint value)
    {
        Span<byte> b = stackalloc byte[4];
        bool ok = Read(linear, b) == 4;
        value = ok ? BitConverter.ToUInt32(b) : 0;
        return ok;
    }

    public bool TryRead64(ulong linear, out ulong value)
    {
        Span<byte> b = stackalloc byte[8];
        bool ok = Read(linear, b) == 8;
        value = ok ? BitConverter.ToUInt64(b) : 0;
        return ok;
    }

    /// <summary>Reads a pointer-sized value: 8 bytes in 64-bit code, 4 otherwise.</summary>
    public bool TryReadPointer(ulong linear, int size, out ulong value)
    {
        if (size == 8) return TryRead64(linear, out value);
        bool ok = TryRead32(linear, out uint v);
        value = v;
        return ok;
    }
}
