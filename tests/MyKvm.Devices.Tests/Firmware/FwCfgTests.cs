using System.Buffers.Binary;
using System.Text;
using MyKvm.Core;
using MyKvm.Devices.Firmware;

namespace MyKvm.Devices.Tests.Firmware;

/// <summary>The fw_cfg device against QEMU docs/specs/fw_cfg.rst, through the I/O bus as a guest reaches it.</summary>
public sealed class FwCfgTests : IDisposable
{
    private readonly GuestRam _ram = new(16 << 20);
    private readonly IoBus _io = new();

    public void Dispose() => _ram.Dispose();

    private FwCfgDevice Create(bool dma = true)
    {
        var fw = new FwCfgDevice(_ram, dma);
        fw.RegisterOn(_io);
        return fw;
    }

    private void Select(ushort key) => _io.Write(FwCfgDevice.SelectorPort, 2, key);

    private byte[] ReadData(int n)
    {
        var b = new byte[n];
        for (int i = 0; i < n; i++) b[i] = (byte)_io.Read(FwCfgDevice.DataPort, 1);
        return b;
    }

    /// <summary>The guest writes the request's address as two big-endian dwords, high half first (outl of cpu_to_be32).</summary>
    private void Dma(ulong request)
    {
        _io.Write(FwCfgDevice.DmaPort, 4, BinaryPrimitives.ReverseEndianness((uint)(request >> 32)));
        _io.Write(FwCfgDevice.DmaPort + 4, 4, BinaryPrimitives.ReverseEndianness((uint)request));
    }

    private void WriteRequest(ulong at, uint control, uint length, ulong address)
    {
        var r = _ram.GetSpan(at, 16);
        BinaryPrimitives.WriteUInt32BigEndian(r, control);
        BinaryPrimitives.WriteUInt32BigEndian(r[4..], length);
        BinaryPrimitives.WriteUInt64BigEndian(r[8..], address);
    }

    private uint ControlAfter(ulong at) => BinaryPrimitives.ReadUInt32BigEndian(_ram.GetSpan(at, 4));

    [Fact]
    public void SignatureAndFeatureBits()
    {
        Create();
        Select(FwCfgKeys.Signature);
        Assert.Equal("QEMU"u8.ToArray(), ReadData(4));
        Assert.Equal(0, ReadData(1)[0]);   // past the end
        Select(FwCfgKeys.Id);
        Assert.Equal(3u, BinaryPrimitives.ReadUInt32LittleEndian(ReadData(4)));   // traditional + DMA
    }

    [Fact]
    public void WithoutDmaTheIdSaysSoAndTheDmaPortsAreFree()
    {
        var fw = Create(dma: false);
        Select(FwCfgKeys.Id);
        Assert.Equal(1u, BinaryPrimitives.ReadUInt32LittleEndian(ReadData(4)));
        Assert.Null(_io.DeviceAt(FwCfgDevice.DmaPort));
        Assert.Same(fw, _io.DeviceAt(FwCfgDevice.DataPort));
    }

    [Fact]
    public void SelectingRewindsAndUnknownItemsReadZero()
    {
        var fw = Create();
        fw.AddU32(FwCfgKeys.NbCpus, 0x04030201);
        Select(FwCfgKeys.NbCpus);
        Assert.Equal(new byte[] { 1, 2 }, ReadData(2));
        Select(FwCfgKeys.NbCpus);
        Assert.Equal(new byte[] { 1, 2, 3, 4, 0 }, ReadData(5));
        // Bit 14 is the (ignored) write intent, not another item.
        Select(FwCfgKeys.NbCpus | FwCfgKeys.WriteFlag);
        Assert.Equal(1, ReadData(1)[0]);
        Select(0x1234);
        Assert.Equal(new byte[4], ReadData(4));
    }

    [Fact]
    public void DataPortWritesAndByteSelectorWritesChangeNothing()
    {
        var fw = Create();
        fw.AddU16(FwCfgKeys.BootMenu, 0x0101);
        Select(FwCfgKeys.BootMenu);
        _io.Write(FwCfgDevice.DataPort, 1, 0xEE);
        _io.Write(FwCfgDevice.SelectorPort, 1, FwCfgKeys.Signature);
        Assert.Equal(new byte[] { 1, 1 }, ReadData(2));
    }

    [Fact]
    public void FileDirectoryIsSortedBigEndianWithSelectorsFrom0x20()
    {
        var fw = Create();
        fw.AddFile("etc/sercon-port", [0xF8, 0x03]);
        fw.AddFile("bootorder", "/pci@i0cf8/*@1,1/drive@0/disk@0\0"u8);
        fw.AddFile("etc/e820", new byte[20]);
        Select(FwCfgKeys.FileDir);
        byte[] dir = ReadData(4 + 3 * 64);
        Assert.Equal(3u, BinaryPrimitives.ReadUInt32BigEndian(dir));
        string[] names = ["bootorder", "etc/e820", "etc/sercon-port"];
        int[] sizes = [32, 20, 2];
        for (int i = 0; i < 3; i++)
        {
            var e = dir.AsSpan(4 + 64 * i, 64);
            Assert.Equal((uint)sizes[i], BinaryPrimitives.ReadUInt32BigEndian(e));
            Assert.Equal((ushort)(0x20 + i), BinaryPrimitives.ReadUInt16BigEndian(e[4..]));
            Assert.Equal(names[i], Encoding.ASCII.GetString(e[8..]).TrimEnd('\0'));
        }
        Assert.Equal((ushort)0x22, fw.SelectorOf("etc/sercon-port"));
        Select(0x22);
        Assert.Equal(new byte[] { 0xF8, 0x03 }, ReadData(2));
        Assert.Equal(names, fw.Files.Select(f => f.Name));
    }

    [Fact]
    public void AddingAFileKeepsASelectedDirectoryReadable()
    {
        var fw = Create();
        fw.AddFile("a", [1]);
        Select(FwCfgKeys.FileDir);
        fw.AddFile("b", [2]);
        Assert.Equal(2u, BinaryPrimitives.ReadUInt32BigEndian(ReadData(4)));
    }

    [Fact]
    public void BadNamesAndKeysAreRefused()
    {
        var fw = Create();
        Assert.Throws<ArgumentException>(() => fw.AddFile(new string('x', 56), [1]));
        fw.AddFile(new string('x', 55), [1]);
        Assert.Throws<ArgumentOutOfRangeException>(() => fw.Add(0x25, [1]));
        Assert.Throws<ArgumentOutOfRangeException>(() => fw.Add(FwCfgKeys.FileDir, [1]));
    }

    [Fact]
    public void DmaSelectAndReadCopiesAndClearsControl()
    {
        var fw = Create();
        fw.AddFile("etc/data", Enumerable.Range(1, 10).Select(i => (byte)i).ToArray());
        ushort sel = fw.SelectorOf("etc/data")!.Value;
        WriteRequest(0x1000, ((uint)sel << 16) | FwCfgDevice.DmaSelect | FwCfgDevice.DmaRead, 4, 0x2000);
        Dma(0x1000);
        Assert.Equal(new byte[] { 1, 2, 3, 4 }, _ram.GetSpan(0x2000, 4).ToArray());
        Assert.Equal(0u, ControlAfter(0x1000));
        // Skip 2, then read on: the offset carries over between requests, and reading past the end zero-fills.
        WriteRequest(0x1000, FwCfgDevice.DmaSkip, 2, 0);
        Dma(0x1000);
        _ram.Fill(0x3000, 8, 0xAA);
        WriteRequest(0x1000, FwCfgDevice.DmaRead, 8, 0x3000);
        Dma(0x1000);
        Assert.Equal(new byte[] { 7, 8, 9, 10, 0, 0, 0, 0 }, _ram.GetSpan(0x3000, 8).ToArray());
        Assert.Equal(0u, ControlAfter(0x1000));
        Assert.Equal(3, fw.DmaTransfers);
        // The port interface continues from the same offset.
        Select(sel);
        Assert.Equal(1, ReadData(1)[0]);
    }

    [Fact]
    public void DmaWritesOnlyIntoWritableFilesWithinTheirSize()
    {
        var fw = Create();
        fw.AddFile("etc/ro", new byte[4]);
        fw.AddFile("etc/rw", new byte[4], writable: true);
        _ram.Write(0x2000, [9, 8, 7, 6, 5]);

        WriteRequest(0x1000, ((uint)fw.SelectorOf("etc/ro")!.Value << 16) | FwCfgDevice.DmaSelect | FwCfgDevice.DmaWrite, 4, 0x2000);
        Dma(0x1000);
        Assert.Equal(FwCfgDevice.DmaError, ControlAfter(0x1000));
        Assert.Equal(new byte[4], fw.ReadFile("etc/ro"));

        WriteRequest(0x1000, ((uint)fw.SelectorOf("etc/rw")!.Value << 16) | FwCfgDevice.DmaSelect | FwCfgDevice.DmaWrite, 3, 0x2000);
        Dma(0x1000);
        Assert.Equal(0u, ControlAfter(0x1000));
        Assert.Equal(new byte[] { 9, 8, 7, 0 }, fw.ReadFile("etc/rw"));

        WriteRequest(0x1000, FwCfgDevice.DmaWrite, 2, 0x2000);   // one byte left in the file: refused whole
        Dma(0x1000);
        Assert.Equal(FwCfgDevice.DmaError, ControlAfter(0x1000));
        Assert.Equal(new byte[] { 9, 8, 7, 0 }, fw.ReadFile("etc/rw"));
    }

    [Fact]
    public void DmaToAddressesOutsideRamFailsWithoutTouchingTheHost()
    {
        var fw = Create();
        fw.AddFile("etc/x", new byte[64]);
        WriteRequest(0x1000, ((uint)fw.SelectorOf("etc/x")!.Value << 16) | FwCfgDevice.DmaSelect | FwCfgDevice.DmaRead, 64, _ram.Size - 8);
        Dma(0x1000);
        Assert.Equal(FwCfgDevice.DmaError, ControlAfter(0x1000));
        WriteRequest(0x1000, FwCfgDevice.DmaRead, 0xFFFF_FFFF, 0);
        Dma(0x1000);
        Assert.Equal(FwCfgDevice.DmaError, ControlAfter(0x1000));
        // A request structure outside RAM is simply ignored.
        Dma(0xFFFF_FFF8);
        Dma(0x1_0000_0000_0000);
        Assert.Equal(2, fw.DmaTransfers);
    }

    [Fact]
    public void DmaRegisterReadsGiveTheSignature()
    {
        Create();
        uint hi = _io.Read(FwCfgDevice.DmaPort, 4), lo = _io.Read(FwCfgDevice.DmaPort + 4, 4);
        var bytes = new byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, hi);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4), lo);
        Assert.Equal("QEMU CFG", Encoding.ASCII.GetString(bytes));
    }
}
