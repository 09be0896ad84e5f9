using MyKvm.Boot;
using MyKvm.Boot.Bios;
using MyKvm.Core;

namespace MyKvm.Tests.Bios;

/// <summary>The BIOS boot entry: image checks, the copy below 1 MiB and the reset state.</summary>
public sealed class BiosImageTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mykvm-bios-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static byte[] Image(int size)
    {
        var b = new byte[size];
        for (int i = 0; i < size; i++) b[i] = (byte)(i ^ (i >> 9));
        b[size - 16] = 0xEA;   // jmp far f000:e05b, as SeaBIOS
        return b;
    }

    [Theory]
    [InlineData(0, "must be a non-empty multiple of 64 KiB")]
    [InlineData(100_000, "must be a non-empty multiple of 64 KiB")]
    [InlineData((16 << 20) + (64 << 10), "larger than the 16 MiB")]
    public void BadSizesAreRefusedNamingTheFile(int size, string message)
    {
        var e = Assert.Throws<BootException>(() => BiosImage.FromBytes(new byte[size], "my.bin"));
        Assert.StartsWith("my.bin: ", e.Message);
        Assert.Contains(message, e.Message);
    }

    [Theory]
    [InlineData(0x00)]
    [InlineData(0xFF)]
    public void AnEmptyResetVectorIsRefused(byte fill)
    {
        var b = new byte[64 << 10];
        Array.Fill(b, fill);
        var e = Assert.Throws<BootException>(() => BiosImage.FromBytes(b, "blank.bin"));
        Assert.Contains("no code at the reset vector", e.Message);
    }

    [Fact]
    public void MissingFileIsOneLine()
    {
        string path = Path.Combine(_dir, "nope.bin");
        var e = Assert.Throws<BootException>(() => BiosImage.Load(path));
        Assert.Equal($"{path}: BIOS file not found", e.Message);
    }

    [Theory]
    [InlineData(64 << 10, 0xF0000UL)]
    [InlineData(128 << 10, 0xE0000UL)]
    [InlineData(256 << 10, 0xC0000UL)]
    [InlineData(1 << 20, 0xC0000UL)]
    public void TheImagesEndIsCopiedBelow1MiB(int size, ulong aliasBase)
    {
        using var ram = new GuestRam(2 << 20);
        byte[] bytes = Image(size);
        var image = BiosImage.FromBytes(bytes, "b.bin");
        var result = BiosBoot.Prepare(ram, image);
        Assert.Equal(aliasBase, image.LowAliasBase);
        Assert.Equal(GuestRam.FourGiB - (ulong)size, image.FlashBase);
        int n = (int)(0x100000 - aliasBase);
        Assert.Equal(bytes.AsSpan(size - n).ToArray(), ram.GetSpan(aliasBase, n).ToArray());
        Assert.Equal(0, ram.Read8(aliasBase - 1));
        Assert.Same(image, result.Image);
        Assert.Contains("reset at f000:fff0", result.Summary);
    }

    [Fact]
    public void ResetStateIsTheSdmsPowerOnState()
    {
        var s = BiosBoot.ResetState();
        Assert.Equal(0xFFF0UL, s.Rip);
        Assert.Equal(0xF000, s.Cs.Selector);
        Assert.Equal(0xFFFF_0000UL, s.Cs.Base);
        Assert.Equal(0xFFFFu, s.Cs.Limit);
        Assert.Equal(0x6000_0010UL, s.Cr0);
        Assert.Equal(0x2UL, s.Rflags);
        Assert.Equal(0x600UL, s.Rdx);
        Assert.False(s.PagingEnabled);
        foreach (var seg in new[] { s.Ds, s.Es, s.Fs, s.Gs, s.Ss })
        {
            Assert.Equal(0, seg.Selector);
            Assert.Equal(0UL, seg.Base);
            Assert.Equal(0xFFFFu, seg.Limit);
        }
        Assert.Equal(0xFFFF, s.IdtLimit);
        Assert.Equal(0UL, s.IdtBase);
        Assert.Equal(0xFFFF_FFF0UL, s.Cs.Base + s.Rip);
    }

    [Fact]
    public void VgaBiosIsFoundNextToTheBiosAndChecked()
    {
        string bios = Path.Combine(_dir, "bios.bin");
        File.WriteAllBytes(bios, Image(64 << 10));
        Assert.Null(BiosBoot.DefaultVgaBios(bios));
        string vga = Path.Combine(_dir, "vgabios-isavga.bin");
        var rom = new byte[1024];
        rom[0] = 0x55;
        rom[1] = 0xAA;
        File.WriteAllBytes(vga, rom);
        Assert.Equal(vga, BiosBoot.DefaultVgaBios(bios));
        Assert.Equal(rom, BiosBoot.LoadOptionRom(vga));
        rom[1] = 0;
        File.WriteAllBytes(vga, rom);
        Assert.Contains("not an option ROM", Assert.Throws<BootException>(() => BiosBoot.LoadOptionRom(vga)).Message);
    }
}
