using System.Text;
using MyKvm.Core;
using MyKvm.Devices.Storage;

namespace MyKvm.Devices.Tests.Storage;

internal sealed class RecordingIrqLine : IIrqLine
{
    public bool Level { get; private set; }
    public int RisingEdges { get; private set; }
    public void Set(bool level)
    {
        if (level && !Level) RisingEdges++;
        Level = level;
    }
}

public class IdeChannelTests
{
    private const ushort Data = 0x1F0, Error = 0x1F1, Count = 0x1F2, LbaLow = 0x1F3, LbaMid = 0x1F4, LbaHigh = 0x1F5, Device = 0x1F6, Cmd = 0x1F7, Ctl = 0x3F6;

    private readonly RecordingIrqLine _irq = new();
    private readonly IoBus _io = new();
    private readonly MemoryDisk _disk;
    private readonly IdeChannel _channel;

    public IdeChannelTests()
    {
        _disk = new MemoryDisk(4096);
        for (int s = 0; s < 4096; s++)
            for (int i = 0; i < 512; i++)
                _disk.Contents[s * 512 + i] = Pattern(s, i);
        _channel = IdeChannel.Primary(_irq, _disk);
        _channel.RegisterOn(_io);
    }

    private static byte Pattern(int sector, int i) => (byte)(sector * 7 + i * 13 + (sector >> 8));

    private byte Status() => (byte)_io.Read(Cmd, 1);
    private byte AltStatus() => (byte)_io.Read(Ctl, 1);

    private void Lba28(long lba, int count, byte command, int drive = 0)
    {
        _io.Write(Device, 1, (uint)(0xE0 | (drive << 4) | (int)((lba >> 24) & 0xF)));
        _io.Write(Count, 1, (uint)count);
        _io.Write(LbaLow, 1, (uint)(lba & 0xFF));
        _io.Write(LbaMid, 1, (uint)((lba >> 8) & 0xFF));
        _io.Write(LbaHigh, 1, (uint)((lba >> 16) & 0xFF));
        _io.Write(Cmd, 1, command);
    }

    private byte[] ReadBlock(int sectors)
    {
        var buf = new byte[sectors * 512];
        for (int i = 0; i < buf.Length; i += 2)
        {
            ushort w = (ushort)_io.Read(Data, 2);
            buf[i] = (byte)w;
            buf[i + 1] = (byte)(w >> 8);
        }
        return buf;
    }

    private void WriteBlock(ReadOnlySpan<byte> data)
    {
        for (int i = 0; i < data.Length; i += 2)
            _io.Write(Data, 2, (uint)(data[i] | (data[i + 1] << 8)));
    }

    private byte[] Expected(int sector, int count)
    {
        var b = new byte[count * 512];
        for (int s = 0; s < count; s++)
            for (int i = 0; i < 512; i++)
                b[s * 512 + i] = Pattern(sector + s, i);
        return b;
    }

    [Fact]
    public void PowerOnStateShowsReadyDriveWithAtaSignature()
    {
        Assert.Equal(0x50, Status());
        Assert.Equal(1u, _io.Read(Count, 1));
        Assert.Equal(1u, _io.Read(LbaLow, 1));
        Assert.Equal(0u, _io.Read(LbaMid, 1));
        Assert.Equal(0u, _io.Read(LbaHigh, 1));
        Assert.Equal(0xA0u, _io.Read(Device, 1));
        Assert.False(_irq.Level);
    }

    [Fact]
    public void IdentifyReturnsGeometryCapacityModelAndValidChecksum()
    {
        _io.Write(Device, 1, 0xA0);
        _io.Write(Cmd, 1, 0xEC);
        Assert.True(_irq.Level);
        Assert.Equal(0x58, AltStatus());
        Assert.True(_irq.Level);            // alternate status does not acknowledge
        Assert.Equal(0x58, Status());
        Assert.False(_irq.Level);           // status does
        var id = ReadBlock(1);
        Assert.Equal(0x50, Status());
        ushort W(int i) => (ushort)(id[2 * i] | (id[2 * i + 1] << 8));
        Assert.Equal(0x0040, W(0));
        Assert.Equal(4096 / (16 * 63), W(1));
        Assert.Equal(16, W(3));
        Assert.Equal(63, W(6));
        Assert.Equal(4096u, (uint)(W(60) | (W(61) << 16)));
        Assert.Equal(4096u, (uint)(W(100) | (W(101) << 16)));
        Assert.Equal(0x8010, W(47));
        Assert.NotEqual(0, W(49) & 0x0200);
        var model = new StringBuilder();
        for (int i = 27; i < 47; i++) model.Append((char)(W(i) >> 8)).Append((char)(W(i) & 0xFF));
        Assert.Equal("MYKVM HARDDISK", model.ToString().TrimEnd());
        Assert.Equal(0xA5, id[510]);
        Assert.Equal(0, id.Sum(b => b) & 0xFF);
    }

    [Fact]
    public void ReadSectorsInterruptsOncePerSectorAndEndsWithRegistersAtLastSector()
    {
        Lba28(100, 3, 0x20);
        var all = new List<byte>();
        for (int s = 0; s < 3; s++)
        {
            Assert.True(_irq.Level, $"interrupt for sector {s}");
            Assert.Equal(0x58, Status());
            Assert.False(_irq.Level);
            all.AddRange(ReadBlock(1));
        }
        Assert.False(_irq.Level);           // no interrupt after the last block of a read
        Assert.Equal(0x50, Status());
        Assert.Equal(3, _irq.RisingEdges);
        Assert.Equal(Expected(100, 3), all.ToArray());
        Assert.Equal(0u, _io.Read(Count, 1));
        Assert.Equal(102u, _io.Read(LbaLow, 1));
    }

    [Fact]
    public void CountZeroMeans256Sectors()
    {
        Lba28(0, 0, 0x20);
        for (int s = 0; s < 256; s++)
        {
            Status();
            Assert.Equal(Expected(s, 1), ReadBlock(1));
        }
        Assert.Equal(0x50, Status());
    }

    [Fact]
    public void WriteSectorsAsksForFirstBlockWithoutInterruptAndReportsEachBlock()
    {
        var data = new byte[2 * 512];
        new Random(1).NextBytes(data);
        Lba28(7, 2, 0x30);
        Assert.False(_irq.Level);
        Assert.Equal(0x58, AltStatus());
        WriteBlock(data.AsSpan(0, 512));
        Assert.True(_irq.Level);
        Assert.Equal(0x58, Status());
        WriteBlock(data.AsSpan(512));
        Assert.True(_irq.Level);
        Assert.Equal(0x50, Status());
        Assert.Equal(data, _disk.Contents.Slice(7 * 512, 1024).ToArray());
        Assert.Equal(Expected(9, 1), _disk.Contents.Slice(9 * 512, 512).ToArray());
    }

    [Fact]
    public void ReadMultipleNeedsSetMultipleThenTransfersInBlocks()
    {
        Lba28(0, 4, 0xC4);
        Assert.Equal(0x51, Status());
        Assert.Equal((uint)IdeChannel.ErrAbrt, _io.Read(Error, 1));

        _io.Write(Count, 1, 3);             // not a power of two
        _io.Write(Cmd, 1, 0xC6);
        Assert.Equal(0x51, Status());
        _io.Write(Count, 1, 4);
        _io.Write(Cmd, 1, 0xC6);
        Assert.Equal(0x50, Status());
        Assert.Equal(4, _channel.Master!.MultipleCount);

        int edges = _irq.RisingEdges;
        Lba28(50, 10, 0xC4);
        var got = new List<byte>();
        foreach (int block in new[] { 4, 4, 2 })
        {
            Assert.True(_irq.Level);
            Assert.Equal(0x58, Status());
            got.AddRange(ReadBlock(block));
        }
        Assert.Equal(0x50, Status());
        Assert.Equal(3, _irq.RisingEdges - edges);
        Assert.Equal(Expected(50, 10), got.ToArray());
    }

    [Fact]
    public void WriteMultipleWritesBlocks()
    {
        _io.Write(Count, 1, 8);
        _io.Write(Cmd, 1, 0xC6);
        Status();
        var data = new byte[12 * 512];
        new Random(2).NextBytes(data);
        Lba28(1000, 12, 0xC5);
        WriteBlock(data.AsSpan(0, 8 * 512));
        Assert.Equal(0x58, Status());
        WriteBlock(data.AsSpan(8 * 512));
        Assert.Equal(0x50, Status());
        Assert.Equal(data, _disk.Contents.Slice(1000 * 512, data.Length).ToArray());
    }

    [Fact]
    public void ChsAddressingUsesCurrentTranslation()
    {
        // C=1, H=2, S=5 with 16 heads and 63 sectors: (1*16 + 2)*63 + 4 = 1138
        _io.Write(Device, 1, 0xA2);
        _io.Write(Count, 1, 1);
        _io.Write(LbaLow, 1, 5);
        _io.Write(LbaMid, 1, 1);
        _io.Write(LbaHigh, 1, 0);
        _io.Write(Cmd, 1, 0x20);
        Assert.Equal(0x58, Status());
        Assert.Equal(Expected(1138, 1), ReadBlock(1));

        // INITIALIZE DEVICE PARAMETERS: 4 heads, 17 sectors per track. (C=1,H=2,S=5) = (1*4+2)*17+4 = 106
        _io.Write(Device, 1, 0xA3);
        _io.Write(Count, 1, 17);
        _io.Write(Cmd, 1, 0x91);
        Assert.Equal(0x50, Status());
        _io.Write(Device, 1, 0xA2);
        _io.Write(Count, 1, 1);
        _io.Write(LbaLow, 1, 5);
        _io.Write(LbaMid, 1, 1);
        _io.Write(Cmd, 1, 0x20);
        Status();
        Assert.Equal(Expected(106, 1), ReadBlock(1));

        // Sector numbers start at 1.
        _io.Write(LbaLow, 1, 0);
        _io.Write(Cmd, 1, 0x20);
        Assert.Equal(0x51, Status());
        Assert.Equal((uint)IdeChannel.ErrIdnf, _io.Read(Error, 1));
    }

    [Fact]
    public void SectorsBeyondTheDiskFailWithIdnf()
    {
        Lba28(4095, 2, 0x20);
        Assert.True(_irq.Level);
        Assert.Equal(0x51, Status());
        Assert.Equal((uint)IdeChannel.ErrIdnf, _io.Read(Error, 1));
        Lba28(4095, 1, 0x20);
        Assert.Equal(0x58, Status());
        Assert.Equal(Expected(4095, 1), ReadBlock(1));
    }

    [Fact]
    public void NienKeepsTheLineLowButStatusStillShowsProgress()
    {
        _io.Write(Ctl, 1, 0x02);
        Lba28(3, 1, 0x20);
        Assert.False(_irq.Level);
        Assert.Equal(0x58, AltStatus());
        Assert.Equal(Expected(3, 1), ReadBlock(1));
        // Pending interrupt shows up as soon as nIEN is cleared.
        Lba28(3, 1, 0x20);
        _io.Write(Ctl, 1, 0x00);
        Assert.True(_irq.Level);
    }

    [Fact]
    public void SoftwareResetShowsBusyThenRestoresSignature()
    {
        Lba28(10, 2, 0x20);
        _io.Write(Ctl, 1, 0x04);
        Assert.Equal(0x80, AltStatus());
        Assert.False(_irq.Level);
        _io.Write(Ctl, 1, 0x00);
        Assert.Equal(0x50, Status());
        Assert.Equal(1u, _io.Read(Error, 1));
        Assert.Equal(1u, _io.Read(Count, 1));
        Assert.Equal(1u, _io.Read(LbaLow, 1));
        Assert.Equal(0u, _io.Read(LbaMid, 1));
        Assert.Equal(0xA0u, _io.Read(Device, 1));
        Assert.Equal(0xFFFFu, _io.Read(Data, 2)); // the interrupted transfer is gone
    }

    [Fact]
    public void AbsentSlaveReadsZeroStatusAndIgnoresCommands()
    {
        _io.Write(Device, 1, 0xB0);
        Assert.Equal(0, Status());
        _io.Write(Cmd, 1, 0xEC);
        Assert.False(_irq.Level);
        Assert.Equal(0, Status());
    }

    [Fact]
    public void ChannelWithoutDrivesFloatsHigh()
    {
        var io = new IoBus();
        new IdeChannel(IdeChannel.SecondaryCommandBase, IdeChannel.SecondaryControlPort, NullIrqLine.Instance, null).RegisterOn(io);
        Assert.Equal(0xFFu, io.Read(0x177, 1));
        Assert.Equal(0xFFu, io.Read(0x376, 1));
    }

    [Fact]
    public void DwordDataAccessMovesTwoWords()
    {
        Lba28(5, 1, 0x20);
        var buf = new byte[512];
        for (int i = 0; i < 512; i += 4)
            BitConverter.TryWriteBytes(buf.AsSpan(i), _io.Read(Data, 4));
        Assert.Equal(Expected(5, 1), buf);
        Assert.Equal(0x50, Status());
    }

    [Fact]
    public void Lba48ReadUsesHighOrderBytesAndHobReadsThemBack()
    {
        _io.Write(Device, 1, 0x40);
        _io.Write(Count, 1, 0);   // count high
        _io.Write(Count, 1, 2);   // count low
        _io.Write(LbaLow, 1, 0);  // LBA 31:24
        _io.Write(LbaLow, 1, 0x34);
        _io.Write(LbaMid, 1, 0);
        _io.Write(LbaMid, 1, 0x02);
        _io.Write(LbaHigh, 1, 0);
        _io.Write(LbaHigh, 1, 0);
        _io.Write(Cmd, 1, 0x24);
        Status();
        var a = ReadBlock(1);
        Status();
        var b = ReadBlock(1);
        Assert.Equal(Expected(0x234, 2), a.Concat(b).ToArray());
        Assert.Equal(0x35u, _io.Read(LbaLow, 1));
        _io.Write(Ctl, 1, 0x80);
        Assert.Equal(0u, _io.Read(LbaLow, 1));

        _io.Write(Cmd, 1, 0x27); // READ NATIVE MAX ADDRESS EXT
        Assert.Equal(0x50, Status());
        Assert.Equal(0xFFu, _io.Read(LbaLow, 1));
        Assert.Equal(0x0Fu, _io.Read(LbaMid, 1));
    }

    [Fact]
    public void DmaAndUnknownCommandsAbort()
    {
        foreach (byte cmd in new byte[] { 0xC8, 0xCA, 0xA1, 0x00, 0x08, 0xFF })
        {
            Lba28(0, 1, cmd);
            Assert.Equal(0x51, Status());
            Assert.Equal((uint)IdeChannel.ErrAbrt, _io.Read(Error, 1));
        }
    }

    [Fact]
    public void FlushCacheFlushesTheDisk()
    {
        _io.Write(Cmd, 1, 0xE7);
        Assert.Equal(0x50, Status());
        Assert.Equal(1, _disk.FlushCount);
    }

    [Fact]
    public void WritesToReadOnlyDiskAbort()
    {
        var io = new IoBus();
        var disk = new MemoryDisk(64, readOnly: true);
        IdeChannel.Primary(NullIrqLine.Instance, disk).RegisterOn(io);
        io.Write(Device, 1, 0xE0);
        io.Write(Count, 1, 1);
        io.Write(Cmd, 1, 0x30);
        Assert.Equal(0x51u, io.Read(Cmd, 1));
    }

    [Fact]
    public void CommandWhileBusyInResetIsIgnored()
    {
        _io.Write(Ctl, 1, 0x04);
        _io.Write(Cmd, 1, 0xEC);
        Assert.Equal(0x80, AltStatus());
        Assert.False(_irq.Level);
    }

    [Fact]
    public void SelectingTheOtherDriveHidesThePendingInterrupt()
    {
        var io = new IoBus();
        var irq = new RecordingIrqLine();
        IdeChannel.Primary(irq, new MemoryDisk(64), new MemoryDisk(64)).RegisterOn(io);
        io.Write(Device, 1, 0xA0);
        io.Write(Cmd, 1, 0xEC);
        Assert.True(irq.Level);
        io.Write(Device, 1, 0xB0);
        Assert.False(irq.Level);
        Assert.Equal(0x50u, io.Read(Cmd, 1));
        io.Write(Device, 1, 0xA0);
        Assert.True(irq.Level);
    }
}
