using System.Text;
using MyKvm.Core;

namespace MyKvm.Boot.Protocols;

/// <summary>A module as the Multiboot info lists it: [Start, End) and its string.</summary>
internal readonly record struct MultibootModule(ulong Start, ulong End, string String);

/// <summary>
/// Writes the Multiboot 1 information structure (Multiboot Specification 0.6.96 §3.3) and everything it
/// points to into the low boot data area [<see cref="PcMemoryLayout.LowBootDataBase"/>, EBDA).
/// </summary>
internal static class MultibootInfo
{
    public const uint FlagMemory = 1 << 0;
    public const uint FlagBootDevice = 1 << 1;
    public const uint FlagCmdline = 1 << 2;
    public const uint FlagMods = 1 << 3;
    public const uint FlagElfSections = 1 << 5;
    public const uint FlagMmap = 1 << 6;
    public const uint FlagLoaderName = 1 << 9;

    // Field offsets (§3.3, "Boot information format").
    public const int Flags = 0, MemLower = 4, MemUpper = 8, BootDevice = 12, Cmdline = 16, ModsCount = 20, ModsAddr = 24,
        ElfNum = 28, ElfSize = 32, ElfAddr = 36, ElfShndx = 40, MmapLength = 44, MmapAddr = 48, BootLoaderName = 64;
    /// <summary>The structure up to and including the framebuffer fields (116 bytes), rounded up.</summary>
    public const int Size = 120;
    public const int ModuleEntrySize = 16;
    /// <summary>Each mmap entry is a 4-byte size (20) followed by base_addr, length and type.</summary>
    public const int MmapEntrySize = 24;

    /// <summary>
    /// Writes the info structure; returns its guest-physical address (EBX at entry). With <paramref name="sections"/>
    /// (an ELF kernel) the section header table is copied too and flag 5 set (§3.3: num, size, addr, shndx).
    /// </summary>
    public static uint Write(GuestPlacement placement, string file, IReadOnlyList<MemoryMapEntry> map, string commandLine,
        IReadOnlyList<MultibootModule> modules, string loaderName, LoadedElfSections? sections = null, ulong highFrom = PcMemoryLayout.HighMemoryStart)
    {
        var ram = placement.Ram;
        ulong Alloc(int length, ulong align, string what) =>
            placement.Allocate((ulong)length, align, PcMemoryLayout.LowBootDataBase, PcMemoryLayout.ConventionalEnd, what, file);

        ulong info = Alloc(Size, 8, "the Multiboot info structure");
        ram.Fill(info, Size, 0);
        uint flags = FlagMemory | FlagCmdline | FlagMods | FlagMmap | FlagLoaderName;

        // mem_lower: KiB from 0 (at most 640); mem_upper: KiB from 1 MiB to the first hole (§3.3).
        ulong upper = map.Where(e => e.Type == MemoryType.Usable && e.Base == PcMemoryLayout.HighMemoryStart)
            .Select(e => e.Length).FirstOrDefault();
        ram.Write32(info + MemLower, (uint)(PcMemoryLayout.ConventionalEnd / 1024));
        ram.Write32(info + MemUpper, (uint)Math.Min(upper / 1024, uint.MaxValue));

        ram.Write32(info + Cmdline, WriteString(commandLine, "the kernel command line"));

        ulong mods = Alloc(Math.Max(1, modules.Count) * ModuleEntrySize, 4, "the Multiboot module list");
        for (int i = 0; i < modules.Count; i++)
        {
            ulong e = mods + (ulong)(i * ModuleEntrySize);
            ram.Write32(e + 0, (uint)modules[i].Start);
            ram.Write32(e + 4, (uint)modules[i].End);
            ram.Write32(e + 8, WriteString(modules[i].String, $"the string of module {i}"));
            ram.Write32(e + 12, 0);
        }
        ram.Write32(info + ModsCount, (uint)modules.Count);
        ram.Write32(info + ModsAddr, (uint)mods);

        int mmapLength = map.Count * MmapEntrySize;
        ulong mmap = Alloc(mmapLength, 4, "the Multiboot memory map");
        for (int i = 0; i < map.Count; i++)
        {
            ulong e = mmap + (ulong)(i * MmapEntrySize);
            ram.Write32(e, MmapEntrySize - 4);
            ram.Write64(e + 4, map[i].Base);
            ram.Write64(e + 12, map[i].Length);
            ram.Write32(e + 20, (uint)map[i].Type);
        }
        ram.Write32(info + MmapLength, (uint)mmapLength);
        ram.Write32(info + MmapAddr, (uint)mmap);

        ram.Write32(info + BootLoaderName, WriteString(loaderName, "the boot loader name"));

        if (sections is not null)
        {
            // Usually a few KiB; a kernel with very many sections gets its table above the modules instead.
            ulong length = (ulong)sections.Headers.Length;
            ulong table = placement.TryAllocate(length, 4, PcMemoryLayout.LowBootDataBase, PcMemoryLayout.ConventionalEnd, "the ELF section headers")
                ?? placement.TryAllocate(length, 4, highFrom, Math.Min(ram.LowSize, GuestRam.FourGiB), "the ELF section headers")
                ?? throw new BootException($"{file}: no room for the ELF section header table ({length} bytes) in guest RAM below 4 GiB");
            ram.Write(table, sections.Headers);
            ram.Write32(info + ElfNum, sections.Count);
            ram.Write32(info + ElfSize, sections.EntrySize);
            ram.Write32(info + ElfAddr, (uint)table);
            ram.Write32(info + ElfShndx, sections.NameIndex);
            flags |= FlagElfSections;
        }
        ram.Write32(info + Flags, flags);
        return (uint)info;

        uint WriteString(string s, string what)
        {
            byte[] bytes = Encoding.UTF8.GetBytes(s + "\0");
            ulong at = Alloc(bytes.Length, 1, what);
            ram.Write(at, bytes);
            return (uint)at;
        }
    }
}
