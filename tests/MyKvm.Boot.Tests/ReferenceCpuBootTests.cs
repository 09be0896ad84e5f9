using MyKvm.Boot.Tests.Support;
using MyKvm.Core;
using Xunit.Abstractions;

namespace MyKvm.Boot.Tests;

/// <summary>Boots the test guests from what the loaders wrote, on the Unicorn reference CPU.</summary>
public sealed class ReferenceCpuBootTests(ITestOutputHelper output)
{
    [Fact]
    public void Mbinfo_RunsAndSeesTheMagic()
    {
        using var ram = new GuestRam(128UL << 20);
        var result = KernelLoader.Load(ram, new BootRequest { KernelPath = Guests.Get("mbinfo.elf"), CommandLine = "a=b" });
        using var cpu = new UnicornMachine(ram);
        cpu.Run(result.InitialState);
        output.WriteLine(result.Summary);
        output.WriteLine(cpu.Serial);
        Assert.Contains("mbinfo: magic 0x2badb002 ok", cpu.Serial);
        Assert.Contains("elf_sec symtab .symtab: kmain found at its address", cpu.Serial);
        Assert.Equal(0, cpu.ExitCode);
    }

    [Fact]
    public void Ministos_AllChecksPass()
    {
        using var ram = new GuestRam(128UL << 20);
        var result = KernelLoader.Load(ram, new BootRequest
        {
            KernelPath = Guests.Get("ministos.elf"),
            CommandLine = "init.mode=tests hello.verbose=1 quiet",
            ModulePaths = [Guests.Get("ministos/hello.ko"), Guests.Get("ministos/greet.ko")],
            InitrdPath = Guests.Get("ministos/initramfs.cpio"),
        });
        using var cpu = new UnicornMachine(ram);
        cpu.Run(result.InitialState);
        output.WriteLine(result.Summary);
        output.WriteLine(cpu.Serial);
        Assert.True(cpu.ExitCode == 0, cpu.Serial);
    }

    /// <summary>
    /// mb2info walks the Multiboot 2 information on the reference CPU: every tag, its alignment, total_size, the
    /// modules' bytes (CRC32), the ACPI RSDP checksums, and kmain found in the symbol table the loader put in memory.
    /// </summary>
    [Fact]
    public void Mb2info_WalksTheInformation()
    {
        using var dir = new TempDir();
        string m1 = dir.Write("first.mod", "the first module\n");
        var rsdp = new byte[36];
        "RSD PTR "u8.CopyTo(rsdp);
        "MYKVM "u8.CopyTo(rsdp.AsSpan(9));
        rsdp[15] = 2;
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(rsdp.AsSpan(16), 0xE0000);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(rsdp.AsSpan(20), 36);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(rsdp.AsSpan(24), 0xE0040);
        rsdp[8] = (byte)-rsdp[..20].Aggregate(0, (a, b) => a + b);
        rsdp[32] = (byte)-rsdp.Aggregate(0, (a, b) => a + b);

        using var ram = new GuestRam(128UL << 20);
        var result = KernelLoader.Load(ram, new BootRequest
        {
            KernelPath = Guests.Get("mb2info.elf"), CommandLine = "console=ttyS0 x=1", InitrdPath = $"{m1} name=first", AcpiRsdp = rsdp,
        });
        using var cpu = new UnicornMachine(ram);
        cpu.Run(result.InitialState);
        output.WriteLine(result.Summary);
        output.WriteLine(cpu.Serial);
        Assert.True(cpu.ExitCode == 0, cpu.Serial);
        var lines = cpu.Serial.Split('\n');
        Assert.Contains("mb2info: magic 0x36d76289 ok", lines);
        Assert.Contains("load_base_addr 0x00100000", lines);
        Assert.Contains("cmdline \"console=ttyS0 x=1\"", lines);
        Assert.Contains("boot_loader_name \"mykvm\"", lines);
        Assert.Contains(lines, l => l.StartsWith("module 0: start 0x") && l.EndsWith($"page-aligned size 17 crc32 0x{Crc32("the first module\n"u8):x8} string \"name=first\""));
        Assert.Contains("basic_meminfo mem_lower 639 KiB mem_upper 130048 KiB", lines);
        Assert.Contains("mmap entry_size 24 entry_version 0", lines);
        Assert.Contains("mmap 0x0000000000000000-0x000000000009fc00 type 1", lines);
        Assert.Contains("mmap 0x0000000000100000-0x0000000008000000 type 1", lines);
        Assert.Contains("framebuffer addr 0xb8000 pitch 160 width 80 height 25 bpp 16 type 2", lines);
        Assert.Contains(lines, l => l.StartsWith("elf_sections num ") && l.Contains(" entsize 40 shndx "));
        Assert.Contains(lines, l => l.StartsWith("symtab .symtab loaded, ") && l.EndsWith("symbols, strings loaded"));
        Assert.Contains("symbol kmain found at its address", lines);
        Assert.Contains("acpi_new_rsdp \"RSD PTR \" oem \"MYKVM \" revision 2 rsdt 0x000e0000 checksum ok length 36 xsdt 0x00000000000e0040 extended ok", lines);
        Assert.Contains("end size 8", lines);
        Assert.Contains("mb2info: done, consistent", lines);
    }

    private static uint Crc32(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            crc ^= b;
            for (int i = 0; i < 8; i++) crc = (crc >> 1) ^ (0xEDB88320 & (uint)-(int)(crc & 1));
        }
        return ~crc;
    }

    /// <summary>
    /// Debian's kernel from the 64-bit entry: the decompressor (startup_64 at +0x200) relocates itself, builds its
    /// own page tables, finds the command line through RSI and the zero page, and prints its first line on the
    /// early serial console. Unicorn delivers no exceptions to the guest's IDT, so the run ends there: 6.1's
    /// decompressor maps the output buffer lazily from its #PF handler.
    /// </summary>
    [DebianKernelFact]
    public void Debian_Entry64_DecompressorReadsTheCommandLine()
    {
        using var ram = new GuestRam(256UL << 20);
        var result = KernelLoader.Load(ram, new BootRequest
        {
            KernelPath = DebianKernel.Require(),
            CommandLine = "console=ttyS0 earlyprintk=serial,ttyS0,115200 nokaslr",
            LinuxEntry = LinuxEntry.Entry64,
        });
        using var cpu = new UnicornMachine(ram, longMode: true) { StopAtSerial = "KASLR disabled: 'nokaslr' on cmdline." };
        cpu.Run(result.InitialState, 100_000_000);
        output.WriteLine(result.Summary);
        output.WriteLine(cpu.Serial);
        Assert.True(cpu.StoppedAtSerial, cpu.Serial);
    }

    /// <summary>
    /// memtest86+ 6.10 (x64) from the 64-bit entry: it reads "console=ttyS0" from the command line the zero page
    /// points at and clears the serial terminal, its first output.
    /// </summary>
    [Fact]
    public void MemtestX64_Entry64_OpensTheSerialConsole()
    {
        using var ram = new GuestRam(64UL << 20);
        var result = KernelLoader.Load(ram, new BootRequest
        {
            KernelPath = "/boot/memtest86+x64.bin", CommandLine = "console=ttyS0,115200", LinuxEntry = LinuxEntry.Entry64,
        });
        using var cpu = new UnicornMachine(ram, longMode: true) { StopAtSerial = "\x1b[2J" };
        cpu.Run(result.InitialState, 200_000_000);
        output.WriteLine(result.Summary);
        Assert.True(cpu.StoppedAtSerial, cpu.Serial);
    }
}
