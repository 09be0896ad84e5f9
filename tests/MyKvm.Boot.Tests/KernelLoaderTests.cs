using MyKvm.Boot.Tests.Support;
using MyKvm.Core;

namespace MyKvm.Boot.Tests;

/// <summary>The front door: which protocol Auto picks and why, and the errors every loader shares.</summary>
public sealed class KernelLoaderTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly GuestRam _ram = new(32UL << 20);

    public void Dispose()
    {
        _ram.Dispose();
        _dir.Dispose();
    }

    [Fact]
    public void Auto_BzImage_IsLinux()
    {
        var r = KernelLoader.Load(_ram, new BootRequest { KernelPath = "/boot/memtest86+ia32.bin" });
        Assert.Equal(BootProtocol.Linux, r.Protocol);
        Assert.StartsWith("linux (auto: bzImage header \"HdrS\" at 0x202)", r.Summary);
    }

    [Fact]
    public void Auto_MultibootHeader_IsMultiboot()
    {
        var r = KernelLoader.Load(_ram, new BootRequest { KernelPath = Guests.Get("hello.elf") });
        Assert.Equal(BootProtocol.Multiboot, r.Protocol);
        Assert.StartsWith("multiboot (auto: Multiboot header at file offset 0x", r.Summary);
        Assert.Contains("entry 0x", r.Summary);
    }

    [Fact]
    public void Auto_HighElfWithoutMultiboot_IsStos()
    {
        var r = KernelLoader.Load(_ram, new BootRequest { KernelPath = Guests.Get("ministos.elf") });
        Assert.Equal(BootProtocol.Stos, r.Protocol);
    }

    [Fact]
    public void Auto_PlainElf_IsEnteredWithEaxZero()
    {
        string k = _dir.Write("plain.elf", TestImages.Elf(false, 0x100000, [new TestSegment(0x100000, 0x100000, TestImages.Code(0x40), 0x1000)]));
        var r = KernelLoader.Load(_ram, new BootRequest { KernelPath = k });
        Assert.Equal(BootProtocol.Elf, r.Protocol);
        Assert.StartsWith("elf (auto: ELF32 without a Multiboot header)", r.Summary);
        Assert.Equal(0UL, r.InitialState.Rax);
        Assert.Equal(0UL, r.InitialState.Rbx);
        Assert.Equal(0x100000UL, r.InitialState.Rip);
        Assert.Equal(0x08, r.InitialState.Cs.Selector);
        Assert.Equal(k, r.SymbolFile);
    }

    [Fact]
    public void ExplicitProtocol_OverridesAuto()
    {
        // hello.elf has a Multiboot header, but --boot elf enters it as a plain ELF.
        var r = KernelLoader.Load(_ram, new BootRequest { KernelPath = Guests.Get("hello.elf"), Protocol = BootProtocol.Elf });
        Assert.Equal(BootProtocol.Elf, r.Protocol);
        Assert.Contains("--boot elf", r.Summary);
    }

    [Fact]
    public void Elf64WithoutMultiboot_IsRejected()
    {
        string k = _dir.Write("k64.elf", TestImages.Elf(true, 0x100000, [new TestSegment(0x100000, 0x100000, TestImages.Code(0x40), 0x1000)]));
        var e = Assert.Throws<BootException>(() => KernelLoader.Load(_ram, new BootRequest { KernelPath = k }));
        Assert.Contains("ELF64 kernel without a Multiboot header", e.Message);
    }

    [Fact]
    public void ProtocolMismatch_IsOneLine()
    {
        string hello = Guests.Get("hello.elf");
        Assert.Equal($"{hello}: not a bzImage (no \"HdrS\" signature at 0x202)",
            Assert.Throws<BootException>(() => KernelLoader.Load(_ram, new BootRequest { KernelPath = hello, Protocol = BootProtocol.Linux })).Message);
        Assert.Contains("not linked high", Assert.Throws<BootException>(() =>
            KernelLoader.Load(_ram, new BootRequest { KernelPath = hello, Protocol = BootProtocol.Stos })).Message);
        Assert.Equal("/boot/memtest86+ia32.bin: not an ELF file", Assert.Throws<BootException>(() =>
            KernelLoader.Load(_ram, new BootRequest { KernelPath = "/boot/memtest86+ia32.bin", Protocol = BootProtocol.Elf })).Message);
    }

    [Fact]
    public void MissingKernel()
    {
        string p = Path.Combine(_dir.Path, "nothere.elf");
        Assert.Equal($"{p}: kernel file not found", Assert.Throws<BootException>(() => KernelLoader.Load(_ram, new BootRequest { KernelPath = p })).Message);
    }

    [Fact]
    public void DirectoryAsKernel()
    {
        Assert.Equal($"{_dir.Path}: is a directory, not a kernel file",
            Assert.Throws<BootException>(() => KernelLoader.Load(_ram, new BootRequest { KernelPath = _dir.Path })).Message);
    }

    [Fact]
    public void UnreadableKernel()
    {
        // Reading /proc/self/mem from offset 0 fails with EIO (page 0 is never mapped), even for root.
        var e = Assert.Throws<BootException>(() => KernelLoader.Load(_ram, new BootRequest { KernelPath = "/proc/self/mem" }));
        Assert.StartsWith("/proc/self/mem: cannot read kernel file: ", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void BootDataOverflowingTheLowArea()
    {
        // The Multiboot command line lives in the low boot data area (0x9000..0x9FC00): 700 KiB cannot fit.
        var e = Assert.Throws<BootException>(() => KernelLoader.Load(_ram, new BootRequest { KernelPath = Guests.Get("hello.elf"), CommandLine = new string('c', 700 << 10) }));
        Assert.StartsWith(Guests.Get("hello.elf") + ": no room for the kernel command line", e.Message);
    }

    [Fact]
    public void EmptyAndTinyFiles()
    {
        string empty = _dir.Write("empty", []);
        Assert.Contains("not a kernel mykvm can boot", Assert.Throws<BootException>(() => KernelLoader.Load(_ram, new BootRequest { KernelPath = empty })).Message);
        string magicOnly = _dir.Write("magic", [0x7F, (byte)'E', (byte)'L', (byte)'F']);
        Assert.Contains("ELF file truncated in its header", Assert.Throws<BootException>(() => KernelLoader.Load(_ram, new BootRequest { KernelPath = magicOnly })).Message);
    }

    [Fact]
    public void ProgramHeadersPastEnd_IsRejected()
    {
        var elf = TestImages.Elf(false, 0x100000, [new TestSegment(0x100000, 0x100000, TestImages.Code(0x40), 0x1000)]);
        TestImages.W32(elf, 28, 0x10000);   // e_phoff past the end
        string k = _dir.Write("phoff.elf", elf);
        Assert.Contains("program header table", Assert.Throws<BootException>(() => KernelLoader.Load(_ram, new BootRequest { KernelPath = k })).Message);
    }

    [Fact]
    public void WrongMachine_IsRejected()
    {
        string k = _dir.Write("arm.elf", TestImages.Elf(false, 0x100000, [new TestSegment(0x100000, 0x100000, TestImages.Code(0x40), 0x1000)], machine: 40));
        Assert.Equal($"{k}: ELF32 file for machine 40, not i386 (3)",
            Assert.Throws<BootException>(() => KernelLoader.Load(_ram, new BootRequest { KernelPath = k })).Message);
    }

    [Fact]
    public void FuzzedImages_NeverEscapeAsAnotherException()
    {
        // Random damage to real images must end in a BootException or a successful load, nothing else.
        var rng = new Random(1234);
        string[] sources = [Guests.Get("mbinfo.elf"), Guests.Get("ministos.elf"), "/boot/memtest86+ia32.bin"];
        using var ram = new GuestRam(8UL << 20);
        for (int i = 0; i < 150; i++)
        {
            byte[] f = File.ReadAllBytes(sources[i % sources.Length]);
            int hits = 1 + rng.Next(8);
            for (int h = 0; h < hits; h++)
            {
                // Mostly the headers, where the parsers look.
                int at = rng.Next(4) == 0 ? rng.Next(f.Length) : rng.Next(Math.Min(f.Length, 0x300));
                f[at] = (byte)rng.Next(256);
            }
            if (rng.Next(5) == 0) f = f[..rng.Next(f.Length)];
            string k = _dir.Write($"fuzz{i}.bin", f);
            try
            {
                KernelLoader.Load(ram, new BootRequest { KernelPath = k, CommandLine = "x" });
            }
            catch (BootException e)
            {
                Assert.DoesNotContain('\n', e.Message);
                Assert.StartsWith(k, e.Message);
            }
        }
    }

    [Fact]
    public void FuzzedMultiboot2HeadersAndSectionTables_NeverEscapeAsAnotherException()
    {
        // Damage where the new parsers look: mb2info's Multiboot 2 header and tags, and mbinfo's / mb2info's
        // ELF section header tables (what Multiboot 1 flag 5 and the Multiboot 2 sections tag copy).
        var rng = new Random(4321);
        using var ram = new GuestRam(8UL << 20);
        foreach (string source in new[] { Guests.Get("mb2info.elf"), Guests.Get("mbinfo.elf") })
        {
            byte[] original = File.ReadAllBytes(source);
            int shoff = (int)System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(original.AsSpan(32));
            int headerAt = original.AsSpan().IndexOf(new byte[] { 0xD6, 0x50, 0x52, 0xE8 });
            for (int i = 0; i < 120; i++)
            {
                byte[] f = (byte[])original.Clone();
                int hits = 1 + rng.Next(6);
                for (int h = 0; h < hits; h++)
                {
                    int at = rng.Next(3) switch
                    {
                        0 when headerAt >= 0 => headerAt + rng.Next(0x60),
                        1 => shoff + rng.Next(f.Length - shoff),
                        _ => 32 + rng.Next(20),   // e_shoff, e_shentsize, e_shnum, e_shstrndx and neighbours
                    };
                    f[at] = (byte)rng.Next(256);
                }
                string k = _dir.Write($"fuzz-mb-{i}.bin", f);
                try
                {
                    KernelLoader.Load(ram, new BootRequest { KernelPath = k, CommandLine = "x" });
                }
                catch (BootException e)
                {
                    Assert.DoesNotContain('\n', e.Message);
                    Assert.StartsWith(k, e.Message);
                }
            }
        }
    }
}
