using System.Text;
using MyKvm.Core;

namespace MyKvm.Debug.Memory;

/// <summary>The paging structure format in force (SDM Vol. 3A §4.1.1, Table 4-1).</summary>
public enum PagingMode
{
    /// <summary>CR0.PG=0: linear = physical.</summary>
    None,
    /// <summary>32-bit paging (§4.3), with 4 MiB pages when CR4.PSE=1.</summary>
    Legacy32,
    /// <summary>PAE paging (§4.4).</summary>
    Pae,
    /// <summary>4-level paging (§4.5), long mode.</summary>
    Level4,
    /// <summary>5-level paging (CR4.LA57).</summary>
    Level5,
}

/// <summary>One paging-structure entry read during a walk.</summary>
/// <param name="Name">PML5E, PML4E, PDPTE, PDE or PTE.</param>
/// <param name="TableAddress">Physical address of the table the entry is in.</param>
/// <param name="Index">Index of the entry in that table.</param>
/// <param name="EntrySize">4 (32-bit paging) or 8 bytes.</param>
/// <param name="Entry">The entry's value (0 if it could not be read).</param>
/// <param name="Readable">False when the table is not in RAM.</param>
/// <param name="Leaf">True when this entry maps the page (PTE, or PS=1 in a PDE/PDPTE).</param>
public sealed record PageWalkLevel(string Name, ulong TableAddress, int Index, int EntrySize, ulong Entry, bool Readable, bool Leaf)
{
    public ulong EntryAddress => TableAddress + (ulong)(Index * EntrySize);
    public bool Present => Readable && (Entry & PageWalker.P) != 0;

    /// <summary>"P RW US A D PS G NX" — the flags that are set.</summary>
    public string FlagNames()
    {
        if (!Readable) return "(not in RAM)";
        if ((Entry & PageWalker.P) == 0) return "not present";
        var sb = new StringBuilder("P");
        sb.Append((Entry & PageWalker.RW) != 0 ? " RW" : " RO");
        sb.Append((Entry & PageWalker.US) != 0 ? " US" : " S");
        if ((Entry & 0x08) != 0) sb.Append(" PWT");
        if ((Entry & 0x10) != 0) sb.Append(" PCD");
        if ((Entry & 0x20) != 0) sb.Append(" A");
        if (Leaf && (Entry & 0x40) != 0) sb.Append(" D");
        if ((Entry & PageWalker.PS) != 0 && Name is "PDE" or "PDPTE") sb.Append(" PS");
        if (Leaf && (Entry & 0x100) != 0) sb.Append(" G");
        if (EntrySize == 8 && (Entry & PageWalker.NX) != 0) sb.Append(" NX");
        return sb.ToString();
    }

    public override string ToString()
    {
        string width = EntrySize == 4 ? "x8" : "x16";
        string value = Readable ? "0x" + Entry.ToString(width) : "(unreadable)";
        return $"{Name,-5} at 0x{EntryAddress:x} ({Name} table 0x{TableAddress:x}[{Index}]) = {value}  {FlagNames()}";
    }
}

/// <summary>The result of translating one linear address.</summary>
public sealed class PageWalk
{
    public required ulong Linear { get; init; }
    public required PagingMode Mode { get; init; }
    public required IReadOnlyList<PageWalkLevel> Levels { get; init; }
    /// <summary>True when a present leaf maps the address.</summary>
    public bool Mapped { get; init; }
    public ulong Physical { get; init; }
    /// <summary>Size of the page that maps it (4 KiB, 2 MiB, 4 MiB, 1 GiB).</summary>
    public ulong PageSize { get; init; }
    /// <summary>Writable at every level (R/W=1 everywhere).</summary>
    public bool Writable { get; init; }
    /// <summary>User-accessible at every level (U/S=1 everywhere).</summary>
    public bool User { get; init; }
    /// <summary>NX set at some level with EFER.NXE=1.</summary>
    public bool NoExecute { get; init; }
    /// <summary>Why the walk stopped without a translation (not present, reserved bit, non-canonical, table outside RAM).</summary>
    public string? Failure { get; init; }
    /// <summary>A reserved bit was set in an entry (the walk would raise #PF with RSVD=1).</summary>
    public bool ReservedBit { get; init; }

    /// <summary>"RW U X" style permissions.</summary>
    public string Permissions => PageWalker.FormatPermissions(Writable, User, NoExecute);
}

/// <summary>
/// The page walk done in software over guest RAM, for the debugger: every paging mode the CPU supports (SDM Vol. 3A
/// §4.3 32-bit with PSE/PSE-36, §4.4 PAE, §4.5 4- and 5-level). Nothing here sets accessed/dirty bits.
/// </summary>
public static class PageWalker
{
    public const ulong P = 1, RW = 2, US = 4, PS = 0x80, NX = 1UL << 63;
    private const ulong AddressMask = 0x000F_FFFF_FFFF_F000;

    public static PagingMode ModeOf(VcpuState s)
    {
        if ((s.Cr0 & VcpuState.Cr0PG) == 0) return PagingMode.None;
        if ((s.Cr4 & VcpuState.Cr4PAE) == 0) return PagingMode.Legacy32;
        if ((s.Efer & VcpuState.EferLMA) == 0) return PagingMode.Pae;
        return (s.Cr4 & (1UL << 12)) != 0 ? PagingMode.Level5 : PagingMode.Level4;
    }

    public static string ModeName(PagingMode m) => m switch
    {
        PagingMode.None => "paging off",
        PagingMode.Legacy32 => "32-bit paging",
        PagingMode.Pae => "PAE paging",
        PagingMode.Level4 => "4-level paging",
        _ => "5-level paging",
    };

    public static string FormatPermissions(bool writable, bool user, bool noExecute) =>
        $"{(writable ? "RW" : "R-")}{(noExecute ? "-" : "X")} {(user ? "user" : "kernel")}";

    public static PageWalk Walk(IPhysicalMemory mem, VcpuState s, ulong linear)
    {
        var mode = ModeOf(s);
        bool nxe = (s.Efer & VcpuState.EferNXE) != 0;
        var levels = new List<PageWalkLevel>();
        switch (mode)
        {
            case PagingMode.None:
                return new PageWalk
                {
                    Linear = linear, Mode = mode, Levels = levels, Mapped = true, Physical = linear & 0xFFFF_FFFF,
                    PageSize = 0x1000, Writable = true, User = true,
                };
            case PagingMode.Legacy32:
                return Walk32(mem, s, (uint)linear, levels);
        }

        // PAE, 4-level and 5-level share the 8-byte entry format.
        ulong table;
        string[] names;
        int[] shifts;
        if (mode == PagingMode.Pae)
        {
            linear &= 0xFFFF_FFFF;
            table = s.Cr3 & 0xFFFF_FFE0;
            names = ["PDPTE", "PDE", "PTE"];
            shifts = [30, 21, 12];
        }
        else
        {
            int top = mode == PagingMode.Level5 ? 56 : 47;
            ulong upper = linear >> top;
            if (upper != 0 && upper != (ulong.MaxValue >> top))
                return Fail(linear, mode, levels, $"0x{linear:x} is not canonical (bits 63:{top} must all equal bit {top})");
            table = s.Cr3 & AddressMask;
            names = mode == PagingMode.Level5 ? ["PML5E", "PML4E", "PDPTE", "PDE", "PTE"] : ["PML4E", "PDPTE", "PDE", "PTE"];
            shifts = mode == PagingMode.Level5 ? [48, 39, 30, 21, 12] : [39, 30, 21, 12];
        }

        bool writable = true, user = true, noExec = false;
        for (int i = 0; i < names.Length; i++)
        {
            string name = names[i];
            int index = (int)((linear >> shifts[i]) & (mode == PagingMode.Pae && i == 0 ? 3UL : 511UL));
            bool readable = mem.TryRead64(table + (ulong)index * 8, out ulong e);
            bool canBeLarge = name is "PDE" || (name is "PDPTE" && mode != PagingMode.Pae);
            bool leaf = name == "PTE" || (canBeLarge && (e & PS) != 0);
            levels.Add(new PageWalkLevel(name, table, index, 8, e, readable, leaf && readable && (e & P) != 0));
            if (!readable)
                return Fail(linear, mode, levels, $"the {name} table at 0x{table:x} is not in guest RAM");
            if ((e & P) == 0)
                return Fail(linear, mode, levels, $"{name} {index} is not present");
            if (mode == PagingMode.Pae && i == 0)
            {
                // PAE PDPTEs have no R/W, U/S or NX; bits 1-2 and 5-8 are reserved (§4.4.1).
                if ((e & 0x1E6) != 0)
                    return Fail(linear, mode, levels, $"PDPTE {index} has reserved bits set (0x{e & 0x1E6:x})", reserved: true);
            }
            else
            {
                writable &= (e & RW) != 0;
                user &= (e & US) != 0;
                if ((e & NX) != 0)
                {
                    if (!nxe) return Fail(linear, mode, levels, $"{name} {index} has NX (bit 63) set but EFER.NXE=0: a reserved bit", reserved: true);
                    noExec = true;
                }
            }
            if (name is "PML4E" or "PML5E" && (e & PS) != 0)
                return Fail(linear, mode, levels, $"{name} {index} has PS set: a reserved bit", reserved: true);
            if (leaf)
            {
                ulong size = 1UL << shifts[i];
                ulong frame = e & AddressMask & ~(size - 1);
                return new PageWalk
                {
                    Linear = linear, Mode = mode, Levels = levels, Mapped = true, Physical = frame | (linear & (size - 1)),
                    PageSize = size, Writable = writable, User = user, NoExecute = noExec,
                };
            }
            table = e & AddressMask;
        }
        return Fail(linear, mode, levels, "walk ended without a leaf");
    }

    private static PageWalk Walk32(IPhysicalMemory mem, VcpuState s, uint linear, List<PageWalkLevel> levels)
    {
        ulong pd = s.Cr3 & 0xFFFF_F000;
        int pdi = (int)(linear >> 22);
        bool ok = mem.TryRead32(pd + (ulong)pdi * 4, out uint pde);
        bool large = ok && (pde & PS) != 0 && (s.Cr4 & VcpuState.Cr4PSE) != 0;
        levels.Add(new PageWalkLevel("PDE", pd, pdi, 4, pde, ok, large && (pde & P) != 0));
        if (!ok) return Fail(linear, PagingMode.Legacy32, levels, $"the page directory at 0x{pd:x} is not in guest RAM");
        if ((pde & P) == 0) return Fail(linear, PagingMode.Legacy32, levels, $"PDE {pdi} is not present");
        if (large)
        {
            // PSE-36: PDE bits 16:13 hold physical address bits 35:32 (§4.3, Table 4-4); bit 21 is reserved.
            if ((pde & (1u << 21)) != 0)
                return Fail(linear, PagingMode.Legacy32, levels, $"PDE {pdi} maps a 4 MiB page with reserved bit 21 set", reserved: true);
            ulong frame = (pde & 0xFFC0_0000u) | ((ulong)((pde >> 13) & 0xF) << 32);
            return new PageWalk
            {
                Linear = linear, Mode = PagingMode.Legacy32, Levels = levels, Mapped = true, Physical = frame | (linear & 0x3F_FFFF),
                PageSize = 0x40_0000, Writable = (pde & RW) != 0, User = (pde & US) != 0,
            };
        }
        ulong pt = pde & 0xFFFF_F000;
        int pti = (int)((linear >> 12) & 0x3FF);
        ok = mem.TryRead32(pt + (ulong)pti * 4, out uint pte);
        levels.Add(new PageWalkLevel("PTE", pt, pti, 4, pte, ok, ok && (pte & P) != 0));
        if (!ok) return Fail(linear, PagingMode.Legacy32, levels, $"the page table at 0x{pt:x} is not in guest RAM");
        if ((pte & P) == 0) return Fail(linear, PagingMode.Legacy32, levels, $"PTE {pti} is not present");
        return new PageWalk
        {
            Linear = linear, Mode = PagingMode.Legacy32, Levels = levels, Mapped = true, Physical = (pte & 0xFFFF_F000u) | (linear & 0xFFF),
            PageSize = 0x1000, Writable = (pde & pte & RW) != 0, User = (pde & pte & US) != 0,
        };
    }

    private static PageWalk Fail(ulong linear, PagingMode mode, List<PageWalkLevel> levels, string why, bool reserved = false) =>
        new() { Linear = linear, Mode = mode, Levels = levels, Failure = why, ReservedBit = reserved };

    /// <summary>
    /// Every present leaf mapping, in increasing linear order (for <c>info tlb</c> / <c>info mem</c>). Linear addresses
    /// in long mode are canonical (sign-extended).
    /// </summary>
    public static IEnumerable<PageMapping> EnumerateMappings(IPhysicalMemory mem, VcpuState s)
    {
        var mode = ModeOf(s);
        bool nxe = (s.Efer & VcpuState.EferNXE) != 0;
        switch (mode)
        {
            case PagingMode.None:
                yield break;
            case PagingMode.Legacy32:
            {
                ulong pd = s.Cr3 & 0xFFFF_F000;
                for (int i = 0; i < 1024; i++)
                {
                    if (!mem.TryRead32(pd + (ulong)i * 4, out uint pde) || (pde & P) == 0) continue;
                    ulong lin = (ulong)i << 22;
                    if ((pde & PS) != 0 && (s.Cr4 & VcpuState.Cr4PSE) != 0)
                    {
                        ulong frame = (pde & 0xFFC0_0000u) | ((ulong)((pde >> 13) & 0xF) << 32);
                        yield return new PageMapping(lin, frame, 0x40_0000, (pde & RW) != 0, (pde & US) != 0, false);
                        continue;
                    }
                    ulong pt = pde & 0xFFFF_F000;
                    for (int j = 0; j < 1024; j++)
                    {
                        if (!mem.TryRead32(pt + (ulong)j * 4, out uint pte) || (pte & P) == 0) continue;
                        yield return new PageMapping(lin | ((ulong)j << 12), pte & 0xFFFF_F000u, 0x1000,
                            (pde & pte & RW) != 0, (pde & pte & US) != 0, false);
                    }
                }
                yield break;
            }
            case PagingMode.Pae:
                for (int i = 0; i < 4; i++)
                {
                    if (!mem.TryRead64((s.Cr3 & 0xFFFF_FFE0) + (ulong)i * 8, out ulong pdpte) || (pdpte & P) == 0) continue;
                    foreach (var m in Enumerate64(mem, pdpte & AddressMask, 2, (ulong)i << 30, true, true, false, nxe, 2))
                        yield return m;
                }
                yield break;
            default:
            {
                int levels = mode == PagingMode.Level5 ? 5 : 4;
                foreach (var m in Enumerate64(mem, s.Cr3 & AddressMask, levels, 0, true, true, false, nxe, levels))
                {
                    int topBit = levels == 5 ? 56 : 47;
                    ulong lin = (m.Linear & (1UL << topBit)) != 0 ? m.Linear | ~((1UL << topBit) - 1) : m.Linear;
                    yield return m with { Linear = lin };
                }
                yield break;
            }
        }
    }

    private static IEnumerable<PageMapping> Enumerate64(IPhysicalMemory mem, ulong table, int level, ulong baseLinear,
        bool w, bool u, bool nx, bool nxe, int totalLevels)
    {
        int shift = 12 + 9 * (level - 1);
        for (int i = 0; i < 512; i++)
        {
            if (!mem.TryRead64(table + (ulong)i * 8, out ulong e) || (e & P) == 0) continue;
            if ((e & NX) != 0 && !nxe) continue;
            ulong lin = baseLinear | ((ulong)i << shift);
            bool ew = w && (e & RW) != 0, eu = u && (e & US) != 0, enx = nx || (e & NX) != 0;
            bool largeAllowed = level == 2 || (level == 3 && totalLevels >= 4);
            if (level == 1 || (largeAllowed && (e & PS) != 0))
            {
                ulong size = 1UL << shift;
                yield return new PageMapping(lin, e & AddressMask & ~(size - 1), size, ew, eu, enx);
                continue;
            }
            foreach (var m in Enumerate64(mem, e & AddressMask, level - 1, lin, ew, eu, enx, nxe, totalLevels))
                yield return m;
        }
    }

    /// <summary>
    /// Merges adjacent mappings with the same permissions whose physical addresses are contiguous too, so an identity
    /// map of 64 MiB becomes one line.
    /// </summary>
    public static List<PageMapping> Summarise(IEnumerable<PageMapping> mappings)
    {
        var result = new List<PageMapping>();
        foreach (var m in mappings)
        {
            if (result.Count > 0)
            {
                var last = result[^1];
                if (last.Linear + last.Size == m.Linear && last.Physical + last.Size == m.Physical &&
                    last.Writable == m.Writable && last.User == m.User && last.NoExecute == m.NoExecute)
                {
                    result[^1] = last with { Size = last.Size + m.Size };
                    continue;
                }
            }
            result.Add(m);
        }
        return result;
    }
}

/// <summary>A linear range mapped to a physical range with one set of permissions.</summary>
public readonly record struct PageMapping(ulong Linear, ulong Physical, ulong Size, bool Writable, bool User, bool NoExecute)
{
    public string Permissions => PageWalker.FormatPermissions(Writable, User, NoExecute);
}
