namespace MyKvm.Devices.Storage;

/// <summary>
/// A disk as a sequence of 512-byte sectors. Implementations are used from the vCPU thread only.
/// <see cref="IDisposable.Dispose"/> flushes everything written (no data lost on a clean exit).
/// </summary>
public interface IBlockDevice : IDisposable
{
    const int SectorSize = 512;

    long SectorCount { get; }
    bool ReadOnly { get; }

    /// <summary>Reads whole sectors starting at <paramref name="lba"/>; the span length is a multiple of 512.</summary>
    void Read(long lba, Span<byte> destination);

    /// <summary>Writes whole sectors; throws <see cref="InvalidOperationException"/> on a read-only device.</summary>
    void Write(long lba, ReadOnlySpan<byte> source);

    /// <summary>Makes every completed write durable (ATA FLUSH CACHE).</summary>
    void Flush();
}

/// <summary>How a disk image file is opened.</summary>
public enum DiskMode
{
    /// <summary>Guest writes go to the file.</summary>
    ReadWrite,
    /// <summary>Guest writes fail (the drive reports an error).</summary>
    ReadOnly,
    /// <summary>Copy-on-write: writes are kept in memory, the file is never modified (<c>-snapshot</c>).</summary>
    Snapshot,
}

public static class DiskImage
{
    /// <summary>Opens a raw image file. A trailing partial sector is not part of the disk.</summary>
    public static IBlockDevice Open(string path, DiskMode mode)
    {
        var file = new FileDisk(path, writable: mode == DiskMode.ReadWrite);
        return mode == DiskMode.Snapshot ? new SnapshotDisk(file, ownsBase: true) : file;
    }

    internal static void CheckRange(IBlockDevice dev, long lba, int length)
    {
        if (length % IBlockDevice.SectorSize != 0)
            throw new ArgumentException("transfers are whole sectors", nameof(length));
        if (lba < 0 || lba + length / IBlockDevice.SectorSize > dev.SectorCount)
            throw new ArgumentOutOfRangeException(nameof(lba), $"sector {lba} (+{length / IBlockDevice.SectorSize}) is beyond the disk's {dev.SectorCount} sectors");
    }
}

/// <summary>A raw image file. Writes go through a <see cref="FileStream"/>; Flush and Dispose make them durable.</summary>
public sealed class FileDisk : IBlockDevice
{
    private readonly FileStream _file;
    private bool _dirty;

    public FileDisk(string path, bool writable)
    {
        _file = new FileStream(path, FileMode.Open, writable ? FileAccess.ReadWrite : FileAccess.Read,
            writable ? FileShare.Read : FileShare.ReadWrite, bufferSize: 0);
        ReadOnly = !writable;
        SectorCount = _file.Length / IBlockDevice.SectorSize;
    }

    public long SectorCount { get; }
    public bool ReadOnly { get; }

    public void Read(long lba, Span<byte> destination)
    {
        DiskImage.CheckRange(this, lba, destination.Length);
        _file.Position = lba * IBlockDevice.SectorSize;
        _file.ReadExactly(destination);
    }

    public void Write(long lba, ReadOnlySpan<byte> source)
    {
        if (ReadOnly) throw new InvalidOperationException("the disk is read-only");
        DiskImage.CheckRange(this, lba, source.Length);
        _file.Position = lba * IBlockDevice.SectorSize;
        _file.Write(source);
        _dirty = true;
    }

    public void Flush()
    {
        if (!_dirty) return;
        _file.Flush(flushToDisk: true);
        _dirty = false;
    }

    public void Dispose()
    {
        if (!ReadOnly) Flush();
        _file.Dispose();
    }
}

/// <summary>A disk held in memory (tests, and the scratch disks guests write to).</summary>
public sealed class MemoryDisk : IBlockDevice
{
    private readonly byte[] _data;

    public MemoryDisk(long sectors, bool readOnly = false)
    {
        _data = new byte[checked(sectors * IBlockDevice.SectorSize)];
        ReadOnly = readOnly;
    }

    public MemoryDisk(byte[] image, bool readOnly = false)
    {
        if (image.Length % IBlockDevice.SectorSize != 0) throw new ArgumentException("image size is not a whole number of sectors", nameof(image));
        _data = image;
        ReadOnly = readOnly;
    }

    public long SectorCount => _data.Length / IBlockDevice.SectorSize;
    public bool ReadOnly { get; }
    public Span<byte> Contents => _data;
    public int FlushCount { get; private set; }

    public void Read(long lba, Span<byte> destination)
    {
        DiskImage.CheckRange(this, lba, destination.Length);
        _data.AsSpan((int)(lba * IBlockDevice.SectorSize), destination.Length).CopyTo(destination);
    }

    public void Write(long lba, ReadOnlySpan<byte> source)
    {
        if (ReadOnly) throw new InvalidOperationException("the disk is read-only");
        DiskImage.CheckRange(this, lba, source.Length);
        source.CopyTo(_data.AsSpan((int)(lba * IBlockDevice.SectorSize)));
    }

    public void Flush() => FlushCount++;
    public void Dispose() { }
}

/// <summary>
/// Copy-on-write over a base disk: written sectors live in memory and shadow the base, which is only
/// ever read. Dropping the overlay (dispose) discards the guest's writes, leaving the image untouched.
/// </summary>
public sealed class SnapshotDisk : IBlockDevice
{
    private readonly IBlockDevice _base;
    private readonly bool _ownsBase;
    private readonly Dictionary<long, byte[]> _overlay = [];

    public SnapshotDisk(IBlockDevice baseDisk, bool ownsBase)
    {
        _base = baseDisk;
        _ownsBase = ownsBase;
    }

    public long SectorCount => _base.SectorCount;
    public bool ReadOnly => false;
    /// <summary>How many distinct sectors the guest has written.</summary>
    public int DirtySectors => _overlay.Count;

    public void Read(long lba, Span<byte> destination)
    {
        DiskImage.CheckRange(this, lba, destination.Length);
        int n = destination.Length / IBlockDevice.SectorSize;
        // Read runs of sectors that are not in the overlay from the base in one go.
        int i = 0;
        while (i < n)
        {
            var chunk = destination.Slice(i * IBlockDevice.SectorSize, IBlockDevice.SectorSize);
            if (_overlay.TryGetValue(lba + i, out var sector))
            {
                sector.CopyTo(chunk);
                i++;
                continue;
            }
            int run = 1;
            while (i + run < n && !_overlay.ContainsKey(lba + i + run)) run++;
            _base.Read(lba + i, destination.Slice(i * IBlockDevice.SectorSize, run * IBlockDevice.SectorSize));
            i += run;
        }
    }

    public void Write(long lba, ReadOnlySpan<byte> source)
    {
        DiskImage.CheckRange(this, lba, source.Length);
        int n = source.Length / IBlockDevice.SectorSize;
        for (int i = 0; i < n; i++)
            _overlay[lba + i] = source.Slice(i * IBlockDevice.SectorSize, IBlockDevice.SectorSize).ToArray();
    }

    public void Flush() { }

    public void Dispose()
    {
        _overlay.Clear();
        if (_ownsBase) _base.Dispose();
    }
}
