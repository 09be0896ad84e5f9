using System.Diagnostics;
using System.Text;

namespace MyKvm.TestSupport;

/// <summary>Finds the repository, builds the guest kernels once, and runs QEMU or mykvm as a process.</summary>
public static class TestEnvironment
{
    private static readonly Lazy<string> Root = new(() =>
    {
        var baked = System.Reflection.Assembly.GetExecutingAssembly()
            .GetCustomAttributes(typeof(System.Reflection.AssemblyMetadataAttribute), false)
            .Cast<System.Reflection.AssemblyMetadataAttribute>()
            .FirstOrDefault(a => a.Key == "MyKvmRepoRoot")?.Value;
        if (baked is not null && File.Exists(Path.Combine(baked, "MyKvm.slnx"))) return baked;
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "MyKvm.slnx")))
            dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("cannot find the repository root (MyKvm.slnx)");
    });

    private static readonly Lazy<string?> GuestBuildError = new(BuildGuests);

    public static string RepoRoot => Root.Value;

    /// <summary>The path of a built guest (<c>guests/build/NAME</c>), running <c>make -C guests</c> first if needed.</summary>
    public static string Guest(string name)
    {
        if (GuestBuildError.Value is { } error)
            throw new InvalidOperationException($"building the guests failed:\n{error}");
        string path = Path.Combine(RepoRoot, "guests", "build", name);
        if (!File.Exists(path))
            throw new FileNotFoundException($"guest {name} was not built by make -C guests", path);
        return path;
    }

    /// <summary>Runs make once per test process, under a file lock shared by all test processes.</summary>
    private static string? BuildGuests()
    {
        Directory.CreateDirectory(Path.Combine(RepoRoot, ".artifacts"));
        using var lockFile = AcquireLock(Path.Combine(RepoRoot, ".artifacts", "guests.lock"));
        var r = Run("make", ["-C", Path.Combine(RepoRoot, "guests"), "-s", $"-j{Environment.ProcessorCount}"], timeout: TimeSpan.FromMinutes(5));
        return r.ExitCode == 0 ? null : r.Stdout + r.Stderr;
    }

    private static FileStream AcquireLock(string path)
    {
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException)
            {
                Thread.Sleep(100);
            }
        }
    }

    public static bool HasCommand(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(d => File.Exists(Path.Combine(d, name)));

    public sealed record ProcessResult(int ExitCode, string Stdout, string Stderr, bool TimedOut);

    public static ProcessResult Run(string file, IEnumerable<string> args, string? stdin = null, TimeSpan? timeout = null, string? workingDirectory = null)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? RepoRoot,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (stdout) stdout.Append(e.Data).Append('\n'); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (stderr) stderr.Append(e.Data).Append('\n'); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        if (stdin is not null) p.StandardInput.Write(stdin);
        p.StandardInput.Close();
        bool exited = p.WaitForExit(timeout ?? TimeSpan.FromMinutes(2));
        if (!exited)
        {
            try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            p.WaitForExit();
        }
        p.WaitForExit();
        lock (stdout) lock (stderr)
            return new ProcessResult(exited ? p.ExitCode : -1, stdout.ToString(), stderr.ToString(), !exited);
    }

    /// <summary>
    /// Runs a guest under <c>qemu-system-i386</c> (TCG) with COM1 on stdout and the debug-exit device at 0xf4,
    /// as the reference for mykvm's output. Returns null when QEMU is not installed.
    /// </summary>
    public static ProcessResult? RunQemu(string kernel, string? append = null, string? initrd = null, IEnumerable<string>? extra = null,
        string? stdin = null, TimeSpan? timeout = null, string binary = "qemu-system-i386")
    {
        if (!HasCommand(binary)) return null;
        var args = new List<string> { "-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot",
            "-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-kernel", kernel };
        if (append is not null) { args.Add("-append"); args.Add(append); }
        if (initrd is not null) { args.Add("-initrd"); args.Add(initrd); }
        if (extra is not null) args.AddRange(extra);
        return Run(binary, args, stdin, timeout ?? TimeSpan.FromSeconds(60));
    }

    /// <summary>Serial output with CR/LF folded to LF, for comparing runs.</summary>
    public static string Normalize(string serial) => serial.Replace("\r\n", "\n").Replace("\r", "\n");
}
