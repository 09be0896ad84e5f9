using System.Security.Cryptography;
using System.Text;
using Xunit.Abstractions;

namespace MyKvm.Boot.Tests.AcpiLinux;

/// <summary>
/// Issue #8's headline: Debian's linux-image-amd64 boots to the busybox shell of the project's initramfs, runs
/// commands typed at the serial console, and powers off. Runs on every backend in <see cref="LinuxGuest.Backends"/>
/// (QEMU today, mykvm once the software CPU has long mode).
/// </summary>
public sealed class LinuxGuestTests(ITestOutputHelper log)
{
    private static readonly TimeSpan BootTimeout = TimeSpan.FromMinutes(4), CommandTimeout = TimeSpan.FromSeconds(60);

    public static TheoryData<string> Backends => [.. LinuxGuest.Backends];

    [LinuxGuestTheory]
    [MemberData(nameof(Backends))]
    public void BootsToTheShellRunsCommandsAndPowersOff(string backend)
    {
        using var vm = LinuxGuest.Boot(backend, "console=ttyS0 panic=-1");
        try
        {
            vm.WaitFor(LinuxGuest.Marker, BootTimeout);
            int shell = vm.WaitFor(LinuxGuest.Prompt, CommandTimeout);
            log.WriteLine($"{backend}: shell prompt after {vm.Elapsed.TotalSeconds:0.0} s");

            string uname = vm.Run("uname -a", CommandTimeout);
            Assert.Matches(@"^Linux mykvm 6\.1\.\S+-amd64 #1 SMP .* x86_64 GNU/Linux\n$", uname);

            string cpuinfo = vm.Run("cat /proc/cpuinfo", CommandTimeout);
            Assert.Contains("processor\t: 0\n", cpuinfo);
            Assert.Matches(@"(?m)^flags\t+: .*\blm\b", cpuinfo);       // a 64-bit CPU
            Assert.Matches(@"(?m)^bogomips\t: \d+", cpuinfo);

            // The shell, not the kernel, computes this: a loop of 100 iterations.
            Assert.Equal("5050\n", vm.Run("i=0; s=0; while [ $i -lt 100 ]; do i=$((i+1)); s=$((s+i)); done; echo $s", CommandTimeout));

            string expected = Convert.ToHexStringLower(MD5.HashData(Encoding.ASCII.GetBytes(
                string.Concat(Enumerable.Range(1, 2000).Select(i => $"{i}\n")))));
            Assert.Equal($"{expected}  /tmp/f\n", vm.Run("seq 1 2000 > /tmp/f; md5sum /tmp/f", CommandTimeout));

            // setsid cttyhack gave the shell the serial port as its controlling terminal (job control, Ctrl-C).
            Assert.Equal("/dev/ttyS0\n", vm.Run("tty", CommandTimeout));
            Assert.Equal("proc\nsysfs\ndevtmpfs\n", vm.Run("for m in /proc /sys /dev; do grep \" $m \" /proc/mounts | cut -d' ' -f3; done", CommandTimeout));

            vm.Type("exit");                                          // init powers off when the shell exits
            Assert.Equal(0, vm.WaitForExit(CommandTimeout));
            Assert.Contains("reboot: Power down", vm.Output[shell..]);
            log.WriteLine($"{backend}: powered off after {vm.Elapsed.TotalSeconds:0.0} s");
        }
        finally
        {
            log.WriteLine(vm.Output);
        }
    }

    [LinuxGuestTheory]
    [MemberData(nameof(Backends))]
    public void BootsWithAcpiOffAndStillPowersOff(string backend)
    {
        using var vm = LinuxGuest.Boot(backend, "console=ttyS0 acpi=off panic=-1");
        try
        {
            vm.WaitFor(LinuxGuest.Marker, BootTimeout);
            vm.WaitFor(LinuxGuest.Prompt, CommandTimeout);
            Assert.Contains("ACPI: Interpreter disabled", vm.Output);
            // Without ACPI the kernel finds the I/O APIC through the MP tables.
            Assert.Matches(@"IOAPIC\[0\]: apic_id \d+, version \d+, address 0xfec00000", vm.Output);
            Assert.Equal("no-acpi\n", vm.Run("[ -d /sys/firmware/acpi/tables ] || echo no-acpi", CommandTimeout));
            vm.Type("exit");
            Assert.Equal(LinuxGuest.AcpiOffPoweroffStatus(backend), vm.WaitForExit(CommandTimeout));
            Assert.Contains("mykvm-poweroff: no ACPI", vm.Output);
        }
        finally
        {
            log.WriteLine(vm.Output);
        }
    }
}
