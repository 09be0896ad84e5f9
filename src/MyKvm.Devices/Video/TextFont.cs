namespace MyKvm.Devices.Video;

/// <summary>
/// The 8×16 text-mode font, drawn for this project: printable ASCII from the glyph art below (7 columns used,
/// column 7 left blank as spacing; 13 art rows placed at cell rows 2–14, capitals on art rows 0–9), the CP437
/// box-drawing characters 0xB3–0xDA generated from their line segments, the shade and block characters 0xB0–0xB2
/// and 0xDB–0xDF, and a few symbols memtest86+ and BIOS-style screens use. Characters without a glyph draw as a
/// small hollow box so missing ones are visible.
/// </summary>
public static class TextFont
{
    public const int Width = 8, Height = 16;
    private const int ArtTop = 2;

    // Static initialisers run in textual order: the tables Build uses come before these two, at the end of the class.

    /// <summary>The 16 row bytes of a character; bit 7 is the leftmost pixel.</summary>
    public static ReadOnlySpan<byte> Glyph(byte code) => Glyphs.AsSpan(code * Height, Height);

    /// <summary>True for characters that have a designed glyph (not the missing-glyph box).</summary>
    public static bool HasGlyph(byte code) => Designed[code];

    private static byte[] Build()
    {
        var font = new byte[256 * Height];
        for (int c = 0; c < 256; c++)
            MissingBox(font.AsSpan(c * Height, Height));
        ParseArt(font);
        foreach (byte blank in new byte[] { 0x00, 0x20, 0xFF })
            Define(font, blank, new byte[Height]);
        BoxDrawing(font);
        Blocks(font);
        return font;
    }

    private static void Define(byte[] font, int code, ReadOnlySpan<byte> rows)
    {
        rows.CopyTo(font.AsSpan(code * Height, Height));
        Designed[code] = true;
    }

    private static void MissingBox(Span<byte> g)
    {
        g.Clear();
        g[4] = g[11] = 0x7C;
        for (int r = 5; r < 11; r++) g[r] = 0x44;
    }

    private static void ParseArt(byte[] font)
    {
        var lines = Art.Split('\n');
        int i = 0;
        while (i < lines.Length)
        {
            string line = lines[i].TrimEnd('\r');
            if (!line.StartsWith("= ", StringComparison.Ordinal)) { i++; continue; }
            string key = line[2..];
            int code = key.Length == 1 ? key[0] : Convert.ToInt32(key, 16);
            int firstRow = 0;
            var rows = new byte[Height];
            i++;
            // Optional "@n": the art starts at art row n (blank rows above it are left out).
            if (i < lines.Length && lines[i].StartsWith('@'))
            {
                firstRow = int.Parse(lines[i].AsSpan(1).Trim());
                i++;
            }
            int r = firstRow;
            while (i < lines.Length && lines[i].Length > 0 && (lines[i][0] == '.' || lines[i][0] == '#'))
            {
                byte bits = 0;
                string art = lines[i].TrimEnd('\r');
                for (int x = 0; x < Math.Min(8, art.Length); x++)
                    if (art[x] == '#') bits |= (byte)(0x80 >> x);
                rows[ArtTop + r] = bits;
                r++;
                i++;
            }
            Define(font, code, rows);
        }
    }

    // ---------------------------------------------------------------- box drawing (CP437 0xB3–0xDA)

    // Arms per character: up, down, left, right; 0 none, 1 single, 2 double.
    private static readonly (byte Code, string Arms)[] BoxChars =
    [
        (0xB3, "1100"), (0xB4, "1110"), (0xB5, "1120"), (0xB6, "2210"), (0xB7, "0210"), (0xB8, "0120"),
        (0xB9, "2220"), (0xBA, "2200"), (0xBB, "0220"), (0xBC, "2020"), (0xBD, "2010"), (0xBE, "1020"),
        (0xBF, "0110"), (0xC0, "1001"), (0xC1, "1011"), (0xC2, "0111"), (0xC3, "1101"), (0xC4, "0011"),
        (0xC5, "1111"), (0xC6, "1102"), (0xC7, "2201"), (0xC8, "2002"), (0xC9, "0202"), (0xCA, "2022"),
        (0xCB, "0222"), (0xCC, "2202"), (0xCD, "0022"), (0xCE, "2222"), (0xCF, "1022"), (0xD0, "2011"),
        (0xD1, "0122"), (0xD2, "0211"), (0xD3, "2001"), (0xD4, "1002"), (0xD5, "0102"), (0xD6, "0201"),
        (0xD7, "2211"), (0xD8, "1122"), (0xD9, "1010"), (0xDA, "0101"),
    ];

    private const int Up = 0, Down = 1, Left = 2, Right = 3;
    private const int CenterCol = 3, CenterRow = 8;

    private static int[] VerticalStrokeCols(int kind) => kind == 1 ? [CenterCol] : kind == 2 ? [CenterCol - 1, CenterCol + 1] : [];
    private static int[] HorizontalStrokeRows(int kind) => kind == 1 ? [CenterRow] : kind == 2 ? [CenterRow - 1, CenterRow + 1] : [];

    private static void BoxDrawing(byte[] font)
    {
        foreach (var (code, armText) in BoxChars)
        {
            var arms = armText.Select(ch => ch - '0').ToArray();
            var g = new byte[Height];
            void Plot(int x, int y) => g[y] |= (byte)(0x80 >> x);

            // Vertical arms: each stroke runs from its edge towards the centre. A stroke of a double line that has
            // a horizontal arm on its own side stops at that arm's nearest stroke (an outer corner); one whose side is
            // open runs through if the opposite arm exists, else to the farthest horizontal stroke (closing the corner).
            foreach (int dir in new[] { Up, Down })
            {
                int kind = arms[dir];
                var cols = VerticalStrokeCols(kind);
                for (int s = 0; s < cols.Length; s++)
                {
                    int side = kind == 2 ? (s == 0 ? Left : Right) : -1;
                    var hRows = HorizontalStrokeRows(arms[Left]).Concat(HorizontalStrokeRows(arms[Right])).ToArray();
                    int end;
                    if (side >= 0 && arms[side] != 0)
                    {
                        var sideRows = HorizontalStrokeRows(arms[side]);
                        end = dir == Up ? sideRows.Min() : sideRows.Max();
                    }
                    else if (arms[dir == Up ? Down : Up] != 0 || hRows.Length == 0)
                        end = CenterRow;
                    else
                        end = dir == Up ? hRows.Max() : hRows.Min();
                    if (dir == Up) for (int y = 0; y <= end; y++) Plot(cols[s], y);
                    else for (int y = end; y < Height; y++) Plot(cols[s], y);
                }
            }
            foreach (int dir in new[] { Left, Right })
            {
                int kind = arms[dir];
                var rows = HorizontalStrokeRows(kind);
                for (int s = 0; s < rows.Length; s++)
                {
                    int side = kind == 2 ? (s == 0 ? Up : Down) : -1;
                    var vCols = VerticalStrokeCols(arms[Up]).Concat(VerticalStrokeCols(arms[Down])).ToArray();
                    int end;
                    if (side >= 0 && arms[side] != 0)
                    {
                        var sideCols = VerticalStrokeCols(arms[side]);
                        end = dir == Left ? sideCols.Min() : sideCols.Max();
                    }
                    else if (arms[dir == Left ? Right : Left] != 0 || vCols.Length == 0)
                        end = CenterCol;
                    else
                        end = dir == Left ? vCols.Max() : vCols.Min();
                    if (dir == Left) for (int x = 0; x <= end; x++) Plot(x, rows[s]);
                    else for (int x = end; x < Width; x++) Plot(x, rows[s]);
                }
            }
            Define(font, code, g);
        }
    }

    private static void Blocks(byte[] font)
    {
        var g = new byte[Height];
        // Shades: ░ a quarter of the dots, ▒ half, ▓ three quarters.
        for (int y = 0; y < Height; y++) g[y] = (byte)(y % 2 == 0 ? 0x88 : 0x22);
        Define(font, 0xB0, g);
        for (int y = 0; y < Height; y++) g[y] = (byte)(y % 2 == 0 ? 0xAA : 0x55);
        Define(font, 0xB1, g);
        for (int y = 0; y < Height; y++) g[y] = (byte)~(y % 2 == 0 ? 0x88 : 0x22);
        Define(font, 0xB2, g);
        for (int y = 0; y < Height; y++) g[y] = 0xFF;
        Define(font, 0xDB, g);                                   // █
        for (int y = 0; y < Height; y++) g[y] = (byte)(y >= 8 ? 0xFF : 0);
        Define(font, 0xDC, g);                                   // ▄
        for (int y = 0; y < Height; y++) g[y] = 0xF0;
        Define(font, 0xDD, g);                                   // ▌
        for (int y = 0; y < Height; y++) g[y] = 0x0F;
        Define(font, 0xDE, g);                                   // ▐
        for (int y = 0; y < Height; y++) g[y] = (byte)(y < 8 ? 0xFF : 0);
        Define(font, 0xDF, g);                                   // ▀
        Array.Clear(g);
        for (int y = 5; y <= 10; y++) g[y] = 0x7C;
        Define(font, 0xFE, g);                                   // ■
        // Triangles ► ◄ ▲ ▼ (0x10, 0x11, 0x1E, 0x1F).
        Array.Clear(g);
        for (int i = 0; i < 7; i++) { int w = 1 + Math.Min(i, 6 - i); g[4 + i] = (byte)(0xFF00 >> w); }
        Define(font, 0x10, g);
        for (int i = 0; i < 7; i++) { int w = 1 + Math.Min(i, 6 - i); g[4 + i] = (byte)((0xFF >> (8 - w)) << 1); }
        Define(font, 0x11, g);
        Array.Clear(g);
        for (int i = 0; i < 4; i++) g[6 + i] = (byte)((0xFE >> (3 - i)) & (0xFE << (3 - i)));
        Define(font, 0x1E, g);
        Array.Clear(g);
        for (int i = 0; i < 4; i++) g[9 - i] = (byte)((0xFE >> (3 - i)) & (0xFE << (3 - i)));
        Define(font, 0x1F, g);
    }

    // Glyph art: "= c" (a character) or "= hh" (a hex code), an optional "@row" start row, then rows of '.' and '#'.
    private const string Art = """
= !
...#...
...#...
...#...
...#...
...#...
...#...
...#...
.......
...#...
...#...
= "
..#.#..
..#.#..
..#.#..
= #
@1
..#.#..
..#.#..
#######
..#.#..
..#.#..
#######
..#.#..
..#.#..
= $
...#...
.#####.
#..#...
#..#...
.####..
...#.#.
...#..#
#..#..#
.#####.
...#...
= %
@1
##....#
##...#.
....#..
...#...
..#....
.#.....
#....##
.....##
= &
..##...
.#..#..
.#..#..
..##...
.##....
#..#..#
#...#.#
#....#.
#...#.#
.###..#
= '
...#...
...#...
..#....
= (
....#..
...#...
..#....
..#....
..#....
..#....
..#....
..#....
...#...
....#..
= )
..#....
...#...
....#..
....#..
....#..
....#..
....#..
....#..
...#...
..#....
= *
@2
...#...
#..#..#
.#.#.#.
..###..
.#.#.#.
#..#..#
...#...
= +
@2
...#...
...#...
...#...
#######
...#...
...#...
...#...
= ,
@8
...##..
...##..
....#..
...#...
= -
@5
.#####.
= .
@8
...##..
...##..
= /
......#
......#
.....#.
....#..
...#...
...#...
..#....
.#.....
#......
#......
= 0
.#####.
#.....#
#....##
#...#.#
#..#..#
#.#...#
##....#
#.....#
#.....#
.#####.
= 1
...#...
..##...
.#.#...
...#...
...#...
...#...
...#...
...#...
...#...
.#####.
= 2
.#####.
#.....#
......#
......#
.....#.
...##..
..#....
.#.....
#......
#######
= 3
.#####.
#.....#
......#
......#
..####.
......#
......#
......#
#.....#
.#####.
= 4
....##.
...#.#.
..#..#.
.#...#.
#....#.
#######
.....#.
.....#.
.....#.
.....#.
= 5
#######
#......
#......
######.
......#
......#
......#
......#
#.....#
.#####.
= 6
..####.
.#.....
#......
#......
######.
#.....#
#.....#
#.....#
#.....#
.#####.
= 7
#######
......#
......#
.....#.
....#..
...#...
...#...
...#...
...#...
...#...
= 8
.#####.
#.....#
#.....#
#.....#
.#####.
#.....#
#.....#
#.....#
#.....#
.#####.
= 9
.#####.
#.....#
#.....#
#.....#
#.....#
.######
......#
......#
.....#.
.####..
= :
@2
...##..
...##..
.......
.......
.......
...##..
...##..
= ;
@2
...##..
...##..
.......
.......
.......
...##..
...##..
....#..
...#...
= <
@1
.....#.
....#..
...#...
..#....
.#.....
..#....
...#...
....#..
.....#.
= =
@3
#######
.......
.......
#######
= >
@1
.#.....
..#....
...#...
....#..
.....#.
....#..
...#...
..#....
.#.....
= ?
.#####.
#.....#
......#
.....#.
....#..
...#...
...#...
.......
...#...
...#...
= @
.#####.
#.....#
#..####
#.#...#
#.#...#
#.#...#
#..###.
#......
#.....#
.#####.
= A
...#...
..#.#..
.#...#.
#.....#
#.....#
#######
#.....#
#.....#
#.....#
#.....#
= B
######.
#.....#
#.....#
#.....#
######.
#.....#
#.....#
#.....#
#.....#
######.
= C
.#####.
#.....#
#......
#......
#......
#......
#......
#......
#.....#
.#####.
= D
#####..
#....#.
#.....#
#.....#
#.....#
#.....#
#.....#
#.....#
#....#.
#####..
= E
#######
#......
#......
#......
#####..
#......
#......
#......
#......
#######
= F
#######
#......
#......
#......
#####..
#......
#......
#......
#......
#......
= G
.#####.
#.....#
#......
#......
#......
#..####
#.....#
#.....#
#.....#
.#####.
= H
#.....#
#.....#
#.....#
#.....#
#######
#.....#
#.....#
#.....#
#.....#
#.....#
= I
.#####.
...#...
...#...
...#...
...#...
...#...
...#...
...#...
...#...
.#####.
= J
..#####
.....#.
.....#.
.....#.
.....#.
.....#.
.....#.
#....#.
#....#.
.####..
= K
#.....#
#....#.
#...#..
#..#...
###....
#..#...
#...#..
#....#.
#.....#
#.....#
= L
#......
#......
#......
#......
#......
#......
#......
#......
#......
#######
= M
#.....#
##...##
#.#.#.#
#..#..#
#.....#
#.....#
#.....#
#.....#
#.....#
#.....#
= N
#.....#
##....#
##....#
#.#...#
#..#..#
#..#..#
#...#.#
#....##
#....##
#.....#
= O
.#####.
#.....#
#.....#
#.....#
#.....#
#.....#
#.....#
#.....#
#.....#
.#####.
= P
######.
#.....#
#.....#
#.....#
######.
#......
#......
#......
#......
#......
= Q
.#####.
#.....#
#.....#
#.....#
#.....#
#.....#
#.....#
#...#.#
#....#.
.####.#
= R
######.
#.....#
#.....#
#.....#
######.
#..#...
#...#..
#....#.
#.....#
#.....#
= S
.#####.
#.....#
#......
#......
.#####.
......#
......#
......#
#.....#
.#####.
= T
#######
...#...
...#...
...#...
...#...
...#...
...#...
...#...
...#...
...#...
= U
#.....#
#.....#
#.....#
#.....#
#.....#
#.....#
#.....#
#.....#
#.....#
.#####.
= V
#.....#
#.....#
#.....#
#.....#
#.....#
.#...#.
.#...#.
..#.#..
..#.#..
...#...
= W
#.....#
#.....#
#.....#
#.....#
#.....#
#..#..#
#..#..#
#.#.#.#
##...##
#.....#
= X
#.....#
#.....#
.#...#.
..#.#..
...#...
...#...
..#.#..
.#...#.
#.....#
#.....#
= Y
#.....#
#.....#
.#...#.
..#.#..
...#...
...#...
...#...
...#...
...#...
...#...
= Z
#######
......#
.....#.
....#..
...#...
..#....
.#.....
#......
#......
#######
= [
.####..
.#.....
.#.....
.#.....
.#.....
.#.....
.#.....
.#.....
.#.....
.####..
= 5C
#......
#......
.#.....
..#....
...#...
...#...
....#..
.....#.
......#
......#
= ]
..####.
.....#.
.....#.
.....#.
.....#.
.....#.
.....#.
.....#.
.....#.
..####.
= ^
...#...
..#.#..
.#...#.
#.....#
= _
@11
#######
= `
..#....
...#...
....#..
= a
@3
.#####.
......#
.######
#.....#
#.....#
#....##
.####.#
= b
#......
#......
#......
######.
#.....#
#.....#
#.....#
#.....#
#.....#
######.
= c
@3
.#####.
#.....#
#......
#......
#......
#.....#
.#####.
= d
......#
......#
......#
.######
#.....#
#.....#
#.....#
#.....#
#.....#
.######
= e
@3
.#####.
#.....#
#.....#
#######
#......
#.....#
.#####.
= f
...###.
..#...#
..#....
######.
..#....
..#....
..#....
..#....
..#....
..#....
= g
@3
.######
#.....#
#.....#
#.....#
#.....#
#.....#
.######
......#
#.....#
.#####.
= h
#......
#......
#......
######.
#.....#
#.....#
#.....#
#.....#
#.....#
#.....#
= i
@1
...#...
.......
..##...
...#...
...#...
...#...
...#...
...#...
.#####.
= j
@1
.....#.
.......
....##.
.....#.
.....#.
.....#.
.....#.
.....#.
.....#.
#....#.
#....#.
.####..
= k
#......
#......
#......
#....#.
#...#..
#..#...
###....
#..#...
#...#..
#....#.
= l
.###...
...#...
...#...
...#...
...#...
...#...
...#...
...#...
...#...
.#####.
= m
@3
###.##.
#..#..#
#..#..#
#..#..#
#..#..#
#..#..#
#..#..#
= n
@3
#.####.
##....#
#.....#
#.....#
#.....#
#.....#
#.....#
= o
@3
.#####.
#.....#
#.....#
#.....#
#.....#
#.....#
.#####.
= p
@3
######.
#.....#
#.....#
#.....#
#.....#
#.....#
######.
#......
#......
#......
= q
@3
.######
#.....#
#.....#
#.....#
#.....#
#.....#
.######
......#
......#
......#
= r
@3
#.####.
##....#
#......
#......
#......
#......
#......
= s
@3
.#####.
#......
#......
.#####.
......#
......#
######.
= t
..#....
..#....
..#....
######.
..#....
..#....
..#....
..#....
..#...#
...###.
= u
@3
#.....#
#.....#
#.....#
#.....#
#.....#
#.....#
.######
= v
@3
#.....#
#.....#
.#...#.
.#...#.
..#.#..
..#.#..
...#...
= w
@3
#.....#
#.....#
#..#..#
#..#..#
#..#..#
#..#..#
.##.##.
= x
@3
#.....#
.#...#.
..#.#..
...#...
..#.#..
.#...#.
#.....#
= y
@3
#.....#
#.....#
#.....#
#.....#
#.....#
#.....#
.######
......#
#.....#
.#####.
= z
@3
#######
.....#.
....#..
...#...
..#....
.#.....
#######
= {
....##.
...#...
...#...
...#...
.##....
...#...
...#...
...#...
...#...
....##.
= |
...#...
...#...
...#...
...#...
...#...
...#...
...#...
...#...
...#...
...#...
...#...
...#...
= }
.##....
...#...
...#...
...#...
....##.
...#...
...#...
...#...
...#...
.##....
= ~
@1
.##....
#..#..#
....##.
= 18
...#...
..###..
.#.#.#.
#..#..#
...#...
...#...
...#...
...#...
...#...
...#...
= 19
...#...
...#...
...#...
...#...
...#...
...#...
#..#..#
.#.#.#.
..###..
...#...
= 1A
@2
....#..
.....#.
#######
.....#.
....#..
= 1B
@2
..#....
.#.....
#######
.#.....
..#....
= 07
@3
..###..
.#####.
.#####.
..###..
= 04
@2
...#...
..###..
.#####.
#######
.#####.
..###..
...#...
= F8
..###..
.#...#.
.#...#.
..###..
= F9
@4
..###..
..###..
= FA
@5
...#...
= F0
@2
#######
.......
#######
.......
#######
= F1
@1
...#...
...#...
#######
...#...
...#...
.......
#######
= F6
@2
...#...
.......
#######
.......
...#...
= FB
@0
......#
.....#.
.....#.
.....#.
....#..
#...#..
.#..#..
..#.#..
...#...
= FD
.###...
#...#..
...#...
..#....
#####..
""";

    private static readonly bool[] Designed = new bool[256];
    private static readonly byte[] Glyphs = Build();
}
