using System.Text;
using MyKvm.Devices.Legacy;

namespace MyKvm.Devices.Tests.Legacy;

public class TerminalKeyDecoderTests
{
    private readonly List<(PcKey Key, bool Down)> _events = [];
    private readonly TerminalKeyDecoder _decoder;

    public TerminalKeyDecoderTests() => _decoder = new TerminalKeyDecoder((k, d) => _events.Add((k, d)));

    private void Feed(string s) => _decoder.Feed(Encoding.Latin1.GetBytes(s));

    private List<PcKey> Presses() => _events.Where(e => e.Down).Select(e => e.Key).ToList();

    [Fact]
    public void PlainTextWithShiftAndEnter()
    {
        Feed("aB\r");
        Assert.Equal(new[]
        {
            (PcKey.A, true), (PcKey.A, false),
            (PcKey.LeftShift, true), (PcKey.B, true), (PcKey.B, false), (PcKey.LeftShift, false),
            (PcKey.Enter, true), (PcKey.Enter, false),
        }, _events);
    }

    [Fact]
    public void ControlCharactersAndDelete()
    {
        Feed("\u0003\u007f\t");
        Assert.Equal(new[] { PcKey.LeftCtrl, PcKey.C, PcKey.Backspace, PcKey.Tab }, Presses());
    }

    [Theory]
    [InlineData("\u001b[A", PcKey.Up)]
    [InlineData("\u001bOB", PcKey.Down)]
    [InlineData("\u001b[C", PcKey.Right)]
    [InlineData("\u001b[D", PcKey.Left)]
    [InlineData("\u001b[H", PcKey.Home)]
    [InlineData("\u001b[4~", PcKey.End)]
    [InlineData("\u001b[2~", PcKey.Insert)]
    [InlineData("\u001b[3~", PcKey.Delete)]
    [InlineData("\u001b[5~", PcKey.PageUp)]
    [InlineData("\u001b[6~", PcKey.PageDown)]
    [InlineData("\u001bOP", PcKey.F1)]
    [InlineData("\u001b[15~", PcKey.F5)]
    [InlineData("\u001b[24~", PcKey.F12)]
    public void EscapeSequences(string sequence, PcKey key)
    {
        Feed(sequence);
        Assert.Equal(new[] { (key, true), (key, false) }, _events);
    }

    [Fact]
    public void ModifiersInSequences()
    {
        Feed("\u001b[1;5C");   // Ctrl+Right
        Assert.Equal(new[] { PcKey.LeftCtrl, PcKey.Right }, Presses());
        _events.Clear();
        Feed("\u001b[Z");      // Shift+Tab
        Assert.Equal(new[] { PcKey.LeftShift, PcKey.Tab }, Presses());
    }

    [Fact]
    public void EscThenCharacterIsAlt()
    {
        Feed("\u001bx");
        Assert.Equal(new[] { PcKey.LeftAlt, PcKey.X }, Presses());
    }

    [Fact]
    public void LoneEscapeAtTheEndIsTheEscapeKey()
    {
        Feed("q\u001b");
        Assert.Equal(new[] { PcKey.Q, PcKey.Escape }, Presses());
    }

    [Fact]
    public void SequenceSplitAcrossReadsIsCompleted()
    {
        Feed("\u001b[");
        Assert.Empty(_events);
        Feed("A");
        Assert.Equal(new[] { PcKey.Up }, Presses());
    }

    [Fact]
    public void NonAsciiAndUnknownSequencesAreDropped()
    {
        Feed("é\u001b[99~z");
        Assert.Equal(new[] { PcKey.Z }, Presses());
    }

    [Fact]
    public void DrivesTheKeyboardController()
    {
        var kbc = new I8042Controller(new RecordingIrqLine(), new RecordingIrqLine(), new RecordingMachineControl());
        var decoder = new TerminalKeyDecoder(kbc.KeyFromHost);
        decoder.Feed("\u001b[A"u8);
        var bytes = new List<byte>();
        while ((kbc.PortRead(0x64, 1) & 1) != 0) bytes.Add((byte)kbc.PortRead(0x60, 1));
        Assert.Equal(new byte[] { 0xE0, 0x48, 0xE0, 0xC8 }, bytes);
    }
}
