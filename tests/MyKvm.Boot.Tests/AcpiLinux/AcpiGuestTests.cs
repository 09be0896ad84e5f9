using MyKvm.TestSupport;

namespace MyKvm.Boot.Tests.AcpiLinux;

/// <summary>
/// guests/acpi-pm: a 32-bit kernel that finds the ACPI tables, checks them, measures the PM timer against the PIT and
/// powers off through PM1a_CNT with the DSDT's \_S5. Its output is the same on QEMU (SeaBIOS's tables, PIIX4 PM)
/// and on mykvm (AcpiTables, AcpiPm), so it checks the machine's wiring of the two, and runs on the software CPU.
/// </summary>
public class AcpiGuestTests
{
    /// <summary>The one-line switch: add "mykvm" once the machine writes the ACPI tables and registers the AcpiPm device.</summary>
    public static TheoryData<string> Backends => ["qemu"];

    public const string Expected = """
        acpi-pm
        acpi: RSDP in the BIOS area, 16-byte aligned: ok
        acpi: root table entries checksum: ok
        fadt: sci 9, pm1a_evt 0x600 (len 4), pm1a_cnt 0x604 (len 2), pm_tmr 0x608 (len 4)
        acpi: FADT X_ blocks agree: ok
        acpi: FADT not hardware-reduced: ok
        acpi: DSDT checksum: ok
        acpi: FACS 64-byte aligned: ok
        madt: lapic 0xfee00000, 1 cpu, 1 ioapic at 0xfec00000 gsi 0, irq0 -> gsi 2, irq9 -> gsi 9 flags 0xd, nmi on lint1 1
        dsdt: \_S5 SLP_TYP 0
        acpi: PM timer monotonic: ok
        acpi: PM timer counts 178977 ticks in 50 ms of the PIT: ok
        acpi: PM1 status clears by writing 1: ok
        acpi: SCI_EN set (ACPI mode): ok
        acpi: powering off (S5)

        """;

    [Theory]
    [MemberData(nameof(Backends))]
    public void FindsTheTablesMeasuresThePmTimerAndPowersOff(string backend)
    {
        string kernel = TestEnvironment.Guest("acpi-pm.elf");
        TestEnvironment.ProcessResult? run = backend switch
        {
            "qemu" => TestEnvironment.RunQemu(kernel, timeout: TimeSpan.FromSeconds(120)),
            "mykvm" => TestEnvironment.Run(Path.Combine(TestEnvironment.RepoRoot, "mykvm"), ["--kernel", kernel, "--timeout", "120"],
                timeout: TimeSpan.FromMinutes(5)),
            _ => throw new ArgumentException(backend),
        };
        if (run is null) return;   // no qemu-system-i386: nothing to run the reference on (scripts/setup.sh installs it)
        Assert.Equal(Expected.Replace("\r\n", "\n"), TestEnvironment.Normalize(run.Stdout));
        Assert.Equal(0, run.ExitCode);                                  // a poweroff, not the debug-exit port
    }
}
