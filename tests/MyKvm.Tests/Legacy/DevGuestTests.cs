using System.Text;
using MyKvm.TestSupport;

namespace MyKvm.Tests.Legacy;

/// <summary>
/// The legacy-device guests (guests/dev-*) booted on the whole machine with the software CPU: PIT ticks,
/// RTC interrupts and serial echo through the 8259s, with the same serial output as under QEMU (the device
/// tests in MyKvm.Devices.Tests compare these texts with QEMU itself).
/// </summary>
public class DevGuestTests
{
    [Fact]
    public void PitTicksThroughThePic()
    {
        var run = GuestRuns.Boot(TestEnvironment.Guest("dev-pit.elf"));
        Assert.Equal("""
            dev-pit: channel 0 at 100 Hz on IRQ 0
            tick 10
            tick 20
            tick 30
            tick 40
            tick 50
            ISR during IRQ 0: 01
            channel 0 counter counts
            channel 0 status 34
            channel 2 one-shot: OUT low, then high
            mode 0 on IRQ 0: 1 interrupt
            channel 0 status after terminal count b0
            dev-pit: ok

            """, run.Serial);
        Assert.Equal(1, run.Result.ExitCode);
    }

    [Fact]
    public void RtcInterruptsThroughTheSlavePic()
    {
        var run = GuestRuns.Boot(TestEnvironment.Guest("dev-rtc.elf"));
        Assert.Equal("""
            dev-rtc: CMOS and RTC on IRQ 8
            base memory 640 KiB
            register D 80
            time registers valid
            periodic: 256 interrupts, register C c0
            update-ended: seconds advanced by 1, register C 90
            alarm: fired at the set second yes, register C a0
            dev-rtc: ok

            """, run.Serial);
        Assert.Equal(1, run.Result.ExitCode);
    }

    [Fact]
    public void SerialEchoesInputUppercasedThroughIrq4()
    {
        var input = new MemoryStream(Encoding.ASCII.GetBytes("Hello, mykvm."));
        var run = GuestRuns.Boot(TestEnvironment.Guest("dev-serial.elf"), input: input);
        Assert.Equal("""
            dev-serial: COM1 on IRQ 4
            scratch a5
            IIR with FIFO c0
            loopback: LSR 61, received Z, MSR b0
            ready
            HELLO, MYKVM.
            echo: 13 bytes, interrupts for rx yes, tx yes
            dev-serial: ok

            """, run.Serial);
        Assert.Equal(1, run.Result.ExitCode);
    }
}
