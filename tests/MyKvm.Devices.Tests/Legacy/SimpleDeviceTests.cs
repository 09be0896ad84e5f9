using MyKvm.Devices.Legacy;

namespace MyKvm.Devices.Tests.Legacy;

public class DebugExitDeviceTests
{
    [Theory]
    [InlineData(1, 0u, 1)]
    [InlineData(1, 0x21u, 0x43)]
    [InlineData(4, 0x7Fu, 0xFF)]
    [InlineData(2, 0x12345u, 0x468B)]   // a 16-bit write only carries 16 bits
    public void WriteExitsWithShiftedStatus(int size, uint value, int expected)
    {
        var control = new RecordingMachineControl();
        new DebugExitDevice(control).PortWrite(0xF4, size, value);
        Assert.Single(control.Exits);
        Assert.Equal(expected, control.Exits[0].Code);
    }

    [Fact]
    public void ReadsReturnAllOnesAndDoNotExit()
    {
        var control = new RecordingMachineControl();
        var dev = new DebugExitDevice(control);
        Assert.Equal(0xFFu, dev.PortRead(0xF4, 1));
        Assert.Equal(0xFFFF_FFFFu, dev.PortRead(0xF4, 4));
        Assert.Empty(control.Exits);
    }
}

public class BochsConsoleTests
{
    [Fact]
    public void EchoesBytesAndIdentifiesItself()
    {
        var output = new List<byte>();
        var dev = new BochsConsole(output.Add);
        dev.PortWrite(0xE9, 1, 'h');
        dev.PortWrite(0xE9, 1, 0x169);  // only the low byte goes out
        Assert.Equal(new byte[] { (byte)'h', 0x69 }, output);
        Assert.Equal(0xE9u, dev.PortRead(0xE9, 1));
    }
}

public class PostCodePortTests
{
    [Fact]
    public void KeepsTheLastCode()
    {
        var port = new PostCodePort();
        port.PortWrite(0x80, 1, 0x1234);
        port.PortWrite(0x80, 1, 0x55);
        Assert.Equal(0x55, port.LastCode);
        Assert.Equal(2, port.Writes);
        Assert.Equal(0x55u, port.PortRead(0x80, 1));
    }
}
