using MyKvm.Boot.Tests.Support;

namespace MyKvm.Boot.Integration;

/// <summary>
/// mb2info booted through the mykvm command on the software CPU: Auto picks Multiboot 2 from its header, and the
/// guest finds every tag consistent (no QEMU to compare with: QEMU's -kernel knows only Multiboot 1).
/// </summary>
public sealed class Mb2infoBootTests : IDisposable
{
    private readonly CliRunner _cli = new();

    public void Dispose() => _cli.Dispose();

    [Fact]
    public void TagsAreConsistent()
    {
        string kernel = Guests.Get("mb2info.elf");
        string m1 = _cli.Write("one.mod", "module one\n");
        var r = _cli.Run("-m", "64", "--kernel", kernel, "--initrd", $"{m1} alpha beta", "a=1", "b.c=d");
        Assert.True(r.ExitCode == 1, $"exit {r.ExitCode}: {r.Stderr}\n{r.Serial}");
        var lines = r.Serial.Split('\n');
        Assert.Contains("mb2info: magic 0x36d76289 ok", lines);
        Assert.Contains("cmdline \"a=1 b.c=d\"", lines);
        Assert.Contains("boot_loader_name \"mykvm\"", lines);
        Assert.Contains(lines, l => l.StartsWith("module 0: start 0x") && l.EndsWith("page-aligned size 11 crc32 0x39a99a8d string \"alpha beta\""));
        Assert.Contains("basic_meminfo mem_lower 639 KiB mem_upper 64512 KiB", lines);
        Assert.Contains("framebuffer addr 0xb8000 pitch 160 width 80 height 25 bpp 16 type 2", lines);
        Assert.Contains("symbol kmain found at its address", lines);
        Assert.Contains("mb2info: done, consistent", lines);
    }
}
