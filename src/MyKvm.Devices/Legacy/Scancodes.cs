namespace MyKvm.Devices.Legacy;

/// <summary>
/// A key on a 102-key PC keyboard, named by position. The value is its scan code set 1 make code, with 0xE0
/// in the high byte for the extended keys (the ones set 1 prefixes with 0xE0).
/// </summary>
public enum PcKey : ushort
{
    Escape = 0x01, D1 = 0x02, D2 = 0x03, D3 = 0x04, D4 = 0x05, D5 = 0x06, D6 = 0x07, D7 = 0x08, D8 = 0x09, D9 = 0x0A,
    D0 = 0x0B, Minus = 0x0C, Equals = 0x0D, Backspace = 0x0E, Tab = 0x0F,
    Q = 0x10, W = 0x11, E = 0x12, R = 0x13, T = 0x14, Y = 0x15, U = 0x16, I = 0x17, O = 0x18, P = 0x19,
    LeftBracket = 0x1A, RightBracket = 0x1B, Enter = 0x1C, LeftCtrl = 0x1D,
    A = 0x1E, S = 0x1F, D = 0x20, F = 0x21, G = 0x22, H = 0x23, J = 0x24, K = 0x25, L = 0x26,
    Semicolon = 0x27, Apostrophe = 0x28, Backquote = 0x29, LeftShift = 0x2A, Backslash = 0x2B,
    Z = 0x2C, X = 0x2D, C = 0x2E, V = 0x2F, B = 0x30, N = 0x31, M = 0x32, Comma = 0x33, Period = 0x34, Slash = 0x35,
    RightShift = 0x36, KeypadMultiply = 0x37, LeftAlt = 0x38, Space = 0x39, CapsLock = 0x3A,
    F1 = 0x3B, F2 = 0x3C, F3 = 0x3D, F4 = 0x3E, F5 = 0x3F, F6 = 0x40, F7 = 0x41, F8 = 0x42, F9 = 0x43, F10 = 0x44,
    NumLock = 0x45, ScrollLock = 0x46,
    Keypad7 = 0x47, Keypad8 = 0x48, Keypad9 = 0x49, KeypadMinus = 0x4A, Keypad4 = 0x4B, Keypad5 = 0x4C, Keypad6 = 0x4D,
    KeypadPlus = 0x4E, Keypad1 = 0x4F, Keypad2 = 0x50, Keypad3 = 0x51, Keypad0 = 0x52, KeypadPeriod = 0x53,
    NonUsBackslash = 0x56, F11 = 0x57, F12 = 0x58,

    KeypadEnter = 0xE01C, RightCtrl = 0xE01D, KeypadDivide = 0xE035, RightAlt = 0xE038,
    Home = 0xE047, Up = 0xE048, PageUp = 0xE049, Left = 0xE04B, Right = 0xE04D, End = 0xE04F, Down = 0xE050,
    PageDown = 0xE051, Insert = 0xE052, Delete = 0xE053, LeftWindows = 0xE05B, RightWindows = 0xE05C, Menu = 0xE05D,
}

/// <summary>Scan code sets 1 and 2 and the i8042's set 2 → set 1 translation (IBM PC/AT technical reference).</summary>
public static class Scancodes
{
    /// <summary>
    /// The controller's translation of set 2 codes to set 1 (command byte bit 6). Codes from 0x80 on pass
    /// unchanged except 0x83 (F7) and 0x84 (SysRq); the 0xF0 break prefix is folded into bit 7 of the next code.
    /// </summary>
    private static readonly byte[] TranslateTable =
    [
        0xff, 0x43, 0x41, 0x3f, 0x3d, 0x3b, 0x3c, 0x58, 0x64, 0x44, 0x42, 0x40, 0x3e, 0x0f, 0x29, 0x59,
        0x65, 0x38, 0x2a, 0x70, 0x1d, 0x10, 0x02, 0x5a, 0x66, 0x71, 0x2c, 0x1f, 0x1e, 0x11, 0x03, 0x5b,
        0x67, 0x2e, 0x2d, 0x20, 0x12, 0x05, 0x04, 0x5c, 0x68, 0x39, 0x2f, 0x21, 0x14, 0x13, 0x06, 0x5d,
        0x69, 0x31, 0x30, 0x23, 0x22, 0x15, 0x07, 0x5e, 0x6a, 0x72, 0x32, 0x24, 0x16, 0x08, 0x09, 0x5f,
        0x6b, 0x33, 0x25, 0x17, 0x18, 0x0b, 0x0a, 0x60, 0x6c, 0x34, 0x35, 0x26, 0x27, 0x19, 0x0c, 0x61,
        0x6d, 0x73, 0x28, 0x74, 0x1a, 0x0d, 0x62, 0x6e, 0x3a, 0x36, 0x1c, 0x1b, 0x75, 0x2b, 0x63, 0x76,
        0x55, 0x56, 0x77, 0x78, 0x79, 0x7a, 0x0e, 0x7b, 0x7c, 0x4f, 0x7d, 0x4b, 0x47, 0x7e, 0x7f, 0x6f,
        0x52, 0x53, 0x50, 0x4c, 0x4d, 0x48, 0x01, 0x45, 0x57, 0x4e, 0x51, 0x4a, 0x37, 0x49, 0x46, 0x54,
    ];

    /// <summary>Set 2 make code (low byte) of each key; the extended flag is the same as in set 1.</summary>
    private static readonly Dictionary<PcKey, byte> Set2 = new()
    {
        [PcKey.Escape] = 0x76, [PcKey.D1] = 0x16, [PcKey.D2] = 0x1E, [PcKey.D3] = 0x26, [PcKey.D4] = 0x25,
        [PcKey.D5] = 0x2E, [PcKey.D6] = 0x36, [PcKey.D7] = 0x3D, [PcKey.D8] = 0x3E, [PcKey.D9] = 0x46, [PcKey.D0] = 0x45,
        [PcKey.Minus] = 0x4E, [PcKey.Equals] = 0x55, [PcKey.Backspace] = 0x66, [PcKey.Tab] = 0x0D,
        [PcKey.Q] = 0x15, [PcKey.W] = 0x1D, [PcKey.E] = 0x24, [PcKey.R] = 0x2D, [PcKey.T] = 0x2C, [PcKey.Y] = 0x35,
        [PcKey.U] = 0x3C, [PcKey.I] = 0x43, [PcKey.O] = 0x44, [PcKey.P] = 0x4D, [PcKey.LeftBracket] = 0x54,
        [PcKey.RightBracket] = 0x5B, [PcKey.Enter] = 0x5A, [PcKey.LeftCtrl] = 0x14,
        [PcKey.A] = 0x1C, [PcKey.S] = 0x1B, [PcKey.D] = 0x23, [PcKey.F] = 0x2B, [PcKey.G] = 0x34, [PcKey.H] = 0x33,
        [PcKey.J] = 0x3B, [PcKey.K] = 0x42, [PcKey.L] = 0x4B, [PcKey.Semicolon] = 0x4C, [PcKey.Apostrophe] = 0x52,
        [PcKey.Backquote] = 0x0E, [PcKey.LeftShift] = 0x12, [PcKey.Backslash] = 0x5D,
        [PcKey.Z] = 0x1A, [PcKey.X] = 0x22, [PcKey.C] = 0x21, [PcKey.V] = 0x2A, [PcKey.B] = 0x32, [PcKey.N] = 0x31,
        [PcKey.M] = 0x3A, [PcKey.Comma] = 0x41, [PcKey.Period] = 0x49, [PcKey.Slash] = 0x4A, [PcKey.RightShift] = 0x59,
        [PcKey.KeypadMultiply] = 0x7C, [PcKey.LeftAlt] = 0x11, [PcKey.Space] = 0x29, [PcKey.CapsLock] = 0x58,
        [PcKey.F1] = 0x05, [PcKey.F2] = 0x06, [PcKey.F3] = 0x04, [PcKey.F4] = 0x0C, [PcKey.F5] = 0x03, [PcKey.F6] = 0x0B,
        [PcKey.F7] = 0x83, [PcKey.F8] = 0x0A, [PcKey.F9] = 0x01, [PcKey.F10] = 0x09, [PcKey.F11] = 0x78, [PcKey.F12] = 0x07,
        [PcKey.NumLock] = 0x77, [PcKey.ScrollLock] = 0x7E,
        [PcKey.Keypad7] = 0x6C, [PcKey.Keypad8] = 0x75, [PcKey.Keypad9] = 0x7D, [PcKey.KeypadMinus] = 0x7B,
        [PcKey.Keypad4] = 0x6B, [PcKey.Keypad5] = 0x73, [PcKey.Keypad6] = 0x74, [PcKey.KeypadPlus] = 0x79,
        [PcKey.Keypad1] = 0x69, [PcKey.Keypad2] = 0x72, [PcKey.Keypad3] = 0x7A, [PcKey.Keypad0] = 0x70,
        [PcKey.KeypadPeriod] = 0x71, [PcKey.NonUsBackslash] = 0x61,
        [PcKey.KeypadEnter] = 0x5A, [PcKey.RightCtrl] = 0x14, [PcKey.KeypadDivide] = 0x4A, [PcKey.RightAlt] = 0x11,
        [PcKey.Home] = 0x6C, [PcKey.Up] = 0x75, [PcKey.PageUp] = 0x7D, [PcKey.Left] = 0x6B, [PcKey.Right] = 0x74,
        [PcKey.End] = 0x69, [PcKey.Down] = 0x72, [PcKey.PageDown] = 0x7A, [PcKey.Insert] = 0x70, [PcKey.Delete] = 0x71,
        [PcKey.LeftWindows] = 0x1F, [PcKey.RightWindows] = 0x27, [PcKey.Menu] = 0x2F,
    };

    /// <summary>The controller's translation of one set 2 byte (without the 0xF0 prefix handling).</summary>
    public static byte TranslateSet2ToSet1(byte code) => code switch
    {
        < 0x80 => TranslateTable[code],
        0x83 => 0x41,
        0x84 => 0x54,
        _ => code,
    };

    /// <summary>The bytes a keyboard in scan code set <paramref name="set"/> (1 or 2) sends for a key press or release.</summary>
    public static byte[] Encode(PcKey key, bool pressed, int set)
    {
        bool extended = ((ushort)key >> 8) == 0xE0;
        if (set == 1)
        {
            byte code = (byte)((ushort)key | (pressed ? 0 : 0x80));
            return extended ? [0xE0, code] : [code];
        }
        if (!Set2.TryGetValue(key, out byte make))
            throw new ArgumentOutOfRangeException(nameof(key), key, "not a key on the keyboard");
        return (extended, pressed) switch
        {
            (false, true) => [make],
            (false, false) => [0xF0, make],
            (true, true) => [0xE0, make],
            _ => [0xE0, 0xF0, make],
        };
    }

    /// <summary>
    /// The key (and whether Shift or Ctrl is held) that types <paramref name="c"/> on a US layout; for the
    /// terminal display mode and tests. Control characters map to Ctrl+letter except Tab, Enter, Backspace and Escape.
    /// </summary>
    public static bool TryMapAscii(char c, out PcKey key, out bool shift, out bool ctrl)
    {
        shift = false;
        ctrl = false;
        key = default;
        switch (c)
        {
            case '\n': case '\r': key = PcKey.Enter; return true;
            case '\t': key = PcKey.Tab; return true;
            case '\b': case (char)0x7F: key = PcKey.Backspace; return true;
            case (char)0x1B: key = PcKey.Escape; return true;
            case ' ': key = PcKey.Space; return true;
        }
        if (c is >= 'a' and <= 'z') { key = Letters[c - 'a']; return true; }
        if (c is >= 'A' and <= 'Z') { key = Letters[c - 'A']; shift = true; return true; }
        if (c is >= (char)1 and <= (char)26) { key = Letters[c - 1]; ctrl = true; return true; }
        int i = Unshifted.IndexOf(c);
        if (i >= 0) { key = SymbolKeys[i]; return true; }
        i = Shifted.IndexOf(c);
        if (i >= 0) { key = SymbolKeys[i]; shift = true; return true; }
        return false;
    }

    private static readonly PcKey[] Letters =
    [
        PcKey.A, PcKey.B, PcKey.C, PcKey.D, PcKey.E, PcKey.F, PcKey.G, PcKey.H, PcKey.I, PcKey.J, PcKey.K, PcKey.L, PcKey.M,
        PcKey.N, PcKey.O, PcKey.P, PcKey.Q, PcKey.R, PcKey.S, PcKey.T, PcKey.U, PcKey.V, PcKey.W, PcKey.X, PcKey.Y, PcKey.Z,
    ];

    private const string Unshifted = "1234567890-=[];'`\\,./";
    private const string Shifted = "!@#$%^&*()_+{}:\"~|<>?";

    private static readonly PcKey[] SymbolKeys =
    [
        PcKey.D1, PcKey.D2, PcKey.D3, PcKey.D4, PcKey.D5, PcKey.D6, PcKey.D7, PcKey.D8, PcKey.D9, PcKey.D0,
        PcKey.Minus, PcKey.Equals, PcKey.LeftBracket, PcKey.RightBracket, PcKey.Semicolon, PcKey.Apostrophe,
        PcKey.Backquote, PcKey.Backslash, PcKey.Comma, PcKey.Period, PcKey.Slash,
    ];
}
