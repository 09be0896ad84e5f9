using System.Text;

namespace MyKvm.Devices.Video;

/// <summary>
/// One captured text screen: character/attribute words (character in the low byte), the 16-colour palette the
/// attribute nibbles select (0xRRGGBB), the character cell size and the cursor.
/// </summary>
public sealed record VgaTextFrame(
    int Columns, int Rows, ushort[] Cells, uint[] Palette, int CellWidth, int CellHeight,
    bool BlinkEnabled, bool LineGraphics,
    bool CursorVisible, int CursorRow, int CursorColumn, int CursorStart, int CursorEnd,
    bool GraphicsMode = false, bool Monochrome = false)
{
    public ushort this[int row, int column] => Cells[row * Columns + column];

    /// <summary>The screen's characters as text, one line per row, trailing blanks trimmed (tests, logs).</summary>
    public string ToPlainText()
    {
        var sb = new StringBuilder();
        for (int r = 0; r < Rows; r++)
        {
            var line = new StringBuilder();
            for (int c = 0; c < Columns; c++) line.Append(Cp437.ToUnicode((byte)this[r, c]));
            sb.Append(line.ToString().TrimEnd()).Append('\n');
        }
        return sb.ToString();
    }

    public bool SameContentAs(VgaTextFrame? other) =>
        other is not null && other.Columns == Columns && other.Rows == Rows && other.Cells.AsSpan().SequenceEqual(Cells)
        && other.Palette.AsSpan().SequenceEqual(Palette) && other.CursorVisible == CursorVisible
        && other.CursorRow == CursorRow && other.CursorColumn == CursorColumn && other.BlinkEnabled == BlinkEnabled;
}

/// <summary>
/// Draws a <see cref="VgaTextFrame"/>: as ANSI escape sequences for a terminal (<c>--display term</c>) or as pixels /
/// a PNG file (<c>--display png:PATH</c>) with <see cref="TextFont"/> at 720×400 (9-dot cells) or 640×400 (8-dot).
/// Attributes: low nibble foreground, high nibble background; with blink enabled (attribute mode control bit 3) bit 7
/// blinks the character and the background has only 8 colours, otherwise bit 7 selects bright backgrounds.
/// </summary>
public static class VgaTextRenderer
{
    // VGA colour order is blue=1, green=2, red=4; ANSI's is red=1, green=2, blue=4.
    private static readonly int[] VgaToAnsi = [0, 4, 2, 6, 1, 5, 3, 7];

    /// <summary>
    /// The escape sequences that bring a terminal from <paramref name="previous"/> (null: unknown) to
    /// <paramref name="frame"/>: only rows that changed are redrawn; an empty string if nothing changed.
    /// Colours use the 16 standard ANSI colours; characters are CP437 mapped to Unicode.
    /// </summary>
    public static string ToAnsi(VgaTextFrame frame, VgaTextFrame? previous = null)
    {
        bool full = previous is null || previous.Columns != frame.Columns || previous.Rows != frame.Rows;
        if (!full && frame.SameContentAs(previous)) return "";
        var sb = new StringBuilder();
        sb.Append("\e[?25l"); // hide the cursor while drawing
        if (full) sb.Append("\e[0m\e[2J");
        for (int r = 0; r < frame.Rows; r++)
        {
            if (!full && frame.Cells.AsSpan(r * frame.Columns, frame.Columns).SequenceEqual(previous!.Cells.AsSpan(r * frame.Columns, frame.Columns))
                && frame.Palette.AsSpan().SequenceEqual(previous.Palette))
                continue;
            sb.Append("\e[").Append(r + 1).Append(";1H");
            int lastAttr = -1;
            for (int c = 0; c < frame.Columns; c++)
            {
                ushort cell = frame[r, c];
                int attr = cell >> 8;
                if (attr != lastAttr)
                {
                    AppendSgr(sb, attr, frame.BlinkEnabled);
                    lastAttr = attr;
                }
                sb.Append(Cp437.ToUnicode((byte)cell));
            }
            sb.Append("\e[0m");
        }
        if (frame.CursorVisible)
            sb.Append("\e[").Append(frame.CursorRow + 1).Append(';').Append(frame.CursorColumn + 1).Append("H\e[?25h");
        return sb.ToString();
    }

    private static void AppendSgr(StringBuilder sb, int attr, bool blinkEnabled)
    {
        int fg = attr & 0x0F;
        int bg = blinkEnabled ? (attr >> 4) & 0x07 : (attr >> 4) & 0x0F;
        bool blink = blinkEnabled && (attr & 0x80) != 0;
        sb.Append("\e[0;");
        sb.Append(fg >= 8 ? 90 + VgaToAnsi[fg & 7] : 30 + VgaToAnsi[fg]).Append(';');
        sb.Append(bg >= 8 ? 100 + VgaToAnsi[bg & 7] : 40 + VgaToAnsi[bg]);
        if (blink) sb.Append(";5");
        sb.Append('m');
    }

    public static int PixelWidth(VgaTextFrame f) => f.Columns * f.CellWidth;
    public static int PixelHeight(VgaTextFrame f) => f.Rows * f.CellHeight;

    /// <summary>
    /// Renders to 0xRRGGBB pixels. <paramref name="blinkOn"/> is the blink phase: when false, blinking characters
    /// show only their background and the cursor is hidden (the hardware blinks both, at different rates).
    /// </summary>
    public static uint[] ToPixels(VgaTextFrame f, bool blinkOn = true)
    {
        int w = PixelWidth(f), h = PixelHeight(f);
        var px = new uint[w * h];
        for (int r = 0; r < f.Rows; r++)
            for (int c = 0; c < f.Columns; c++)
            {
                ushort cell = f[r, c];
                byte ch = (byte)cell;
                int attr = cell >> 8;
                uint fg = f.Palette[attr & 0x0F];
                uint bg = f.Palette[f.BlinkEnabled ? (attr >> 4) & 7 : (attr >> 4) & 0x0F];
                bool hidden = f.BlinkEnabled && (attr & 0x80) != 0 && !blinkOn;
                var glyph = TextFont.Glyph(ch);
                // The ninth column repeats the eighth for the line-drawing range 0xC0–0xDF, so lines join up.
                bool extendNinth = f.LineGraphics && ch is >= 0xC0 and <= 0xDF;
                bool cursorCell = f.CursorVisible && blinkOn && r == f.CursorRow && c == f.CursorColumn;
                for (int y = 0; y < f.CellHeight; y++)
                {
                    // Fonts taller than ours (CellHeight > 16) get blank rows below; shorter cells use the top rows.
                    byte bits = y < TextFont.Height ? glyph[y] : (byte)0;
                    if (hidden) bits = 0;
                    bool cursorRow = cursorCell && y >= f.CursorStart && y <= f.CursorEnd;
                    int rowBase = (r * f.CellHeight + y) * w + c * f.CellWidth;
                    for (int x = 0; x < f.CellWidth; x++)
                    {
                        bool on = x < 8 ? (bits & (0x80 >> x)) != 0 : extendNinth && (bits & 1) != 0;
                        px[rowBase + x] = on || cursorRow ? fg : bg;
                    }
                }
            }
        return px;
    }

    public static byte[] ToPng(VgaTextFrame frame, bool blinkOn = true) =>
        PngWriter.Encode(PixelWidth(frame), PixelHeight(frame), ToPixels(frame, blinkOn));
}
