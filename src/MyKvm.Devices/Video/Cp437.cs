namespace MyKvm.Devices.Video;

/// <summary>Code page 437 (the VGA ROM character set) to Unicode, for showing the text screen on a terminal.</summary>
public static class Cp437
{
    private const string Low = " ☺☻♥♦♣♠•◘○◙♂♀♪♫☼►◄↕‼¶§▬↨↑↓→←∟↔▲▼";
    private const string High =
        "ÇüéâäàåçêëèïîìÄÅ" +
        "ÉæÆôöòûùÿÖÜ¢£¥₧ƒ" +
        "áíóúñÑªº¿⌐¬½¼¡«»" +
        "░▒▓│┤╡╢╖╕╣║╗╝╜╛┐" +
        "└┴┬├─┼╞╟╚╔╩╦╠═╬╧" +
        "╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀" +
        "αßΓπΣσµτΦΘΩδ∞φε∩" +
        "≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00A0";

    public static char ToUnicode(byte code) => code switch
    {
        < 0x20 => Low[code],
        0x7F => '⌂',
        < 0x80 => (char)code,
        _ => High[code - 0x80],
    };
}
