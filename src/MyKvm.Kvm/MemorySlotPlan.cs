using MyKvm.Core;

namespace MyKvm.Kvm;

/// <summary>One KVM memory slot: a guest-physical range backed by the RAM mapping at <see cref="HostOffset"/>.</summary>
public readonly record struct MemorySlot(ulong GuestPhysical, ulong Size, ulong HostOffset);

/// <summary>
/// The KVM memory slots for guest RAM. A slot covers RAM except pages that an MMIO device claims (a legacy VGA
/// window inside low RAM, say): KVM sends accesses there to the VMM only where no slot maps them.
/// </summary>
public static class MemorySlotPlan
{
    private const ulong Page = 0x1000;

    /// <summary>How far up RAM is checked page by page for MMIO claims (the PC's devices all sit below 4 GiB).</summary>
    public const ulong ScanLimit = GuestRam.FourGiB;

    public static IReadOnlyList<MemorySlot> Build(ReadOnlySpan<RamRegion> regions, Func<ulong, bool> isClaimed)
    {
        var slots = new List<MemorySlot>();
        foreach (var region in regions)
        {
            ulong start = region.GuestPhysical;
            ulong end = region.GuestPhysical + region.Size;
            ulong scanEnd = Math.Min(end, Math.Max(start, ScanLimit));
            ulong runStart = start;
            for (ulong page = start; page < scanEnd; page += Page)
            {
                if (!isClaimed(page)) continue;
                if (page > runStart) slots.Add(new(runStart, page - runStart, region.HostOffset + (runStart - start)));
                runStart = page + Page;
            }
            if (end > runStart) slots.Add(new(runStart, end - runStart, region.HostOffset + (runStart - start)));
        }
        return slots;
    }
}
