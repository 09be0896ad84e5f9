using MyKvm.Core;
using MyKvm.Devices.Pci;

namespace MyKvm.Devices.Tests.Pci;

public class PciHostTests
{
    private sealed class RecordingControl : IPortDevice
    {
        public List<(ushort Port, int Size, uint Value)> Writes { get; } = [];
        public uint PortRead(ushort port, int size) => 0x0A;
        public void PortWrite(ushort port, int size, uint value) => Writes.Add((port, size, value));
    }

    private static (IoBus io, PciBus bus, RecordingControl control) Make()
    {
        var bus = new PciBus();
        bus.Attach(0, 0, new PciHostBridgeFunction());
        var control = new RecordingControl();
        var io = new IoBus();
        io.Register(PciHost.FirstPort, PciHost.PortCount, new PciHost(bus, control));
        return (io, bus, control);
    }

    private static uint Addr(int dev, int fn, int reg) => 0x8000_0000u | (uint)(dev << 11) | (uint)(fn << 8) | (uint)reg;

    [Fact]
    public void HostBridgeIdsAndClassAreVisible()
    {
        var (io, _, _) = Make();
        io.Write(0xCF8, 4, Addr(0, 0, 0));
        Assert.Equal(0x1237_8086u, io.Read(0xCFC, 4));
        Assert.Equal(0x8086u, io.Read(0xCFC, 2));
        Assert.Equal(0x1237u, io.Read(0xCFE, 2));
        io.Write(0xCF8, 4, Addr(0, 0, 8));
        Assert.Equal(0x0600_0002u, io.Read(0xCFC, 4));
        Assert.Equal(0x06u, io.Read(0xCFF, 1));
    }

    [Fact]
    public void ConfigAddressReadsBackWithReservedBitsClear()
    {
        var (io, _, _) = Make();
        io.Write(0xCF8, 4, 0xFFFF_FFFF);
        Assert.Equal(0x80FF_FFFCu, io.Read(0xCF8, 4));
        io.Write(0xCF8, 4, 0x8000_0000);
        Assert.Equal(0x8000_0000u, io.Read(0xCF8, 4)); // Linux's pci_check_type1 probe
    }

    [Fact]
    public void AbsentFunctionsAndOtherBusesReadAllOnes()
    {
        var (io, _, _) = Make();
        io.Write(0xCF8, 4, Addr(3, 0, 0));
        Assert.Equal(0xFFFF_FFFFu, io.Read(0xCFC, 4));
        Assert.Equal(0xFFFFu, io.Read(0xCFE, 2));
        io.Write(0xCF8, 4, 0x8001_0000); // bus 1
        Assert.Equal(0xFFFF_FFFFu, io.Read(0xCFC, 4));
    }

    [Fact]
    public void DisabledMechanismReadsAllOnes()
    {
        var (io, _, _) = Make();
        io.Write(0xCF8, 4, 0); // enable bit clear
        Assert.Equal(0xFFFF_FFFFu, io.Read(0xCFC, 4));
    }

    [Fact]
    public void ReadOnlyFieldsIgnoreWritesAndWritableOnesKeepThem()
    {
        var (io, _, _) = Make();
        io.Write(0xCF8, 4, Addr(0, 0, 0));
        io.Write(0xCFC, 4, 0x1234_5678);
        Assert.Equal(0x1237_8086u, io.Read(0xCFC, 4));
        io.Write(0xCF8, 4, Addr(0, 0, 0x3C));
        io.Write(0xCFC, 1, 0x0B);
        Assert.Equal(0x0Bu, io.Read(0xCFC, 1));
    }

    [Fact]
    public void BarSizeProbeReturnsSizeMaskAndDecodesAfterCommandEnable()
    {
        var bus = new PciBus();
        var fn = new PciFunction(0x1AF4, 0x1000, 0x02, 0x00, 0x00);
        fn.DefineBar(0, 0x40, io: true);
        fn.DefineBar(1, 0x1000, io: false);
        int changes = 0;
        fn.DecodingChanged += _ => changes++;
        bus.Attach(bus.FreeDeviceNumber(), 0, fn);
        var host = new PciHost(bus);
        host.PortWrite(0xCF8, 4, Addr(0, 0, 0x10));
        host.PortWrite(0xCFC, 4, 0xFFFF_FFFF);
        Assert.Equal(0xFFFF_FFC1u, host.PortRead(0xCFC, 4));
        host.PortWrite(0xCF8, 4, Addr(0, 0, 0x14));
        host.PortWrite(0xCFC, 4, 0xFFFF_FFFF);
        Assert.Equal(0xFFFF_F000u, host.PortRead(0xCFC, 4));
        host.PortWrite(0xCFC, 4, 0xFEB0_1234);
        Assert.Null(fn.BarAddress(1)); // memory decoding still off
        host.PortWrite(0xCF8, 4, Addr(0, 0, 0x04));
        host.PortWrite(0xCFC, 2, PciConfig.CommandMemory);
        Assert.Equal(0xFEB0_1000u, fn.BarAddress(1));
        Assert.Null(fn.BarAddress(0));
        Assert.Equal(4, changes); // three BAR writes, one command write
    }

    [Fact]
    public void ByteAccessesToCf9GoToTheResetControlRegister()
    {
        var (io, _, control) = Make();
        io.Write(0xCF8, 4, 0x8000_0000);
        io.Write(0xCF9, 1, 0x06);
        Assert.Equal([(0xCF9, 1, 0x06u)], control.Writes);
        Assert.Equal(0x0Au, io.Read(0xCF9, 1));
        Assert.Equal(0x8000_0000u, io.Read(0xCF8, 4)); // the configuration address is untouched
    }

    [Fact]
    public void AttachingTwiceToOneSlotThrows()
    {
        var bus = new PciBus();
        bus.Attach(0, 0, new PciHostBridgeFunction());
        Assert.Throws<InvalidOperationException>(() => bus.Attach(0, 0, new PciHostBridgeFunction()));
        Assert.Equal(1, bus.FreeDeviceNumber());
    }
}

public class Piix3Tests
{
    private static uint Read(PciHost host, int dev, int fn, int reg, int size)
    {
        host.PortWrite(0xCF8, 4, 0x8000_0000u | (uint)(dev << 11) | (uint)(fn << 8) | (uint)(reg & 0xFC));
        return host.PortRead((ushort)(0xCFC + (reg & 3)), size);
    }

    [Fact]
    public void IsaBridgeAndIdeFunctionLookLikeQemusPc()
    {
        var bus = new PciBus();
        bus.Attach(0, 0, new PciHostBridgeFunction());
        bus.Attach(1, 0, new Piix3IsaBridgeFunction());
        bus.Attach(1, 1, new Piix3IdeFunction());
        var host = new PciHost(bus);
        Assert.Equal(0x7000_8086u, Read(host, 1, 0, 0, 4));
        Assert.Equal(0x80u, Read(host, 1, 0, 0x0E, 1));        // multi-function
        Assert.Equal(0x0601u, Read(host, 1, 0, 0x0A, 2));
        Assert.Equal(0x80u, Read(host, 1, 0, 0x60, 1));        // PIRQA routing disabled
        Assert.Equal(0x7010_8086u, Read(host, 1, 1, 0, 4));
        Assert.Equal(0x0101_8000u, Read(host, 1, 1, 8, 4));    // class 01/01, prog-if 80 (compatibility mode)
        Assert.Equal(0x80u, Read(host, 1, 1, 0x41, 1) & 0x80); // primary decode enable, as ata_piix checks
        Assert.Equal(0x80u, Read(host, 1, 1, 0x43, 1) & 0x80);
        Assert.Equal(0u, Read(host, 1, 1, 0x20, 4));           // BAR4 (bus master) absent: PIO only
        Assert.Equal(0xFFFF_FFFFu, Read(host, 1, 2, 0, 4));
    }

    [Fact]
    public void IdeTimingRegistersAreWritable()
    {
        var ide = new Piix3IdeFunction();
        ide.ConfigWrite(0x40, 2, 0xA307);
        Assert.Equal(0xA307u, ide.ConfigRead(0x40, 2));
        ide.ConfigWrite(0x20, 4, 0xFFFF_FFFF);
        Assert.Equal(0u, ide.ConfigRead(0x20, 4));
    }
}
