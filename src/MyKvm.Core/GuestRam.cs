using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace MyKvm.Core;

/// <summary>A guest-physical range backed by RAM, and where it sits in the host mapping.</summary>
public readonly record struct RamRegion(ulong GuestPhysical, ulong Size, ulong HostOffset);

/// <summary>
/// Guest RAM: one anonymous host mapping, shared by the software CPU and by KVM (as memory slots).
/// The PC layout puts RAM at [0, min(size, 3 GiB)) and the rest above 4 GiB, leaving the hole
/// below 4 GiB for MMIO (LAPIC, IOAPIC, BIOS flash).
/// Everything outside the CPU hot path goes through the bounds-checked accessors here; the CPU takes
/// <see cref="HostBase"/> and checks bounds once per TLB fill via <see cref="TryGetHostOffset"/>.
/// </summary>
public sealed unsafe class GuestRam : IDisposable
{
    /// <summary>Start of the MMIO hole below 4 GiB; RAM beyond it is remapped above 4 GiB.</summary>
    public const ulong LowRamLimit = 0xC000_0000;
    public const ulong FourGiB = 0x1_0000_0000;

    private byte* _base;
    private readonly RamRegion[] _regions;

    public GuestRam(ulong sizeBytes)
    {
        if (sizeBytes < 0x10_0000 || (sizeBytes & 0xFFF) != 0)
            throw new ArgumentOutOfRangeException(nameof(sizeBytes), "guest RAM must be at least 1 MiB and page-aligned");
        Size = sizeBytes;
        _base = HostMemory.MapAnonymous(sizeBytes);
        LowSize = Math.Min(sizeBytes, LowRamLimit);
        HighSize = sizeBytes - LowSize;
        _regions = HighSize == 0
            ? [new RamRegion(0, LowSize, 0)]
            : [new RamRegion(0, LowSize, 0), new RamRegion(FourGiB, HighSize, LowSize)];
    }

    /// <summary>Total RAM in bytes.</summary>
    public ulong Size { get; }
    /// <summary>RAM below the 3 GiB hole, at guest-physical 0.</summary>
    public ulong LowSize { get; }
    /// <summary>RAM remapped at 4 GiB and above.</summary>
    public ulong HighSize { get; }
    /// <summary>The guest-physical ranges that are RAM (at most two), each with its host offset.</summary>
    public ReadOnlySpan<RamRegion> Regions => _regions;

    /// <summary>The start of the host mapping. Valid until <see cref="Dispose"/>.</summary>
    public byte* HostBase
    {
        get
        {
            ObjectDisposedException.ThrowIf(_base == null, this);
            return _base;
        }
    }

    /// <summary>One past the highest guest-physical RAM address.</summary>
    public ulong EndOfRam => HighSize == 0 ? LowSize : FourGiB + HighSize;

    /// <summary>
    /// Translates a guest-physical address to an offset in the host mapping. <paramref name="contiguous"/>
    /// is how many bytes from there on stay inside the same RAM region.
    /// </summary>
    public bool TryGetHostOffset(ulong gpa, out ulong hostOffset, out ulong contiguous)
    {
        if (gpa < LowSize)
        {
            hostOffset = gpa;
            contiguous = LowSize - gpa;
            return true;
        }
        if (HighSize != 0 && gpa >= FourGiB && gpa - FourGiB < HighSize)
        {
            hostOffset = LowSize + (gpa - FourGiB);
            contiguous = HighSize - (gpa - FourGiB);
            return true;
        }
        hostOffset = 0;
        contiguous = 0;
        return false;
    }

    /// <summary>True when [gpa, gpa+length) lies inside one RAM region.</summary>
    public bool Contains(ulong gpa, ulong length) =>
        TryGetHostOffset(gpa, out _, out var contiguous) && length <= contiguous;

    /// <summary>A view of guest RAM; throws <see cref="GuestMemoryException"/> if the range is not all RAM.</summary>
    public Span<byte> GetSpan(ulong gpa, int length)
    {
        if (length < 0 || !TryGetHostOffset(gpa, out var offset, out var contiguous) || (ulong)length > contiguous)
            throw new GuestMemoryException(gpa, length);
        return new Span<byte>(HostBase + offset, length);
    }

    public byte Read8(ulong gpa) => GetSpan(gpa, 1)[0];
    public ushort Read16(ulong gpa) => BinaryPrimitives.ReadUInt16LittleEndian(GetSpan(gpa, 2));
    public uint Read32(ulong gpa) => BinaryPrimitives.ReadUInt32LittleEndian(GetSpan(gpa, 4));
    public ulong Read64(ulong gpa) => BinaryPrimitives.ReadUInt64LittleEndian(GetSpan(gpa, 8));
    public void Write8(ulong gpa, byte value) => GetSpan(gpa, 1)[0] = value;
    public void Write16(ulong gpa, ushort value) => BinaryPrimitives.WriteUInt16LittleEndian(GetSpan(gpa, 2), value);
    public void Write32(ulong gpa, uint value) => BinaryPrimitives.WriteUInt32LittleEndian(GetSpan(gpa, 4), value);
    public void Write64(ulong gpa, ulong value) => BinaryPrimitives.WriteUInt64LittleEndian(GetSpan(gpa, 8), value);
    public void Write(ulong gpa, ReadOnlySpan<byte> data) => data.CopyTo(GetSpan(gpa, data.Length));
    public void Read(ulong gpa, Span<byte> destination) => GetSpan(gpa, destination.Length).CopyTo(destination);
    public void Fill(ulong gpa, int length, byte value) => GetSpan(gpa, length).Fill(value);

    /// <summary>Reads a NUL-terminated string of at most <paramref name="maxLength"/> bytes.</summary>
    public string ReadCString(ulong gpa, int maxLength = 4096)
    {
        var sb = new System.Text.StringBuilder();
        for (int i = 0; i < maxLength; i++)
        {
            byte b = Read8(gpa + (ulong)i);
            if (b == 0) break;
            sb.Append((char)b);
        }
        return sb.ToString();
    }

    public void Dispose()
    {
        if (_base != null)
        {
            HostMemory.Unmap(_base, Size);
            _base = null;
        }
    }
}

/// <summary>An access by the VMM (not the guest) to a guest-physical range that is not RAM.</summary>
public sealed class GuestMemoryException(ulong address, long length)
    : Exception($"guest-physical range 0x{address:x}+0x{length:x} is not RAM")
{
    public ulong Address { get; } = address;
}

/// <summary>Anonymous page-aligned host memory via mmap, as KVM memory slots require.</summary>
internal static unsafe partial class HostMemory
{
    private const int PROT_READ = 1, PROT_WRITE = 2;
    private const int MAP_PRIVATE = 0x02, MAP_ANONYMOUS = 0x20, MAP_NORESERVE = 0x4000;

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint mmap(nint addr, nuint length, int prot, int flags, int fd, nint offset);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int munmap(nint addr, nuint length);

    public static byte* MapAnonymous(ulong size)
    {
        if (!OperatingSystem.IsLinux())
            return (byte*)NativeMemory.AlignedAlloc((nuint)size, 4096);
        nint p = mmap(0, (nuint)size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == -1)
            throw new OutOfMemoryException($"cannot map {size >> 20} MiB of guest RAM (errno {Marshal.GetLastPInvokeError()})");
        return (byte*)p;
    }

    public static void Unmap(byte* p, ulong size)
    {
        if (!OperatingSystem.IsLinux())
        {
            NativeMemory.AlignedFree(p);
            return;
        }
        munmap((nint)p, (nuint)size);
    }
}
