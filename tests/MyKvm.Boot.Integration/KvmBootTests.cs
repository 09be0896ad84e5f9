using MyKvm.Boot.Tests.Support;

namespace MyKvm.Boot.Integration;

/// <summary>The same boots on KVM, where the host has it: the stos state goes through the KVM paging trampoline.</summary>
public sealed class KvmBootTests : IDisposable
{
    private readonly CliRunner _cli = new();

    public void Dispose() => _cli.Dispose();

    [KvmFact]
    public void Ministos_OnKvm()
    {
        string hello = Guests.Get("ministos/hello.ko"), initramfs = Guests.Get("ministos/initramfs.cpio");
        var r = _cli.Run("-m", "128", "--accel", "kvm", "--kernel", Guests.Get("ministos.elf"), "--initrd", initramfs,
            "--modules", hello, "init.mode=tests");
        Assert.True(r.ExitCode == 1, $"exit {r.ExitCode}\n{r.Stderr}\n{r.Serial}");
        Assert.Equal(MinistosReport.Expected(128, "init.mode=tests", [hello], initramfs), MinistosReport.Select(r.Serial));
    }

    [KvmFact]
    public void Mbinfo_OnKvm()
    {
        var r = _cli.Run("--accel", "kvm", "--kernel", Guests.Get("mbinfo.elf"), "x=1");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("mbinfo: magic 0x2badb002 ok", r.Serial);
    }

    [KvmFact]
    public void Mb2info_OnKvm()
    {
        var r = _cli.Run("--accel", "kvm", "--kernel", Guests.Get("mb2info.elf"), "x=1");
        Assert.True(r.ExitCode == 1, $"exit {r.ExitCode}\n{r.Stderr}\n{r.Serial}");
        Assert.Contains("mb2info: done, consistent", r.Serial);
    }
}
