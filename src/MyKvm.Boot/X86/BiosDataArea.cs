using MyKvm.Core;

namespace MyKvm.Boot.X86;

/// <summary>
/// The words of the BIOS data area (segment 0x40) that kernels read to find conventional memory and the
/// EBDA (e.g. Linux reserve_bios_regions, MP floating pointer search, MP spec 1.4 §4): written as a BIOS would.
/// </summary>
internal static class BiosDataArea
{
    public const ulong EbdaSegmentWord = 0x40E;
    public const ulong BaseMemoryKiBWord = 0x413;

    public static void Write(GuestRam ram)
    {
        ram.Write16(EbdaSegmentWord, (ushort)(PcMemoryLayout.EbdaBase >> 4));            // 0x9FC0
        ram.Write16(BaseMemoryKiBWord, (ushort)(PcMemoryLayout.ConventionalEnd / 1024));   // 639 KiB
    }
}
