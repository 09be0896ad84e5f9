using System.Text.RegularExpressions;
using MyKvm.Boot.Tests.Support;

namespace MyKvm.Boot.Integration;

/// <summary>
/// mbinfo booted by mykvm (software CPU) and by qemu-system-i386 with the same kernel, command line and modules.
/// The differences are the documented ones (see MyKvm.Boot.Tests.MbinfoVersusQemuTests): flags bit 1 (QEMU's
/// boot_device) and bit 5 (our ELF section headers), the loader name, mem_upper and the memory map above the low entries, and module addresses.
/// </summary>
public sealed class MbinfoBootTests : IDisposable
{
    private readonly CliRunner _cli = new();

    public void Dispose() => _cli.Dispose();

    [Fact]
    public void SameReportAsQemu()
    {
        string kernel = Guests.Get("mbinfo.elf");
        string m1 = _cli.Write("one.mod", "module one\n");
        string m2 = _cli.Write("two.mod", new string('z', 9000));
        string modules = $"{m1} alpha beta,{m2}";
        var (qemu, status) = Qemu.Run(["-m", "128", "-kernel", kernel, "-append", "a=1 b.c=d", "-initrd", modules]);
        Assert.Equal(1, status);

        var r = _cli.Run("-m", "128", "--kernel", kernel, "--initrd", modules, "a=1", "b.c=d");
        Assert.True(r.ExitCode == 1, $"exit {r.ExitCode}: {r.Stderr}\n{r.Serial}");

        static List<string> Comparable(string serial) => serial.Split('\n')
            .Where(l => l.StartsWith("mbinfo:") || l.StartsWith("bda ") || l.StartsWith("cmdline ") || l.StartsWith("mods_count ") || l.StartsWith("module "))
            .Select(l => Regex.Replace(l, "start 0x[0-9a-f]+ end 0x[0-9a-f]+", "start - end -"))
            .ToList();
        Assert.Equal(Comparable(qemu), Comparable(r.Serial));
        Assert.Contains($"cmdline \"{kernel} a=1 b.c=d\"", r.Serial);
        Assert.Contains($"string \"{m1} alpha beta\"", r.Serial);
        Assert.Contains("boot_loader_name \"mykvm\"", r.Serial);
        Assert.Contains("flags 0x0000026d", r.Serial);
        Assert.Contains("elf_sec symtab .symtab: kmain found at its address", r.Serial);
        Assert.Contains("flags 0x0000024f", qemu);
    }
}
