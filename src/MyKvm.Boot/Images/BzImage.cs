using System.Buffers.Binary;

namespace MyKvm.Boot.Images;

/// <summary>
/// A Linux bzImage: the real-mode setup (boot sector + setup_sects sectors) whose setup header starts at 0x1F1,
/// followed by the protected-mode kernel (Documentation/arch/x86/boot.rst, "The Real-Mode Kernel Header").
/// Parsing only; the zero page is written by <c>Protocols.LinuxBootParams</c>.
/// </summary>
internal sealed class BzImage
{
    public const int HeaderOffset = 0x1F1;
    public const int SignatureOffset = 0x202;
    public const uint HdrS = 0x53726448;   // "HdrS"
    public const ushort MinimumVersion = 0x0206;
    /// <summary>boot_params.hdr ends before edd_mbr_sig_buffer at 0x290.</summary>
    public const int SetupHeaderLimit = 0x290;

    public const byte LoadedHigh = 0x01, KeepSegments = 0x40, CanUseHeap = 0x80;
    /// <summary>xloadflags (protocol 2.12+): the kernel has the 64-bit entry at +0x200; it may be placed above 4 GiB.</summary>
    public const ushort XlfKernel64 = 0x01, XlfCanBeLoadedAbove4G = 0x02;
    /// <summary>Offset of startup_64 from the load address (boot.rst, "64-bit Boot Protocol").</summary>
    public const uint Entry64Offset = 0x200;

    private BzImage(byte[] data) => Data = data;

    public byte[] Data { get; }
    public byte SetupSects { get; private init; }
    public uint SysSize { get; private init; }
    public ushort Version { get; private init; }
    public byte LoadFlags { get; private init; }
    public uint Code32Start { get; private init; }
    public uint InitrdAddrMax { get; private init; }
    public uint KernelAlignment { get; private init; }
    public bool Relocatable { get; private init; }
    public byte MinAlignment { get; private init; }
    public ushort XLoadFlags { get; private init; }
    public uint CmdlineSize { get; private init; }
    public ulong PrefAddress { get; private init; }
    public uint InitSize { get; private init; }

    /// <summary>Bytes of real-mode code (boot sector + setup), where the protected-mode kernel begins in the file.</summary>
    public int SetupSize => (SetupSects + 1) * 512;
    /// <summary>The protected-mode kernel: everything after the setup.</summary>
    public ReadOnlySpan<byte> ProtectedModeKernel => Data.AsSpan(SetupSize);
    /// <summary>End of the setup header in the file: 0x202 plus the jump offset in the byte at 0x201.</summary>
    public int SetupHeaderEnd => Math.Min(Math.Min(SignatureOffset + Data[0x201], SetupHeaderLimit), Data.Length);
    public bool HasEntry64 => (XLoadFlags & XlfKernel64) != 0;
    public bool CanBeLoadedAbove4G => (XLoadFlags & XlfCanBeLoadedAbove4G) != 0;
    public string VersionText => $"{Version >> 8}.{Version & 0xFF:d2}";

    public static bool HasSignature(ReadOnlySpan<byte> data) =>
        data.Length >= SignatureOffset + 4 && BinaryPrimitives.ReadUInt32LittleEndian(data[SignatureOffset..]) == HdrS;

    public static BzImage Parse(string path, byte[] data)
    {
        if (!HasSignature(data))
            throw new BootException($"{path}: not a bzImage (no \"HdrS\" signature at 0x{SignatureOffset:x})");
        if (data.Length < 0x268)
            throw new BootException($"{path}: truncated setup: the file ends at 0x{data.Length:x}, inside the setup header");
        ushort version = U16(data, 0x206);
        if (version < MinimumVersion)
            throw new BootException($"{path}: Linux boot protocol {version >> 8}.{version & 0xFF:d2} is too old (mykvm needs 2.06 or later)");
        byte setupSects = data[0x1F1];
        if (setupSects == 0) setupSects = 4;   // boot.rst: "If this field is 0, the real value is 4."
        var image = new BzImage(data)
        {
            SetupSects = setupSects,
            SysSize = U32(data, 0x1F4),
            Version = version,
            LoadFlags = data[0x211],
            Code32Start = U32(data, 0x214),
            InitrdAddrMax = U32(data, 0x22C),
            KernelAlignment = U32(data, 0x230),
            Relocatable = data[0x234] != 0,
            MinAlignment = data[0x235],
            // Before 2.12 the two bytes were "reserved" and need not be zero.
            XLoadFlags = version >= 0x020C ? U16(data, 0x236) : (ushort)0,
            CmdlineSize = U32(data, 0x238),
            PrefAddress = version >= 0x020A ? U64(data, 0x258) : 0,
            InitSize = version >= 0x020A ? U32(data, 0x260) : 0,
        };
        if (data.Length < image.SetupSize)
            throw new BootException($"{path}: truncated setup: setup_sects says {setupSects} sectors (0x{image.SetupSize:x} bytes with the boot sector) but the file has 0x{data.Length:x} bytes");
        if ((image.LoadFlags & LoadedHigh) == 0)
            throw new BootException($"{path}: zImage (loadflags LOADED_HIGH clear) is not supported, only bzImage");
        ulong declared = (ulong)image.SysSize * 16;
        int present = data.Length - image.SetupSize;
        if (present == 0)
            throw new BootException($"{path}: truncated: no protected-mode kernel after the 0x{image.SetupSize:x}-byte setup");
        // syssize counts 16-byte paragraphs rounded up, so the last one may be short (memtest86+ 6.10's is).
        if (declared > (ulong)present + 15)
            throw new BootException($"{path}: truncated: syssize says the protected-mode kernel is 0x{declared:x} bytes but only 0x{present:x} follow the setup");
        return image;
    }

    private static ushort U16(ReadOnlySpan<byte> d, int o) => BinaryPrimitives.ReadUInt16LittleEndian(d[o..]);
    private static uint U32(ReadOnlySpan<byte> d, int o) => BinaryPrimitives.ReadUInt32LittleEndian(d[o..]);
    private static ulong U64(ReadOnlySpan<byte> d, int o) => BinaryPrimitives.ReadUInt64LittleEndian(d[o..]);
}
