using System.Runtime.InteropServices;

namespace MyKvm.Machine;

/// <summary>
/// Puts the controlling terminal in raw mode while the guest owns it, so every key (Ctrl-C included) reaches the
/// guest's serial port, and restores it on every way out: dispose, process exit, and SIGTERM/SIGHUP.
/// </summary>
internal sealed unsafe partial class TerminalMode : IDisposable
{
    private const int StdinFd = 0;
    private const int TCSANOW = 0;
    private const int TermiosSize = 60;   // struct termios on Linux (glibc): 4 flags, c_line, c_cc[32], 2 speeds
    private readonly byte[] _saved = new byte[64];
    private bool _active;
    private readonly List<PosixSignalRegistration> _signals = [];

    [LibraryImport("libc", SetLastError = true)]
    private static partial int tcgetattr(int fd, byte* termios);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int tcsetattr(int fd, int optionalActions, byte* termios);

    [LibraryImport("libc")]
    private static partial void cfmakeraw(byte* termios);

    [LibraryImport("libc")]
    private static partial int isatty(int fd);

    public static bool StdinIsTerminal => OperatingSystem.IsLinux() && !Console.IsInputRedirected && isatty(StdinFd) == 1;

    /// <summary>Switches stdin to raw mode; returns null when stdin is not a terminal.</summary>
    public static TerminalMode? TryEnterRaw()
    {
        if (!StdinIsTerminal) return null;
        var mode = new TerminalMode();
        return mode.Enter() ? mode : null;
    }

    private bool Enter()
    {
        var raw = new byte[64];
        fixed (byte* saved = _saved)
        fixed (byte* r = raw)
        {
            if (tcgetattr(StdinFd, saved) != 0) return false;
            new Span<byte>(saved, TermiosSize).CopyTo(new Span<byte>(r, TermiosSize));
            cfmakeraw(r);
            if (tcsetattr(StdinFd, TCSANOW, r) != 0) return false;
        }
        _active = true;
        AppDomain.CurrentDomain.ProcessExit += OnExit;
        foreach (var sig in new[] { PosixSignal.SIGTERM, PosixSignal.SIGHUP, PosixSignal.SIGQUIT })
            _signals.Add(PosixSignalRegistration.Create(sig, _ => Restore()));
        return true;
    }

    private void OnExit(object? sender, EventArgs e) => Restore();

    public void Restore()
    {
        lock (_saved)
        {
            if (!_active) return;
            _active = false;
            fixed (byte* saved = _saved)
                tcsetattr(StdinFd, TCSANOW, saved);
        }
    }

    public void Dispose()
    {
        Restore();
        AppDomain.CurrentDomain.ProcessExit -= OnExit;
        foreach (var s in _signals) s.Dispose();
    }
}

/// <summary>
/// The console escape on a raw terminal, like QEMU's: Ctrl-A x quits, Ctrl-A Ctrl-A sends Ctrl-A, Ctrl-A h lists
/// the keys. Everything else goes to the guest.
/// </summary>
internal sealed class ConsoleEscape(Action quit, Action<string> say)
{
    public const byte CtrlA = 0x01;
    private bool _pending;

    public const string Help = "\r\nmykvm console keys: Ctrl-A x quit, Ctrl-A Ctrl-A send Ctrl-A, Ctrl-A h this help\r\n";

    /// <summary>Returns the bytes meant for the guest.</summary>
    public byte[] Filter(ReadOnlySpan<byte> input)
    {
        var output = new List<byte>(input.Length);
        foreach (byte b in input)
        {
            if (_pending)
            {
                _pending = false;
                switch (b)
                {
                    case (byte)'x' or (byte)'X':
                        quit();
                        break;
                    case CtrlA:
                        output.Add(CtrlA);
                        break;
                    case (byte)'h' or (byte)'H' or (byte)'?':
                        say(Help);
                        break;
                }
                continue;
            }
            if (b == CtrlA) _pending = true;
            else output.Add(b);
        }
        return [.. output];
    }
}
