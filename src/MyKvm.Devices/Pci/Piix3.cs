namespace MyKvm.Devices.Pci;

/// <summary>
/// Function 0 of the Intel 82371SB PIIX3 (PCI-to-ISA bridge, 8086:7000, class 06/01), at 00:01.0 as on QEMU's
/// "pc" machine. A multi-function header (bit 7 of the header type) so scanners look at the IDE function 1.
/// PIRQ route control (0x60–0x63) resets to 0x80 (routing disabled) and is writable (82371SB datasheet §2.2.13).
/// </summary>
public sealed class Piix3IsaBridgeFunction : PciFunction
{
    public Piix3IsaBridgeFunction() : base(0x8086, 0x7000, classCode: 0x06, subClass: 0x01, progIf: 0x00)
    {
        Set8(PciConfig.HeaderType, 0x80);
        Set16(PciConfig.Command, PciConfig.CommandIo | PciConfig.CommandMemory | PciConfig.CommandBusMaster);
        Set16(PciConfig.Status, 0x0200);
        for (int i = 0; i < 4; i++)
        {
            Set8(0x60 + i, 0x80);
            SetWritable(0x60 + i, 1, 0x8F);
        }
        Set8(0x69, 0x02);          // top of memory
        SetWritable(0x69, 1, 0xFE);
    }
}

/// <summary>
/// Function 1 of the PIIX3: the IDE controller (8086:7010, class 01/01) with both channels in compatibility mode
/// (programming interface 0x80: legacy ports 0x1F0/0x3F6 on IRQ 14 and 0x170/0x376 on IRQ 15, bus-master capable).
/// The IDE timing registers (0x40–0x43) have their decode-enable bits set, which Linux's ata_piix checks before it
/// probes a channel. The bus-master base (BAR4) is left unimplemented and reads zero, so libata drives the disks
/// with PIO ("BAR4 is zero, falling back to PIO"); the drives themselves are <c>Storage.IdeChannel</c>s.
/// </summary>
public sealed class Piix3IdeFunction : PciFunction
{
    public Piix3IdeFunction() : base(0x8086, 0x7010, classCode: 0x01, subClass: 0x01, progIf: 0x80)
    {
        Set16(PciConfig.Command, PciConfig.CommandIo);
        Set16(PciConfig.Status, 0x0280);
        // IDETIM primary (0x40) and secondary (0x42): bit 15 = IDE decode enable (82371SB §2.4.7); SIDETIM (0x44).
        Set16(0x40, 0x8000);
        Set16(0x42, 0x8000);
        SetWritable(0x40, 4, 0xFFFF_FFFF);
        SetWritable(0x44, 1, 0xFF);
    }
}
