namespace MyKvm.Kvm.Interop;

/// <summary>
/// The Linux ioctl request encoding (include/uapi/asm-generic/ioctl.h, which x86 uses):
/// bits 0–7 number, 8–15 type, 16–29 argument size, 30–31 direction.
/// </summary>
internal static class Ioctl
{
    public const int NrBits = 8, TypeBits = 8, SizeBits = 14;
    public const int NrShift = 0, TypeShift = NrShift + NrBits, SizeShift = TypeShift + TypeBits, DirShift = SizeShift + SizeBits;
    public const uint DirNone = 0, DirWrite = 1, DirRead = 2;

    public static uint Make(uint dir, uint type, uint nr, uint size)
    {
        if (size >= 1u << SizeBits) throw new ArgumentOutOfRangeException(nameof(size));
        return (dir << DirShift) | (type << TypeShift) | (nr << NrShift) | (size << SizeShift);
    }

    public static uint IO(uint type, uint nr) => Make(DirNone, type, nr, 0);
    public static uint IOR(uint type, uint nr, int size) => Make(DirRead, type, nr, (uint)size);
    public static uint IOW(uint type, uint nr, int size) => Make(DirWrite, type, nr, (uint)size);
    public static uint IOWR(uint type, uint nr, int size) => Make(DirRead | DirWrite, type, nr, (uint)size);
}
