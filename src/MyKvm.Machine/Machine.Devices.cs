using MyKvm.Boot.X86;
using MyKvm.Core;
using MyKvm.Devices.Acpi;
using MyKvm.Devices.Apic;
using MyKvm.Devices.Legacy;
using MyKvm.Devices.Pci;
using MyKvm.Devices.Storage;
using MyKvm.Devices.Video;

namespace MyKvm.Machine;

public sealed partial class Machine
{
    private Uart16550? _com1;
    private PcInterruptSystem? _irqs;
    private VgaDevice? _vga;
    private I8042Controller? _keyboard;
    private readonly List<IdeChannel> _ide = [];

    /// <summary>The PC devices on their ports and IRQ lines (ISA IRQ numbers as on a PC/AT).</summary>
    private void AttachDevices()
    {
        _irqs = new PcInterruptSystem(Signals, Timers);
        _irqs.RegisterOn(Io, Mmio);

        var pit = new Pit8254(_irqs.IsaIrq(0), Timers);
        Io.Register(0x40, 4, pit);
        Io.Register(0x61, 1, pit.Port61);

        // The RTC fills its base/extended memory-size registers from the RAM sizes, as a BIOS would.
        var rtc = new CmosRtc(_irqs.IsaIrq(8), Timers, Ram.LowSize, Ram.HighSize, _config.Rtc);
        Io.Register(0x70, 2, rtc);

        var a20 = new A20Gate();
        _keyboard = new I8042Controller(_irqs.IsaIrq(1), _irqs.IsaIrq(12), this, a20);
        Io.Register(0x60, 1, _keyboard);
        Io.Register(0x64, 1, _keyboard);
        Io.Register(0x92, 1, new SystemControlPortA(a20, this));

        var pciBus = new PciBus();
        pciBus.Attach(0, 0, new PciHostBridgeFunction());
        // PIIX3 ISA bridge and IDE function, as on a 440FX board: Linux's ata_piix finds the legacy IDE ports through them.
        pciBus.Attach(1, 0, new Piix3IsaBridgeFunction());
        pciBus.Attach(1, 1, new Piix3IdeFunction());
        Io.Register(PciHost.FirstPort, PciHost.PortCount, new PciHost(pciBus, new ResetControlRegister(this)));

        _com1 = new Uart16550(_irqs.IsaIrq(4), _serial.Write, Timers);
        Io.Register(0x3F8, 8, _com1);
        // COM2–COM4 exist (kernels probe them) but lead nowhere.
        Io.Register(0x2F8, 8, new Uart16550(_irqs.IsaIrq(3), _ => { }, Timers));
        Io.Register(0x3E8, 8, new Uart16550(_irqs.IsaIrq(4), _ => { }, Timers));
        Io.Register(0x2E8, 8, new Uart16550(_irqs.IsaIrq(3), _ => { }, Timers));

        Io.Register(0xF4, 4, new DebugExitDevice(this));
        Io.Register(0xE9, 1, new BochsConsole(_serial.Write));
        Io.Register(PostCodePort.Port, 1, new PostCodePort());
        // ACPI PM1a event/control and the PM timer (0x600–0x60B), SCI on ISA IRQ 9 as the FADT says.
        Io.Register(AcpiPm.DefaultBase, AcpiPm.PortCount, new AcpiPm(_irqs.IsaIrq(9), Timers, this));

        _vga = new VgaDevice(Ram, Clock);
        _vga.RegisterOn(Io);

        AttachDisks();
    }

    private void AttachDisks()
    {
        var byIndex = new IBlockDevice?[4];
        foreach (var drive in _config.Drives)
        {
            if (byIndex[drive.Index] is not null)
                throw new ConfigException($"--drive: two disks at index {drive.Index}");
            IBlockDevice disk;
            try
            {
                disk = new FileDisk(drive.Path, writable: !drive.ReadOnly && !drive.Snapshot);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new ConfigException($"{drive.Path}: cannot open disk image: {BootFile.Describe(e)}");
            }
            byIndex[drive.Index] = drive.Snapshot ? new SnapshotDisk(disk, ownsBase: true) : disk;
        }
        if (byIndex[0] is not null || byIndex[1] is not null)
            _ide.Add(IdeChannel.Primary(_irqs!.IsaIrq(IdeChannel.PrimaryIrq), byIndex[0], byIndex[1]));
        if (byIndex[2] is not null || byIndex[3] is not null)
            _ide.Add(IdeChannel.Secondary(_irqs!.IsaIrq(IdeChannel.SecondaryIrq), byIndex[2], byIndex[3]));
        foreach (var channel in _ide) channel.RegisterOn(Io);
    }

    /// <summary>Platform tables a BIOS would leave behind, written after the kernel is placed.</summary>
    private void AfterBoot()
    {
        // MP tables (MP spec 1.4): xv6 and other SMP-aware kernels find the I/O APIC through them.
        MpTables.Write(Ram, new MpTableOptions { IoApicId = _irqs!.IoApic!.Id });
        // ACPI tables (RSDP at 0xF0000, inside the reserved BIOS area): Linux's poweroff and PCI scan use them.
        AcpiTables.Write(Ram, new AcpiOptions { IoApicId = _irqs.IoApic.Id });
    }

    private void DisposeDevices()
    {
        foreach (var channel in _ide) channel.Dispose();
    }
}
