using System.Text;
using MyKvm.Devices.Video;
using MyKvm.Machine;

// (Not MyKvm.Tests.Console: that namespace would hide System.Console from every test in MyKvm.Tests.)
namespace MyKvm.Tests.Terminal;

/// <summary>
/// The pieces of <c>--display term</c> without a terminal: COM1's text model, the layout of the screen and serial
/// views, the escape sequences that update a terminal, and what is left in the terminal at exit.
/// </summary>
public class ConsoleLayoutTests
{
    private static readonly uint[] Palette = Enumerable.Range(0, 16).Select(i => (uint)i * 0x111111).ToArray();

    /// <summary>An 80×25 frame with these lines (attribute 0x07) and the cursor where given.</summary>
    internal static VgaTextFrame Frame(string[] lines, int cursorRow = 0, int cursorColumn = 0, byte attribute = 0x07, bool cursorVisible = true)
    {
        var cells = Enumerable.Repeat((ushort)(attribute << 8 | ' '), 80 * 25).ToArray();
        for (int r = 0; r < lines.Length; r++)
            for (int c = 0; c < lines[r].Length; c++)
                cells[r * 80 + c] = (ushort)(attribute << 8 | lines[r][c]);
        return new VgaTextFrame(80, 25, cells, Palette, 9, 16, BlinkEnabled: true, LineGraphics: true,
            CursorVisible: cursorVisible, CursorRow: cursorRow, CursorColumn: cursorColumn, CursorStart: 14, CursorEnd: 15);
    }

    private static SerialText Serial(string text)
    {
        var serial = new SerialText();
        serial.Append(Encoding.UTF8.GetBytes(text));
        return serial;
    }

    private static string Status(VgaWindow w) => $"status {w.Top}+{w.Shown}/{w.Total}";

    private static string[] Lines(TerminalPicture p) => p.ToPlainText().Split('\n')[..p.Rows];

    [Fact]
    public void SerialTextAppliesCarriageReturnBackspaceAndTabsAndDropsTheGuestsEscapeSequences()
    {
        var serial = Serial("ab\rX\n1\t2\b3\e[1;31mred\e[0m\e]0;title\a!\e(B.\r\n\u0007\u0000end");
        Assert.Equal("Xb\n1       3red!.\nend", serial.ToString());
    }

    [Fact]
    public void SerialTextDecodesUtf8SplitAcrossWrites()
    {
        var serial = new SerialText();
        serial.Append(new byte[] { (byte)'a', 0xE2, 0x94 });
        serial.Append(new byte[] { 0x80, (byte)'b' });
        Assert.Equal("a─b", serial.ToString());
    }

    [Fact]
    public void SerialTextKeepsOnlyTheLastLines()
    {
        var serial = new SerialText();
        for (int i = 0; i < SerialText.MaxLines + 10; i++) serial.Append(Encoding.ASCII.GetBytes($"line {i}\n"));
        var lines = serial.ToString().Split('\n');
        Assert.Equal(SerialText.MaxLines, lines.Length);
        Assert.Equal($"line {SerialText.MaxLines + 9}", lines[^2]);
    }

    [Fact]
    public void TailWrapsLongLinesAndPlacesTheCursorAfterTheText()
    {
        var serial = Serial("one\ntwo\n" + new string('x', 25) + "\nab");
        var (rows, cursorRow, cursorColumn) = serial.Tail(10, 4);
        Assert.Equal(["xxxxxxxxxx", "xxxxxxxxxx", "xxxxx", "ab"], rows);
        Assert.Equal((3, 2), (cursorRow, cursorColumn));

        // After a newline the cursor is on a fresh, empty row.
        (rows, cursorRow, cursorColumn) = Serial("one\ntwo\n").Tail(10, 5);
        Assert.Equal(["one", "two", ""], rows);
        Assert.Equal((2, 0), (cursorRow, cursorColumn));
    }

    [Fact]
    public void ScreenViewPutsTheVgaScreenTopLeftTheStatusLineUnderItAndCom1Below()
    {
        var frame = Frame(["my first kernel"], cursorRow: 1, cursorColumn: 3);
        var serial = Serial(string.Concat(Enumerable.Range(1, 30).Select(i => $"serial {i}\n")));
        var p = ConsoleLayout.Compose(frame, serial, ConsoleView.Screen, 100, 40, serialPane: true, Status);
        var lines = Lines(p);
        Assert.Equal("my first kernel", lines[0]);
        Assert.Equal("status 0+25/25", lines[25]);
        Assert.Equal(25, p.StatusRow);
        Assert.Equal((26, 14), (p.PaneTop, p.PaneRows));
        // The pane shows the latest lines, the line being written (empty here) last.
        Assert.Equal("serial 18", lines[26]);
        Assert.Equal("serial 30", lines[38]);
        Assert.Equal("", lines[39]);
        Assert.True(p.CursorVisible);
        Assert.Equal((1, 3), (p.CursorRow, p.CursorColumn));
        Assert.Equal(TermStyle.Reverse, p[25, 0].Style);
    }

    [Fact]
    public void ScreenViewLeavesOutThePaneWhenThereIsNoRoomOrCom1GoesElsewhere()
    {
        var frame = Frame(["hello"]);
        var serial = Serial("text\n");
        var tight = ConsoleLayout.Compose(frame, serial, ConsoleView.Screen, 80, 28, serialPane: true, Status);
        Assert.Equal(0, tight.PaneRows);   // 2 rows left: fewer than MinPaneRows
        Assert.Equal(25, tight.StatusRow);
        var elsewhere = ConsoleLayout.Compose(frame, serial, ConsoleView.Screen, 80, 40, serialPane: false, Status);
        Assert.Equal(0, elsewhere.PaneRows);
        Assert.DoesNotContain("text", elsewhere.ToPlainText());
    }

    [Fact]
    public void AShortTerminalShowsTheVgaRowsAroundTheCursor()
    {
        var lines = Enumerable.Range(0, 25).Select(i => $"row {i}").ToArray();
        var p = ConsoleLayout.Compose(Frame(lines, cursorRow: 24, cursorColumn: 6), new SerialText(), ConsoleView.Screen, 80, 24,
            serialPane: true, Status);
        var shown = Lines(p);
        Assert.Equal("row 2", shown[0]);
        Assert.Equal("row 24", shown[22]);
        Assert.Equal("status 2+23/25", shown[23]);
        Assert.Equal((22, 6), (p.CursorRow, p.CursorColumn));

        // The cursor near the top: the top rows.
        p = ConsoleLayout.Compose(Frame(lines, cursorRow: 3), new SerialText(), ConsoleView.Screen, 80, 24, serialPane: true, Status);
        Assert.Equal("row 0", Lines(p)[0]);
    }

    [Fact]
    public void ANarrowTerminalClipsTheVgaColumnsAndHidesACursorOutsideThem()
    {
        var p = ConsoleLayout.Compose(Frame([new string('a', 60) + "tail"], cursorRow: 0, cursorColumn: 70), new SerialText(),
            ConsoleView.Screen, 50, 30, serialPane: false, Status);
        Assert.Equal(new string('a', 50), Lines(p)[0]);
        Assert.False(p.CursorVisible);
    }

    [Fact]
    public void SerialViewShowsCom1OnTheWholeTerminalWithTheCursorAfterTheText()
    {
        var serial = Serial(string.Concat(Enumerable.Range(1, 50).Select(i => $"line {i}\n")) + "login: ");
        var p = ConsoleLayout.Compose(Frame(["vga text"]), serial, ConsoleView.Serial, 80, 24, serialPane: true, Status);
        var lines = Lines(p);
        Assert.Equal("line 29", lines[0]);
        Assert.Equal("login:", lines[22]);
        Assert.Equal(23, p.StatusRow);
        Assert.StartsWith("status", lines[23]);
        Assert.DoesNotContain("vga text", p.ToPlainText());
        Assert.Equal((22, 7, true), (p.CursorRow, p.CursorColumn, p.CursorVisible));
    }

    [Fact]
    public void VgaColoursBecomeAnsiColours()
    {
        // White on blue (0x1F); with blink enabled, 0x9F is bright white on blue, blinking.
        var p = ConsoleLayout.Compose(Frame(["X"], attribute: 0x1F), new SerialText(), ConsoleView.Screen, 80, 26, false, Status);
        Assert.Contains("\e[0;97;44mX", ConsoleLayout.Diff(p, null));
        p = ConsoleLayout.Compose(Frame(["X"], attribute: 0x9F), new SerialText(), ConsoleView.Screen, 80, 26, false, Status);
        Assert.Contains("\e[0;97;44;5mX", ConsoleLayout.Diff(p, null));
    }

    [Fact]
    public void AnUpdateRewritesOnlyTheChangedSpan()
    {
        var serial = new SerialText();
        var before = ConsoleLayout.Compose(Frame(["abcdef"]), serial, ConsoleView.Screen, 80, 30, false, Status);
        var after = ConsoleLayout.Compose(Frame(["abXYef"], cursorColumn: 4), serial, ConsoleView.Screen, 80, 30, false, Status);
        string diff = ConsoleLayout.Diff(after, before);
        Assert.Equal("\e[?25l\e[1;3H\e[0;37;40mXY\e[0m\e[1;5H\e[?25h", diff);

        // Nothing changed: only the cursor is put back.
        Assert.Equal("\e[?25l\e[1;5H\e[?25h", ConsoleLayout.Diff(after, after));

        // A new size redraws everything after clearing the screen.
        var bigger = ConsoleLayout.Compose(Frame(["abXYef"]), serial, ConsoleView.Screen, 90, 30, false, Status);
        Assert.StartsWith("\e[?25l\e[0m\e[H\e[2J", ConsoleLayout.Diff(bigger, after));
    }

    [Fact]
    public void TheTranscriptIsTheContentWithoutTheStatusLineAndBlankRows()
    {
        var serial = Serial("my first kernel\nmultiboot magic ok\n");
        var p = ConsoleLayout.Compose(Frame(["my first kernel", "", "third"]), serial, ConsoleView.Screen, 40, 40, true, Status);
        string plain = Strip(ConsoleLayout.Transcript(p));
        Assert.Equal("my first kernel\n\nthird\n── COM1 ────────────────────────────────\nmy first kernel\nmultiboot magic ok\n", plain);

        // No COM1 text: no rule.
        p = ConsoleLayout.Compose(Frame(["only vga"]), new SerialText(), ConsoleView.Screen, 40, 40, true, Status);
        Assert.Equal("only vga\n", Strip(ConsoleLayout.Transcript(p)));

        // Serial view: what COM1 showed.
        p = ConsoleLayout.Compose(Frame(["vga"]), serial, ConsoleView.Serial, 40, 10, true, Status);
        Assert.Equal("my first kernel\nmultiboot magic ok\n", Strip(ConsoleLayout.Transcript(p)));
    }

    /// <summary>Text without SGR sequences.</summary>
    internal static string Strip(string ansi) => System.Text.RegularExpressions.Regex.Replace(ansi, "\e\\[[0-9;?]*[A-Za-z]", "");
}

/// <summary>The terminal side: alternate screen in, terminal given back and the last picture left at the end.</summary>
public class TerminalConsoleTests
{
    private static (TerminalConsole Console, MemoryStream Output) Create(bool serialPane = true, int columns = 80, int rows = 30)
    {
        var output = new MemoryStream();
        return (new TerminalConsole(() => output, () => (columns, rows), serialPane, serialPane ? "stdio" : "file:log.txt"), output);
    }

    private static string Text(MemoryStream s) => Encoding.UTF8.GetString(s.ToArray());

    [Fact]
    public void DrawingEntersTheAlternateScreenAndCloseGivesTheTerminalBackWithTheLastPicture()
    {
        var (console, output) = Create();
        console.SerialOutput.Write("booting\n"u8);
        console.Draw(ConsoleLayoutTests.Frame(["kernel says hi"]));
        string drawn = Text(output);
        Assert.StartsWith("\e[?1049h\e[?7l", drawn);
        Assert.Contains("kernel says hi", drawn);
        Assert.Contains("booting", drawn);
        Assert.Contains(" mykvm | VGA, COM1 below", drawn);

        output.SetLength(0);
        console.Close(ConsoleLayoutTests.Frame(["kernel says bye"]));
        string end = Text(output);
        Assert.StartsWith("\e[0m\e[?7h\e[?25h\e[?1049l", end);
        Assert.Equal("kernel says bye\n── COM1 " + new string('─', 72) + "\nbooting\n", ConsoleLayoutTests.Strip(end["\e[0m\e[?7h\e[?25h\e[?1049l".Length..]));

        // Closed: nothing more is drawn or printed.
        output.SetLength(0);
        console.Draw(ConsoleLayoutTests.Frame(["late"]));
        console.Close(null);
        Assert.Equal(0, output.Length);
    }

    [Fact]
    public void ARunThatNeverDrewOnlyPrintsThePicture()
    {
        var (console, output) = Create(serialPane: false);
        console.Close(ConsoleLayoutTests.Frame(["panic: nothing to do"]));
        Assert.Equal("\e[0;37;40mpanic: nothing to do\e[0m\n", Text(output));
    }

    [Fact]
    public void AnUnchangedScreenIsNotRedrawn()
    {
        var (console, output) = Create();
        var frame = ConsoleLayoutTests.Frame(["same"]);
        console.Draw(frame);
        long after = output.Length;
        console.Draw(frame);
        Assert.Equal(after, output.Length);
        console.Draw(ConsoleLayoutTests.Frame(["same"], cursorColumn: 2));
        // Only the cursor moves.
        Assert.Equal("\e[?25l\e[1;3H\e[?25h", Text(output)[(int)after..]);
    }

    [Fact]
    public void TheSerialViewNeedsCom1OnTheTerminal()
    {
        var (withPane, _) = Create();
        withPane.SwitchView(ConsoleView.Serial);
        Assert.Equal(ConsoleView.Serial, withPane.View);
        Assert.True(withPane.RedrawRequested);

        var (noPane, output) = Create(serialPane: false);
        noPane.SwitchView(ConsoleView.Serial);
        Assert.Equal(ConsoleView.Screen, noPane.View);
        noPane.Draw(ConsoleLayoutTests.Frame([]));
        Assert.Contains("COM1 goes to file:log.txt, not to this terminal", Text(output));
    }

    [Fact]
    public void TheStatusLineTellsWhereKeysGoWhenTheyAreRead()
    {
        var (console, _) = Create();
        var full = new VgaWindow(0, 25, 25);
        Assert.Equal(" mykvm | VGA, COM1 below", console.StatusText(full));
        console.Interactive = true;
        Assert.Equal(" mykvm | VGA, COM1 below | keys: keyboard | Ctrl-A s: COM1 only  x: quit  h: help", console.StatusText(full));
        Assert.Contains("VGA rows 3-25 of 25", console.StatusText(new VgaWindow(2, 23, 25)));
        console.SwitchView(ConsoleView.Serial);
        Assert.Equal(" mykvm | COM1 | keys: COM1 | Ctrl-A v: VGA screen  x: quit  h: help", console.StatusText(full));
        console.ShowHelp();
        Assert.StartsWith(" mykvm | Ctrl-A then s: COM1 only", console.StatusText(full));
    }
}
