using MyKvm.TestSupport;

namespace MyKvm.Devices.Tests.Legacy;

/// <summary>
/// The dev-* guests (guests/dev-*) run on <see cref="UnicornPc"/>: our device models, a reference CPU. The
/// expected texts are what the same guests print under QEMU (checked against QEMU directly where no host
/// input is needed).
/// </summary>
public class LegacyGuestTests
{
    private static readonly DateTime RtcStart = new(2024, 5, 17, 9, 30, 0);

    private const string PitOutput = """
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

        """;

    private const string RtcOutput = """
        dev-rtc: CMOS and RTC on IRQ 8
        base memory 640 KiB
        register D 80
        time registers valid
        periodic: 256 interrupts, register C c0
        update-ended: seconds advanced by 1, register C 90
        alarm: fired at the set second yes, register C a0
        dev-rtc: ok

        """;

    private static UnicornPc? Boot(string guest)
    {
        if (!UnicornPc.Available) return null;   // libunicorn2 comes from scripts/setup.sh
        var pc = new UnicornPc(RtcStart);
        pc.LoadMultibootElf(TestEnvironment.Guest(guest));
        return pc;
    }

    [Fact]
    public void PitTicksThroughThePic()
    {
        using var pc = Boot("dev-pit.elf");
        if (pc is null) return;
        pc.Run();
        Assert.Equal(PitOutput, pc.Serial);
        Assert.Equal(1, pc.ExitStatus);
        Assert.True(pc.InterruptsDelivered >= 51);
    }

    [Fact]
    public void RtcInterruptsThroughTheSlavePic()
    {
        using var pc = Boot("dev-rtc.elf");
        if (pc is null) return;
        pc.Run();
        Assert.Equal(RtcOutput, pc.Serial);
        Assert.Equal(1, pc.ExitStatus);
    }

    [Fact]
    public void SerialEchoThroughIrq4()
    {
        using var pc = Boot("dev-serial.elf");
        if (pc is null) return;
        pc.Com1.ReceiveInput("Hello, mykvm."u8);   // waiting before the guest even starts
        pc.Run();
        Assert.Equal("""
            dev-serial: COM1 on IRQ 4
            scratch a5
            IIR with FIFO c0
            loopback: LSR 61, received Z, MSR b0
            ready
            HELLO, MYKVM.
            echo: 13 bytes, interrupts for rx yes, tx yes
            dev-serial: ok

            """, pc.Serial);
        Assert.Equal(1, pc.ExitStatus);
    }

    [Fact]
    public void SerialEchoWithInputArrivingLater()
    {
        using var pc = Boot("dev-serial.elf");
        if (pc is null) return;
        int fed = 0;
        const string text = "slow typist.";
        pc.Run(eachSlice: p =>
        {
            // One byte every 50 µs of guest time once the guest is ready: timeouts, not the trigger level, deliver them.
            if (fed < text.Length && p.Serial.Contains("ready\n") && p.Clock.NowNs > fed * 50_000L)
                p.Com1.ReceiveInput([(byte)text[fed++]]);
        });
        Assert.Contains("ready\nSLOW TYPIST.\necho: 12 bytes, interrupts for rx yes, tx yes\n", pc.Serial);
        Assert.Equal(1, pc.ExitStatus);
    }

    [Fact]
    public void KeyboardLineThroughIrq1()
    {
        using var pc = Boot("dev-kbd.elf");
        if (pc is null) return;
        bool typed = false;
        pc.Run(eachSlice: p =>
        {
            if (!typed && p.Serial.Contains("ready\n"))
            {
                p.Keyboard.TypeText("hi There!\n");
                typed = true;
            }
        });
        Assert.Equal("""
            dev-kbd: i8042 and PS/2 keyboard on IRQ 1
            controller self-test 55
            keyboard interface test 00
            command byte: interrupt on, translation on
            reset: fa aa
            echo: ee
            identify: fa ab 41
            set LEDs: fa fa
            enable scanning: fa
            ready
            line: hi There!
            dev-kbd: ok

            """, pc.Serial);
        Assert.Equal(1, pc.ExitStatus);
    }

    [Theory]
    [InlineData("dev-pit.elf", PitOutput)]
    [InlineData("dev-rtc.elf", RtcOutput)]
    public void QemuPrintsTheSame(string guest, string expected)
    {
        var qemu = TestEnvironment.RunQemu(TestEnvironment.Guest(guest), timeout: TimeSpan.FromSeconds(30));
        if (qemu is null) return;   // no QEMU on this machine: the Unicorn runs above still check our devices
        Assert.Equal(expected, TestEnvironment.Normalize(qemu.Stdout));
        Assert.Equal(1, qemu.ExitCode);
    }
}
