using MyKvm.TestSupport;

namespace MyKvm.Boot.Tests.AcpiLinux;

/// <summary>scripts/linux/build-initramfs.sh: what is in the archive, checked with cpio -t as the kernel would unpack it.</summary>
public sealed class InitramfsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mykvm-initramfs-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    public sealed class BusyboxFactAttribute : FactAttribute
    {
        public BusyboxFactAttribute()
        {
            if (!File.Exists("/bin/busybox")) Skip = "needs busybox-static (/bin/busybox)";
            else if (!TestEnvironment.HasCommand("cpio")) Skip = "needs cpio";
        }
    }

    private string Build(string name)
    {
        string output = Path.Combine(_dir, name);
        var r = TestEnvironment.Run(LinuxGuest.Script("build-initramfs.sh"), ["-o", output], timeout: TimeSpan.FromMinutes(2));
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Equal(output, r.Stdout.Trim());
        return output;
    }

    /// <summary>cpio -tv of the gzip'd archive: path → (mode string, link target).</summary>
    private static Dictionary<string, (string Mode, string? Target, string Line)> List(string archive)
    {
        var r = TestEnvironment.Run("sh", ["-c", $"gzip -dc '{archive}' | cpio -tv --quiet"]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        var entries = new Dictionary<string, (string, string?, string)>();
        foreach (var line in r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            // "-rwxr-xr-x   1 root     root      1982256 Jan  1  1970 bin/busybox" or "... bin/sh -> /bin/busybox"
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            string mode = fields[0];
            int arrow = Array.IndexOf(fields, "->");
            string path = arrow > 0 ? fields[arrow - 1] : fields[^1];
            entries[path] = (mode, arrow > 0 ? fields[arrow + 1] : null, line);
        }
        return entries;
    }

    [BusyboxFact]
    public void ArchiveHoldsInitBusyboxAndTheApplets()
    {
        var e = List(Build("initramfs.img"));
        Assert.Equal("-rwxr-xr-x", e["init"].Mode);                  // executable, as the kernel requires of /init
        Assert.Equal("-rwxr-xr-x", e["bin/busybox"].Mode);
        Assert.Equal("-rwxr-xr-x", e["bin/mykvm-poweroff"].Mode);
        Assert.Contains($" {new FileInfo("/bin/busybox").Length} ", e["bin/busybox"].Line);
        foreach (var applet in new[] { "bin/sh", "bin/mount", "usr/bin/setsid", "bin/cttyhack", "usr/bin/md5sum", "sbin/poweroff", "bin/dd" })
        {
            Assert.StartsWith("l", e[applet].Mode);
            Assert.Equal("/bin/busybox", e[applet].Target);
        }
        Assert.StartsWith("c", e["dev/console"].Mode);                  // the console is there before devtmpfs
        Assert.Contains("5,", e["dev/console"].Line);
        foreach (var dir in new[] { "proc", "sys", "dev", "tmp", "root", "etc" })
            Assert.StartsWith("d", e[dir].Mode);
        Assert.Equal("drwxrwxrwt", e["tmp"].Mode);
        Assert.All(e.Values, v => Assert.Contains(" root     root ", v.Line));
    }

    [BusyboxFact]
    public void InitMountsTheKernelFilesystemsPrintsTheMarkerAndStartsAShellWithJobControl()
    {
        string archive = Build("initramfs.img");
        var r = TestEnvironment.Run("sh", ["-c", $"gzip -dc '{archive}' | cpio -i --quiet --to-stdout init"]);
        Assert.Equal(0, r.ExitCode);
        string init = r.Stdout;
        Assert.StartsWith("#!/bin/sh\n", init);
        Assert.Contains("mount -t proc proc /proc", init);
        Assert.Contains("mount -t sysfs sysfs /sys", init);
        Assert.Contains("mount -t devtmpfs devtmpfs /dev", init);
        Assert.Contains($"echo \"{LinuxGuest.Marker}\"", init);
        Assert.Contains("setsid cttyhack sh", init);
        Assert.Equal(File.ReadAllText(LinuxGuest.Script("initramfs/init")), init);
    }

    [BusyboxFact]
    public void OutputIsDeterministic()
    {
        byte[] a = File.ReadAllBytes(Build("a.img"));
        byte[] b = File.ReadAllBytes(Build("b.img"));
        Assert.Equal(a, b);
        Assert.Equal(new byte[] { 0x1F, 0x8B }, a[..2]);               // gzip
        Assert.Equal(0, a[4] | a[5] | a[6] | a[7]);                     // gzip -n: no timestamp
        var e = List(Path.Combine(_dir, "a.img"));
        var names = e.Keys.ToList();
        Assert.Equal(names.Order(StringComparer.Ordinal), names);       // sorted, so a parent precedes its entries
    }

    [BusyboxFact]
    public void UnchangedOutputIsNotRewritten()
    {
        string path = Build("same.img");
        var stamp = new DateTime(2001, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        File.SetLastWriteTimeUtc(path, stamp);
        Build("same.img");
        Assert.Equal(stamp, File.GetLastWriteTimeUtc(path));
    }
}
