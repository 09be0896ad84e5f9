using System.Text;

namespace MyKvm.Machine;

/// <summary>
/// The guest's console output (COM1 and port 0xE9): written to the chosen target, and watched for the
/// <c>--expect</c> text. Buffered; the run loop flushes it after every slice.
/// </summary>
public sealed class SerialSink : IDisposable
{
    private readonly Stream? _target;
    private readonly bool _ownsTarget;
    private readonly byte[] _expect;
    private int _matched;
    private readonly MemoryStream _buffer = new();
    private readonly StringBuilder _captured = new();

    public SerialSink(Stream? target, bool ownsTarget, string? expect, int captureLimit = 1 << 20)
    {
        _target = target;
        _ownsTarget = ownsTarget;
        _expect = expect is null ? [] : Encoding.UTF8.GetBytes(expect);
        CaptureLimit = captureLimit;
    }

    public int CaptureLimit { get; }

    /// <summary>Raised (once) when the expected text has appeared.</summary>
    public event Action? ExpectMatched;
    public bool ExpectSeen { get; private set; }

    /// <summary>Everything the guest printed (up to <see cref="CaptureLimit"/> characters), for messages and tests.</summary>
    public string Captured => _captured.ToString();

    public void Write(byte b)
    {
        _buffer.WriteByte(b);
        if (_captured.Length < CaptureLimit) _captured.Append((char)b);
        if (_expect.Length == 0 || ExpectSeen) return;
        // Restart matching on mismatch (a KMP table would be exact for self-overlapping patterns; re-check from the longest suffix instead).
        while (true)
        {
            if (b == _expect[_matched])
            {
                if (++_matched == _expect.Length)
                {
                    ExpectSeen = true;
                    ExpectMatched?.Invoke();
                }
                return;
            }
            if (_matched == 0) return;
            _matched = LongestBorder(_matched);
        }
    }

    /// <summary>The length of the longest proper prefix of expect[0..n) that is also its suffix.</summary>
    private int LongestBorder(int n)
    {
        for (int k = n - 1; k > 0; k--)
            if (_expect.AsSpan(0, k).SequenceEqual(_expect.AsSpan(n - k, k))) return k;
        return 0;
    }

    public void Flush()
    {
        if (_buffer.Length == 0) return;
        if (_target is not null)
        {
            try
            {
                _target.Write(_buffer.GetBuffer(), 0, (int)_buffer.Length);
                _target.Flush();
            }
            catch (IOException)
            {
                // A closed pipe (mykvm ... | head) must not kill the VM with a stack trace.
            }
        }
        _buffer.SetLength(0);
    }

    public void Dispose()
    {
        Flush();
        if (_ownsTarget) _target?.Dispose();
    }
}
