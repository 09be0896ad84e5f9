using MyKvm.Boot.Images;
using MyKvm.Core;

namespace MyKvm.Boot;

/// <summary>
/// The loaders' front door: reads the kernel, picks the protocol and hands over to the loader for it.
/// <see cref="BootProtocol.Auto"/> chooses, in this order: a bzImage header ("HdrS" at 0x202) → Linux; an ELF32
/// whose loadable segments are all linked at or above 0xC0000000 and no Multiboot header of either version → stos;
/// a Multiboot 2 header in the first 32 KiB → Multiboot 2, even if there is a Multiboot 1 header too (the newer
/// protocol tells the kernel more; <c>--boot multiboot</c> takes the old one, as QEMU would); a Multiboot 1 header
/// in the first 8 KiB → Multiboot; any other ELF → plain ELF (entered like Multiboot, EAX = 0).
/// </summary>
public static class KernelLoader
{
    public static BootResult Load(GuestRam ram, BootRequest request)
    {
        ArgumentNullException.ThrowIfNull(ram);
        ArgumentNullException.ThrowIfNull(request);
        string path = request.KernelPath;
        byte[] file = BootFiles.ReadAll(path, "kernel");
        try
        {
            return Dispatch(ram, request, file);
        }
        catch (GuestMemoryException e)
        {
            // The placement checks make this unreachable; if one slips through it is still one line, not a crash.
            throw new BootException($"{path}: boot data does not fit in guest RAM ({BootFiles.OneLine(e.Message)})", e);
        }
    }

    private static BootResult Dispatch(GuestRam ram, BootRequest request, byte[] file)
    {
        string path = request.KernelPath;
        switch (request.Protocol)
        {
            case BootProtocol.Linux:
                return LinuxLoader.Load(ram, request, file, "--boot linux");
            case BootProtocol.Stos:
                return StosLoader.Load(ram, request, file, "--boot stos");
            case BootProtocol.Elf:
                if (!ElfImage.HasElfMagic(file))
                    throw new BootException($"{path}: not an ELF file");
                return MultibootLoader.LoadPlainElf(ram, request, file, "--boot elf");
            case BootProtocol.Multiboot:
            {
                var header = MultibootHeader.Find(path, file)
                    ?? throw new BootException($"{path}: no Multiboot header in the first 8 KiB");
                return MultibootLoader.LoadMultiboot(ram, request, file, header, "--boot multiboot");
            }
            case BootProtocol.Multiboot2:
            {
                var header = Multiboot2Header.Find(path, file)
                    ?? throw new BootException($"{path}: no Multiboot 2 header in the first 32 KiB");
                return Multiboot2Loader.Load(ram, request, file, header, "--boot multiboot2");
            }
            case BootProtocol.Auto:
                break;
            default:
                throw new BootException($"{path}: unknown boot protocol {request.Protocol}");
        }

        if (BzImage.HasSignature(file))
            return LinuxLoader.Load(ram, request, file, "auto: bzImage header \"HdrS\" at 0x202");

        bool isElf = ElfImage.HasElfMagic(file);
        var mb2 = Multiboot2Header.Find(path, file);
        if (mb2 is not null)
        {
            string also = HasValidMultiboot1Header(path, file) ? " (a Multiboot 1 header too; --boot multiboot takes that)" : "";
            return Multiboot2Loader.Load(ram, request, file, mb2, $"auto: Multiboot 2 header at file offset 0x{mb2.FileOffset:x}{also}");
        }
        var mb = MultibootHeader.Find(path, file);
        if (isElf && mb is null)
        {
            var elf = ElfImage.Parse(path, file);
            if (StosLoader.IsLinkedHigh(elf))
                return StosLoader.Load(ram, request, file, "auto: ELF32 linked at 0xC0000000 or above, no Multiboot header");
            return MultibootLoader.LoadPlainElf(ram, request, file, $"auto: {elf.ClassName} without a Multiboot header");
        }
        if (mb is not null)
            return MultibootLoader.LoadMultiboot(ram, request, file, mb, $"auto: Multiboot header at file offset 0x{mb.FileOffset:x}");
        throw new BootException($"{path}: not a kernel mykvm can boot: no bzImage header, not an ELF file, and no Multiboot header (1: first 8 KiB, 2: first 32 KiB)");
    }

    private static bool HasValidMultiboot1Header(string path, byte[] file)
    {
        try
        {
            return MultibootHeader.Find(path, file) is not null;
        }
        catch (BootException)
        {
            return false;
        }
    }
}
