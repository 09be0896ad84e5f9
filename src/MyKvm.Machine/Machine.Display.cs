using System.Runtime.InteropServices;
using System.Text;
using MyKvm.Core;
using MyKvm.Devices.Legacy;
using MyKvm.Devices.Video;

namespace MyKvm.Machine;

/// <summary>
/// The user's side of the console: host input to the guest, and the VGA screen to the terminal or a PNG.
/// With <c>--display term</c> the terminal shows the VGA text screen at the top, a status line, and COM1's output
/// scrolling below it when the terminal is tall enough (<see cref="TerminalConsole"/>); Ctrl-A s shows COM1 alone
/// and sends typed keys there, Ctrl-A v comes back to the screen, where keys go to the PS/2 keyboard.
/// </summary>
public sealed partial class Machine
{
    private long _lastScreenDraw;
    private TerminalKeyDecoder? _keyDecoder;
    private TerminalConsole? _termConsole;

    /// <summary>Where <c>--display term</c> draws; standard output unless set before <see cref="Run"/> (tests).</summary>
    public Stream? TerminalOutput { get; set; }

    /// <summary>
    /// The terminal size for <c>--display term</c>; when null, asked from standard output (TIOCGWINSZ) on every
    /// redraw, so a resized terminal is followed, and 80×34 when that is not a terminal.
    /// </summary>
    public (int Columns, int Rows)? TerminalSize { get; set; }

    private TerminalConsole TermConsole => _termConsole ??= new TerminalConsole(
        () => TerminalOutput ?? Console.OpenStandardOutput(),
        () => TerminalSize ?? (TerminalOutput is null ? TerminalConsole.QueryStdoutSize() : null) ?? (80, 34),
        serialPane: _config.Serial.Kind == SerialKind.Stdio,
        serialTarget: _config.Serial.ToString());

    /// <summary>Where COM1 goes with <c>--serial stdio</c>: the terminal, or its serial pane with <c>--display term</c>.</summary>
    private Stream ConsoleSerialOutput() =>
        _config.Display.Kind == DisplayKind.Term ? TermConsole.SerialOutput : Console.OpenStandardOutput();

    /// <summary>
    /// With <c>--display term</c>, the console's own Ctrl-A keys in front of the machine's escape (<paramref name="console"/>,
    /// which gets everything else, Ctrl-A pairs included): Ctrl-A s shows COM1 alone and sends keys there, Ctrl-A v
    /// shows the VGA screen and sends keys to the keyboard, Ctrl-A h lists the keys in the status line (on the
    /// terminal, not over the picture). Called on the input thread.
    /// </summary>
    private Action<byte[]> WithDisplayKeys(Action<byte[]> console)
    {
        if (_config.Display.Kind != DisplayKind.Term) return console;
        var term = TermConsole;
        term.Interactive = true;
        bool escape = false;
        return bytes =>
        {
            var rest = new List<byte>(bytes.Length + 1);
            foreach (byte b in bytes)
            {
                if (!escape)
                {
                    if (b == 0x01) escape = true;
                    else rest.Add(b);
                    continue;
                }
                escape = false;
                switch ((char)b)
                {
                    case 's' or 'S':
                        term.SwitchView(ConsoleView.Serial);
                        break;
                    case 'v' or 'V':
                        term.SwitchView(ConsoleView.Screen);
                        break;
                    case 'h' or 'H' or '?':
                        term.ShowHelp();
                        break;
                    default:
                        rest.Add(0x01);
                        rest.Add(b);
                        continue;
                }
                // Redraw now, not after the slice.
                Signals.Raise(CpuSignals.Attention);
                _wake.Set();
            }
            // A Ctrl-A at the end waits for its key in the next read.
            if (rest.Count > 0) console([.. rest]);
        };
    }

    /// <summary>
    /// Standard input as the raw terminal gives it. Not <see cref="Console.OpenStandardInput()"/>: on a terminal .NET
    /// reads that through its own line editor, which sets the terminal back to its own mode (ISIG on), echoes what
    /// is typed and hands nothing over before Enter — so no key would reach the guest, or the Ctrl-A escape, in time.
    /// </summary>
    private static Stream OpenTerminalInput() =>
        new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(0, ownsHandle: false), FileAccess.Read, bufferSize: 0);

    /// <summary>
    /// Host input: with <c>--display term</c> showing the screen, to the PS/2 keyboard (escape sequences decoded to
    /// keys); else to COM1.
    /// </summary>
    private void DeliverSerialInput(byte[] bytes)
    {
        if (_config.Display.Kind == DisplayKind.Term && _keyboard is not null && TermConsole.View == ConsoleView.Screen)
        {
            _keyDecoder ??= new TerminalKeyDecoder(_keyboard.KeyFromHost);
            _keyDecoder.Feed(bytes);
        }
        else
        {
            _com1?.ReceiveInput(bytes);
        }
    }

    /// <summary><c>--display term</c>: redraws what changed on the terminal, at most 20 times a second unless asked to now.</summary>
    private void RefreshDisplay()
    {
        if (_config.Display.Kind != DisplayKind.Term || _vga is null) return;
        var console = TermConsole;
        long now = Environment.TickCount64;
        if (!console.RedrawRequested && now - _lastScreenDraw < 50) return;
        _lastScreenDraw = now;
        console.Draw(_vga.CaptureText());
    }

    /// <summary>
    /// At the end of a run: <c>--display term</c> gives the terminal back and leaves the last picture in it;
    /// <c>--display png:PATH</c> writes the screenshot.
    /// </summary>
    private void OnStopped()
    {
        if (_config.Display.Kind == DisplayKind.Term)
            TermConsole.Close(_vga?.CaptureText());
        if (_config.Display.Kind == DisplayKind.Png && _vga is not null)
            SaveScreenshot(_config.Display.Path!);
    }

    /// <summary>The VGA text screen as a PNG (also the monitor's <c>screendump</c>).</summary>
    public void SaveScreenshot(string path)
    {
        try
        {
            File.WriteAllBytes(path, VgaTextRenderer.ToPng(_vga!.CaptureText()));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _log.WriteLine($"mykvm: cannot write the screenshot {path}: {BootFile.Describe(e)}");
        }
    }
}

/// <summary>What <c>--display term</c> shows: the VGA screen (COM1 below it when there is room) or COM1 alone.</summary>
public enum ConsoleView { Screen, Serial }

/// <summary>
/// COM1's output as lines of text for the serial pane: UTF-8 decoded, carriage return, backspace and tab applied,
/// other control characters and the guest's own escape sequences dropped (they would move the terminal's cursor
/// out of the pane). Keeps the last <see cref="MaxLines"/> lines.
/// </summary>
internal sealed class SerialText
{
    public const int MaxLines = 2000;
    private readonly List<StringBuilder> _lines = [new()];
    private readonly Decoder _utf8 = new UTF8Encoding(false).GetDecoder();
    private readonly object _lock = new();
    private int _column;
    private EscapeState _escape;

    private enum EscapeState { None, Esc, Csi, Osc }

    /// <summary>Changes whenever the text does.</summary>
    public int Version { get; private set; }

    public void Append(ReadOnlySpan<byte> bytes)
    {
        if (bytes.IsEmpty) return;
        lock (_lock)
        {
            Span<char> chars = stackalloc char[256];
            while (!bytes.IsEmpty)
            {
                int take = Math.Min(bytes.Length, 128);
                int n = _utf8.GetChars(bytes[..take], chars, flush: false);
                foreach (char c in chars[..n]) Put(c);
                bytes = bytes[take..];
            }
            Version++;
        }
    }

    private void Put(char c)
    {
        switch (_escape)
        {
            case EscapeState.Esc:
                // ECMA-35/48: ESC, intermediate bytes 0x20–0x2F (as in ESC ( B), then one final byte.
                _escape = c switch { '[' => EscapeState.Csi, ']' => EscapeState.Osc, >= ' ' and <= '/' => EscapeState.Esc, _ => EscapeState.None };
                return;
            case EscapeState.Csi:
                // ECMA-48 §5.4: parameter and intermediate bytes, then one final byte in 0x40–0x7E.
                if (c is >= '@' and <= '~') _escape = EscapeState.None;
                return;
            case EscapeState.Osc:
                // Ended by BEL or ST (ESC \, whose backslash the Esc state swallows).
                if (c == '\a') _escape = EscapeState.None;
                else if (c == '\e') _escape = EscapeState.Esc;
                return;
        }
        var line = _lines[^1];
        switch (c)
        {
            case '\e':
                _escape = EscapeState.Esc;
                return;
            case '\n':
                _lines.Add(new StringBuilder());
                if (_lines.Count > MaxLines) _lines.RemoveAt(0);
                _column = 0;
                return;
            case '\r':
                _column = 0;
                return;
            case '\b':
                if (_column > 0) _column--;
                return;
            case '\t':
                do PutPrintable(line, ' '); while (_column % 8 != 0);
                return;
        }
        if (c < ' ' || c == '\x7f') return;
        PutPrintable(line, c);
    }

    private void PutPrintable(StringBuilder line, char c)
    {
        if (_column < line.Length) line[_column] = c;
        else
        {
            line.Append(' ', _column - line.Length);
            line.Append(c);
        }
        _column++;
    }

    /// <summary>
    /// The last <paramref name="count"/> rows of the text wrapped at <paramref name="width"/> columns (fewer when
    /// there is less text), and where the cursor is in them.
    /// </summary>
    public (List<string> Rows, int CursorRow, int CursorColumn) Tail(int width, int count)
    {
        width = Math.Max(width, 1);
        lock (_lock)
        {
            var rows = new List<string>();
            int cursorFromEnd = 0, cursorColumn = 0;
            for (int i = _lines.Count - 1; i >= 0 && rows.Count < count; i--)
            {
                var pieces = Wrap(_lines[i].ToString(), width);
                if (i == _lines.Count - 1)
                {
                    // The column never passes the line's end; at the end of a full last piece it stays on that piece.
                    int piece = Math.Min(_column / width, pieces.Count - 1);
                    cursorFromEnd = pieces.Count - 1 - piece;
                    cursorColumn = Math.Min(_column - piece * width, width - 1);
                }
                for (int p = pieces.Count - 1; p >= 0 && rows.Count < count; p--) rows.Add(pieces[p]);
            }
            rows.Reverse();
            return (rows, Math.Max(rows.Count - 1 - cursorFromEnd, 0), cursorColumn);
        }
    }

    private static List<string> Wrap(string text, int width)
    {
        var pieces = new List<string>();
        for (int start = 0; start < text.Length; start += width)
            pieces.Add(text.Substring(start, Math.Min(width, text.Length - start)));
        if (pieces.Count == 0) pieces.Add("");
        return pieces;
    }

    /// <summary>Everything kept, one string per line (tests).</summary>
    public override string ToString()
    {
        lock (_lock) return string.Join('\n', _lines.Select(l => l.ToString()));
    }
}

/// <summary>One character cell of the terminal picture, with its <see cref="TermStyle"/>.</summary>
internal readonly record struct TermCell(char Ch, int Style)
{
    public static readonly TermCell Blank = new(' ', TermStyle.Default);
}

/// <summary>Cell styles: the terminal's own colours, reverse video, or a VGA attribute byte.</summary>
internal static class TermStyle
{
    public const int Default = 0;
    public const int Reverse = 1;
    private const int VgaFlag = 0x100, BlinkModeFlag = 0x200;

    // VGA colour order is blue=1, green=2, red=4; ANSI's is red=1, green=2, blue=4.
    private static readonly int[] VgaToAnsi = [0, 4, 2, 6, 1, 5, 3, 7];

    /// <summary>A VGA attribute (low nibble foreground, high nibble background) with the attribute controller's blink mode.</summary>
    public static int Vga(int attribute, bool blinkEnabled) => VgaFlag | (attribute & 0xFF) | (blinkEnabled ? BlinkModeFlag : 0);

    /// <summary>A cell that shows nothing: a space (or NUL) on the terminal's or VGA's black background.</summary>
    public static bool IsBlank(TermCell cell) =>
        cell.Ch is ' ' or '\0' or '\u00A0' && (cell.Style == Default || (cell.Style & VgaFlag) != 0 && Background(cell.Style) == 0);

    private static int Background(int style) => (style & BlinkModeFlag) != 0 ? (style >> 4) & 0x07 : (style >> 4) & 0x0F;

    /// <summary>The SGR sequence that selects this style from any other.</summary>
    public static void AppendSgr(StringBuilder sb, int style)
    {
        if (style == Default)
        {
            sb.Append("\e[0m");
            return;
        }
        if (style == Reverse)
        {
            sb.Append("\e[0;7m");
            return;
        }
        // The 16 standard colours (bright ones as 90–97/100–107) by attribute index, as the VGA palette has them
        // by default; with blink enabled (attribute mode control bit 3) bit 7 blinks instead of brightening.
        int fg = style & 0x0F, bg = Background(style);
        bool blink = (style & BlinkModeFlag) != 0 && (style & 0x80) != 0;
        sb.Append("\e[0;");
        sb.Append(fg >= 8 ? 90 + VgaToAnsi[fg & 7] : 30 + VgaToAnsi[fg]).Append(';');
        sb.Append(bg >= 8 ? 100 + VgaToAnsi[bg & 7] : 40 + VgaToAnsi[bg]);
        if (blink) sb.Append(";5");
        sb.Append('m');
    }
}

/// <summary>
/// One composed terminal picture: cells row by row, the cursor, and which rows hold what, so that the run can
/// leave the picture's content (not its status line) in the terminal at exit.
/// </summary>
internal sealed class TerminalPicture(int columns, int rows)
{
    public int Columns { get; } = columns;
    public int Rows { get; } = rows;
    public TermCell[] Cells { get; } = Enumerable.Repeat(TermCell.Blank, columns * rows).ToArray();
    public int CursorRow { get; set; }
    public int CursorColumn { get; set; }
    public bool CursorVisible { get; set; }
    /// <summary>Rows [0, ContentRows) show the VGA screen (screen view) or COM1 (serial view).</summary>
    public int ContentRows { get; set; }
    public int StatusRow { get; set; } = -1;
    /// <summary>The serial pane under the status line in the screen view: first row and row count (0: none).</summary>
    public int PaneTop { get; set; }
    public int PaneRows { get; set; }

    /// <summary>Same size, cells and cursor: nothing to send to the terminal.</summary>
    public bool SameAs(TerminalPicture? other) =>
        other is not null && other.Columns == Columns && other.Rows == Rows && other.CursorRow == CursorRow
        && other.CursorColumn == CursorColumn && other.CursorVisible == CursorVisible && other.Cells.AsSpan().SequenceEqual(Cells);

    public TermCell this[int row, int column]
    {
        get => Cells[row * Columns + column];
        set => Cells[row * Columns + column] = value;
    }

    public void Write(int row, int column, string text, int style)
    {
        for (int i = 0; i < text.Length && column + i < Columns; i++)
            this[row, column + i] = new TermCell(text[i], style);
    }

    /// <summary>The characters only, one line per row, trailing blanks trimmed (tests).</summary>
    public string ToPlainText()
    {
        var sb = new StringBuilder();
        for (int r = 0; r < Rows; r++)
        {
            var line = new StringBuilder();
            for (int c = 0; c < Columns; c++) line.Append(this[r, c].Ch == '\0' ? ' ' : this[r, c].Ch);
            sb.Append(line.ToString().TrimEnd()).Append('\n');
        }
        return sb.ToString();
    }
}

/// <summary>
/// The layout of <c>--display term</c>. Screen view: the VGA text screen at the top left (the rows around its
/// cursor when the terminal is shorter), a status line under it, and COM1's latest lines below that when at least
/// <see cref="MinPaneRows"/> rows are left. Serial view: COM1's latest lines over the whole terminal, the status
/// line at the bottom.
/// </summary>
internal static class ConsoleLayout
{
    public const int MinPaneRows = 3;

    public static TerminalPicture Compose(VgaTextFrame? frame, SerialText serial, ConsoleView view, int columns, int rows,
        bool serialPane, Func<VgaWindow, string> status)
    {
        columns = Math.Max(columns, 1);
        rows = Math.Max(rows, 1);
        var picture = new TerminalPicture(columns, rows);
        int statusRow;
        var window = new VgaWindow(0, 0, frame?.Rows ?? 25);
        if (view == ConsoleView.Serial)
        {
            int textRows = Math.Max(rows - 1, 1);
            var (lines, cursorRow, cursorColumn) = serial.Tail(columns, textRows);
            for (int r = 0; r < lines.Count; r++) picture.Write(r, 0, lines[r], TermStyle.Default);
            picture.ContentRows = Math.Min(textRows, rows);
            picture.CursorVisible = true;
            picture.CursorRow = Math.Min(cursorRow, textRows - 1);
            picture.CursorColumn = Math.Min(cursorColumn, columns - 1);
            statusRow = rows > 1 ? rows - 1 : -1;
        }
        else
        {
            int frameRows = frame?.Rows ?? 25;
            int room = Math.Max(rows - 1, 1);   // one row for the status line
            int shown = Math.Min(frameRows, room);
            int top = 0;
            if (frame is not null && shown < frameRows && frame.CursorVisible)
                top = Math.Clamp(frame.CursorRow - shown + 1, 0, frameRows - shown);
            window = new VgaWindow(top, shown, frameRows);
            if (frame is not null)
            {
                for (int r = 0; r < shown; r++)
                    for (int c = 0; c < Math.Min(frame.Columns, columns); c++)
                    {
                        ushort cell = frame[top + r, c];
                        picture[r, c] = new TermCell(Cp437.ToUnicode((byte)cell), TermStyle.Vga(cell >> 8, frame.BlinkEnabled));
                    }
                int cursorRow = frame.CursorRow - top;
                picture.CursorVisible = frame.CursorVisible && cursorRow >= 0 && cursorRow < shown && frame.CursorColumn < columns;
                picture.CursorRow = Math.Clamp(cursorRow, 0, rows - 1);
                picture.CursorColumn = Math.Clamp(frame.CursorColumn, 0, columns - 1);
            }
            picture.ContentRows = shown;
            statusRow = rows > shown ? shown : -1;
            int paneTop = shown + 1, paneRows = rows - paneTop;
            if (serialPane && paneRows >= MinPaneRows)
            {
                var (lines, _, _) = serial.Tail(columns, paneRows);
                for (int r = 0; r < lines.Count; r++) picture.Write(paneTop + r, 0, lines[r], TermStyle.Default);
                picture.PaneTop = paneTop;
                picture.PaneRows = paneRows;
            }
        }
        if (statusRow >= 0)
        {
            picture.StatusRow = statusRow;
            string text = status(window);
            picture.Write(statusRow, 0, text.Length < columns ? text.PadRight(columns) : text[..columns], TermStyle.Reverse);
        }
        return picture;
    }

    /// <summary>
    /// The escape sequences that bring a terminal showing <paramref name="previous"/> (null: unknown) to
    /// <paramref name="picture"/>: only changed spans are rewritten. Autowrap is off (see <see cref="TerminalConsole"/>),
    /// so writing the last column never scrolls.
    /// </summary>
    public static string Diff(TerminalPicture picture, TerminalPicture? previous)
    {
        bool full = previous is null || previous.Columns != picture.Columns || previous.Rows != picture.Rows;
        var sb = new StringBuilder();
        sb.Append("\e[?25l");
        if (full) sb.Append("\e[0m\e[H\e[2J");
        int style = -1;
        for (int r = 0; r < picture.Rows; r++)
        {
            int first = 0, last = picture.Columns - 1;
            if (!full)
            {
                while (first < picture.Columns && picture[r, first] == previous![r, first]) first++;
                if (first == picture.Columns) continue;
                while (picture[r, last] == previous![r, last]) last--;
            }
            else
            {
                // Blank trailing cells are already blank after the clear.
                while (last >= 0 && picture[r, last] == TermCell.Blank) last--;
                if (last < 0) continue;
            }
            sb.Append("\e[").Append(r + 1).Append(';').Append(first + 1).Append('H');
            for (int c = first; c <= last; c++)
            {
                var cell = picture[r, c];
                if (cell.Style != style)
                {
                    TermStyle.AppendSgr(sb, cell.Style);
                    style = cell.Style;
                }
                sb.Append(cell.Ch == '\0' ? ' ' : cell.Ch);
            }
        }
        if (style != TermStyle.Default && style != -1) sb.Append("\e[0m");
        sb.Append("\e[").Append(picture.CursorRow + 1).Append(';').Append(picture.CursorColumn + 1).Append('H');
        if (picture.CursorVisible) sb.Append("\e[?25h");
        return sb.ToString();
    }

    /// <summary>
    /// What stays in the terminal after the run: the picture's content rows (the VGA screen or COM1) and the
    /// serial pane under a rule instead of the status line, trailing blank rows and cells left out.
    /// </summary>
    public static string Transcript(TerminalPicture picture)
    {
        var sb = new StringBuilder();
        AppendRows(sb, picture, 0, picture.ContentRows);
        if (picture.PaneRows > 0 && LastNonBlankRow(picture, picture.PaneTop, picture.PaneRows) >= 0)
        {
            string rule = "── COM1 ";
            sb.Append(rule).Append('─', Math.Max(picture.Columns - rule.Length, 0)).Append('\n');
            AppendRows(sb, picture, picture.PaneTop, picture.PaneRows);
        }
        return sb.ToString();
    }

    private static int LastNonBlankRow(TerminalPicture picture, int top, int count)
    {
        for (int r = top + count - 1; r >= top; r--)
            for (int c = 0; c < picture.Columns; c++)
                if (!TermStyle.IsBlank(picture[r, c])) return r;
        return -1;
    }

    private static void AppendRows(StringBuilder sb, TerminalPicture picture, int top, int count)
    {
        int lastRow = LastNonBlankRow(picture, top, count);
        for (int r = top; r <= lastRow; r++)
        {
            int last = picture.Columns - 1;
            while (last >= 0 && TermStyle.IsBlank(picture[r, last])) last--;
            int style = TermStyle.Default;
            for (int c = 0; c <= last; c++)
            {
                var cell = picture[r, c];
                if (cell.Style != style)
                {
                    TermStyle.AppendSgr(sb, cell.Style);
                    style = cell.Style;
                }
                sb.Append(cell.Ch == '\0' ? ' ' : cell.Ch);
            }
            if (style != TermStyle.Default) sb.Append("\e[0m");
            sb.Append('\n');
        }
    }
}

/// <summary>The VGA rows on the terminal: <see cref="Shown"/> rows from <see cref="Top"/>, of <see cref="Total"/>.</summary>
internal readonly record struct VgaWindow(int Top, int Shown, int Total)
{
    public bool Clipped => Shown < Total;
}

/// <summary>
/// The terminal of <c>--display term</c>: draws <see cref="ConsoleLayout"/> pictures on the alternate screen
/// (autowrap off, cursor hidden while drawing), and gives the terminal back — main screen, autowrap, cursor,
/// colours — on every way out: <see cref="Close"/> at the end of the run (which then prints the last picture, so the
/// guest's final screen stays readable), process exit, and SIGTERM/SIGHUP/SIGQUIT.
/// Draws on the vCPU thread; view switches and messages may come from the input thread.
/// </summary>
internal sealed partial class TerminalConsole
{
    private const string EnterSequence = "\e[?1049h\e[?7l\e[0m\e[H\e[2J";
    private const string LeaveSequence = "\e[0m\e[?7h\e[?25h\e[?1049l";
    private const int MessageMilliseconds = 6000;

    private readonly Func<Stream> _openOutput;
    private readonly Func<(int Columns, int Rows)> _size;
    private readonly string _serialTarget;
    private readonly object _lock = new();
    private readonly List<PosixSignalRegistration> _signals = [];
    private Stream? _out;
    private bool _started, _closed;
    private TerminalPicture? _shown;
    private VgaTextFrame? _lastFrame;
    private volatile int _view;
    private volatile bool _redraw;
    private string? _message;
    private long _messageUntil;

    public TerminalConsole(Func<Stream> output, Func<(int Columns, int Rows)> size, bool serialPane, string serialTarget = "stdio")
    {
        _openOutput = output;
        _size = size;
        SerialPane = serialPane;
        _serialTarget = serialTarget;
        SerialOutput = new SerialTextStream(this);
    }

    /// <summary>COM1's output is shown here (with <c>--serial stdio</c>).</summary>
    public bool SerialPane { get; }

    /// <summary>Keys are read from a raw terminal, so the status line lists the Ctrl-A keys.</summary>
    public bool Interactive { get; set; }

    public SerialText Serial { get; } = new();

    /// <summary>The stream COM1's sink writes to.</summary>
    public Stream SerialOutput { get; }

    public ConsoleView View => (ConsoleView)_view;

    /// <summary>Something asks for a redraw before the usual interval (a view switch, a message).</summary>
    public bool RedrawRequested => _redraw;

    public void SwitchView(ConsoleView view)
    {
        if (view == ConsoleView.Serial && !SerialPane)
        {
            ShowMessage($"COM1 goes to {_serialTarget}, not to this terminal");
            return;
        }
        _view = (int)view;
        _redraw = true;
    }

    /// <summary>Shows the console keys in the status line for a few seconds.</summary>
    public void ShowHelp() =>
        ShowMessage(SerialPane
            ? "Ctrl-A then s: COM1 only, v: VGA, c: monitor, x: quit, Ctrl-A: send Ctrl-A"
            : "Ctrl-A then c: monitor, x: quit, Ctrl-A: send Ctrl-A");

    public void ShowMessage(string text)
    {
        lock (_lock)
        {
            _message = text;
            _messageUntil = Environment.TickCount64 + MessageMilliseconds;
        }
        _redraw = true;
    }

    /// <summary>The status line's text for the current view: what is shown, where keys go, the Ctrl-A keys (or a message).</summary>
    public string StatusText(VgaWindow window)
    {
        string shown = View == ConsoleView.Serial ? "COM1"
            : (window.Clipped ? $"VGA rows {window.Top + 1}-{window.Top + window.Shown} of {window.Total}" : "VGA")
              + (SerialPane ? ", COM1 below" : "");
        string? message;
        lock (_lock) message = Environment.TickCount64 < _messageUntil ? _message : null;
        if (message is not null) return $" mykvm | {message}";
        if (!Interactive) return $" mykvm | {shown}";
        string keys = View == ConsoleView.Serial ? "Ctrl-A v: VGA screen  x: quit  h: help"
            : SerialPane ? "Ctrl-A s: COM1 only  x: quit  h: help" : "Ctrl-A x: quit  h: help";
        return $" mykvm | {shown} | keys: {(View == ConsoleView.Serial ? "COM1" : "keyboard")} | {keys}";
    }

    /// <summary>Draws the VGA screen (and COM1) if anything on the terminal would change.</summary>
    public void Draw(VgaTextFrame frame)
    {
        lock (_lock)
        {
            _redraw = false;
            _lastFrame = frame;
            if (_closed) return;
            var picture = Compose(frame);
            if (!_started)
            {
                if (!Start()) return;
                _shown = null;
            }
            else if (picture.SameAs(_shown)) return;
            Write(ConsoleLayout.Diff(picture, _shown), picture);
        }
    }

    private TerminalPicture Compose(VgaTextFrame? frame)
    {
        var (columns, rows) = _size();
        return ConsoleLayout.Compose(frame, Serial, View, columns, rows, SerialPane, StatusText);
    }

    /// <summary>
    /// The end of the run: back to the main screen, and the last picture printed there (without its status line).
    /// Safe to call more than once.
    /// </summary>
    public void Close(VgaTextFrame? finalFrame)
    {
        lock (_lock)
        {
            if (_closed) return;
            var picture = Compose(finalFrame ?? _lastFrame);
            var sb = new StringBuilder();
            if (_started) sb.Append(LeaveSequence);
            sb.Append(ConsoleLayout.Transcript(picture));
            _out ??= TryOpen();
            WriteRaw(sb.ToString());
            _closed = true;
            Unregister();
        }
    }

    /// <summary>Gives the terminal back without printing anything (signals, process exit).</summary>
    private void Restore()
    {
        lock (_lock)
        {
            if (_closed) return;
            _closed = true;
            if (_started) WriteRaw(LeaveSequence);
        }
    }

    private bool Start()
    {
        _out ??= TryOpen();
        if (_out is null)
        {
            _closed = true;
            return false;
        }
        _started = true;
        AppDomain.CurrentDomain.ProcessExit += OnProcessExit;
        foreach (var sig in new[] { PosixSignal.SIGTERM, PosixSignal.SIGHUP, PosixSignal.SIGQUIT })
            _signals.Add(PosixSignalRegistration.Create(sig, _ => Restore()));
        WriteRaw(EnterSequence);
        return !_closed;
    }

    private void OnProcessExit(object? sender, EventArgs e) => Restore();

    private void Unregister()
    {
        AppDomain.CurrentDomain.ProcessExit -= OnProcessExit;
        foreach (var s in _signals) s.Dispose();
        _signals.Clear();
    }

    private Stream? TryOpen()
    {
        try
        {
            return _openOutput();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private void Write(string text, TerminalPicture picture)
    {
        WriteRaw(text);
        _shown = picture;
    }

    private void WriteRaw(string text)
    {
        if (_out is null) return;
        try
        {
            _out.Write(Encoding.UTF8.GetBytes(text));
            _out.Flush();
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            // The terminal went away (closed pty, mykvm ... | head): the run goes on without a display.
            _closed = true;
        }
    }

    /// <summary>COM1's sink writes here: the text is kept, and drawn at the next redraw.</summary>
    private sealed class SerialTextStream(TerminalConsole console) : Stream
    {
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
        public override void Write(ReadOnlySpan<byte> buffer) => console.Serial.Append(buffer);
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct WinSize
    {
        public ushort Rows, Columns, XPixels, YPixels;
    }

    private const nuint TIOCGWINSZ = 0x5413;   // Linux, asm-generic/ioctls.h

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static partial int IoctlWinSize(int fd, nuint request, out WinSize size);

    /// <summary>The size of the terminal on standard output, or null when it is not one.</summary>
    public static (int Columns, int Rows)? QueryStdoutSize()
    {
        if (!OperatingSystem.IsLinux()) return null;
        try
        {
            return IoctlWinSize(1, TIOCGWINSZ, out var ws) == 0 && ws.Columns > 0 && ws.Rows > 0 ? (ws.Columns, ws.Rows) : null;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return null;
        }
    }
}
