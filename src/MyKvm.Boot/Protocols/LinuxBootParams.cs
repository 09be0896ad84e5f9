using MyKvm.Boot.Images;
using MyKvm.Core;

namespace MyKvm.Boot.Protocols;

/// <summary>
/// The Linux zero page, <c>struct boot_params</c> (arch/x86/include/uapi/asm/bootparam.h; Documentation/arch/x86/
/// zero-page.rst and boot.rst): a copy of the image's setup header patched with what the loader decided, the E820
/// table and screen_info. Offsets are those of the structure.
/// </summary>
internal static class LinuxBootParams
{
    public const int Size = 4096;

    // struct boot_params
    public const int ScreenInfo = 0x000, ExtRamdiskImage = 0x0C0, ExtRamdiskSize = 0x0C4, ExtCmdLinePtr = 0x0C8, AltMemK = 0x1E0, E820Entries = 0x1E8, Sentinel = 0x1EF, Hdr = 0x1F1, E820Table = 0x2D0;
    public const int E820MaxEntries = 128, E820EntrySize = 20;

    // struct setup_header fields, as offsets in boot_params
    public const int VidMode = 0x1FA, TypeOfLoader = 0x210, LoadFlags = 0x211, Code32Start = 0x214, RamdiskImage = 0x218,
        RamdiskSize = 0x21C, HeapEndPtr = 0x224, CmdLinePtr = 0x228;

    // struct screen_info
    public const int OrigX = 0x00, OrigY = 0x01, ExtMemK = 0x02, OrigVideoPage = 0x04, OrigVideoMode = 0x06, OrigVideoCols = 0x07,
        OrigVideoEgaBx = 0x0A, OrigVideoLines = 0x0E, OrigVideoIsVga = 0x0F, OrigVideoPoints = 0x10;

    /// <summary>"Undefined" loader id: boot.rst asks loaders without an assigned id to write 0xFF.</summary>
    public const byte LoaderIdUndefined = 0xFF;
    /// <summary>vid_mode 0xFFFF: "normal" VGA, no mode change.</summary>
    public const ushort VidModeNormal = 0xFFFF;
    /// <summary>
    /// The setup heap ends at the top of the 64 KiB real-mode segment (heap_end_ptr is that minus 0x200).
    /// Nothing runs in real mode with the 32-bit entry, but kernels read the field.
    /// </summary>
    public const ushort HeapEnd = 0xFE00;

    public sealed record Inputs(
        BzImage Image,
        uint KernelAddress,
        uint CommandLineAddress,
        ulong InitrdAddress,
        ulong InitrdSize,
        IReadOnlyList<MemoryMapEntry> MemoryMap,
        bool VgaConsole);

    /// <summary>Builds the zero page in a buffer (so tests can look at it field by field).</summary>
    public static byte[] Build(Inputs p)
    {
        var zp = new byte[Size];
        var s = zp.AsSpan();
        var data = p.Image.Data;
        int hdrEnd = p.Image.SetupHeaderEnd;
        data.AsSpan(Hdr, hdrEnd - Hdr).CopyTo(s[Hdr..]);

        Put16(s, VidMode, VidModeNormal);
        s[TypeOfLoader] = LoaderIdUndefined;
        s[LoadFlags] = (byte)((data[LoadFlags] | BzImage.CanUseHeap) & ~BzImage.KeepSegments);
        Put32(s, Code32Start, p.KernelAddress);
        // An initrd above 4 GiB (XLF_CAN_BE_LOADED_ABOVE_4G) keeps its high halves in ext_ramdisk_image/size
        // (zero-page.rst); kernels without that flag never get one there.
        Put32(s, RamdiskImage, (uint)p.InitrdAddress);
        Put32(s, RamdiskSize, (uint)p.InitrdSize);
        Put32(s, ExtRamdiskImage, (uint)(p.InitrdAddress >> 32));
        Put32(s, ExtRamdiskSize, (uint)(p.InitrdSize >> 32));
        Put16(s, HeapEndPtr, HeapEnd - 0x200);
        Put32(s, CmdLinePtr, p.CommandLineAddress);

        // Memory above 1 MiB up to the first hole: alt_mem_k (32-bit) and the legacy 16-bit ext_mem_k
        // (INT 15h AH=88h caps it at 0xFC00 KiB, 63 MiB).
        ulong upperKiB = p.MemoryMap.Where(e => e.Type == MemoryType.Usable && e.Base == PcMemoryLayout.HighMemoryStart)
            .Select(e => e.Length / 1024).FirstOrDefault();
        Put32(s, AltMemK, (uint)Math.Min(upperKiB, uint.MaxValue));

        // ext_mem_k lives in screen_info but is memory, not display: set with or without a console.
        Put16(s, ScreenInfo + ExtMemK, (ushort)Math.Min(upperKiB, 0xFC00));
        if (p.VgaConsole)
        {
            // 80x25 colour text, mode 3, cursor at the top left, 16-line font; ega_bx low byte != 0x10 means
            // EGA/VGA present (INT 10h AH=12h BL=10h), as the real-mode setup would record it.
            s[ScreenInfo + OrigVideoMode] = 3;
            s[ScreenInfo + OrigVideoCols] = 80;
            s[ScreenInfo + OrigVideoLines] = 25;
            s[ScreenInfo + OrigVideoIsVga] = 1;
            Put16(s, ScreenInfo + OrigVideoEgaBx, 0x0003);
            Put16(s, ScreenInfo + OrigVideoPoints, 16);
        }

        int n = Math.Min(p.MemoryMap.Count, E820MaxEntries);
        s[E820Entries] = (byte)n;
        for (int i = 0; i < n; i++)
        {
            var e = s.Slice(E820Table + i * E820EntrySize, E820EntrySize);
            Put64(e, 0, p.MemoryMap[i].Base);
            Put64(e, 8, p.MemoryMap[i].Length);
            Put32(e, 16, (uint)p.MemoryMap[i].Type);
        }
        return zp;
    }

    private static void Put16(Span<byte> s, int o, ushort v) => System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(s[o..], v);
    private static void Put32(Span<byte> s, int o, uint v) => System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(s[o..], v);
    private static void Put64(Span<byte> s, int o, ulong v) => System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(s[o..], v);
}
