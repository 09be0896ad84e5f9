using System.Text.RegularExpressions;
using MyKvm.Boot.Tests.Support;
using MyKvm.Core;

namespace MyKvm.Boot.Tests;

/// <summary>
/// mbinfo booted by our Multiboot loader (run on the Unicorn reference CPU) against the same image, command line
/// and modules under <c>qemu-system-i386 -kernel -append -initrd</c>. Everything a kernel relies on is the same:
/// magic, BDA, mem_lower, command line (path + " " + args), module count, sizes, CRC32s, strings and page
/// alignment. The differences, asserted here so a change on either side is noticed:
/// <list type="bullet">
/// <item>flags: QEMU also sets bit 1 (boot_device 0x8000FFFF); we have no boot disk to name, so we leave it out.
/// We set bit 5 (ELF section headers, with .symtab/.strtab loaded), as GRUB does; QEMU does not.</item>
/// <item>boot_loader_name: "qemu" vs "mykvm".</item>
/// <item>mem_upper and the memory map: QEMU's BIOS reserves the top 128 KiB of RAM (ACPI tables) and lists no
/// IOAPIC/LAPIC ranges; ours is <see cref="PcMemoryLayout.Build"/>: all RAM usable, IOAPIC and LAPIC pages reserved.</item>
/// <item>module addresses: QEMU puts its modules a page further up (after its own boot buffer); both page-align.</item>
/// </list>
/// </summary>
public sealed class MbinfoVersusQemuTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void SameImageSameArguments_SameReport()
    {
        string kernel = Guests.Get("mbinfo.elf");
        string m1 = _dir.Write("first.mod", "the first module\n");
        string m2 = _dir.Write("second.mod", Enumerable.Range(0, 7000).Select(i => (byte)(i * 7)).ToArray());
        string cmdline = "console=ttyS0 init.mode=tests";
        string modules = $"{m1} arg1 arg2,{m2}";

        var (qemu, status) = Qemu.Run(["-m", "128", "-kernel", kernel, "-append", cmdline, "-initrd", modules]);
        Assert.Equal(1, status);   // guest_exit(0) through isa-debug-exit

        using var ram = new GuestRam(128UL << 20);
        var boot = KernelLoader.Load(ram, new BootRequest { KernelPath = kernel, CommandLine = cmdline, InitrdPath = modules });
        using var cpu = new UnicornMachine(ram);
        cpu.Run(boot.InitialState);
        Assert.Equal(0, cpu.ExitCode);
        string ours = cpu.Serial;

        var q = Parse(qemu);
        var o = Parse(ours);

        foreach (var key in new[] { "mbinfo:", "bda", "cmdline", "mods_count" })
            Assert.Equal(q[key], o[key]);
        Assert.Equal($"\"{kernel} {cmdline}\"", o["cmdline"][0]);
        Assert.Equal(Normalized(q["module"]), Normalized(o["module"]));
        Assert.Equal(2, o["module"].Count);
        Assert.Contains($"string \"{m1} arg1 arg2\"", o["module"][0]);

        uint qFlags = Convert.ToUInt32(q["flags"][0], 16), oFlags = Convert.ToUInt32(o["flags"][0], 16);
        Assert.Equal(qFlags & ~2u, oFlags & ~0x20u);
        Assert.Equal(0x20u, oFlags & 0x20u);
        Assert.Equal(0u, qFlags & 0x20u);
        Assert.Contains("elf_sec symtab .symtab: kmain found at its address", ours);
        Assert.Equal(["\"qemu\""], q["boot_loader_name"]);
        Assert.Equal(["\"mykvm\""], o["boot_loader_name"]);
        Assert.Equal("639 KiB mem_upper 130048 KiB", o["mem_lower"][0]);
        Assert.Equal("639 KiB mem_upper 129920 KiB", q["mem_lower"][0]);
        // The low entries agree; the top of RAM and the APIC pages are where the maps differ.
        Assert.Equal(q["mmap"].Take(3), o["mmap"].Take(3));
    }

    /// <summary>Lines grouped by their first word; the rest of the line is the value.</summary>
    private static Dictionary<string, List<string>> Parse(string serial)
    {
        var d = new Dictionary<string, List<string>>();
        foreach (var line in serial.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            int sp = line.IndexOf(' ');
            string key = sp < 0 ? line : line[..sp];
            if (!d.TryGetValue(key, out var list)) d[key] = list = [];
            list.Add(sp < 0 ? "" : line[(sp + 1)..]);
        }
        return d;
    }

    private static List<string> Normalized(List<string> moduleLines) =>
        moduleLines.Select(l => Regex.Replace(l, "start 0x[0-9a-f]+ end 0x[0-9a-f]+", "start - end -")).ToList();
}
