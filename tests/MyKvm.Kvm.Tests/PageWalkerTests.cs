using MyKvm.Core;
using MyKvm.Kvm.Boot;

namespace MyKvm.Kvm.Tests;

public class PageWalkerTests
{
    [Fact]
    public void ThirtyTwoBitPagingWith4KAnd4MPages()
    {
        using var ram = new GuestRam(8 << 20);
        var s = new VcpuState { Cr3 = 0x10000, Cr4 = VcpuState.Cr4PSE };
        ram.Write32(0x10000 + 0x300 * 4, 0x0040_0083);   // 0xC0000000 -> 4 MiB (4 MiB page)
        ram.Write32(0x10000, 0x11000 | 3);                 // 0-4 MiB through a page table
        ram.Write32(0x11000 + 8 * 4, 0x0002_3003);         // 0x8000 -> 0x23000
        Assert.Equal(0x40_1234UL, GuestPageWalker.Translate(ram, s, 0xC000_1234, out _));
        Assert.Equal(0x2_3ABCUL, GuestPageWalker.Translate(ram, s, 0x8ABC, out _));
        Assert.Null(GuestPageWalker.Translate(ram, s, 0x9000, out string? why));
        Assert.Equal("PTE for 0x9000 is not present", why);
        // Without CR4.PSE the PS bit is ignored and the entry points to a page table.
        s.Cr4 = 0;
        ram.Write32(0x40_0000, 0x5000 | 1);
        Assert.Equal(0x5123UL, GuestPageWalker.Translate(ram, s, 0xC000_0123, out _));
    }

    [Fact]
    public void PaeAndFourLevelPaging()
    {
        using var ram = new GuestRam(8 << 20);
        var pae = new VcpuState { Cr3 = 0x11000, Cr4 = VcpuState.Cr4PAE };
        ram.Write64(0x11000 + 3 * 8, 0x12000 | 1);          // PDPTE 3: 0xC0000000-
        ram.Write64(0x12000 + 1 * 8, 0x20_0000 | 0x83);     // 0xC0200000 -> 2 MiB page at 2 MiB
        Assert.Equal(0x20_0042UL, GuestPageWalker.Translate(ram, pae, 0xC020_0042, out _));
        ram.Write64(0x12000 + 1 * 8, 0x8000_0000_0020_0083); // XD
        pae.Efer = VcpuState.EferNXE;
        Assert.Null(GuestPageWalker.Translate(ram, pae, 0xC020_0042, out string? why));
        Assert.Contains("not executable", why);

        var lm = TestGuests.Long64(ram);
        Assert.Equal(0x8000UL, GuestPageWalker.Translate(ram, lm, 0x8000, out _));
        Assert.Equal(0x3FE0_0010UL, GuestPageWalker.Translate(ram, lm, 0x3FE0_0010, out _));
        Assert.Null(GuestPageWalker.Translate(ram, lm, 0x4000_0000, out why));
        Assert.Equal("level-3 entry for 0x40000000 is not present", why);
    }

    [Fact]
    public void TablesOutsideRamAreAFailureNotACrash()
    {
        using var ram = new GuestRam(1 << 20);
        var s = new VcpuState { Cr3 = 0xFFFF_0000 };
        Assert.Null(GuestPageWalker.Translate(ram, s, 0x8000, out string? why));
        Assert.Contains("outside guest RAM", why);
    }
}
