using MyKvm.Boot.X86;
using MyKvm.Core;
using Xunit.Abstractions;

namespace MyKvm.Boot.Tests.AcpiLinux;

/// <summary>
/// Linux itself as the judge of our ACPI tables, before mykvm can run it: Debian's kernel boots under QEMU with our
/// tables loaded into RAM (-device loader) and <c>acpi_rsdp=</c> pointing at them instead of SeaBIOS's. The tables
/// describe QEMU's i440fx, which has the same PM block at 0x600 (24-bit timer), SCI 9, I/O APIC (ID 0) and 0xCF9 as
/// mykvm. The kernel must parse every table, take the PM timer as a clocksource, probe the i8042, and power off
/// through our <c>\_S5</c>.
/// </summary>
public sealed class AcpiLinuxReadsTablesTests(ITestOutputHelper log) : IDisposable
{
    private const ulong TablesBase = 0x0800_0000;   // 128 MiB: clear of the kernel (16 MiB + its size) and the initrd (top of RAM)
    private readonly string _dir = Directory.CreateTempSubdirectory("mykvm-acpi-linux-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private string WriteTablesImage()
    {
        using var ram = new GuestRam(TablesBase + 0x10_0000);
        var layout = AcpiTables.Write(ram, new AcpiOptions
        {
            RsdpAddress = TablesBase, TablesAddress = TablesBase + 0x40, TablesLimit = TablesBase + 0x10000,
            IoApicId = 0, PmTimer32Bit = false, PciMemoryWindowBase = 0x2000_0000,   // QEMU's PCI hole starts at the end of its 512 MiB
        });
        string path = Path.Combine(_dir, "acpi.bin");
        File.WriteAllBytes(path, ram.GetSpan(TablesBase, (int)(layout.End - TablesBase)).ToArray());
        return path;
    }

    [LinuxGuestFact]
    public void DebianKernelUsesOurTablesAndPowersOffThroughS5()
    {
        string image = WriteTablesImage();
        // memmap=64K$ADDR marks the tables reserved in the E820 map, as firmware would, so the kernel keeps off them.
        using var vm = LinuxGuest.Boot("qemu", $"console=ttyS0 panic=-1 acpi_rsdp=0x{TablesBase:x} memmap=64K$0x{TablesBase:x}",
            ["-device", $"loader,file={image},addr=0x{TablesBase:x},force-raw=on"]);
        try
        {
            vm.WaitFor(LinuxGuest.Marker, TimeSpan.FromMinutes(4));
            vm.WaitFor(LinuxGuest.Prompt, TimeSpan.FromSeconds(60));
            string dmesg = vm.Output;
            Assert.Contains($"ACPI: RSDP 0x{TablesBase:X16} 000024 (v02 MYKVM )", dmesg);
            foreach (var sig in new[] { "XSDT", "FACP", "DSDT", "APIC" })
                Assert.Matches($@"ACPI: {sig} 0x00000000080\w+ \w+ \(v0\d MYKVM  MYKVMPC  00000001 MYKV 00000001\)", dmesg);
            Assert.Single(System.Text.RegularExpressions.Regex.Matches(dmesg, @"ACPI: FACS 0x00000000080\w+ 000040"));
            Assert.DoesNotContain("BOCHS", dmesg);                     // SeaBIOS's tables were not used
            Assert.Contains("ACPI: PM-Timer IO Port: 0x608", dmesg);
            Assert.Contains("ACPI: LAPIC_NMI (acpi_id[0xff] dfl dfl lint[0x1])", dmesg);
            Assert.Contains("IOAPIC[0]: apic_id 0, version 32, address 0xfec00000, GSI 0-23", dmesg);
            Assert.Contains("ACPI: INT_SRC_OVR (bus 0 bus_irq 0 global_irq 2 dfl dfl)", dmesg);
            Assert.Contains("ACPI: INT_SRC_OVR (bus 0 bus_irq 9 global_irq 9 high level)", dmesg);
            Assert.Contains("ACPI: Using ACPI (MADT) for SMP configuration information", dmesg);
            Assert.Contains("ACPI: Interpreter enabled", dmesg);
            Assert.Matches(@"ACPI: PM: \(supports S0 S5\)", dmesg);
            Assert.Matches(@"clocksource: acpi_pm: mask: 0xffffff ", dmesg);
            Assert.Matches(@"serio: i8042 KBD port at 0x60,0x64 irq 1", dmesg);   // the FADT's 8042 flag
            // PCI is found below the DSDT's host bridge, with its windows, and scanned.
            Assert.Contains("ACPI: PCI Root Bridge [PCI0] (domain 0000 [bus 00-ff])", dmesg);
            Assert.Contains("pci_bus 0000:00: root bus resource [io  0x0000-0x0cf7 window]", dmesg);
            Assert.Contains("pci_bus 0000:00: root bus resource [io  0x0d00-0xffff window]", dmesg);
            Assert.Contains("pci_bus 0000:00: root bus resource [mem 0x000a0000-0x000bffff window]", dmesg);
            Assert.Contains("pci_bus 0000:00: root bus resource [mem 0x20000000-0xfebfffff window]", dmesg);
            Assert.Contains("pci 0000:00:00.0: [8086:1237]", dmesg);            // the i440FX host bridge
            Assert.DoesNotMatch(@"ACPI (BIOS )?(Error|Warning)|ACPI: \[Firmware Bug\]", dmesg);
            // The DSDT's processor device is in the kernel's ACPI namespace, with the MADT's processor UID.
            Assert.Equal("\\_SB_.CP00\n0\n", vm.Run("cd /sys/bus/acpi/devices/ACPI0007:00 && cat path uid", TimeSpan.FromSeconds(60)));

            vm.Type("exit");
            Assert.Equal(0, vm.WaitForExit(TimeSpan.FromSeconds(60)));
            Assert.Contains("ACPI: PM: Preparing to enter system sleep state S5", vm.Output);
            Assert.Contains("reboot: Power down", vm.Output);
        }
        finally
        {
            log.WriteLine(vm.Output);
        }
    }
}
