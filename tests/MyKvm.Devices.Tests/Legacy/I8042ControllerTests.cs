using MyKvm.Devices.Legacy;

namespace MyKvm.Devices.Tests.Legacy;

public class I8042ControllerTests
{
    private readonly RecordingIrqLine _irq1 = new();
    private readonly RecordingIrqLine _irq12 = new();
    private readonly RecordingMachineControl _control = new();
    private readonly I8042Controller _kbc;

    public I8042ControllerTests() => _kbc = new I8042Controller(_irq1, _irq12, _control);

    private byte Status() => (byte)_kbc.PortRead(0x64, 1);
    private byte Data() => (byte)_kbc.PortRead(0x60, 1);
    private void Command(int c) => _kbc.PortWrite(0x64, 1, (uint)c);
    private void WriteData(int d) => _kbc.PortWrite(0x60, 1, (uint)d);

    private List<byte> Drain()
    {
        var bytes = new List<byte>();
        while ((Status() & 1) != 0) bytes.Add(Data());
        return bytes;
    }

    [Fact]
    public void PowerOnStateIsWhatTheBiosLeaves()
    {
        Assert.Equal(0x14, Status());          // system flag, not inhibited, output empty
        Command(0x20);
        Assert.Equal(0x1D, Status());          // output full, last write was a command
        Assert.Equal(0x61, Data());
        Assert.True(_kbc.A20.Enabled);
        Assert.Equal(2, _kbc.ScancodeSet);
    }

    [Fact]
    public void SelfTestsAnswer()
    {
        Command(0xAA);
        Assert.Equal(0x55, Data());
        Command(0xAB);
        Assert.Equal(0x00, Data());
        Command(0xA9);
        Assert.Equal(0x00, Data());
        Assert.Equal(0x04, Status() & 0x04);
    }

    [Fact]
    public void KeyPressIsTranslatedToSet1AndRaisesIrq1()
    {
        _kbc.KeyFromHost(PcKey.A, pressed: true);
        Assert.True(_irq1.Level);
        Assert.Equal(0x1E, Data());
        Assert.False(_irq1.Level);
        _kbc.KeyFromHost(PcKey.A, pressed: false);
        Assert.Equal(0x9E, Data());            // set 2 F0 1C became set 1 9E
    }

    [Fact]
    public void ExtendedKeysKeepTheirPrefix()
    {
        _kbc.KeyFromHost(PcKey.Up, true);
        _kbc.KeyFromHost(PcKey.Up, false);
        Assert.Equal(new byte[] { 0xE0, 0x48, 0xE0, 0xC8 }, Drain());
    }

    [Fact]
    public void EachQueuedByteGetsItsOwnIrqEdge()
    {
        _kbc.TypeText("ab");
        int edges = _irq1.RisingEdges;
        var bytes = Drain();
        Assert.Equal(new byte[] { 0x1E, 0x9E, 0x30, 0xB0 }, bytes);
        Assert.Equal(edges + 3, _irq1.RisingEdges);
        Assert.False(_irq1.Level);
    }

    [Fact]
    public void WithoutTranslationTheGuestSeesSet2()
    {
        Command(0x60);
        WriteData(0x01);                       // keyboard interrupt only, no translation
        _kbc.KeyFromHost(PcKey.A, true);
        _kbc.KeyFromHost(PcKey.A, false);
        _kbc.KeyFromHost(PcKey.RightCtrl, false);
        Assert.Equal(new byte[] { 0x1C, 0xF0, 0x1C, 0xE0, 0xF0, 0x14 }, Drain());
    }

    [Fact]
    public void KeyboardCanBeSwitchedToSet1()
    {
        Command(0x60);
        WriteData(0x01);
        WriteData(0xF0);
        Assert.Equal(0xFA, Data());
        WriteData(0x01);
        Assert.Equal(0xFA, Data());
        Assert.Equal(1, _kbc.ScancodeSet);
        WriteData(0xF0);
        Data();
        WriteData(0x00);
        Assert.Equal(new byte[] { 0xFA, 0x01 }, Drain());
        _kbc.KeyFromHost(PcKey.Z, true);
        Assert.Equal(0x2C, Data());
        WriteData(0xF0);
        Data();
        WriteData(0x03);
        Assert.Equal(0xFE, Data());            // set 3 refused
    }

    [Fact]
    public void TypeTextUsesShiftAndCtrl()
    {
        _kbc.TypeText("A\u0003");
        Assert.Equal(new byte[] { 0x2A, 0x1E, 0x9E, 0xAA, 0x1D, 0x2E, 0xAE, 0x9D }, Drain());
    }

    [Fact]
    public void KeyboardCommands()
    {
        WriteData(0xFF);
        Assert.Equal(new byte[] { 0xFA, 0xAA }, Drain());
        WriteData(0xF2);
        Assert.Equal(new byte[] { 0xFA, 0xAB, 0x41 }, Drain());   // 0x83 translated, as on real controllers
        WriteData(0xEE);
        Assert.Equal(0xEE, Data());
        WriteData(0xED);
        Assert.Equal(0xFA, Data());
        WriteData(0x04);
        Assert.Equal(0xFA, Data());
        Assert.Equal(4, _kbc.KeyboardLeds);
        WriteData(0xFE);
        Assert.Equal(0xFA, Data());            // resend the last byte
        WriteData(0x12);
        Assert.Equal(0xFE, Data());            // unknown command
    }

    [Fact]
    public void ScanningDisabledDropsKeys()
    {
        WriteData(0xF5);
        Assert.Equal(0xFA, Data());
        _kbc.KeyFromHost(PcKey.Q, true);
        Assert.Empty(Drain());
        WriteData(0xF4);
        Assert.Equal(0xFA, Data());
        _kbc.KeyFromHost(PcKey.Q, true);
        Assert.Equal(0x10, Data());
    }

    [Fact]
    public void DisabledKeyboardInterfaceHoldsBytesBack()
    {
        Command(0xAD);
        _kbc.KeyFromHost(PcKey.W, true);
        Assert.Equal(0, Status() & 1);
        Assert.False(_irq1.Level);
        Command(0xAE);
        Assert.True(_irq1.Level);
        Assert.Equal(0x11, Data());
    }

    [Fact]
    public void InterruptEnableBitGatesIrq1()
    {
        Command(0x60);
        WriteData(0x40);                       // translation, no interrupts
        _kbc.KeyFromHost(PcKey.E, true);
        Assert.False(_irq1.Level);
        Assert.Equal(1, Status() & 1);
        Command(0x60);
        WriteData(0x41);
        Assert.True(_irq1.Level);
    }

    [Fact]
    public void ControllerRamReadWrite()
    {
        Command(0x65);
        WriteData(0x5A);
        Command(0x25);
        Assert.Equal(0x5A, Data());
    }

    [Fact]
    public void A20ThroughTheOutputPort()
    {
        Command(0xD0);
        byte port = Data();
        Assert.Equal(0x03, port & 0x03);
        Command(0xD1);
        WriteData(port & ~0x02);
        Assert.False(_kbc.A20.Enabled);
        Command(0xD0);
        Assert.Equal(0x00, Data() & 0x02);
        Command(0xDF);
        Assert.True(_kbc.A20.Enabled);
        Command(0xDD);
        Assert.False(_kbc.A20.Enabled);
        Assert.Empty(_control.Resets);
    }

    [Fact]
    public void ResetThroughPulseCommandAndOutputPort()
    {
        Command(0xFF);                         // pulses nothing
        Assert.Empty(_control.Resets);
        Command(0xFE);
        Assert.Single(_control.Resets);
        Command(0xD1);
        WriteData(0x02);                       // reset line low
        Assert.Equal(2, _control.Resets.Count);
    }

    [Fact]
    public void WriteOutputBuffersAsKeyboardOrAux()
    {
        Command(0xD2);
        WriteData(0x99);
        Assert.Equal(0x01, Status() & 0x21);
        Assert.Equal(0x99, Data());
        Command(0x60);
        WriteData(0x43);                       // aux interrupt on, aux interface enabled
        Command(0xD3);
        WriteData(0x77);
        Assert.Equal(0x21, Status() & 0x21);
        Assert.True(_irq12.Level);
        Assert.False(_irq1.Level);
        Assert.Equal(0x77, Data());
        Assert.False(_irq12.Level);
    }

    [Fact]
    public void MouseDetectionAndPackets()
    {
        Command(0xA8);
        Command(0x60);
        WriteData(0x43);
        Command(0xD4); WriteData(0xFF);
        Assert.Equal(new byte[] { 0xFA, 0xAA, 0x00 }, Drain());
        Command(0xD4); WriteData(0xF2);
        Assert.Equal(new byte[] { 0xFA, 0x00 }, Drain());
        Command(0xD4); WriteData(0xF3);
        Command(0xD4); WriteData(40);
        Assert.Equal(new byte[] { 0xFA, 0xFA }, Drain());
        Command(0xD4); WriteData(0xE9);
        Assert.Equal(new byte[] { 0xFA, 0x00, 0x02, 40 }, Drain());
        _kbc.MouseFromHost(5, -3, 1);
        Assert.Empty(Drain());                 // reporting still off
        Command(0xD4); WriteData(0xF4);
        Assert.Equal(0xFA, Data());
        int edges = _irq12.RisingEdges;
        _kbc.MouseFromHost(5, -3, 1);
        Assert.Equal(0x20, Status() & 0x20);
        Assert.Equal(new byte[] { 0x29, 0x05, 0xFD }, Drain());
        Assert.Equal(edges + 3, _irq12.RisingEdges);
    }

    [Fact]
    public void AuxDisabledHoldsMouseBytes()
    {
        Command(0xD4); WriteData(0xFF);        // the write re-enables the aux interface
        Assert.Equal(0xFA, Data());            // AA is now in the output buffer, 00 still in the mouse
        Command(0xA7);
        Assert.Equal(0xAA, Data());
        Assert.Equal(0, Status() & 1);         // held back by the disabled interface
        Command(0xA8);
        Assert.Equal(0x21, Status() & 0x21);
        Assert.Equal(0x00, Data());
    }

    [Fact]
    public void Port92FastA20AndReset()
    {
        var a20 = new A20Gate();
        var control = new RecordingMachineControl();
        var port = new SystemControlPortA(a20, control);
        var changes = new List<bool>();
        a20.Changed += changes.Add;
        Assert.Equal(0x02u, port.PortRead(0x92, 1));
        port.PortWrite(0x92, 1, 0x00);
        Assert.False(a20.Enabled);
        Assert.Equal(0x00u, port.PortRead(0x92, 1));
        port.PortWrite(0x92, 1, 0x02);
        Assert.True(a20.Enabled);
        Assert.Equal(new[] { false, true }, changes);
        Assert.Empty(control.Resets);
        port.PortWrite(0x92, 1, 0x03);
        Assert.Single(control.Resets);
        port.PortWrite(0x92, 1, 0x03);         // no new 0→1 transition
        Assert.Single(control.Resets);
    }

    [Fact]
    public void KeyboardControllerAndPort92ShareTheGate()
    {
        var a20 = new A20Gate();
        var kbc = new I8042Controller(_irq1, _irq12, _control, a20);
        var port92 = new SystemControlPortA(a20, _control);
        port92.PortWrite(0x92, 1, 0x00);
        kbc.PortWrite(0x64, 1, 0xD0);
        Assert.Equal(0u, kbc.PortRead(0x60, 1) & 0x02);
        Assert.Same(a20, kbc.A20);
    }

    [Fact]
    public void ResetControlRegisterResetsOnRstCpuRisingEdge()
    {
        var control = new RecordingMachineControl();
        var rcr = new ResetControlRegister(control);
        rcr.PortWrite(0xCF9, 1, 0x02);
        Assert.Empty(control.Resets);
        Assert.Equal(0x02u, rcr.PortRead(0xCF9, 1));
        rcr.PortWrite(0xCF9, 1, 0x06);
        Assert.Single(control.Resets);
        Assert.Contains("hard", control.Resets[0]);
    }

    [Fact]
    public void AsciiMapping()
    {
        Assert.True(Scancodes.TryMapAscii('?', out var key, out bool shift, out bool ctrl));
        Assert.Equal((PcKey.Slash, true, false), (key, shift, ctrl));
        Assert.True(Scancodes.TryMapAscii('\n', out key, out shift, out _));
        Assert.Equal((PcKey.Enter, false), (key, shift));
        Assert.False(Scancodes.TryMapAscii('é', out _, out _, out _));
    }

    [Fact]
    public void TranslationTableAgreesWithSet1ForEveryKey()
    {
        foreach (PcKey key in Enum.GetValues<PcKey>())
        {
            var set2 = Scancodes.Encode(key, true, 2);
            var set1 = Scancodes.Encode(key, true, 1);
            Assert.Equal(set1[^1], Scancodes.TranslateSet2ToSet1(set2[^1]));
            Assert.Equal(set1.Length, set2.Length);
        }
    }
}
