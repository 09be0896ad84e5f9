using MyKvm.Devices.Pci;

namespace MyKvm.Devices.Firmware;

/// <summary>
/// What a BIOS built for QEMU's PC needs from the 440FX host bridge (00:00.0) beyond its IDs:
/// <list type="bullet">
/// <item>Subsystem vendor 1AF4 / subsystem 1100 (Red Hat, "QEMU virtual machine"): SeaBIOS takes the QEMU path —
/// fw_cfg, PCI setup for QEMU's chipset — only when it sees them.</item>
/// <item>The PAM registers 0x59–0x5F (82441FX data sheet, "PAM — Programmable Attribute Map Registers"), which
/// select per 16/64 KiB of 0xC0000–0xFFFFF whether reads and writes go to RAM or to the ROM. Our model has no
/// ROM there: the range is always RAM, into which the loader copied the BIOS at reset. The registers therefore
/// start at "read/write RAM" (0x30 for PAM0's F segment, 0x33 for the others) and keep what the guest writes
/// without acting on it. SeaBIOS, seeing RAM already present, skips copying itself out of the flash; its final
/// "make read-only" step has no effect (the BIOS area stays writable — a known difference from real hardware
/// and QEMU).</item>
/// </list>
/// </summary>
public static class FirmwareHostBridge
{
    public const int Pam0 = 0x59, PamCount = 7;
    public const ushort QemuSubsystemVendor = 0x1AF4, QemuSubsystem = 0x1100;

    public static void Prepare(PciFunction hostBridge)
    {
        ArgumentNullException.ThrowIfNull(hostBridge);
        hostBridge.Set16(PciConfig.SubsystemVendorId, QemuSubsystemVendor);
        hostBridge.Set16(PciConfig.SubsystemId, QemuSubsystem);
        // PAM0 bits 4–5 cover 0xF0000–0xFFFFF (bits 0–3 reserved); PAM1–6 two 16 KiB halves each, bits 0–1 and 4–5.
        hostBridge.Set8(Pam0, 0x30);
        hostBridge.SetWritable(Pam0, 1, 0x30);
        for (int i = 1; i < PamCount; i++)
        {
            hostBridge.Set8(Pam0 + i, 0x33);
            hostBridge.SetWritable(Pam0 + i, 1, 0x33);
        }
    }
}
