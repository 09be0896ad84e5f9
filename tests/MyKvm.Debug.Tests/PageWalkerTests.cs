using MyKvm.Core;
using MyKvm.Debug.Memory;

namespace MyKvm.Debug.Tests;

public class PageWalkerTests
{
    [Fact]
    public void PagingOffIsIdentity()
    {
        using var g = new GuestBuilder();
        var w = PageWalker.Walk(g.Physical, g.State, 0x12345);
        Assert.True(w.Mapped);
        Assert.Equal(0x12345UL, w.Physical);
        Assert.Equal(PagingMode.None, w.Mode);
    }

    [Fact]
    public void ThirtyTwoBitWalkFollowsDirectoryAndTable()
    {
        using var g = new GuestBuilder();
        g.Paging32();
        g.Ram.Write32(g.Pte32(0x40_3000), 0x20_5000 | 1); // read-only, not user: remapped
        var w = PageWalker.Walk(g.Physical, g.State, 0x40_3abc);
        Assert.True(w.Mapped);
        Assert.Equal(0x20_5abcUL, w.Physical);
        Assert.False(w.Writable);
        Assert.False(w.User);
        Assert.Equal(["PDE", "PTE"], w.Levels.Select(l => l.Name));
        Assert.Equal(1, w.Levels[0].Index);
        Assert.Equal(3, w.Levels[1].Index);
        Assert.Contains("RO", w.Levels[1].FlagNames());
    }

    [Fact]
    public void NotPresentPteStopsTheWalkWithAReason()
    {
        using var g = new GuestBuilder();
        g.Paging32();
        g.Ram.Write32(g.Pte32(0x5000), 0);
        var w = PageWalker.Walk(g.Physical, g.State, 0x5010);
        Assert.False(w.Mapped);
        Assert.Equal("PTE 5 is not present", w.Failure);
    }

    [Fact]
    public void PseLargePageMapsFourMegabytes()
    {
        using var g = new GuestBuilder();
        ulong pd = g.AllocTable();
        g.Ram.Write32(pd + 0x300 * 4, 0x0040_0000 | 0x87); // 4 MiB page at 4 MiB, user, writable
        g.State.Cr3 = pd;
        g.State.Cr4 |= VcpuState.Cr4PSE;
        g.State.Cr0 |= VcpuState.Cr0PG;
        var w = PageWalker.Walk(g.Physical, g.State, 0xC012_3456);
        Assert.True(w.Mapped);
        Assert.Equal(0x0052_3456UL, w.Physical);
        Assert.Equal(0x40_0000UL, w.PageSize);
        Assert.True(w.User);
        Assert.Single(w.Levels);
    }

    [Fact]
    public void PaeWalkWithNxAndTwoMegabytePage()
    {
        using var g = new GuestBuilder();
        ulong pdpt = g.AllocTable(), pd = g.AllocTable(), pt = g.AllocTable();
        g.Ram.Write64(pdpt + 3 * 8, pd | 1);
        g.Ram.Write64(pd + 0 * 8, 0x0020_0000 | 0x83 | (1UL << 63)); // 2 MiB, RW, NX
        g.Ram.Write64(pd + 1 * 8, pt | 7);
        g.Ram.Write64(pt + 2 * 8, 0x0030_0000 | 5); // user read-only
        g.State.Cr3 = pdpt;
        g.State.Cr4 |= VcpuState.Cr4PAE;
        g.State.Efer |= VcpuState.EferNXE;
        g.State.Cr0 |= VcpuState.Cr0PG;
        var big = PageWalker.Walk(g.Physical, g.State, 0xC001_0000);
        Assert.True(big.Mapped);
        Assert.Equal(0x21_0000UL, big.Physical);
        Assert.True(big.NoExecute);
        Assert.Equal(0x20_0000UL, big.PageSize);
        var small = PageWalker.Walk(g.Physical, g.State, 0xC020_2010);
        Assert.Equal(0x30_0010UL, small.Physical);
        Assert.False(small.Writable);
        Assert.True(small.User);
        Assert.Equal(["PDPTE", "PDE", "PTE"], small.Levels.Select(l => l.Name));

        g.State.Efer &= ~VcpuState.EferNXE; // NX without NXE is a reserved bit
        var rsvd = PageWalker.Walk(g.Physical, g.State, 0xC001_0000);
        Assert.False(rsvd.Mapped);
        Assert.True(rsvd.ReservedBit);
    }

    [Fact]
    public void FourLevelWalkHandlesGigabytePagesAndCanonicalAddresses()
    {
        using var g = new GuestBuilder();
        ulong pml4 = g.AllocTable(), pdpt = g.AllocTable();
        g.Ram.Write64(pml4 + 511 * 8, pdpt | 3);
        g.Ram.Write64(pdpt + 510 * 8, 0x4000_0000 | 0x83); // 1 GiB page
        g.State.Cr3 = pml4;
        g.State.Cr4 |= VcpuState.Cr4PAE;
        g.State.Efer |= VcpuState.EferLME | VcpuState.EferLMA;
        g.State.Cr0 |= VcpuState.Cr0PG;
        var w = PageWalker.Walk(g.Physical, g.State, 0xFFFF_FFFF_8012_3456);
        Assert.True(w.Mapped);
        Assert.Equal(0x4012_3456UL, w.Physical);
        Assert.Equal(PagingMode.Level4, w.Mode);
        var bad = PageWalker.Walk(g.Physical, g.State, 0x0000_8000_0000_0000);
        Assert.False(bad.Mapped);
        Assert.Contains("not canonical", bad.Failure);

        var maps = PageWalker.EnumerateMappings(g.Physical, g.State).ToList();
        Assert.Single(maps);
        Assert.Equal(0xFFFF_FFFF_8000_0000UL, maps[0].Linear);
        Assert.Equal(1UL << 30, maps[0].Size);
    }

    [Fact]
    public void SummaryMergesContiguousPagesWithTheSamePermissions()
    {
        using var g = new GuestBuilder();
        g.Paging32();
        g.Ram.Write32(g.Pte32(0x10_0000), 0x10_0000 | 1); // one read-only page splits the identity map
        var ranges = PageWalker.Summarise(PageWalker.EnumerateMappings(g.Physical, g.State));
        Assert.Equal(3, ranges.Count);
        Assert.Equal((0UL, 0x10_0000UL, true), (ranges[0].Linear, ranges[0].Size, ranges[0].Writable));
        Assert.Equal((0x10_0000UL, 0x1000UL, false), (ranges[1].Linear, ranges[1].Size, ranges[1].Writable));
        Assert.Equal((0x10_1000UL, 0x80_0000UL - 0x10_1000, true), (ranges[2].Linear, ranges[2].Size, ranges[2].Writable));
    }

    [Fact]
    public void LinearMemoryReadsAcrossPagesAndStopsAtAHole()
    {
        using var g = new GuestBuilder();
        g.Paging32();
        g.Ram.Write32(g.Pte32(0x40_1000), 0x30_0000 | 3); // 0x401000 -> 0x300000
        g.Ram.Write32(g.Pte32(0x40_2000), 0);
        g.Ram.Write16(0x40_0FFE, 0xBBAA);
        g.Ram.Write16(0x30_0000, 0xDDCC);
        var mem = new LinearMemory(g.Physical, g.State);
        var buf = new byte[8];
        int got = mem.Read(0x40_0FFE, buf);
        Assert.Equal(8, got);
        Assert.Equal(new byte[] { 0xAA, 0xBB, 0xCC, 0xDD }, buf[0..4]);
        Assert.Equal(2, mem.Read(0x40_1FFE, buf));
    }
}
