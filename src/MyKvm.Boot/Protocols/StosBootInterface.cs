using System.Text;
using MyKvm.Core;

namespace MyKvm.Boot.Protocols;

/// <summary>Where the stos boot data went (physical addresses).</summary>
internal sealed record StosBootData(ulong BootInterface, ulong Modules, ulong ModuleArray, ulong CommandLine,
    ulong Initramfs, IReadOnlyList<ulong> ModuleCopies, ulong Segments, ulong End);

/// <summary>
/// The stos boot structures (issue #5), all pointers 32-bit kernel virtual addresses (physical + 0xC0000000):
/// <code>
/// struct boot_interface { boot_segments *segs; boot_modules *mods; void *archdata; void *first_useable_addr;
///                         char *commandline; void *initramfs; };                       // 24 bytes
/// struct boot_segments  { u32 seg_nb; struct address_range segments[]; };
/// struct address_range  { u64 base_addr; u64 length; u32 type; };                     // 20 bytes, packed
/// struct boot_modules   { u32 mod_nb; Elf32_Ehdr **modules; };
/// </code>
/// A bump allocator from the kernel's physical end places, in order: boot_interface, boot_modules, the module
/// pointer array, the command line, the initramfs, each module, boot_segments; first_useable_addr is the end.
/// Alignment (our choice, the protocol text does not fix it): structures and the command line on 4 bytes; the
/// initramfs and each module on a page, so a kernel can map them in place. archdata is NULL on x86; initramfs is
/// NULL without one; with no modules, modules points at the (empty) array.
/// </summary>
internal static class StosBootInterface
{
    public const uint KernelBase = 0xC000_0000;
    public const int BootInterfaceSize = 24, BootModulesSize = 8, AddressRangeSize = 20;

    /// <summary>Lays the boot data out from <paramref name="start"/> without writing anything.</summary>
    public static StosBootData Layout(ulong start, int commandLineBytes, int? initramfsBytes, IReadOnlyList<int> moduleBytes, int segmentCount)
    {
        ulong p = Align(start, 4);
        ulong bi = p; p += BootInterfaceSize;
        ulong mods = p; p += BootModulesSize;
        ulong array = p; p += 4UL * (ulong)moduleBytes.Count;
        ulong cmdline = p; p += (ulong)commandLineBytes;
        ulong initramfs = 0;
        if (initramfsBytes is { } n)
        {
            initramfs = Align(p, 4096);
            p = initramfs + (ulong)n;
        }
        var copies = new List<ulong>();
        foreach (int len in moduleBytes)
        {
            ulong at = Align(p, 4096);
            copies.Add(at);
            p = at + (ulong)len;
        }
        ulong segs = Align(p, 4);
        p = segs + 4 + (ulong)segmentCount * AddressRangeSize;
        return new StosBootData(bi, mods, array, cmdline, initramfs, copies, segs, p);
    }

    /// <summary>Writes the structures at the addresses of <paramref name="layout"/> (already claimed).</summary>
    public static void Write(GuestRam ram, StosBootData layout, byte[] commandLine, byte[]? initramfs,
        IReadOnlyList<byte[]> modules, IReadOnlyList<MemoryMapEntry> segments)
    {
        ImageLoading.ZeroFill(ram, layout.BootInterface, layout.End - layout.BootInterface);
        ulong bi = layout.BootInterface;
        ram.Write32(bi + 0, Virt(layout.Segments));
        ram.Write32(bi + 4, Virt(layout.Modules));
        ram.Write32(bi + 8, 0);
        ram.Write32(bi + 12, Virt(layout.End));
        ram.Write32(bi + 16, Virt(layout.CommandLine));
        ram.Write32(bi + 20, initramfs is null ? 0 : Virt(layout.Initramfs));

        ram.Write32(layout.Modules, (uint)modules.Count);
        ram.Write32(layout.Modules + 4, Virt(layout.ModuleArray));
        for (int i = 0; i < modules.Count; i++)
        {
            ram.Write32(layout.ModuleArray + 4 * (ulong)i, Virt(layout.ModuleCopies[i]));
            ram.Write(layout.ModuleCopies[i], modules[i]);
        }
        ram.Write(layout.CommandLine, commandLine);
        if (initramfs is not null) ram.Write(layout.Initramfs, initramfs);

        ram.Write32(layout.Segments, (uint)segments.Count);
        for (int i = 0; i < segments.Count; i++)
        {
            ulong e = layout.Segments + 4 + (ulong)(i * AddressRangeSize);
            ram.Write64(e, segments[i].Base);
            ram.Write64(e + 8, segments[i].Length);
            ram.Write32(e + 16, (uint)segments[i].Type);
        }
    }

    public static byte[] EncodeCommandLine(string s) => Encoding.UTF8.GetBytes(s + "\0");

    public static uint Virt(ulong physical) => (uint)(physical + KernelBase);

    private static ulong Align(ulong v, ulong a) => (v + a - 1) / a * a;
}
