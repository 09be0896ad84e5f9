using MyKvm.Core;

namespace MyKvm.Boot.X86;

/// <summary>
/// Identity-mapped 4-level page tables for entering a kernel in long mode (Intel SDM Vol. 3A §4.5): one PML4,
/// one PDPT and one page directory per GiB, mapping [0, top) with 2 MiB pages. 2 MiB rather than 1 GiB pages
/// because 1 GiB pages are optional (CPUID 80000001h:EDX.Page1GB) and the software CPU need not have them.
/// The tables are plain RAM to the guest: the E820 map keeps listing them as usable, as it does the zero page —
/// a kernel builds its own tables before it reuses that memory (boot.rst lets it).
/// </summary>
internal static class LongModePaging
{
    public const ulong LargePage = 2UL << 20;
    public const ulong GiB = 1UL << 30;
    /// <summary>One PDPT reaches 512 GiB.</summary>
    public const ulong MaxTop = 512 * GiB;

    // P | R/W for the table pointers; P | R/W | PS for the 2 MiB leaves (supervisor, executable: EFER.NXE stays off).
    public const ulong TableFlags = 0x3;
    public const ulong LargePageFlags = 0x83;

    /// <summary>How many 4 KiB pages the tables for [0, <paramref name="top"/>) take: PML4 + PDPT + a directory per GiB.</summary>
    public static int Pages(ulong top) => 2 + (int)GigabytesFor(top);

    /// <summary>
    /// Writes the tables at <paramref name="at"/> (page-aligned, <see cref="Pages"/> pages, already claimed) and returns
    /// the CR3 value (the PML4's address).
    /// </summary>
    public static ulong Write(GuestRam ram, ulong at, ulong top)
    {
        if ((at & 0xFFF) != 0) throw new ArgumentException("page tables must be page-aligned", nameof(at));
        if (top == 0 || top > MaxTop) throw new ArgumentOutOfRangeException(nameof(top), $"identity map top 0x{top:x} is not in (0, 512 GiB]");
        ulong gigabytes = GigabytesFor(top);
        ulong pml4 = at, pdpt = at + 0x1000, directories = at + 0x2000;
        ImageLoading.ZeroFill(ram, at, (ulong)Pages(top) * 0x1000);
        ram.Write64(pml4, pdpt | TableFlags);
        for (ulong g = 0; g < gigabytes; g++)
        {
            ulong pd = directories + g * 0x1000;
            ram.Write64(pdpt + g * 8, pd | TableFlags);
            for (ulong i = 0; i < 512; i++)
                ram.Write64(pd + i * 8, (g * GiB + i * LargePage) | LargePageFlags);
        }
        return pml4;
    }

    private static ulong GigabytesFor(ulong top) => (top + GiB - 1) / GiB;
}
