using MyKvm.Core;

namespace MyKvm.Boot.X86;

/// <summary>Which selectors the flat boot segments use.</summary>
internal enum GdtLayout
{
    /// <summary>CS 0x08, DS 0x10: what GRUB leaves and what Multiboot kernels such as xv6 reload.</summary>
    Multiboot,
    /// <summary>CS __BOOT_CS 0x10, DS __BOOT_DS 0x18 (Linux boot.rst, "32-bit Boot Protocol").</summary>
    Linux,
    /// <summary>__BOOT_CS 0x10 a 64-bit code segment (L=1), __BOOT_DS 0x18 (boot.rst, "64-bit Boot Protocol").</summary>
    Linux64,
}

/// <summary>
/// The flat 4 GiB boot GDT in the page at <see cref="PcMemoryLayout.BootGdtBase"/>. The two selector layouts
/// conflict at 0x10 (Multiboot data, Linux code), so the page holds both tables and GDTR points at the one the
/// protocol needs: the Multiboot table at the page start (null, 0x08 code, 0x10 data, 0x18 code, 0x20 data), the
/// Linux table at +0x40 (null, unused, 0x10 code, 0x18 data), the 64-bit Linux table at +0x80 (null, unused, 0x10
/// 64-bit code, 0x18 data). Descriptors are written with the accessed bit set,
/// so a CPU reloading them need not write the GDT (Intel SDM Vol. 3A §3.4.5).
/// </summary>
internal static class BootGdt
{
    public const ushort MultibootCode = 0x08, MultibootData = 0x10;
    public const ushort LinuxCode = 0x10, LinuxData = 0x18;
    public const ulong MultibootTable = PcMemoryLayout.BootGdtBase;
    public const ulong LinuxTable = PcMemoryLayout.BootGdtBase + 0x40;
    public const ulong Linux64Table = PcMemoryLayout.BootGdtBase + 0x80;
    /// <summary>Each table is four descriptors.</summary>
    public const ushort TableLimit = 0x1F;

    /// <summary>A small stack for kernels that push before setting their own: free conventional memory below the GDT page.</summary>
    public const uint BootStackTop = (uint)PcMemoryLayout.BootGdtBase;

    // base 0, limit 0xFFFFF with G=1, D/B=1, P=1, DPL 0, S=1; type 0xB (code, exec/read, accessed) or 0x3 (data, r/w, accessed).
    public const ulong FlatCode32Descriptor = 0x00CF_9B00_0000_FFFF;
    public const ulong FlatData32Descriptor = 0x00CF_9300_0000_FFFF;
    // As the code descriptor but L=1, D=0 (a 64-bit code segment, SDM Vol. 3A §5.2.1).
    public const ulong Code64Descriptor = 0x00AF_9B00_0000_FFFF;

    /// <summary>Writes both tables.</summary>
    public static void Write(GuestRam ram)
    {
        ram.Fill(PcMemoryLayout.BootGdtBase, 0xA0, 0);
        ram.Write64(MultibootTable + 0x08, FlatCode32Descriptor);
        ram.Write64(MultibootTable + 0x10, FlatData32Descriptor);
        ram.Write64(MultibootTable + 0x18, FlatCode32Descriptor);
        ram.Write64(MultibootTable + 0x20, FlatData32Descriptor);
        ram.Write64(LinuxTable + 0x10, FlatCode32Descriptor);
        ram.Write64(LinuxTable + 0x18, FlatData32Descriptor);
        ram.Write64(Linux64Table + 0x10, Code64Descriptor);
        ram.Write64(Linux64Table + 0x18, FlatData32Descriptor);
    }

    /// <summary>
    /// Writes the GDT and returns flat 32-bit protected mode, paging off, IF=0, at <paramref name="entry"/>,
    /// ESP = <see cref="BootStackTop"/>.
    /// </summary>
    public static VcpuState Flat32(GuestRam ram, GdtLayout layout, uint entry)
    {
        if (layout == GdtLayout.Linux64) throw new ArgumentException("the 64-bit table is for Long64", nameof(layout));
        Write(ram);
        var state = layout == GdtLayout.Multiboot
            ? VcpuState.Flat32(entry, MultibootCode, MultibootData, MultibootTable, 0x27)
            : VcpuState.Flat32(entry, LinuxCode, LinuxData, LinuxTable, TableLimit);
        state.Rsp = BootStackTop;
        return state;
    }

    /// <summary>
    /// Writes the GDT and returns 64-bit long mode at <paramref name="entry"/>: CR0.PE|PG, CR4.PAE, EFER.LME|LMA,
    /// CR3 = <paramref name="pml4"/>, CS = __BOOT_CS (L=1), DS..SS = __BOOT_DS (flat; bases ignored in 64-bit
    /// mode), IF=0, RSP = <see cref="BootStackTop"/> (SDM Vol. 3A §9.8.5 is the sequence a loader would run).
    /// </summary>
    public static VcpuState Long64(GuestRam ram, ulong entry, ulong pml4)
    {
        Write(ram);
        var state = VcpuState.Flat32(0, LinuxCode, LinuxData, Linux64Table, TableLimit);
        state.Cs = SegmentState.Code64(LinuxCode);
        state.Rip = entry;
        state.Cr0 |= VcpuState.Cr0PG;
        state.Cr3 = pml4;
        state.Cr4 = VcpuState.Cr4PAE;
        state.Efer = VcpuState.EferLME | VcpuState.EferLMA;
        state.Rsp = BootStackTop;
        return state;
    }
}
