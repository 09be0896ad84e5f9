using MyKvm.Core;
using MyKvm.Devices.Storage;

namespace MyKvm.Devices.Tests.Storage;

public sealed class DiskImageTests : IDisposable
{
    private readonly string _path = Path.Combine(Path.GetTempPath(), $"mykvm-disk-{Guid.NewGuid():N}.img");

    public DiskImageTests()
    {
        var data = new byte[64 * 512 + 100]; // a trailing partial sector is not part of the disk
        for (int i = 0; i < data.Length; i++) data[i] = (byte)(i / 512);
        File.WriteAllBytes(_path, data);
    }

    public void Dispose() => File.Delete(_path);

    private static void WriteViaIde(IBlockDevice disk, int lba, byte fill)
    {
        var io = new IoBus();
        IdeChannel.Primary(NullIrqLine.Instance, disk).RegisterOn(io);
        io.Write(0x1F6, 1, 0xE0);
        io.Write(0x1F2, 1, 1);
        io.Write(0x1F3, 1, (uint)lba);
        io.Write(0x1F4, 1, 0);
        io.Write(0x1F5, 1, 0);
        io.Write(0x1F7, 1, 0x30);
        for (int i = 0; i < 256; i++) io.Write(0x1F0, 2, (uint)(fill | (fill << 8)));
        Assert.Equal(0x50u, io.Read(0x1F7, 1));
    }

    [Fact]
    public void ReadWriteImageKeepsWritesAfterDispose()
    {
        using (var disk = DiskImage.Open(_path, DiskMode.ReadWrite))
        {
            Assert.Equal(64, disk.SectorCount);
            WriteViaIde(disk, 3, 0xAB);
        }
        var after = File.ReadAllBytes(_path);
        Assert.All(after.AsSpan(3 * 512, 512).ToArray(), b => Assert.Equal(0xAB, b));
        Assert.Equal(2, after[2 * 512]);
        Assert.Equal(64 * 512 + 100, after.Length);
    }

    [Fact]
    public void SnapshotModeSeesItsWritesButLeavesTheImageUntouched()
    {
        var before = File.ReadAllBytes(_path);
        using (var disk = DiskImage.Open(_path, DiskMode.Snapshot))
        {
            WriteViaIde(disk, 5, 0xCD);
            WriteViaIde(disk, 6, 0xCE);
            var buf = new byte[4 * 512];
            disk.Read(4, buf);
            Assert.Equal(4, buf[0]);
            Assert.Equal(0xCD, buf[512]);
            Assert.Equal(0xCE, buf[1023 + 512]);
            Assert.Equal(7, buf[3 * 512]);
            Assert.Equal(2, ((SnapshotDisk)disk).DirtySectors);
        }
        Assert.Equal(before, File.ReadAllBytes(_path));
    }

    [Fact]
    public void ReadOnlyModeRefusesWrites()
    {
        using var disk = DiskImage.Open(_path, DiskMode.ReadOnly);
        Assert.True(disk.ReadOnly);
        Assert.Throws<InvalidOperationException>(() => disk.Write(0, new byte[512]));
    }

    [Fact]
    public void AccessesOutsideTheDiskThrowArgumentErrors()
    {
        using var disk = DiskImage.Open(_path, DiskMode.Snapshot);
        Assert.Throws<ArgumentOutOfRangeException>(() => disk.Read(64, new byte[512]));
        Assert.Throws<ArgumentOutOfRangeException>(() => disk.Write(-1, new byte[512]));
        Assert.Throws<ArgumentException>(() => disk.Read(0, new byte[100]));
    }
}
