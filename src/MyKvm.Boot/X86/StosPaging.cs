using MyKvm.Core;

namespace MyKvm.Boot.X86;

/// <summary>
/// The paging the stos protocol starts a kernel with (no PAE, CR4.PSE, Intel SDM Vol. 3A §4.3): a page directory at
/// physical 0x1000 whose PDE[0] (identity) and PDE[768] (0xC0000000, the kernel's half) map physical [0, 4 MiB)
/// with one 4 MiB page each, and the last PDEs map the struct frame table (at physical 4 MiB) at the top of the
/// address space.
/// </summary>
internal static class StosPaging
{
    public const ulong PageDirectory = 0x1000;
    public const ulong LargePage = 4UL << 20;
    public const uint KernelBase = 0xC000_0000;
    // P | R/W | PS (4 MiB page): supervisor-only, as a kernel's own mapping.
    public const uint LargePageFlags = 0x83;

    /// <summary>Writes the page directory; returns the virtual address the frame table is mapped at.</summary>
    public static uint Write(GuestRam ram, ulong frameTablePhysical, ulong frameTableBytes)
    {
        ram.Fill(PageDirectory, 4096, 0);
        WritePde(ram, 0, 0);
        WritePde(ram, KernelBase >> 22, 0);
        int pages = FrameTablePdes(frameTableBytes);
        for (int i = 0; i < pages; i++)
            WritePde(ram, (uint)(1024 - pages + i), frameTablePhysical + (ulong)i * LargePage);
        return (uint)(GuestRam.FourGiB - (ulong)pages * LargePage);
    }

    /// <summary>How many 4 MiB pages cover a frame table of <paramref name="bytes"/>.</summary>
    public static int FrameTablePdes(ulong bytes) => (int)Math.Max(1, (bytes + LargePage - 1) / LargePage);

    private static void WritePde(GuestRam ram, uint index, ulong physical) =>
        ram.Write32(PageDirectory + index * 4, (uint)physical | LargePageFlags);
}
