namespace MyKvm.Devices.Legacy;

/// <summary>
/// Turns the bytes a terminal in raw mode sends into PC key presses and releases, for the terminal display mode
/// to feed the keyboard (<c>new TerminalKeyDecoder(kbc.KeyFromHost)</c>). Printable ASCII and control
/// characters become the US-layout keys that type them (with Shift or Ctrl); the VT100/xterm escape sequences
/// become cursor, editing and function keys, with their Shift/Alt/Ctrl modifiers; ESC followed by a character
/// is Alt+character. Non-ASCII input is dropped. A sequence split across two <see cref="Feed"/> calls is
/// completed by the second; a lone ESC at the end of a call is the Escape key, since terminals send a whole
/// sequence in one write.
/// </summary>
public sealed class TerminalKeyDecoder
{
    private readonly Action<PcKey, bool> _key;
    private readonly List<byte> _pending = [];

    public TerminalKeyDecoder(Action<PcKey, bool> keySink)
    {
        ArgumentNullException.ThrowIfNull(keySink);
        _key = keySink;
    }

    public void Feed(ReadOnlySpan<byte> bytes)
    {
        foreach (byte b in bytes) _pending.Add(b);
        int i = 0;
        while (i < _pending.Count)
        {
            int used = DecodeOne(i);
            if (used == 0) break;   // an incomplete escape sequence: wait for the rest
            i += used;
        }
        _pending.RemoveRange(0, i);
    }

    /// <summary>Decodes one key at <paramref name="i"/>; returns the bytes used, 0 if a sequence is incomplete.</summary>
    private int DecodeOne(int i)
    {
        byte b = _pending[i];
        if (b != 0x1B)
        {
            Type(b, alt: false);
            return 1;
        }
        if (i + 1 >= _pending.Count)
        {
            // A lone ESC at the end of what the terminal sent: the Escape key.
            Press(PcKey.Escape);
            return 1;
        }
        byte next = _pending[i + 1];
        if (next is (byte)'[' or (byte)'O')
        {
            // CSI or SS3: parameters (digits and ';'), then a final byte in 0x40..0x7E.
            int j = i + 2;
            while (j < _pending.Count && (_pending[j] is >= (byte)'0' and <= (byte)'9' || _pending[j] == ';')) j++;
            // Incomplete: wait for the rest, unless it is too long to be a key (then drop it).
            if (j >= _pending.Count) return j - i > 16 ? j - i : 0;
            byte final = _pending[j];
            string parameters = System.Text.Encoding.ASCII.GetString(_pending.GetRange(i + 2, j - i - 2).ToArray());
            Sequence(next == (byte)'O', parameters, final);
            return j - i + 1;
        }
        // ESC + character: Alt held while typing it.
        Type(next, alt: true);
        return 2;
    }

    private void Sequence(bool ss3, string parameters, byte final)
    {
        var parts = parameters.Split(';');
        int modifier = parts.Length > 1 && int.TryParse(parts[1], out int m) ? m - 1 : 0;
        PcKey? key = final switch
        {
            (byte)'A' => PcKey.Up,
            (byte)'B' => PcKey.Down,
            (byte)'C' => PcKey.Right,
            (byte)'D' => PcKey.Left,
            (byte)'H' => PcKey.Home,
            (byte)'F' => PcKey.End,
            (byte)'P' => PcKey.F1,
            (byte)'Q' => PcKey.F2,
            (byte)'R' => PcKey.F3,
            (byte)'S' => PcKey.F4,
            (byte)'Z' => PcKey.Tab,      // back-tab: Shift+Tab
            (byte)'~' => TildeKey(parts[0]),
            _ => null,
        };
        if (final == 'Z') modifier |= 1;
        if (ss3 && final is >= (byte)'j' and <= (byte)'y') key = null;   // application keypad: not mapped
        if (key is { } k) Press(k, shift: (modifier & 1) != 0, alt: (modifier & 2) != 0, ctrl: (modifier & 4) != 0);
    }

    private static PcKey? TildeKey(string code) => code switch
    {
        "1" or "7" => PcKey.Home,
        "2" => PcKey.Insert,
        "3" => PcKey.Delete,
        "4" or "8" => PcKey.End,
        "5" => PcKey.PageUp,
        "6" => PcKey.PageDown,
        "11" => PcKey.F1,
        "12" => PcKey.F2,
        "13" => PcKey.F3,
        "14" => PcKey.F4,
        "15" => PcKey.F5,
        "17" => PcKey.F6,
        "18" => PcKey.F7,
        "19" => PcKey.F8,
        "20" => PcKey.F9,
        "21" => PcKey.F10,
        "23" => PcKey.F11,
        "24" => PcKey.F12,
        _ => null,
    };

    private void Type(byte b, bool alt)
    {
        if (b >= 0x80) return;
        if (b == 0) { Press(PcKey.D2, shift: true, ctrl: true, alt: alt); return; }   // Ctrl+@
        if (b == 0x1C) { Press(PcKey.Backslash, ctrl: true, alt: alt); return; }
        if (b == 0x1D) { Press(PcKey.RightBracket, ctrl: true, alt: alt); return; }
        if (b == 0x1E) { Press(PcKey.D6, shift: true, ctrl: true, alt: alt); return; }
        if (b == 0x1F) { Press(PcKey.Minus, shift: true, ctrl: true, alt: alt); return; }
        if (!Scancodes.TryMapAscii((char)b, out var key, out bool shift, out bool ctrl)) return;
        Press(key, shift, alt, ctrl);
    }

    private void Press(PcKey key, bool shift = false, bool alt = false, bool ctrl = false)
    {
        if (ctrl) _key(PcKey.LeftCtrl, true);
        if (alt) _key(PcKey.LeftAlt, true);
        if (shift) _key(PcKey.LeftShift, true);
        _key(key, true);
        _key(key, false);
        if (shift) _key(PcKey.LeftShift, false);
        if (alt) _key(PcKey.LeftAlt, false);
        if (ctrl) _key(PcKey.LeftCtrl, false);
    }
}
