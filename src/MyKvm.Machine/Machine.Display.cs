using MyKvm.Devices.Legacy;
using MyKvm.Devices.Video;

namespace MyKvm.Machine;

/// <summary>The user's side of the console: host input to the guest, and the VGA screen to the terminal or a PNG.</summary>
public sealed partial class Machine
{
    private VgaTextFrame? _shownFrame;
    private long _lastScreenDraw;
    private TerminalKeyDecoder? _keyDecoder;

    /// <summary>Host input: to the PS/2 keyboard with <c>--display term</c> (escape sequences decoded to keys), else to COM1.</summary>
    private void DeliverSerialInput(byte[] bytes)
    {
        if (_config.Display.Kind == DisplayKind.Term && _keyboard is not null)
        {
            _keyDecoder ??= new TerminalKeyDecoder(_keyboard.KeyFromHost);
            _keyDecoder.Feed(bytes);
        }
        else
        {
            _com1?.ReceiveInput(bytes);
        }
    }

    /// <summary><c>--display term</c>: redraws the changed cells of the VGA text screen, at most 20 times a second.</summary>
    private void RefreshDisplay()
    {
        if (_config.Display.Kind != DisplayKind.Term || _vga is null) return;
        long now = Environment.TickCount64;
        if (now - _lastScreenDraw < 50) return;
        _lastScreenDraw = now;
        var frame = _vga.CaptureText();
        if (_shownFrame is not null && frame.Cells.AsSpan().SequenceEqual(_shownFrame.Cells) && frame.CursorRow == _shownFrame.CursorRow
            && frame.CursorColumn == _shownFrame.CursorColumn) return;
        var ansi = VgaTextRenderer.ToAnsi(frame, _shownFrame);
        _shownFrame = frame;
        var stdout = Console.OpenStandardOutput();
        stdout.Write(System.Text.Encoding.UTF8.GetBytes(ansi));
        stdout.Flush();
    }

    /// <summary>Writes the screenshot for <c>--display png:PATH</c>.</summary>
    private void OnStopped()
    {
        if (_config.Display.Kind == DisplayKind.Term) _shownFrame = null;
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
