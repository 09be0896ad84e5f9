using System.Diagnostics;
using System.Text;
using MyKvm.TestSupport;

namespace MyKvm.Boot.Tests.AcpiLinux;

/// <summary>
/// Debian's kernel and the project's busybox initramfs, prepared once per test process by the scripts in
/// scripts/linux (fetch-kernel.sh: apt-get download; build-initramfs.sh), and the machines that boot them.
/// </summary>
internal static class LinuxGuest
{
    /// <summary>
    /// The backends the Linux guest tests run on. The one-line switch: add "mykvm" once the software CPU has long mode.
    /// </summary>
    public static readonly string[] Backends = ["qemu"];

    public const string Marker = "MYKVM-INIT-OK";
    public const string Prompt = "mykvm:/# ";

    public sealed record Files(string Kernel, string Initramfs);

    private static readonly Lazy<(string? Kernel, string? Why)> Kernel = new(FetchKernel);
    private static readonly Lazy<string> Initramfs = new(BuildInitramfs);

    /// <summary>Why the Linux guest cannot be run here, or null. Fetches the kernel (once; cached in .artifacts/linux).</summary>
    public static string? Unavailable => Kernel.Value.Why;

    /// <summary>The kernel and the initramfs, which is built on first use (not at test discovery).</summary>
    public static Files Get() =>
        new(Kernel.Value.Kernel ?? throw new InvalidOperationException(Kernel.Value.Why), Initramfs.Value);

    public static string Script(string name) => Path.Combine(TestEnvironment.RepoRoot, "scripts", "linux", name);

    private static (string?, string?) FetchKernel()
    {
        if (!File.Exists("/bin/busybox"))
            return (null, "busybox-static is not installed (scripts/setup.sh installs it)");
        if (!TestEnvironment.HasCommand("apt-get") && !File.Exists(Path.Combine(TestEnvironment.RepoRoot, ".artifacts", "linux", "vmlinuz")))
            return (null, "not a Debian system: cannot apt-get download linux-image-amd64");
        var fetch = TestEnvironment.Run(Script("fetch-kernel.sh"), [], timeout: TimeSpan.FromMinutes(5));
        if (fetch.ExitCode != 0)
            return (null, $"the kernel package could not be fetched (scripts/linux/fetch-kernel.sh): {fetch.Stderr.Trim()}");
        return (fetch.Stdout.Trim(), null);
    }

    private static string BuildInitramfs()
    {
        var build = TestEnvironment.Run(Script("build-initramfs.sh"), [], timeout: TimeSpan.FromMinutes(2));
        if (build.ExitCode != 0)
            throw new InvalidOperationException($"build-initramfs.sh failed:\n{build.Stderr}");
        return build.Stdout.Trim();
    }

    /// <summary>Starts <paramref name="backend"/> on the kernel and initramfs with COM1 on the session's stdin/stdout.</summary>
    public static SerialSession Boot(string backend, string append, IEnumerable<string>? qemuExtra = null, int memoryMiB = 512)
    {
        var f = Get();
        return backend switch
        {
            "qemu" => SerialSession.Start("qemu-system-x86_64",
            [
                "-accel", "tcg", "-m", memoryMiB.ToString(), "-display", "none", "-serial", "stdio", "-monitor", "none",
                "-no-reboot", "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
                // no_timer_check: QEMU TCG on a loaded host can deliver too few timer ticks during the kernel's
                // 40 ms IO-APIC timer check, which then panics ("IO-APIC + timer doesn't work!").
                "-kernel", f.Kernel, "-initrd", f.Initramfs, "-append", append + " no_timer_check", .. qemuExtra ?? [],
            ]),
            "mykvm" => SerialSession.Start(Path.Combine(TestEnvironment.RepoRoot, "mykvm"),
                ["--memory", memoryMiB.ToString(), "--kernel", f.Kernel, "--initrd", f.Initramfs, .. append.Split(' ')]),
            _ => throw new ArgumentException($"unknown backend {backend}", nameof(backend)),
        };
    }

    /// <summary>
    /// The exit status when the guest powers off with acpi=off (mykvm-poweroff): mykvm's ACPI PM device takes the
    /// byte writes to PM1a_CNT (status 0); QEMU 7.2 ignores them and exits through isa-debug-exit (0 → status 1).
    /// </summary>
    public static int AcpiOffPoweroffStatus(string backend) => backend == "qemu" ? 1 : 0;
}

/// <summary>A fact that needs the Linux guest (kernel fetched, busybox there) and qemu-system-x86_64 as the reference.</summary>
public sealed class LinuxGuestFactAttribute : FactAttribute
{
    public LinuxGuestFactAttribute()
    {
        if (!TestEnvironment.HasCommand("qemu-system-x86_64")) Skip = "needs qemu-system-x86_64";
        else if (LinuxGuest.Unavailable is { } why) Skip = why;
    }
}

/// <summary>A theory over <see cref="LinuxGuest.Backends"/> that needs the Linux guest.</summary>
public sealed class LinuxGuestTheoryAttribute : TheoryAttribute
{
    public LinuxGuestTheoryAttribute()
    {
        if (LinuxGuest.Backends.Contains("qemu") && !TestEnvironment.HasCommand("qemu-system-x86_64")) Skip = "needs qemu-system-x86_64";
        else if (LinuxGuest.Unavailable is { } why) Skip = why;
    }
}

/// <summary>
/// A machine (QEMU or mykvm) whose serial console is this process's pipe: waits for text in its output and types
/// lines into it, like a person at the console. Output is kept whole, with CR LF folded to LF.
/// </summary>
internal sealed class SerialSession : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly object _lock = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private bool _closed;
    private int _commands;

    private SerialSession(Process p)
    {
        _process = p;
        var reader = new Thread(() => Pump(p.StandardOutput)) { IsBackground = true, Name = "serial-out" };
        var errors = new Thread(() => Pump(p.StandardError)) { IsBackground = true, Name = "serial-err" };
        reader.Start();
        errors.Start();
    }

    public static SerialSession Start(string file, IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = TestEnvironment.RepoRoot,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        return new SerialSession(Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {file}"));
    }

    public TimeSpan Elapsed => _clock.Elapsed;

    /// <summary>Everything the machine printed so far (stdout and stderr interleaved as they came).</summary>
    public string Output
    {
        get { lock (_lock) return _output.ToString().Replace("\r\n", "\n").Replace("\r", "\n"); }
    }

    private void Pump(StreamReader from)
    {
        var buffer = new char[4096];
        while (true)
        {
            int n;
            try { n = from.Read(buffer, 0, buffer.Length); }
            catch (IOException) { n = 0; }
            catch (ObjectDisposedException) { n = 0; }
            lock (_lock)
            {
                if (n <= 0)
                {
                    _closed = true;
                    Monitor.PulseAll(_lock);
                    return;
                }
                _output.Append(buffer, 0, n);
                Monitor.PulseAll(_lock);
            }
        }
    }

    /// <summary>Waits until the output contains <paramref name="text"/> after position <paramref name="from"/>; returns the end of the match.</summary>
    public int WaitFor(string text, TimeSpan timeout, int from = 0)
    {
        var deadline = _clock.Elapsed + timeout;
        lock (_lock)
        {
            while (true)
            {
                string now = _output.ToString().Replace("\r\n", "\n").Replace("\r", "\n");
                int at = now.IndexOf(text, Math.Min(from, now.Length), StringComparison.Ordinal);
                if (at >= 0) return at + text.Length;
                var left = deadline - _clock.Elapsed;
                if (left <= TimeSpan.Zero || (_closed && _process.HasExited))
                    throw new TimeoutException($"\"{text}\" did not appear ({(_closed ? "the machine exited" : $"after {timeout.TotalSeconds:0} s")}); output ends:\n{Tail(now)}");
                Monitor.Wait(_lock, left < TimeSpan.FromMilliseconds(500) ? left : TimeSpan.FromMilliseconds(500));
            }
        }
    }

    /// <summary>Types a line (and Enter) at the console.</summary>
    public void Type(string line)
    {
        _process.StandardInput.Write(line + "\n");
        _process.StandardInput.Flush();
    }

    /// <summary>
    /// Runs a shell command and returns what it printed. The command is bracketed by echoes of markers written so the
    /// terminal's echo of the typed line does not contain them (<c>"@@B""-1"</c> prints <c>@@B-1</c>).
    /// </summary>
    public string Run(string command, TimeSpan timeout)
    {
        int n = ++_commands;
        int start = Output.Length;
        Type($"echo \"@@B\"\"-{n}@@\"; {command}; echo \"@@E\"\"-{n}@@\"");
        int begin = WaitFor($"@@B-{n}@@\n", timeout, start);
        int end = WaitFor($"@@E-{n}@@\n", timeout, begin);
        return Output[begin..(end - $"@@E-{n}@@\n".Length)];
    }

    /// <summary>Waits for the machine to exit; returns its exit status.</summary>
    public int WaitForExit(TimeSpan timeout)
    {
        if (!_process.WaitForExit(timeout))
            throw new TimeoutException($"the machine did not exit within {timeout.TotalSeconds:0} s; output ends:\n{Tail(Output)}");
        _process.WaitForExit();
        lock (_lock)
            while (!_closed) Monitor.Wait(_lock, 1000);
        return _process.ExitCode;
    }

    private static string Tail(string s) => s.Length <= 3000 ? s : s[^3000..];

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }
        catch (InvalidOperationException) { }
        _process.Dispose();
    }
}
