using MyKvm.Core;

namespace MyKvm.Kvm.Boot;

/// <summary>
/// Walks a guest's page tables in <see cref="GuestRam"/> the way the MMU would for a supervisor instruction
/// fetch (Intel SDM Vol. 3A §4.3 32-bit paging, §4.4 PAE paging, §4.5 4-level paging). Used before entry to
/// check that the trampoline page is identity-mapped.
/// </summary>
public static class GuestPageWalker
{
    private const ulong Present = 1, PageSize = 0x80, User = 4;
    private const ulong Cr4Smep = 1UL << 20, Cr4La57 = 1UL << 12;
    private const ulong AddressMask52 = 0x000F_FFFF_FFFF_F000;

    /// <summary>
    /// The physical address <paramref name="linear"/> maps to under the paging mode of <paramref name="state"/>
    /// (its CR3, CR4 and EFER.LME, as if CR0.PG were set), or null with the reason.
    /// </summary>
    public static ulong? Translate(GuestRam ram, VcpuState state, ulong linear, out string? failure)
    {
        failure = null;
        bool longMode = (state.Efer & VcpuState.EferLME) != 0;
        bool pae = (state.Cr4 & VcpuState.Cr4PAE) != 0;
        bool nxe = (state.Efer & VcpuState.EferNXE) != 0;
        try
        {
            if (longMode)
            {
                if (!pae) return Fail(out failure, "EFER.LME is set without CR4.PAE");
                if ((state.Cr4 & Cr4La57) != 0) return Fail(out failure, "5-level paging is not supported for the boot trampoline");
                ulong table = state.Cr3 & AddressMask52;
                bool user = true;
                for (int level = 4; level >= 1; level--)
                {
                    int shift = 12 + 9 * (level - 1);
                    ulong entry = ram.Read64(table + ((linear >> shift) & 0x1FF) * 8);
                    if ((entry & Present) == 0) return Fail(out failure, $"level-{level} entry for 0x{linear:x} is not present");
                    if (nxe && (entry >> 63) != 0) return Fail(out failure, $"0x{linear:x} is not executable (XD)");
                    user &= (entry & User) != 0;
                    bool leaf = level == 1 || (level is 2 or 3 && (entry & PageSize) != 0);
                    if (leaf && user && (state.Cr4 & Cr4Smep) != 0) return Fail(out failure, $"0x{linear:x} is a user page and CR4.SMEP is set");
                    if (level is 2 or 3 && (entry & PageSize) != 0)
                    {
                        ulong pageMask = (1UL << shift) - 1;
                        return (entry & AddressMask52 & ~pageMask) | (linear & pageMask);
                    }
                    table = entry & AddressMask52;
                }
                return table | (linear & 0xFFF);
            }
            if (pae)
            {
                ulong pdpte = ram.Read64((state.Cr3 & 0xFFFF_FFE0) + ((linear >> 30) & 3) * 8);
                if ((pdpte & Present) == 0) return Fail(out failure, $"PDPTE for 0x{linear:x} is not present");
                ulong pde = ram.Read64((pdpte & AddressMask52) + ((linear >> 21) & 0x1FF) * 8);
                if ((pde & Present) == 0) return Fail(out failure, $"PDE for 0x{linear:x} is not present");
                if (nxe && (pde >> 63) != 0) return Fail(out failure, $"0x{linear:x} is not executable (XD)");
                if ((pde & PageSize) != 0) return (pde & AddressMask52 & ~0x1F_FFFFUL) | (linear & 0x1F_FFFF);
                ulong pte = ram.Read64((pde & AddressMask52) + ((linear >> 12) & 0x1FF) * 8);
                if ((pte & Present) == 0) return Fail(out failure, $"PTE for 0x{linear:x} is not present");
                if (nxe && (pte >> 63) != 0) return Fail(out failure, $"0x{linear:x} is not executable (XD)");
                return (pte & AddressMask52) | (linear & 0xFFF);
            }
            {
                uint pde = ram.Read32((state.Cr3 & 0xFFFF_F000) + ((linear >> 22) & 0x3FF) * 4);
                if ((pde & Present) == 0) return Fail(out failure, $"PDE for 0x{linear:x} is not present");
                if ((pde & PageSize) != 0 && (state.Cr4 & VcpuState.Cr4PSE) != 0)
                    // PSE-36: PDE bits 13–20 are physical address bits 32–39 (SDM Vol. 3A §4.3, table 4-4).
                    return (pde & 0xFFC0_0000UL) | ((ulong)(pde >> 13) & 0xFF) << 32 | (linear & 0x3F_FFFF);
                uint pte = ram.Read32((pde & 0xFFFF_F000UL) + ((linear >> 12) & 0x3FF) * 4);
                if ((pte & Present) == 0) return Fail(out failure, $"PTE for 0x{linear:x} is not present");
                return (pte & 0xFFFF_F000UL) | (linear & 0xFFF);
            }
        }
        catch (GuestMemoryException)
        {
            return Fail(out failure, $"a page-table entry for 0x{linear:x} lies outside guest RAM");
        }
    }

    private static ulong? Fail(out string? failure, string why)
    {
        failure = why;
        return null;
    }
}
