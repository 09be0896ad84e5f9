using System.Buffers.Binary;
using System.Runtime.InteropServices;
using MyKvm.Core;

namespace MyKvm.Devices.Firmware;

/// <summary>
/// The BIOS flash as the CPU sees it right after reset: the whole image ending at 4 GiB (the reset vector is at
/// 0xFFFFFFF0, SDM Vol. 3A §9.1.4), read-only. Writes are dropped and counted, as a flash part in read mode would.
/// The bytes live in page-aligned host memory (<see cref="HostPointer"/>) so a backend that cannot execute from MMIO
/// (KVM) can map them as a read-only memory slot instead of going through <see cref="IMmioDevice"/>.
/// The copy below 1 MiB (0xC0000/0xE0000–0xFFFFF) is not this device: it is RAM the BIOS image is copied into at reset
/// (<c>MyKvm.Boot.Bios.BiosBoot</c>).
/// </summary>
public sealed unsafe class BiosRom : IMmioDevice, IDisposable
{
    /// <summary>The largest image that still ends above the I/O APIC and local APIC windows.</summary>
    public const int MaxSize = 16 << 20;

    private byte* _bytes;

    public BiosRom(ReadOnlySpan<byte> image)
    {
        if (image.Length == 0 || image.Length > MaxSize || (image.Length & 0xFFF) != 0)
            throw new ArgumentException($"a BIOS image is a whole number of 4 KiB pages, at most {MaxSize >> 20} MiB (got {image.Length} bytes)", nameof(image));
        Size = image.Length;
        _bytes = (byte*)NativeMemory.AlignedAlloc((nuint)Size, 4096);
        image.CopyTo(new Span<byte>(_bytes, Size));
    }

    public int Size { get; }

    /// <summary>Guest-physical address of the first byte: 4 GiB − <see cref="Size"/>.</summary>
    public ulong Base => GuestRam.FourGiB - (ulong)Size;

    /// <summary>Reads through the bus (code fetched from the flash, as right after reset, counts here).</summary>
    public long Reads { get; private set; }

    /// <summary>Writes the guest tried (and failed) to make.</summary>
    public long IgnoredWrites { get; private set; }

    /// <summary>Page-aligned host copy of the image, valid until <see cref="Dispose"/>.</summary>
    public byte* HostPointer
    {
        get
        {
            ObjectDisposedException.ThrowIf(_bytes == null, this);
            return _bytes;
        }
    }

    public ReadOnlySpan<byte> Bytes => new(HostPointer, Size);

    /// <summary>Maps the image at [<see cref="Base"/>, 4 GiB).</summary>
    public void RegisterOn(MmioBus mmio)
    {
        ArgumentNullException.ThrowIfNull(mmio);
        mmio.Register(Base, (ulong)Size, this);
    }

    public ulong MmioRead(ulong offset, int size)
    {
        Reads++;
        var bytes = Bytes;
        ulong v = 0;
        for (int i = size - 1; i >= 0; i--)
        {
            ulong at = offset + (ulong)i;
            v = (v << 8) | (at < (ulong)bytes.Length ? bytes[(int)at] : 0xFFu);
        }
        return v;
    }

    public void MmioWrite(ulong offset, int size, ulong value) => IgnoredWrites++;

    /// <summary>The 16 bytes at the reset vector (for diagnostics: SeaBIOS has a far jump there).</summary>
    public ulong ResetVectorQword => BinaryPrimitives.ReadUInt64LittleEndian(Bytes[(Size - 16)..]);

    public void Dispose()
    {
        if (_bytes != null)
        {
            NativeMemory.AlignedFree(_bytes);
            _bytes = null;
        }
    }
}
