using System.Text;

namespace MyKvm.Debug.Monitor;

/// <summary>
/// QEMU's Ctrl-A escape on a console shared by the guest's serial port and the monitor: bytes typed go to the guest,
/// except <c>Ctrl-A c</c> (switch between the guest and the monitor), <c>Ctrl-A x</c> (end the machine),
/// <c>Ctrl-A h</c> (help) and <c>Ctrl-A Ctrl-A</c> (a literal Ctrl-A for the guest). In the monitor, typed lines are
/// echoed and run; their output goes to the console.
/// </summary>
public sealed class SerialConsoleMux
{
    private const byte CtrlA = 0x01;
    private readonly DebugMonitor _monitor;
    private readonly TextWriter _console;
    private readonly Action<byte[]> _toGuest;
    private readonly Action _quit;
    private readonly StringBuilder _line = new();
    private bool _escape;

    public const string Help = "C-a c  switch between the guest console and the mykvm monitor\nC-a x  end the machine\nC-a h  this help\nC-a C-a  send C-a to the guest\n";

    /// <param name="console">Where the monitor writes (the terminal).</param>
    /// <param name="toGuest">Delivers typed bytes to the guest's serial port.</param>
    /// <param name="quit">Ends the machine.</param>
    public SerialConsoleMux(DebugMonitor monitor, TextWriter console, Action<byte[]> toGuest, Action quit)
    {
        _monitor = monitor;
        _console = console;
        _toGuest = toGuest;
        _quit = quit;
    }

    public bool InMonitor { get; private set; }

    public void Feed(ReadOnlySpan<byte> input)
    {
        var guest = new List<byte>();
        foreach (byte b in input)
        {
            if (_escape)
            {
                _escape = false;
                switch ((char)b)
                {
                    case 'c':
                        Flush(guest);
                        InMonitor = !InMonitor;
                        _console.Write(InMonitor ? "\r\nQEMU-style monitor (mykvm); type help, C-a c to return to the guest\r\n(mykvm) " : "\r\n");
                        _console.Flush();
                        continue;
                    case 'x':
                        Flush(guest);
                        _console.Write("\r\nmykvm: terminated by C-a x\r\n");
                        _console.Flush();
                        _quit();
                        return;
                    case 'h':
                        _console.Write("\r\n" + Help.Replace("\n", "\r\n"));
                        _console.Flush();
                        continue;
                    case (char)CtrlA:
                        if (InMonitor) continue;
                        guest.Add(CtrlA);
                        continue;
                    default:
                        continue;
                }
            }
            if (b == CtrlA)
            {
                _escape = true;
                continue;
            }
            if (!InMonitor)
            {
                guest.Add(b);
                continue;
            }
            MonitorByte(b);
        }
        Flush(guest);
    }

    private void Flush(List<byte> guest)
    {
        if (guest.Count == 0) return;
        _toGuest(guest.ToArray());
        guest.Clear();
    }

    private void MonitorByte(byte b)
    {
        switch (b)
        {
            case (byte)'\r' or (byte)'\n':
            {
                _console.Write("\r\n");
                string line = _line.ToString();
                _line.Clear();
                string output = _monitor.Execute(line);
                _console.Write(output.Replace("\r\n", "\n").Replace("\n", "\r\n"));
                if (_monitor.QuitRequested)
                {
                    _console.Flush();
                    _quit();
                    return;
                }
                _console.Write("(mykvm) ");
                break;
            }
            case 0x7F or 0x08:
                if (_line.Length > 0)
                {
                    _line.Length--;
                    _console.Write("\b \b");
                }
                break;
            default:
                if (b >= 0x20 && b < 0x7F)
                {
                    _line.Append((char)b);
                    _console.Write((char)b);
                }
                break;
        }
        _console.Flush();
    }
}

/// <summary><c>--monitor stdio</c>: reads command lines from a reader on its own thread and prints the answers.</summary>
public sealed class MonitorConsole
{
    private readonly DebugMonitor _monitor;
    private readonly TextReader _input;
    private readonly TextWriter _output;
    private readonly Action _quit;

    public MonitorConsole(DebugMonitor monitor, TextReader input, TextWriter output, Action quit)
    {
        _monitor = monitor;
        _input = input;
        _output = output;
        _quit = quit;
    }

    /// <summary>Starts the reader thread (background: it never keeps the process alive).</summary>
    public Thread Start()
    {
        var t = new Thread(Loop) { IsBackground = true, Name = "monitor console" };
        t.Start();
        return t;
    }

    public void Loop()
    {
        _output.Write("mykvm monitor: type help\n(mykvm) ");
        _output.Flush();
        string? line;
        while ((line = _input.ReadLine()) is not null)
        {
            _output.Write(_monitor.Execute(line));
            if (_monitor.QuitRequested)
            {
                _output.Flush();
                _quit();
                return;
            }
            _output.Write("(mykvm) ");
            _output.Flush();
        }
    }
}
