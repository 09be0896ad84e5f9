using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using MyKvm.Core;
using MyKvm.Devices.Video;

namespace MyKvm.Devices.Tests.Video;

/// <summary>Decodes the PNGs our writer produces (truecolour, 8-bit, filter 0), checking chunk CRCs.</summary>
internal static class PngReader
{
    public static (int Width, int Height, uint[] Pixels) Decode(byte[] png)
    {
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }, png[..8]);
        int at = 8, width = 0, height = 0;
        var idat = new MemoryStream();
        bool sawEnd = false;
        while (at < png.Length)
        {
            int len = (int)BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(at));
            string type = Encoding.ASCII.GetString(png, at + 4, 4);
            var data = png.AsSpan(at + 8, len);
            uint crc = BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(at + 8 + len));
            Assert.Equal(PngWriter.Crc32(0xFFFF_FFFF, png.AsSpan(at + 4, 4 + len)) ^ 0xFFFF_FFFF, crc);
            switch (type)
            {
                case "IHDR":
                    width = (int)BinaryPrimitives.ReadUInt32BigEndian(data);
                    height = (int)BinaryPrimitives.ReadUInt32BigEndian(data[4..]);
                    Assert.Equal(8, data[8]);
                    Assert.Equal(2, data[9]);
                    break;
                case "IDAT": idat.Write(data); break;
                case "IEND": sawEnd = true; break;
            }
            at += 12 + len;
        }
        Assert.True(sawEnd);
        idat.Position = 0;
        using var z = new ZLibStream(idat, CompressionMode.Decompress);
        var raw = new MemoryStream();
        z.CopyTo(raw);
        var bytes = raw.ToArray();
        Assert.Equal(height * (1 + 3 * width), bytes.Length);
        var px = new uint[width * height];
        for (int y = 0; y < height; y++)
        {
            int row = y * (1 + 3 * width);
            Assert.Equal(0, bytes[row]);
            for (int x = 0; x < width; x++)
                px[y * width + x] = (uint)(bytes[row + 1 + 3 * x] << 16 | bytes[row + 2 + 3 * x] << 8 | bytes[row + 3 + 3 * x]);
        }
        return (width, height, px);
    }
}

public sealed class VgaTests : IDisposable
{
    private static readonly uint[] StandardPalette =
    [
        0x000000, 0x0000AA, 0x00AA00, 0x00AAAA, 0xAA0000, 0xAA00AA, 0xAA5500, 0xAAAAAA,
        0x555555, 0x5555FF, 0x55FF55, 0x55FFFF, 0xFF5555, 0xFF55FF, 0xFFFF55, 0xFFFFFF,
    ];

    private readonly GuestRam _ram = new(2 * 1024 * 1024);
    private readonly IoBus _io = new();
    private readonly VgaDevice _vga;

    public VgaTests()
    {
        _vga = new VgaDevice(_ram);
        _vga.RegisterOn(_io);
        for (int i = 0; i < 80 * 25; i++) _ram.Write16(0xB8000 + (ulong)(2 * i), 0x0720);
    }

    public void Dispose() => _ram.Dispose();

    private void Put(int row, int col, string text, byte attr)
    {
        for (int i = 0; i < text.Length; i++)
            _ram.Write16(0xB8000 + (ulong)(2 * (row * 80 + col + i)), (ushort)(attr << 8 | (byte)text[i]));
    }

    private void PutCode(int row, int col, byte code, byte attr) =>
        _ram.Write16(0xB8000 + (ulong)(2 * (row * 80 + col)), (ushort)(attr << 8 | code));

    private void Crtc(byte index, byte value)
    {
        _io.Write(0x3D4, 1, index);
        _io.Write(0x3D5, 1, value);
    }

    [Fact]
    public void ResetStateIsMode3WithTheStandardPalette()
    {
        var f = _vga.CaptureText();
        Assert.Equal((80, 25, 9, 16), (f.Columns, f.Rows, f.CellWidth, f.CellHeight));
        Assert.Equal(StandardPalette, f.Palette);
        Assert.True(f.BlinkEnabled);
        Assert.True(f.CursorVisible);
        Assert.Equal((13, 14), (f.CursorStart, f.CursorEnd));
        Assert.Equal(0x67u, _io.Read(0x3CC, 1));
        Assert.Equal(0xB8000UL, _vga.TextBase);
    }

    [Fact]
    public void CrtcCursorAndStartAddressRegisters()
    {
        Crtc(0x0E, 0x01);
        Crtc(0x0F, 0x42);     // 0x142 = 322 = row 4, column 2
        _io.Write(0x3D4, 1, 0x0F);
        Assert.Equal(0x42u, _io.Read(0x3D5, 1));
        var f = _vga.CaptureText();
        Assert.Equal((4, 2), (f.CursorRow, f.CursorColumn));
        Crtc(0x0A, 0x20);     // cursor disable
        Assert.False(_vga.CaptureText().CursorVisible);

        Put(1, 0, "second line", 0x07);
        _io.Write(0x3D4, 2, 0x500D);  // word write: index 0x0D, data 80 (start at row 1)
        Assert.StartsWith("second line\n", _vga.CaptureText().ToPlainText());
    }

    [Fact]
    public void InputStatusReadResetsTheAttributeFlipFlop()
    {
        _io.Write(0x3C0, 1, 0x10);
        _io.Write(0x3C0, 1, 0x04);        // attribute mode control: blink off, line graphics on
        _io.Read(0x3DA, 1);
        _io.Write(0x3C0, 1, 0x30);        // index 0x10 with PAS set: flip-flop is back on index
        Assert.Equal(0x04u, _io.Read(0x3C1, 1));
        Assert.False(_vga.CaptureText().BlinkEnabled);
    }

    [Fact]
    public void RetraceBitsToggleWithoutAClockAndFollowOneWithIt()
    {
        var a = _io.Read(0x3DA, 1) & 0x08;
        var b = _io.Read(0x3DA, 1) & 0x08;
        Assert.NotEqual(a, b);

        var clock = new ManualClock();
        var io = new IoBus();
        new VgaDevice(_ram, clock).RegisterOn(io);
        clock.NowNs = 1_000_000;
        Assert.Equal(0u, io.Read(0x3DA, 1) & 0x08);
        clock.NowNs = 14_000_000;
        Assert.Equal(0x08u, io.Read(0x3DA, 1) & 0x08);
    }

    [Fact]
    public void DacWritesChangeThePalette()
    {
        _io.Write(0x3C8, 1, 0x3F);        // DAC entry for colour 15 (attribute palette maps 15 -> 0x3F)
        _io.Write(0x3C9, 1, 0x3F);
        _io.Write(0x3C9, 1, 0x00);
        _io.Write(0x3C9, 1, 0x00);
        Assert.Equal(0xFF0000u, _vga.CaptureText().Palette[15]);
        _io.Write(0x3C7, 1, 0x3F);
        Assert.Equal(0x3Fu, _io.Read(0x3C9, 1));
        Assert.Equal(0x00u, _io.Read(0x3C9, 1));
    }

    [Fact]
    public void MonoAddressingMovesTheCrtc()
    {
        _io.Write(0x3C2, 1, 0x66);
        Assert.Equal(0xFFu, _io.Read(0x3D5, 1));
        _io.Write(0x3B4, 1, 0x0A);
        Assert.Equal(0x0Du, _io.Read(0x3B5, 1));
        _io.Write(0x3CE, 1, 0x06);
        _io.Write(0x3CF, 1, 0x0A);        // memory map B0000
        Assert.Equal(0xB0000UL, _vga.TextBase);
        _ram.Write16(0xB0000, 0x0741);
        Assert.StartsWith("A", _vga.CaptureText().ToPlainText());
    }

    [Fact]
    public void PngShowsGlyphPixelsInForegroundAndBackgroundColours()
    {
        Put(0, 0, "H", 0x1E);                  // yellow on blue
        PutCode(1, 0, 0xDB, 0x04);             // full block, red
        PutCode(2, 0, 0xC4, 0x0F);             // ─ in the line-graphics range: 9th column continues the line
        PutCode(3, 0, (byte)'A', 0x8F);        // blinking white on black
        Crtc(0x0A, 0x20);                      // no cursor
        var f = _vga.CaptureText();
        var (w, h, px) = PngReader.Decode(VgaTextRenderer.ToPng(f));
        Assert.Equal((720, 400), (w, h));
        uint P(int x, int y) => px[y * w + x];
        // 'H': left stem in column 0 at art rows 0-9 (cell rows 2-11), middle bar on art row 4.
        Assert.Equal(0xFFFF55u, P(0, 2));
        Assert.Equal(0xFFFF55u, P(6, 11));
        Assert.Equal(0xFFFF55u, P(3, 6));
        Assert.Equal(0x0000AAu, P(3, 3));
        Assert.Equal(0x0000AAu, P(0, 0));
        Assert.Equal(0x0000AAu, P(8, 6));      // ninth column is background for letters
        Assert.Equal(0xAA0000u, P(4, 16 + 8));
        Assert.Equal(0xAA0000u, P(7, 16 + 15));
        Assert.Equal(0xFFFFFFu, P(8, 32 + 8)); // ─ extended into the ninth column
        Assert.Equal(0xFFFFFFu, P(3, 48 + 2)); // blink phase on: 'A' visible (its apex)
        var (_, _, off) = PngReader.Decode(VgaTextRenderer.ToPng(f, blinkOn: false));
        Assert.Equal(0x000000u, off[(48 + 2) * w + 3]);
    }

    [Fact]
    public void BrightBackgroundsWhenBlinkIsDisabled()
    {
        Put(0, 0, " ", 0xC0);
        _io.Read(0x3DA, 1);
        _io.Write(0x3C0, 1, 0x30);
        _io.Write(0x3C0, 1, 0x04);
        var px = VgaTextRenderer.ToPixels(_vga.CaptureText());
        Assert.Equal(0xFF5555u, px[0]);
    }

    [Fact]
    public void CursorIsDrawnOnItsScanLinesInTheForegroundColour()
    {
        Put(2, 5, " ", 0x0A);
        Crtc(0x0E, 0);
        Crtc(0x0F, 2 * 80 + 5);
        var f = _vga.CaptureText();
        var px = VgaTextRenderer.ToPixels(f);
        int x = 5 * 9 + 4, w = 720;
        Assert.Equal(0x55FF55u, px[(2 * 16 + 13) * w + x]);
        Assert.Equal(0x55FF55u, px[(2 * 16 + 14) * w + x]);
        Assert.Equal(0x000000u, px[(2 * 16 + 12) * w + x]);
    }

    [Fact]
    public void EightDotModeGives640Pixels()
    {
        _io.Write(0x3C4, 1, 0x01);
        _io.Write(0x3C5, 1, 0x01);
        var f = _vga.CaptureText();
        Assert.Equal(8, f.CellWidth);
        Assert.Equal(640, VgaTextRenderer.PixelWidth(f));
    }

    [Fact]
    public void AnsiOutputRedrawsOnlyChangedRows()
    {
        Put(0, 0, "Hello", 0x1F);
        var first = _vga.CaptureText();
        string full = VgaTextRenderer.ToAnsi(first);
        Assert.Contains("\e[2J", full);
        Assert.Contains("\e[0;97;44mHello", full);     // bright white on blue
        Assert.Equal("", VgaTextRenderer.ToAnsi(_vga.CaptureText(), first));
        PutCode(3, 0, 0xC9, 0x07);
        string delta = VgaTextRenderer.ToAnsi(_vga.CaptureText(), first);
        Assert.Contains("\e[4;1H", delta);
        Assert.Contains("╔", delta);
        Assert.DoesNotContain("\e[1;1H\e[0;", delta); // row 1 is not redrawn (only the cursor goes there)
        Assert.DoesNotContain("Hello", delta);
    }

    [Fact]
    public void EveryPrintableAsciiAndBoxCharacterHasAGlyph()
    {
        for (int c = 0x21; c < 0x7F; c++)
        {
            Assert.True(TextFont.HasGlyph((byte)c), $"no glyph for '{(char)c}'");
            Assert.Contains(TextFont.Glyph((byte)c).ToArray(), b => b != 0);
            Assert.All(TextFont.Glyph((byte)c).ToArray(), b => Assert.Equal(0, b & 1)); // column 7 is spacing
        }
        for (int c = 0xB0; c <= 0xDF; c++)
            Assert.True(TextFont.HasGlyph((byte)c), $"no glyph for 0x{c:X2}");
        // Distinct glyphs: no two printable characters look the same.
        var seen = new HashSet<string>();
        for (int c = 0x21; c < 0x7F; c++)
            Assert.True(seen.Add(Convert.ToHexString(TextFont.Glyph((byte)c))), $"'{(char)c}' duplicates another glyph");
    }

    [Fact]
    public void BoxDrawingCornersJoinTheirNeighbours()
    {
        // ┌ has its right arm on the centre row and its down arm in the centre column; ═ has two rows.
        var tl = TextFont.Glyph(0xDA);
        Assert.Equal(0x1F, tl[8]);          // columns 3-7
        Assert.Equal(0x10, tl[15]);
        var dbl = TextFont.Glyph(0xCD);
        Assert.Equal(0xFF, dbl[7]);
        Assert.Equal(0xFF, dbl[9]);
        Assert.Equal(0x00, dbl[8]);
        var cross = TextFont.Glyph(0xCE);   // ╬: four corners, nothing on the centre row/column
        Assert.Equal(0x00, cross[8]);
        Assert.Equal(0xE0 | 0x08, cross[7] & 0xE8);
    }

    [Fact]
    public void GraphicsModesAreShownAsANoticeNotAsText()
    {
        _io.Write(0x3CE, 1, 0x06);
        _io.Write(0x3CF, 1, 0x05);          // graphics mode, A0000 64K (mode 13h style)
        var f = _vga.CaptureText();
        Assert.True(f.GraphicsMode);
        Assert.Contains("graphics mode, which is not displayed", f.ToPlainText());
        Assert.False(f.CursorVisible);
        Assert.Equal(720 * 400, VgaTextRenderer.ToPixels(f).Length);
    }

    /// <summary>Writes a sample screen (memtest-like frame, every glyph) for people to look at.</summary>
    [Fact]
    public void SampleScreenRendersToAPngFile()
    {
        for (int i = 0; i < 80 * 25; i++) _ram.Write16(0xB8000 + (ulong)(2 * i), 0x1720);
        PutCode(0, 0, 0xC9, 0x1F);
        for (int c = 1; c < 79; c++) PutCode(0, c, 0xCD, 0x1F);
        PutCode(0, 79, 0xBB, 0x1F);
        for (int r = 1; r < 24; r++) { PutCode(r, 0, 0xBA, 0x1F); PutCode(r, 79, 0xBA, 0x1F); }
        PutCode(24, 0, 0xC8, 0x1F);
        for (int c = 1; c < 79; c++) PutCode(24, c, 0xCD, 0x1F);
        PutCode(24, 79, 0xBC, 0x1F);
        Put(1, 2, "mykvm VGA text mode - the quick brown fox jumps over the lazy dog 0123456789", 0x1E);
        Put(2, 2, "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", 0x1F);
        for (int c = 0; c < 256; c++)
            PutCode(4 + c / 64, 2 + c % 64, (byte)c, 0x1F);
        for (int c = 0; c < 16; c++)
        {
            Put(9, 2 + c * 4, " ## ", (byte)(c << 4 | (15 - c)));
        }
        Put(11, 2, "\u00DA\u00C4\u00C4\u00C2\u00C4\u00C4\u00BF  \u00C9\u00CD\u00CD\u00CB\u00CD\u00CD\u00BB  \u00D5\u00CD\u00D1\u00CD\u00B8  \u00D6\u00C4\u00D2\u00C4\u00B7", 0x1F);
        Put(12, 2, "\u00B3  \u00B3  \u00B3  \u00BA  \u00BA  \u00BA  \u00B3 \u00B3 \u00B3  \u00BA \u00BA \u00BA", 0x1F);
        Put(13, 2, "\u00C3\u00C4\u00C4\u00C5\u00C4\u00C4\u00B4  \u00CC\u00CD\u00CD\u00CE\u00CD\u00CD\u00B9  \u00C6\u00CD\u00D8\u00CD\u00B5  \u00C7\u00C4\u00D7\u00C4\u00B6", 0x1F);
        Put(14, 2, "\u00C0\u00C4\u00C4\u00C1\u00C4\u00C4\u00D9  \u00C8\u00CD\u00CD\u00CA\u00CD\u00CD\u00BC  \u00D4\u00CD\u00CF\u00CD\u00BE  \u00D3\u00C4\u00D0\u00C4\u00BD", 0x1F);
        Put(16, 2, "\u00B0\u00B0\u00B1\u00B1\u00B2\u00B2\u00DB\u00DB\u00DC\u00DC\u00DF\u00DF\u00DD\u00DE  Memory  : 2048M   |  Pass: 1   Errors: 0", 0x1F);
        Put(18, 2, "Blinking red on white (blink enabled)", 0xF4);
        var f = _vga.CaptureText();
        var png = VgaTextRenderer.ToPng(f);
        string path = Path.Combine(Path.GetTempPath(), "mykvm-vga-sample.png");
        File.WriteAllBytes(path, png);
        var (w, h, _) = PngReader.Decode(File.ReadAllBytes(path));
        Assert.Equal((720, 400), (w, h));
    }
}

internal sealed class ManualClock : IClock
{
    public long NowNs { get; set; }
}
