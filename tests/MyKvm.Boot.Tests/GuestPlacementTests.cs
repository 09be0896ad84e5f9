using MyKvm.Core;

namespace MyKvm.Boot.Tests;

public sealed class GuestPlacementTests : IDisposable
{
    private readonly GuestRam _ram = new(16UL << 20);

    public void Dispose() => _ram.Dispose();

    [Fact]
    public void ReservedPagesAreClaimedFromTheStart()
    {
        var p = new GuestPlacement(_ram);
        Assert.Contains("boot GDT page", p.Problem(0x7800, 4));
        Assert.Contains("KVM trampoline page", p.Problem(0x8FFF, 1));
        Assert.Contains("BIOS data area", p.Problem(0x40E, 2));
        Assert.Null(p.Problem(0x9000, 0x1000));
        Assert.Null(p.Problem(0x500, 0x6B00));
    }

    [Fact]
    public void LegacyHoleEbdaAndEndOfRam()
    {
        var p = new GuestPlacement(_ram);
        Assert.Contains("VGA/BIOS hole", p.Problem(0x9F000, 0x2000));
        Assert.Contains("reserved memory [0x9fc00, 0xa0000)", p.Problem(0x9FB00, 0x200));
        Assert.Contains("outside guest RAM", p.Problem((16UL << 20) - 0x100, 0x200));
        Assert.Contains("wraps around", p.Problem(ulong.MaxValue - 4, 16));
        Assert.Null(p.Problem((16UL << 20) - 0x100, 0x100));
    }

    [Fact]
    public void Allocate_SkipsClaimedRangesAndAligns()
    {
        var p = new GuestPlacement(_ram);
        p.Claim(0x100000, 0x1800, "kernel", "k");
        ulong a = p.Allocate(0x1000, 0x1000, 0x100000, _ram.LowSize, "module", "m");
        Assert.Equal(0x102000UL, a);
        ulong b = p.Allocate(10, 4, 0x101000, _ram.LowSize, "small", "m");
        Assert.Equal(0x101800UL, b);
        // In the low area the allocator steps over the trampoline page and the EBDA.
        Assert.Equal(0x9000UL, p.Allocate(0x100, 16, PcMemoryLayout.LowBootDataBase, PcMemoryLayout.ConventionalEnd, "x", "f"));
        Assert.Null(p.TryAllocate(0x1000, 1, 0x9F000, 0xA0000, "too big"));
    }

    [Fact]
    public void AllocateTop_PlacesBelowTheLimitAndAroundObstacles()
    {
        var p = new GuestPlacement(_ram);
        Assert.Equal((16UL << 20) - 0x2000, p.TryAllocateTop(0x1800, 0x1000, 0x100000, _ram.LowSize, "initrd"));
        p.Claim(0x800000, 0x100000, "kernel", "k");
        Assert.Equal(0x800000UL - 0x200000, p.TryAllocateTop(0x200000, 0x1000, 0x100000, 0x880000, "initrd"));
        Assert.Null(p.TryAllocateTop(0x800000, 0x1000, 0x100000, 0x880000, "too big"));
    }

    [Fact]
    public void Claim_OverlapNamesBothParties()
    {
        var p = new GuestPlacement(_ram);
        p.Claim(0x200000, 0x1000, "ELF segment 0", "k.elf");
        var e = Assert.Throws<BootException>(() => p.Claim(0x200800, 0x1000, "ELF segment 1", "k.elf"));
        Assert.Equal("k.elf: ELF segment 1 [0x200800, 0x201800) overlaps ELF segment 0 [0x200000, 0x201000)", e.Message);
    }
}
