using MyKvm.Core;

namespace MyKvm.Devices.Video;

/// <summary>
/// The VGA as a text-mode display (IBM VGA Technical Reference; register names as in its chapters):
/// miscellaneous output (0x3C2 write / 0x3CC read), sequencer (0x3C4/0x3C5), graphics controller (0x3CE/0x3CF),
/// attribute controller (0x3C0 with its index/data flip-flop, 0x3C1 read), DAC (0x3C6–0x3C9), CRT controller
/// (0x3D4/0x3D5, or 0x3B4/0x3B5 when misc output bit 0 selects mono addressing) and input status 1 (0x3DA/0x3BA,
/// whose read resets the flip-flop and whose retrace bits follow the clock). Registers start in mode 3's state
/// (80×25 colour text, 9-dot characters, 16 scan lines), as the BIOS leaves them.
/// The text buffer is ordinary guest RAM (0xB8000 colour, 0xB0000 mono, chosen by the graphics controller's memory
/// map select): <see cref="CaptureText"/> reads it, with the CRTC start address, offset and cursor registers, into a
/// <see cref="VgaTextFrame"/> that <see cref="VgaTextRenderer"/> draws.
/// </summary>
public sealed class VgaDevice : IPortDevice
{
    // Mode 3 register values (VGA BIOS parameter table for 80x25 colour text, 720x400).
    private static readonly byte[] Mode3Crtc =
        [0x5F, 0x4F, 0x50, 0x82, 0x55, 0x81, 0xBF, 0x1F, 0x00, 0x4F, 0x0D, 0x0E, 0x00, 0x00, 0x00, 0x00,
         0x9C, 0x8E, 0x8F, 0x28, 0x1F, 0x96, 0xB9, 0xA3, 0xFF];
    private static readonly byte[] Mode3Sequencer = [0x03, 0x00, 0x03, 0x00, 0x02];
    private static readonly byte[] Mode3Graphics = [0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x0E, 0x00, 0xFF];
    private static readonly byte[] Mode3Attribute =
        [0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x14, 0x07, 0x38, 0x39, 0x3A, 0x3B, 0x3C, 0x3D, 0x3E, 0x3F,
         0x0C, 0x00, 0x0F, 0x08, 0x00];

    private const long FrameNs = 14_268_000;       // 70.086 Hz, 449 lines of 31.778 µs
    private const long LineNs = 31_778;
    private const long VisibleLinesNs = 400 * LineNs;

    private readonly GuestRam _ram;
    private readonly IClock? _clock;
    private readonly byte[] _crtc = new byte[25];
    private readonly byte[] _seq = new byte[5];
    private readonly byte[] _gc = new byte[9];
    private readonly byte[] _attr = new byte[21];
    private readonly byte[] _dac = new byte[256 * 3];
    private byte _misc = 0x67, _crtcIndex, _seqIndex, _gcIndex, _attrIndex, _pelMask = 0xFF, _featureControl;
    private bool _attrFlipFlopData;
    private int _dacWriteIndex, _dacReadIndex, _dacComponent;
    private bool _dacLastWasRead;
    private int _retraceToggle;

    /// <param name="ram">Guest RAM holding the text buffer.</param>
    /// <param name="clock">Drives the retrace bits of input status 1; without it they toggle on each read.</param>
    public VgaDevice(GuestRam ram, IClock? clock = null)
    {
        _ram = ram;
        _clock = clock;
        Mode3Crtc.CopyTo(_crtc, 0);
        Mode3Sequencer.CopyTo(_seq, 0);
        Mode3Graphics.CopyTo(_gc, 0);
        Mode3Attribute.CopyTo(_attr, 0);
        // DAC entries 0-63 hold the EGA-compatible palette: bits 0-2 primary blue/green/red (2/3 intensity),
        // bits 3-5 secondary (1/3 intensity); 6-bit values.
        for (int i = 0; i < 64; i++)
        {
            _dac[i * 3 + 0] = (byte)(((i >> 2) & 1) * 42 + ((i >> 5) & 1) * 21);
            _dac[i * 3 + 1] = (byte)(((i >> 1) & 1) * 42 + ((i >> 4) & 1) * 21);
            _dac[i * 3 + 2] = (byte)((i & 1) * 42 + ((i >> 3) & 1) * 21);
        }
    }

    /// <summary>Incremented whenever a register that changes the picture is written (text in RAM is compared by the presenter).</summary>
    public int RegisterVersion { get; private set; }

    public void RegisterOn(IoBus io)
    {
        io.Register(0x3B4, 2, this);
        io.Register(0x3BA, 1, this);
        io.Register(0x3C0, 16, this);
        io.Register(0x3D4, 2, this);
        io.Register(0x3DA, 1, this);
    }

    private bool ColorAddressing => (_misc & 1) != 0;

    public uint PortRead(ushort port, int size)
    {
        if (size == 2) return PortRead(port, 1) | (PortRead((ushort)(port + 1), 1) << 8);
        if (size == 4) return PortRead(port, 2) | (PortRead((ushort)(port + 2), 2) << 16);
        return ReadByte(port);
    }

    public void PortWrite(ushort port, int size, uint value)
    {
        // A word write to an index port writes index then data (OUT DX, AX to 0x3D4 is the usual CRTC idiom).
        if (size >= 2)
        {
            WriteByte(port, (byte)value);
            WriteByte((ushort)(port + 1), (byte)(value >> 8));
            if (size == 4)
            {
                WriteByte((ushort)(port + 2), (byte)(value >> 16));
                WriteByte((ushort)(port + 3), (byte)(value >> 24));
            }
            return;
        }
        WriteByte(port, (byte)value);
    }

    private byte ReadByte(ushort port)
    {
        // CRTC and input status 1 answer only at the address the misc output register selects.
        if ((port is 0x3B4 or 0x3B5 or 0x3BA && ColorAddressing) || (port is 0x3D4 or 0x3D5 or 0x3DA && !ColorAddressing))
            return 0xFF;
        switch (port)
        {
            case 0x3B4 or 0x3D4: return _crtcIndex;
            case 0x3B5 or 0x3D5: return _crtcIndex < _crtc.Length ? _crtc[_crtcIndex] : (byte)0xFF;
            case 0x3BA or 0x3DA:
                _attrFlipFlopData = false;
                return InputStatus1();
            case 0x3C0: return _attrIndex;
            case 0x3C1: return (_attrIndex & 0x1F) < _attr.Length ? _attr[_attrIndex & 0x1F] : (byte)0;
            case 0x3C2: return 0x10; // input status 0: switch sense (a colour monitor is attached)
            case 0x3C3: return 0x01; // video subsystem enabled
            case 0x3C4: return _seqIndex;
            case 0x3C5: return _seqIndex < _seq.Length ? _seq[_seqIndex] : (byte)0xFF;
            case 0x3C6: return _pelMask;
            case 0x3C7: return (byte)(_dacLastWasRead ? 0x03 : 0x00); // DAC state
            case 0x3C8: return (byte)_dacWriteIndex;
            case 0x3C9:
            {
                byte v = _dac[_dacReadIndex * 3 + _dacComponent];
                _dacLastWasRead = true;
                if (++_dacComponent == 3) { _dacComponent = 0; _dacReadIndex = (_dacReadIndex + 1) & 0xFF; }
                return v;
            }
            case 0x3CA: return _featureControl;
            case 0x3CC: return _misc;
            case 0x3CE: return _gcIndex;
            case 0x3CF: return _gcIndex < _gc.Length ? _gc[_gcIndex] : (byte)0xFF;
            default: return 0xFF;
        }
    }

    private void WriteByte(ushort port, byte value)
    {
        if ((port is 0x3B4 or 0x3B5 or 0x3BA && ColorAddressing) || (port is 0x3D4 or 0x3D5 or 0x3DA && !ColorAddressing))
            return;
        RegisterVersion++;
        switch (port)
        {
            case 0x3B4 or 0x3D4: _crtcIndex = (byte)(value & 0x3F); break;
            case 0x3B5 or 0x3D5:
                if (_crtcIndex >= _crtc.Length) break;
                // CR11 bit 7 write-protects CR00–CR07 (except CR07 bit 4, the line compare bit 8).
                if ((_crtc[0x11] & 0x80) != 0 && _crtcIndex <= 7)
                {
                    if (_crtcIndex == 7) _crtc[7] = (byte)((_crtc[7] & ~0x10) | (value & 0x10));
                    break;
                }
                _crtc[_crtcIndex] = value;
                break;
            case 0x3BA or 0x3DA: _featureControl = value; break;
            case 0x3C0:
                if (!_attrFlipFlopData)
                    _attrIndex = (byte)(value & 0x3F); // bit 5: palette address source (display enabled)
                else if ((_attrIndex & 0x1F) < _attr.Length)
                    _attr[_attrIndex & 0x1F] = value;
                _attrFlipFlopData = !_attrFlipFlopData;
                break;
            case 0x3C2: _misc = value; break;
            case 0x3C4: _seqIndex = (byte)(value & 0x07); break;
            case 0x3C5: if (_seqIndex < _seq.Length) _seq[_seqIndex] = value; break;
            case 0x3C6: _pelMask = value; break;
            case 0x3C7: _dacReadIndex = value; _dacComponent = 0; break;
            case 0x3C8: _dacWriteIndex = value; _dacComponent = 0; _dacLastWasRead = false; break;
            case 0x3C9:
                _dac[_dacWriteIndex * 3 + _dacComponent] = (byte)(value & 0x3F);
                _dacLastWasRead = false;
                if (++_dacComponent == 3) { _dacComponent = 0; _dacWriteIndex = (_dacWriteIndex + 1) & 0xFF; }
                break;
            case 0x3CE: _gcIndex = (byte)(value & 0x0F); break;
            case 0x3CF: if (_gcIndex < _gc.Length) _gc[_gcIndex] = value; break;
        }
    }

    /// <summary>Input status 1: bit 3 vertical retrace, bit 0 display disabled (either blanking interval).</summary>
    private byte InputStatus1()
    {
        if (_clock is null)
        {
            // No clock: alternate so that both "wait for retrace" and "wait for display" loops finish.
            _retraceToggle++;
            return (byte)((_retraceToggle & 1) != 0 ? 0x09 : 0x00);
        }
        long t = _clock.NowNs % FrameNs;
        if (t >= VisibleLinesNs) return 0x09;                     // vertical blanking/retrace
        long inLine = t % LineNs;
        return (byte)(inLine >= LineNs * 80 / 100 ? 0x01 : 0x00); // horizontal blanking
    }

    // ---------------------------------------------------------------- capture for rendering

    /// <summary>The guest-physical address of the text window selected by GR06 bits 3:2.</summary>
    public ulong TextBase => ((_gc[6] >> 2) & 3) switch { 0 or 1 => 0xA0000UL, 2 => 0xB0000UL, _ => 0xB8000UL };
    private ulong WindowSize => ((_gc[6] >> 2) & 3) switch { 0 => 0x20000UL, 1 => 0x10000UL, _ => 0x8000UL };

    public bool GraphicsMode => (_gc[6] & 1) != 0 || (_attr[0x10] & 1) != 0;
    public int Columns => Math.Clamp(_crtc[1] + 1, 1, 132);
    public int CellHeight => (_crtc[9] & 0x1F) + 1;
    public int CellWidth => (_seq[1] & 1) != 0 ? 8 : 9;
    public int Rows
    {
        get
        {
            int vde = _crtc[0x12] | ((_crtc[7] & 0x02) << 7) | ((_crtc[7] & 0x40) << 3);
            int lines = vde + 1;
            if ((_crtc[9] & 0x80) != 0) lines /= 2; // scan doubling
            return Math.Clamp(lines / CellHeight, 1, 60);
        }
    }
    public int StartAddress => (_crtc[0x0C] << 8) | _crtc[0x0D];
    public int CursorAddress => (_crtc[0x0E] << 8) | _crtc[0x0F];
    /// <summary>Characters per row in memory: the offset register counts words in byte mode ×2 (CR13).</summary>
    public int Pitch => Math.Max(_crtc[0x13] * 2, 1);

    /// <summary>Graphics modes are not drawn: an 80×25 frame that says so, instead of planar memory read as text.</summary>
    private VgaTextFrame GraphicsModeNotice()
    {
        var cells = new ushort[80 * 25];
        Array.Fill(cells, (ushort)0x0720);
        const string text = "mykvm: the guest switched the VGA to a graphics mode, which is not displayed";
        for (int i = 0; i < text.Length; i++) cells[12 * 80 + 2 + i] = (ushort)(0x0700 | text[i]);
        return new VgaTextFrame(80, 25, cells, Palette(), 9, 16, BlinkEnabled: false, LineGraphics: true,
            CursorVisible: false, CursorRow: -1, CursorColumn: -1, CursorStart: 0, CursorEnd: 0, GraphicsMode: true);
    }

    /// <summary>The 16 colours an attribute nibble selects, after the attribute palette, colour select and DAC (0xRRGGBB).</summary>
    public uint[] Palette()
    {
        var rgb = new uint[16];
        for (int i = 0; i < 16; i++)
        {
            int p = _attr[i] & 0x3F;
            int index;
            if ((_attr[0x10] & 0x80) != 0) index = (p & 0x0F) | ((_attr[0x14] & 0x03) << 4); // P5/P4 from colour select
            else index = p;
            index |= (_attr[0x14] & 0x0C) << 4;                                              // P7/P6
            index &= _pelMask;
            rgb[i] = (uint)(Expand(_dac[index * 3]) << 16 | Expand(_dac[index * 3 + 1]) << 8 | Expand(_dac[index * 3 + 2]));
        }
        return rgb;
    }

    private static int Expand(byte sixBit) => (sixBit << 2) | (sixBit >> 4);

    /// <summary>Reads the visible text screen and cursor from guest RAM and the registers.</summary>
    public VgaTextFrame CaptureText()
    {
        if (GraphicsMode) return GraphicsModeNotice();
        int cols = Columns, rows = Rows, pitch = Pitch, start = StartAddress;
        ulong window = WindowSize, @base = TextBase;
        var cells = new ushort[cols * rows];
        bool haveRam = _ram.Contains(@base, window);
        var buffer = haveRam ? _ram.GetSpan(@base, (int)window) : default;
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
            {
                // Addresses wrap inside the window, as the CRTC's address counter does.
                ulong offset = (ulong)((start + r * pitch + c) * 2) % window;
                cells[r * cols + c] = haveRam ? (ushort)(buffer[(int)offset] | (buffer[(int)offset + 1] << 8)) : (ushort)0;
            }

        int cursorStart = _crtc[0x0A] & 0x1F, cursorEnd = _crtc[0x0B] & 0x1F;
        int rel = CursorAddress - start;
        int cursorRow = rel >= 0 ? rel / pitch : -1, cursorCol = rel >= 0 ? rel % pitch : -1;
        bool cursorVisible = (_crtc[0x0A] & 0x20) == 0 && cursorStart <= cursorEnd && cursorStart < CellHeight
            && cursorRow >= 0 && cursorRow < rows && cursorCol < cols;

        return new VgaTextFrame(cols, rows, cells, Palette(), CellWidth, CellHeight,
            BlinkEnabled: (_attr[0x10] & 0x08) != 0,
            LineGraphics: (_attr[0x10] & 0x04) != 0,
            CursorVisible: cursorVisible,
            CursorRow: cursorRow, CursorColumn: cursorCol,
            CursorStart: cursorStart, CursorEnd: Math.Min(cursorEnd, CellHeight - 1),
            GraphicsMode: GraphicsMode,
            Monochrome: !ColorAddressing);
    }
}
