using System.Buffers.Binary;
using System.Text;
using MyKvm.Core;
using MyKvm.Devices.Firmware;
using MyKvm.Devices.Pci;

namespace MyKvm.Devices.Tests.Firmware;

/// <summary>The PC's fw_cfg contents, the BIOS flash window and the host bridge prepared for firmware.</summary>
public class FirmwarePlatformTests
{
    private static byte[] Item(FwCfgDevice fw, ushort key)
    {
        var io = new IoBus();
        fw.RegisterOn(io);
        io.Write(FwCfgDevice.SelectorPort, 2, key);
        var b = new byte[64];
        for (int i = 0; i < b.Length; i++) b[i] = (byte)io.Read(FwCfgDevice.DataPort, 1);
        return b;
    }

    [Fact]
    public void PcConfigTellsRamCpusAndTheRamMap()
    {
        using var ram = new GuestRam(128 << 20);
        var fw = PcFirmwareConfig.Create(ram);
        Assert.Equal(128UL << 20, BinaryPrimitives.ReadUInt64LittleEndian(Item(fw, FwCfgKeys.RamSize)));
        Assert.Equal(1, BinaryPrimitives.ReadUInt16LittleEndian(Item(fw, FwCfgKeys.NbCpus)));
        Assert.Equal(1, BinaryPrimitives.ReadUInt16LittleEndian(Item(fw, FwCfgKeys.MaxCpus)));
        Assert.Equal(0, BinaryPrimitives.ReadUInt16LittleEndian(Item(fw, FwCfgKeys.BootMenu)));
        Assert.Equal(1u, BinaryPrimitives.ReadUInt32LittleEndian(Item(fw, FwCfgKeys.Irq0Override)));
        Assert.Equal(["etc/boot-fail-wait", "etc/e820"], fw.Files.Select(f => f.Name));
        Assert.Equal(-1, BinaryPrimitives.ReadInt32LittleEndian(fw.ReadFile("etc/boot-fail-wait")));
        byte[] e820 = fw.ReadFile("etc/e820")!;
        Assert.Equal(20, e820.Length);
        Assert.Equal(0UL, BinaryPrimitives.ReadUInt64LittleEndian(e820));
        Assert.Equal(128UL << 20, BinaryPrimitives.ReadUInt64LittleEndian(e820.AsSpan(8)));
        Assert.Equal(1u, BinaryPrimitives.ReadUInt32LittleEndian(e820.AsSpan(16)));
    }

    [Fact]
    public void RamAbove3GiBIsASecondE820EntryAt4GiB()
    {
        using var ram = new GuestRam(4UL << 30);
        byte[] e820 = PcFirmwareConfig.E820(ram);
        Assert.Equal(40, e820.Length);
        Assert.Equal(3UL << 30, BinaryPrimitives.ReadUInt64LittleEndian(e820.AsSpan(8)));
        Assert.Equal(GuestRam.FourGiB, BinaryPrimitives.ReadUInt64LittleEndian(e820.AsSpan(20)));
        Assert.Equal(1UL << 30, BinaryPrimitives.ReadUInt64LittleEndian(e820.AsSpan(28)));
    }

    [Fact]
    public void OptionsAddSerialConsoleVgaBiosAndBootOrder()
    {
        using var ram = new GuestRam(16 << 20);
        var fw = PcFirmwareConfig.Create(ram, new FirmwareConfigOptions
        {
            SerialConsolePort = 0x3F8,
            VgaBios = [0x55, 0xAA, 1],
            BootOrder = ["/pci@i0cf8/*@1,1/drive@0/disk@0", "HALT"],
            Cpus = 2,
            BootMenu = true,
            BootMenuWaitMs = 1500,
            OptionRoms = [("pxe.rom", [0x55, 0xAA, 2]), ("a.rom", [0x55, 0xAA, 3])],
            Dma = false,
        });
        Assert.Equal(new byte[] { 0x55, 0xAA, 2 }, fw.ReadFile("genroms/pxe.rom"));
        Assert.Equal(new byte[] { 0x55, 0xAA, 3 }, fw.ReadFile("genroms/a.rom"));
        Assert.Equal(new byte[] { 0xDC, 0x05 }, fw.ReadFile("etc/boot-menu-wait"));
        Assert.Equal(new byte[] { 0xF8, 0x03 }, fw.ReadFile("etc/sercon-port"));
        Assert.Equal(new byte[] { 0x55, 0xAA, 1 }, fw.ReadFile("vgaroms/vgabios-isavga.bin"));
        Assert.Equal("/pci@i0cf8/*@1,1/drive@0/disk@0\nHALT\0", Encoding.ASCII.GetString(fw.ReadFile("bootorder")!));
        Assert.Equal(2, BinaryPrimitives.ReadUInt16LittleEndian(Item(fw, FwCfgKeys.NbCpus)));
        Assert.Equal(1, BinaryPrimitives.ReadUInt16LittleEndian(Item(fw, FwCfgKeys.BootMenu)));
        Assert.False(fw.DmaEnabled);
    }

    [Fact]
    public void FlashEndsAt4GiBReadOnly()
    {
        var image = new byte[128 << 10];
        for (int i = 0; i < image.Length; i++) image[i] = (byte)(i * 7);
        using var rom = new BiosRom(image);
        var mmio = new MmioBus();
        rom.RegisterOn(mmio);
        Assert.Equal(0xFFFE_0000UL, rom.Base);
        Assert.Equal((ulong)image[0x1FFF0], mmio.Read(0xFFFF_FFF0, 1));
        Assert.Equal(BinaryPrimitives.ReadUInt32LittleEndian(image.AsSpan(0x1234)), (uint)mmio.Read(0xFFFE_1234, 4));
        mmio.Write(0xFFFE_1234, 4, 0);
        Assert.Equal(BinaryPrimitives.ReadUInt32LittleEndian(image.AsSpan(0x1234)), (uint)mmio.Read(0xFFFE_1234, 4));
        Assert.Equal(1, rom.IgnoredWrites);
        // A read that runs past 4 GiB gets all ones for the missing bytes.
        Assert.Equal(0xFFFF_FFFF_FFFF_FF00UL | image[^1], rom.MmioRead((ulong)image.Length - 1, 8));
        Assert.Equal(0UL, (ulong)rom.HostPointerAlignment());
        Assert.Throws<ArgumentException>(() => new BiosRom(new byte[1000]));
        Assert.Throws<ArgumentException>(() => new BiosRom(new byte[(16 << 20) + 4096]));
    }

    [Fact]
    public void HostBridgeShowsQemuSubsystemAndRamBehindPam()
    {
        var bridge = new PciHostBridgeFunction();
        FirmwareHostBridge.Prepare(bridge);
        Assert.Equal(0x1100_1AF4u, bridge.ConfigRead(0x2C, 4));
        Assert.Equal(0x8086u, bridge.ConfigRead(0, 2));
        Assert.Equal(0x30u, bridge.ConfigRead(0x59, 1));
        Assert.Equal(0x3333_3333u, bridge.ConfigRead(0x5C, 4));
        // SeaBIOS rewrites PAM with dword writes at 0x58/0x5C; only the PAM attribute bits take.
        bridge.ConfigWrite(0x58, 4, 0x11FF_FFFF);
        Assert.Equal(0x1133_3000u | (bridge.ConfigRead(0x58, 1) & 0xFF), bridge.ConfigRead(0x58, 4));
        bridge.ConfigWrite(0x59, 1, 0x00);
        Assert.Equal(0u, bridge.ConfigRead(0x59, 1));
    }
}

internal static class BiosRomTestExtensions
{
    public static unsafe ulong HostPointerAlignment(this BiosRom rom) => (ulong)rom.HostPointer & 0xFFF;
}
