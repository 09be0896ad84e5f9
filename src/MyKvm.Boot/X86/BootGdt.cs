using MyKvm.Core;

namespace MyKvm.Boot.X86;

/// <summary>Which selectors the flat boot segments use.</summary>
internal enum GdtLayout
{
    /// <summary>CS 0x08, DS 0x10: what GRUB leaves and what Multiboot kernels such as xv6 reload.</summary>
    Multiboot,
    /// <summary>CS __BOOT_CS 0x10, DS __BOOT_DS 0x18 (Linux boot.rst, "32-bit Boot Protocol").</summary>
    Linux,
}

/// <summary>
/// The flat 4 GiB boot GDT in the page at <see cref="PcMemoryLayout.BootGdtBase"/>. The two selector layouts
/// conflict at 0x10 (Multiboot data, Linux code), so the page holds both tables and GDTR points at the one the
/// protocol needs: the Multiboot table at the page start (null, 0x08 code, 0x10 data, 0x18 code, 0x20 data), the
/// Linux table at +0x40 (null, unused, 0x10 code, 0x18 data). Descriptors are written with the accessed bit set,
/// so a CPU reloading them need not write the GDT (Intel SDM Vol. 3A §3.4.5).
/// </summary>
internal static class BootGdt
{
    public const ushort MultibootCode = 0x08, MultibootData = 0x10;
    public const ushort LinuxCode = 0x10, LinuxData = 0x18;
    public const ulong MultibootTable = PcMemoryLayout.BootGdtBase;
    public const ulong LinuxTable = PcMemoryLayout.BootGdtBase + 0x40;

    /// <summary>A small stack for kernels that push before setting their own: free conventional memory below the GDT page.</summary>
    public const uint BootStackTop = (uint)PcMemoryLayout.BootGdtBase;

    // base 0, limit 0xFFFFF with G=1, D/B=1, P=1, DPL 0, S=1; type 0xB (code, exec/read, accessed) or 0x3 (data, r/w, accessed).
    public const ulong FlatCode32Descriptor = 0x00CF_9B00_0000_FFFF;
    public const ulong FlatData32Descriptor = 0x00CF_9300_0000_FFFF;

    /// <summary>Writes both tables.</summary>
    public static void Write(GuestRam ram)
    {
        ram.Fill(PcMemoryLayout.BootGdtBase, 0x80, 0);
        ram.Write64(MultibootTable + 0x08, FlatCode32Descriptor);
        ram.Write64(MultibootTable + 0x10, FlatData32Descriptor);
        ram.Write64(MultibootTable + 0x18, FlatCode32Descriptor);
        ram.Write64(MultibootTable + 0x20, FlatData32Descriptor);
        ram.Write64(LinuxTable + 0x10, FlatCode32Descriptor);
        ram.Write64(LinuxTable + 0x18, FlatData32Descriptor);
    }

    /// <summary>
    /// Writes the GDT and returns flat 32-bit protected mode, paging off, IF=0, at <paramref name="entry"/>,
    /// ESP = <see cref="BootStackTop"/>.
    /// </summary>
    public static VcpuState Flat32(GuestRam ram, GdtLayout layout, uint entry)
    {
        Write(ram);
        var state = layout == GdtLayout.Multiboot
            ? VcpuState.Flat32(entry, MultibootCode, MultibootData, MultibootTable, 0x27)
            : VcpuState.Flat32(entry, LinuxCode, LinuxData, LinuxTable, 0x1F);
        state.Rsp = BootStackTop;
        return state;
    }
}
