using MyKvm.Core;

namespace MyKvm.Boot;

/// <summary>
/// Book-keeping of what a loader has put where in guest-physical memory. Every placement must lie in
/// usable RAM of <see cref="PcMemoryLayout.Build"/> (so never in the VGA/BIOS hole, the EBDA or past the
/// end of RAM) and must not overlap an earlier one; the boot GDT and KVM trampoline pages are claimed
/// from the start. Violations become <see cref="BootException"/>s naming the file responsible.
/// </summary>
internal sealed class GuestPlacement
{
    private readonly record struct Claimed(ulong Start, ulong End, string What);

    private readonly List<Claimed> _claimed = [];
    private readonly IReadOnlyList<MemoryMapEntry> _map;

    public GuestPlacement(GuestRam ram)
    {
        Ram = ram;
        _map = PcMemoryLayout.Build(ram);
        // The BIOS data area is written by every loader (BiosDataArea), the GDT page by the protocols
        // entering protected mode, and the trampoline page belongs to the KVM backend.
        _claimed.Add(new(0x400, 0x500, "the BIOS data area"));
        _claimed.Add(new(PcMemoryLayout.BootGdtBase, PcMemoryLayout.BootGdtBase + 0x1000, "the boot GDT page"));
        _claimed.Add(new(PcMemoryLayout.TrampolineBase, PcMemoryLayout.TrampolineBase + 0x1000, "the KVM trampoline page"));
    }

    public GuestRam Ram { get; }

    /// <summary>The highest end of everything claimed so far at or above <paramref name="floor"/>.</summary>
    public ulong HighestEndAbove(ulong floor) =>
        _claimed.Where(c => c.End > floor).Select(c => c.End).DefaultIfEmpty(floor).Max();

    /// <summary>Why [start, start+length) cannot be used, or null if it can.</summary>
    public string? Problem(ulong start, ulong length)
    {
        if (length == 0) return null;
        if (start + length < start)
            return "wraps around the address space";
        if (PcMemoryLayout.OverlapsLegacyHole(start, length))
            return $"overlaps the VGA/BIOS hole [0x{PcMemoryLayout.VgaHoleStart:x}, 0x{PcMemoryLayout.HighMemoryStart:x})";
        if (!Ram.Contains(start, length))
            return $"lies outside guest RAM ({DescribeRam()})";
        foreach (var e in _map)
            if (e.Type != MemoryType.Usable && start < e.End && e.Base < start + length)
                return $"overlaps reserved memory [0x{e.Base:x}, 0x{e.End:x})";
        foreach (var c in _claimed)
            if (start < c.End && c.Start < start + length)
                return $"overlaps {c.What} [0x{c.Start:x}, 0x{c.End:x})";
        return null;
    }

    /// <summary>Claims [start, start+length) for <paramref name="what"/>; throws naming <paramref name="file"/> if it cannot.</summary>
    public void Claim(ulong start, ulong length, string what, string file)
    {
        if (length == 0) return;
        if (Problem(start, length) is { } problem)
            throw new BootException($"{file}: {what} [0x{start:x}, 0x{start + length:x}) {problem}");
        _claimed.Add(new(start, start + length, what));
    }

    /// <summary>
    /// The lowest address in [<paramref name="from"/>, <paramref name="limit"/>) aligned to <paramref name="align"/>
    /// where <paramref name="length"/> bytes are free, claimed for <paramref name="what"/>; null if there is none.
    /// </summary>
    public ulong? TryAllocate(ulong length, ulong align, ulong from, ulong limit, string what) =>
        ClaimIfFound(TryFind(length, align, from, limit), length, what);

    /// <summary>As <see cref="TryAllocate"/>, but the highest fitting address below <paramref name="limit"/> (an initrd).</summary>
    public ulong? TryAllocateTop(ulong length, ulong align, ulong from, ulong limit, string what) =>
        ClaimIfFound(TryFindTop(length, align, from, limit), length, what);

    /// <summary>Where <see cref="TryAllocate"/> would put <paramref name="length"/> bytes, without claiming them.</summary>
    public ulong? TryFind(ulong length, ulong align, ulong from, ulong limit)
    {
        ulong size = Math.Max(length, 1);
        ulong a = AlignUp(from, align);
        while (a >= from && a + size <= limit && a + size > a)
        {
            if (Problem(a, size) is null) return a;
            // Skip past whatever is in the way: the next candidate is the end of the first obstacle.
            ulong next = NextCandidate(a, size);
            if (next >= limit) return null;
            a = AlignUp(next, align);
        }
        return null;
    }

    /// <summary>Where <see cref="TryAllocateTop"/> would put <paramref name="length"/> bytes, without claiming them.</summary>
    public ulong? TryFindTop(ulong length, ulong align, ulong from, ulong limit)
    {
        ulong size = Math.Max(length, 1);
        if (limit < size) return null;
        ulong a = AlignDown(limit - size, align);
        while (a >= from)
        {
            if (Problem(a, size) is null) return a;
            ulong obstacleStart = PreviousCandidate(a, size);
            if (obstacleStart < size) return null;
            // The obstacle starts below a + size, so the new candidate is strictly lower.
            a = AlignDown(obstacleStart - size, align);
        }
        return null;
    }

    private ulong? ClaimIfFound(ulong? at, ulong length, string what)
    {
        if (at is { } a && length != 0) _claimed.Add(new(a, a + length, what));
        return at;
    }

    /// <summary>Claims <paramref name="length"/> bytes via <see cref="TryAllocate"/> or throws naming the file.</summary>
    public ulong Allocate(ulong length, ulong align, ulong from, ulong limit, string what, string file) =>
        TryAllocate(length, align, from, limit, what)
        ?? throw new BootException($"{file}: no room for {what} ({length} bytes) in guest memory [0x{from:x}, 0x{Math.Min(limit, Ram.LowSize):x}) ({DescribeRam()})");

    private IEnumerable<(ulong Start, ulong End)> Obstacles()
    {
        foreach (var c in _claimed) yield return (c.Start, c.End);
        foreach (var e in _map)
            if (e.Type != MemoryType.Usable) yield return (e.Base, e.End);
        yield return (PcMemoryLayout.VgaHoleStart, PcMemoryLayout.HighMemoryStart);
        yield return (Ram.LowSize, Ram.HighSize == 0 ? ulong.MaxValue : GuestRam.FourGiB);
        if (Ram.HighSize != 0) yield return (Ram.EndOfRam, ulong.MaxValue);
    }

    private ulong NextCandidate(ulong a, ulong size)
    {
        ulong best = ulong.MaxValue;
        foreach (var (s, e) in Obstacles())
            if (a < e && s < a + size && e < best) best = e;
        return best;
    }

    private ulong PreviousCandidate(ulong a, ulong size)
    {
        ulong best = 0;
        bool found = false;
        foreach (var (s, e) in Obstacles())
            if (a < e && s < a + size && (!found || s < best)) { best = s; found = true; }
        return found ? best : a;
    }

    private string DescribeRam() =>
        Ram.HighSize == 0 ? $"RAM is [0, 0x{Ram.LowSize:x})" : $"RAM is [0, 0x{Ram.LowSize:x}) and [4 GiB, 0x{Ram.EndOfRam:x})";

    public static ulong AlignUp(ulong v, ulong align) => align <= 1 ? v : (v + align - 1) / align * align;
    public static ulong AlignDown(ulong v, ulong align) => align <= 1 ? v : v / align * align;
}
