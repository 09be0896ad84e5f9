using MyKvm.Core;

namespace MyKvm.Debug.Explain;

/// <summary>An exception or interrupt event with the vCPU state at it (null when the backend could not give one).</summary>
public sealed record FaultRecord(VcpuEvent Event, VcpuState? State);

/// <summary>
/// Keeps the last few exceptions the vCPU raised so that, when it shuts down, the chain that led there
/// (#PF → #GP while delivering → #DF → triple fault) can be rebuilt.
/// </summary>
public sealed class FaultRecorder(int capacity = 32)
{
    private readonly FaultRecord?[] _ring = new FaultRecord?[Math.Max(4, capacity)];
    private int _next;
    private long _count;

    public long Count => _count;

    public void Add(FaultRecord record)
    {
        _ring[_next] = record;
        _next = (_next + 1) % _ring.Length;
        _count++;
    }

    public void Clear()
    {
        Array.Clear(_ring);
        _next = 0;
        _count = 0;
    }

    /// <summary>The recorded events, oldest first.</summary>
    public List<FaultRecord> Recent()
    {
        var list = new List<FaultRecord>();
        for (int i = 0; i < _ring.Length; i++)
            if (_ring[(_next + i) % _ring.Length] is { } r) list.Add(r);
        return list;
    }

    /// <summary>
    /// The chain ending with the latest event: walking back while each event was raised during the delivery of the
    /// one before it, oldest first. Empty when nothing was recorded.
    /// </summary>
    public List<FaultRecord> Chain()
    {
        var recent = Recent();
        if (recent.Count == 0) return recent;
        int start = recent.Count - 1;
        while (start > 0)
        {
            var cur = recent[start].Event;
            var prev = recent[start - 1].Event;
            if (cur.DeliveringVector < 0 || prev.Vector != cur.DeliveringVector || prev.InstructionCount != cur.InstructionCount) break;
            start--;
        }
        return recent.GetRange(start, recent.Count - start);
    }
}
