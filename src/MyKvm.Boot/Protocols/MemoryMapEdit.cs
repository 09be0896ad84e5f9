using MyKvm.Core;

namespace MyKvm.Boot.Protocols;

/// <summary>Edits of a memory map that keep it sorted and free of overlaps.</summary>
internal static class MemoryMapEdit
{
    /// <summary>
    /// The map with [<paramref name="start"/>, +<paramref name="length"/>) listed as one entry of <paramref name="type"/>:
    /// every existing entry is clipped around it (an entry inside it disappears).
    /// </summary>
    public static List<MemoryMapEntry> Overlay(IEnumerable<MemoryMapEntry> map, ulong start, ulong length, MemoryType type)
    {
        ulong end = start + length;
        var result = new List<MemoryMapEntry>();
        foreach (var e in map)
        {
            if (e.End <= start || e.Base >= end)
            {
                result.Add(e);
                continue;
            }
            if (e.Base < start) result.Add(new(e.Base, start - e.Base, e.Type));
            if (e.End > end) result.Add(new(end, e.End - end, e.Type));
        }
        result.Add(new(start, length, type));
        result.Sort((a, b) => a.Base.CompareTo(b.Base));
        return result;
    }
}
