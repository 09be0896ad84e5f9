using System.Collections.Concurrent;
using System.Text;

namespace MyKvm.Debug.Gdb;

/// <summary>
/// The gdb Remote Serial Protocol framing over a byte stream (gdb manual, "Overview" of the remote protocol):
/// <c>$payload#cs</c> packets with a modulo-256 checksum, <c>+</c>/<c>-</c> acknowledgements until
/// <c>QStartNoAckMode</c>, <c>}</c>-escaping of binary data, and the out-of-band <c>0x03</c> interrupt byte.
/// A reader thread parses incoming bytes; packets are taken with <see cref="Receive"/>.
/// Strings are Latin-1, one char per byte, so binary payloads survive.
/// </summary>
public sealed class RspConnection : IDisposable
{
    private readonly Stream _stream;
    private readonly BlockingCollection<string> _packets = new();
    private readonly object _writeLock = new();
    private readonly Thread _reader;
    private string? _lastSent;
    private volatile bool _closed;

    public RspConnection(Stream stream)
    {
        _stream = stream;
        _reader = new Thread(ReadLoop) { IsBackground = true, Name = "gdb rsp reader" };
        _reader.Start();
    }

    /// <summary>Raised (on the reader thread) when gdb sends the interrupt byte 0x03 (Ctrl-C).</summary>
    public event Action? InterruptReceived;

    /// <summary>After <c>QStartNoAckMode</c>: no more + / - (gdb manual, "Packet Acknowledgment").</summary>
    public bool NoAckMode { get; set; }

    public bool IsClosed => _closed;

    /// <summary>The next packet's payload (unescaped), or null when the connection closed.</summary>
    public string? Receive(TimeSpan? timeout = null)
    {
        try
        {
            while (true)
            {
                if (_packets.TryTake(out var p, timeout ?? TimeSpan.FromMilliseconds(200))) return p;
                if (timeout is not null || _packets.IsCompleted) return null;
            }
        }
        catch (InvalidOperationException)
        {
            return null;
        }
    }

    public void Send(string payload)
    {
        string framed = Frame(payload);
        lock (_writeLock)
        {
            _lastSent = framed;
            Write(framed);
        }
    }

    /// <summary>Sends raw bytes (no framing): used for the + / - acknowledgements.</summary>
    private void Write(string raw)
    {
        if (_closed) return;
        try
        {
            var bytes = Encoding.Latin1.GetBytes(raw);
            _stream.Write(bytes);
            _stream.Flush();
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or NotSupportedException)
        {
            Close();
        }
    }

    /// <summary>Frames a payload: escapes <c>$ # } *</c> (as <c>}</c> + byte^0x20) and appends the checksum.</summary>
    public static string Frame(string payload)
    {
        var sb = new StringBuilder(payload.Length + 4);
        sb.Append('$');
        int sum = 0;
        foreach (char c in payload)
        {
            if (c is '$' or '#' or '}' or '*')
            {
                sb.Append('}');
                sb.Append((char)(c ^ 0x20));
                sum += '}' + (c ^ 0x20);
            }
            else
            {
                sb.Append(c);
                sum += c;
            }
        }
        sb.Append('#');
        sb.Append((sum & 0xFF).ToString("x2"));
        return sb.ToString();
    }

    /// <summary>Undoes <c>}</c>-escaping and run-length encoding (<c>X*n</c>: n-29 more copies of X).</summary>
    public static string Unescape(string body)
    {
        if (body.IndexOf('}') < 0 && body.IndexOf('*') < 0) return body;
        var sb = new StringBuilder(body.Length);
        for (int i = 0; i < body.Length; i++)
        {
            char c = body[i];
            if (c == '}' && i + 1 < body.Length)
            {
                sb.Append((char)(body[++i] ^ 0x20));
            }
            else if (c == '*' && i + 1 < body.Length && sb.Length > 0)
            {
                int repeat = body[++i] - 29;
                char prev = sb[^1];
                for (int k = 0; k < repeat; k++) sb.Append(prev);
            }
            else
            {
                sb.Append(c);
            }
        }
        return sb.ToString();
    }

    private void ReadLoop()
    {
        var buf = new byte[4096];
        var packet = new StringBuilder();
        // 0: between packets, 1: in a payload, 2/3: the two checksum digits.
        int state = 0;
        string checksum = "";
        try
        {
            while (!_closed)
            {
                int n = _stream.Read(buf, 0, buf.Length);
                if (n <= 0) break;
                for (int i = 0; i < n; i++)
                {
                    char c = (char)buf[i];
                    switch (state)
                    {
                        case 0:
                            if (c == '$')
                            {
                                packet.Clear();
                                state = 1;
                            }
                            else if (c == '\x03')
                            {
                                InterruptReceived?.Invoke();
                            }
                            else if (c == '-')
                            {
                                lock (_writeLock)
                                    if (_lastSent is not null) Write(_lastSent);
                            }
                            break;
                        case 1:
                            if (c == '#')
                            {
                                state = 2;
                                checksum = "";
                            }
                            else
                            {
                                packet.Append(c);
                            }
                            break;
                        default:
                            checksum += c;
                            if (checksum.Length < 2) break;
                            state = 0;
                            string raw = packet.ToString();
                            int sum = 0;
                            foreach (char ch in raw) sum += ch;
                            bool ok = int.TryParse(checksum, System.Globalization.NumberStyles.HexNumber, null, out int expected) && expected == (sum & 0xFF);
                            if (!NoAckMode)
                            {
                                lock (_writeLock) Write(ok ? "+" : "-");
                            }
                            if (ok || NoAckMode) _packets.Add(Unescape(raw));
                            break;
                    }
                }
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException)
        {
        }
        Close();
    }

    private void Close()
    {
        _closed = true;
        try { _packets.CompleteAdding(); } catch (ObjectDisposedException) { }
    }

    public void Dispose()
    {
        Close();
        try { _stream.Dispose(); } catch (IOException) { }
    }
}
