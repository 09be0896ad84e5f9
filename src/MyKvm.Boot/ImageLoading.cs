using MyKvm.Boot.Images;
using MyKvm.Core;

namespace MyKvm.Boot;

/// <summary>Where a kernel image ended up in guest-physical memory.</summary>
internal readonly record struct LoadedImage(ulong Low, ulong High)
{
    public ulong Size => High - Low;
    public bool Contains(ulong address) => address >= Low && address < High;
}

/// <summary>Copies parsed images into guest RAM: file bytes, then zeroes for bss.</summary>
internal static class ImageLoading
{
    /// <summary>
    /// Loads every PT_LOAD segment of <paramref name="elf"/> at <paramref name="physicalOf"/>(segment) and zeroes
    /// its bss (p_memsz beyond p_filesz). All segments are claimed before anything is written.
    /// </summary>
    public static LoadedImage LoadElf(GuestPlacement placement, string path, ReadOnlySpan<byte> file, ElfImage elf,
        Func<ElfSegment, ulong> physicalOf)
    {
        var segments = elf.LoadSegments.ToList();
        ulong low = ulong.MaxValue, high = 0;
        foreach (var s in segments)
        {
            ulong pa = physicalOf(s);
            placement.Claim(pa, s.MemorySize, $"ELF segment {s.Index}", path);
            low = Math.Min(low, pa);
            high = Math.Max(high, pa + s.MemorySize);
        }
        var ram = placement.Ram;
        foreach (var s in segments)
        {
            ulong pa = physicalOf(s);
            if (s.FileSize != 0)
                ram.Write(pa, file.Slice((int)s.Offset, (int)s.FileSize));
            ZeroFill(ram, pa + s.FileSize, s.MemorySize - s.FileSize);
        }
        return new LoadedImage(low, high);
    }

    /// <summary>Copies <paramref name="bytes"/> to <paramref name="address"/> (already claimed) and zeroes <paramref name="zeroTail"/> bytes after it.</summary>
    public static void LoadRaw(GuestRam ram, ulong address, ReadOnlySpan<byte> bytes, ulong zeroTail = 0)
    {
        ram.Write(address, bytes);
        ZeroFill(ram, address + (ulong)bytes.Length, zeroTail);
    }

    public static void ZeroFill(GuestRam ram, ulong address, ulong length)
    {
        while (length > 0)
        {
            int chunk = (int)Math.Min(length, 1 << 30);
            ram.Fill(address, chunk, 0);
            address += (ulong)chunk;
            length -= (ulong)chunk;
        }
    }
}
