using MyKvm.Cli;
using MyKvm.TestSupport;

namespace MyKvm.Tests;

/// <summary>The command line: help, and one clear line with exit code 2 for every kind of bad input.</summary>
public class CliTests
{
    private static (int Code, string Out, string Err) Cli(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = CommandLineInterface.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    private static void AssertOneErrorLine((int Code, string Out, string Err) r, params string[] fragments)
    {
        Assert.Equal(CommandLineInterface.ExitBadInput, r.Code);
        var lines = r.Err.TrimEnd('\n').Split('\n');
        Assert.Single(lines);
        Assert.StartsWith("mykvm: ", lines[0]);
        foreach (var f in fragments) Assert.Contains(f, lines[0]);
        Assert.DoesNotContain("   at ", r.Err);
    }

    [Fact]
    public void HelpDescribesEveryModeAndOptionWithAnExample()
    {
        var (code, output, _) = Cli("--help");
        Assert.Equal(0, code);
        foreach (var option in new[] { "--file", "--memory", "--kernel", "--initrd", "--modules", "--boot", "--accel", "--kvm-irqchip",
                     "--serial", "--display", "--timeout", "--expect", "--clock", "--rtc", "--trace", "--verbose", "--disk", "--drive",
                     "--snapshot", "--gdb", "--gdb-wait", "--monitor", "--explain-faults", "--trace-file" })
        {
            var line = output.Split('\n').FirstOrDefault(l => l.TrimStart().StartsWith(option) || l.Contains($", {option}"));
            Assert.True(line is not null, $"--help does not list {option}");
        }
        Assert.Contains("mykvm -f stos.boot", output);
        Assert.Contains("--modules a.ko,b.ko init.mode=all", output);
        Assert.Contains("commandline=", output);
        // every option description carries an example
        int examples = output.Split("Example:").Length - 1;
        Assert.True(examples >= 25, $"only {examples} examples in --help");
    }

    [Fact]
    public void UnknownOption() => AssertOneErrorLine(Cli("--kernel", "x.elf", "--bogus"), "--bogus");

    [Fact]
    public void MemoryNotANumber() => AssertOneErrorLine(Cli("-m", "lots", "--kernel", "x.elf"), "lots");

    [Fact]
    public void MemoryTooSmall() => AssertOneErrorLine(Cli("-m", "1", "--kernel", "x.elf"), "too little memory");

    [Fact]
    public void NoKernel() => AssertOneErrorLine(Cli("-m", "64"), "no kernel");

    [Fact]
    public void MissingKernelFile()
    {
        string missing = Path.Combine(Path.GetTempPath(), "mykvm-no-such-kernel.elf");
        AssertOneErrorLine(Cli("--serial", "none", "--kernel", missing), "mykvm-no-such-kernel.elf");
    }

    [Fact]
    public void MissingBootFile() => AssertOneErrorLine(Cli("-f", "/nonexistent/stos.boot"), "/nonexistent/stos.boot", "cannot read");

    [Fact]
    public void BadSerialTarget() => AssertOneErrorLine(Cli("--kernel", "x", "--serial", "tcp:1"), "--serial");

    [Fact]
    public void BadAccel() => AssertOneErrorLine(Cli("--kernel", "x", "--accel", "hvf"), "accel");

    [Fact]
    public void BadTimeout() => AssertOneErrorLine(Cli("--kernel", "x", "--timeout", "-3"), "timeout");

    [Fact]
    public void BadProtocol() => AssertOneErrorLine(Cli("--kernel", "x", "--boot", "uefi"), "uefi");

    [Fact]
    public void KernelArgumentsMayFollowDoubleDash()
    {
        // "-x" after "--" is a kernel argument, not an option: this fails later, on the missing kernel file.
        var r = Cli("--serial", "none", "--kernel", "/nonexistent/k.elf", "--", "-x", "init=/bin/sh");
        AssertOneErrorLine(r, "/nonexistent/k.elf");
    }

    [Fact]
    public void BootFileErrorsNameTheLine()
    {
        string dir = Directory.CreateTempSubdirectory("mykvm-boot").FullName;
        string path = Path.Combine(dir, "bad.boot");
        File.WriteAllText(path, "kernel=k\nthis line has no equals sign\n");
        AssertOneErrorLine(Cli("-f", path), "bad.boot:2", "key=value");
        File.WriteAllText(path, "kernel=k\nkernel=k2\n");
        AssertOneErrorLine(Cli("-f", path), "bad.boot:2", "duplicate");
        File.WriteAllText(path, "# comment\nkernal=k\n");
        AssertOneErrorLine(Cli("-f", path), "bad.boot:2", "unknown key 'kernal'");
        File.WriteAllText(path, "memory=0x10\nkernel=k\n");
        AssertOneErrorLine(Cli("-f", path), "bad.boot:1", "memory");
    }
}

public class CliDebugOptionTests
{
    private static (int Code, string Err) Cli(params string[] args)
    {
        var e = new StringWriter();
        int code = CommandLineInterface.Run(args, new StringWriter(), e);
        return (code, e.ToString());
    }

    [Fact]
    public void BadGdbAddress()
    {
        var (code, err) = Cli("--kernel", "k", "--gdb", "1234x");
        Assert.Equal(2, code);
        Assert.Contains("--gdb", err);
    }

    [Fact]
    public void GdbWaitNeedsGdb() => Assert.Equal(2, Cli("--kernel", "k", "--gdb-wait").Code);

    [Fact]
    public void UnknownTraceCategoryIsOneLine()
    {
        var (code, err) = Cli("--serial", "none", "--kernel", TestEnvironment.Guest("hello.elf"), "--trace", "bogus");
        Assert.Equal(2, code);
        Assert.Single(err.TrimEnd('\n').Split('\n'));
        Assert.Contains("bogus", err);
    }
}
