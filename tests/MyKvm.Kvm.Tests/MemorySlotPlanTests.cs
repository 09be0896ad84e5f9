using MyKvm.Core;

namespace MyKvm.Kvm.Tests;

public class MemorySlotPlanTests
{
    [Fact]
    public void RamWithoutMmioIsOneSlotPerRegion()
    {
        RamRegion[] regions = [new(0, 0xC000_0000, 0), new(GuestRam.FourGiB, 0x4000_0000, 0xC000_0000)];
        var slots = MemorySlotPlan.Build(regions, _ => false);
        Assert.Equal([new MemorySlot(0, 0xC000_0000, 0), new MemorySlot(GuestRam.FourGiB, 0x4000_0000, 0xC000_0000)], slots);
    }

    [Fact]
    public void AnMmioDeviceInsideRamLeavesAHole()
    {
        // A VGA window at 0xA0000-0xBFFFF inside 16 MiB of RAM.
        RamRegion[] regions = [new(0, 16 << 20, 0)];
        var slots = MemorySlotPlan.Build(regions, a => a is >= 0xA0000 and < 0xC0000);
        Assert.Equal([new MemorySlot(0, 0xA0000, 0), new MemorySlot(0xC0000, (16 << 20) - 0xC0000, 0xC0000)], slots);
    }

    [Fact]
    public void HolesAtTheEdgesAndSinglePages()
    {
        RamRegion[] regions = [new(0, 0x10000, 0)];
        var slots = MemorySlotPlan.Build(regions, a => a is 0 or 0x3000 or 0xF000);
        Assert.Equal([new MemorySlot(0x1000, 0x2000, 0x1000), new MemorySlot(0x4000, 0xB000, 0x4000)], slots);
    }
}
