using System.Diagnostics;

namespace MyKvm.Boot.Tests.Support;

/// <summary>The repository's test guests, built on first use with <c>make -C guests</c>.</summary>
internal static class Guests
{
    private static readonly Lazy<string> s_root = new(FindRoot);
    private static readonly object s_buildLock = new();
    private static readonly HashSet<string> s_built = [];

    public static string RepoRoot => s_root.Value;
    public static string BuildDir => Path.Combine(RepoRoot, "guests", "build");

    /// <summary>The path of guests/build/<paramref name="relative"/>, built if needed.</summary>
    public static string Get(string relative)
    {
        lock (s_buildLock)
        {
            if (s_built.Add(relative))
                Make(relative);
        }
        return Path.Combine(BuildDir, relative);
    }

    private static void Make(string target)
    {
        // The same lock file the other test projects take around make, so parallel test runs do not race on guests/build.
        Directory.CreateDirectory(Path.Combine(RepoRoot, ".artifacts"));
        using var guestsLock = AcquireLock(Path.Combine(RepoRoot, ".artifacts", "guests.lock"));
        var psi = new ProcessStartInfo("make", ["-s", "-C", Path.Combine(RepoRoot, "guests"), Path.Combine("build", target)])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var p = Process.Start(psi)!;
        string output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0)
            throw new InvalidOperationException($"make {target} failed:\n{output}");
    }

    private static FileStream AcquireLock(string path)
    {
        var deadline = DateTime.UtcNow.AddMinutes(5);
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                Thread.Sleep(100);
            }
        }
    }

    private static string FindRoot()
    {
        // The project stamps its source location into the assembly (the build output may be outside the tree).
        var stamped = typeof(Guests).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyMetadataAttribute), false)
            .Cast<System.Reflection.AssemblyMetadataAttribute>().FirstOrDefault(a => a.Key == "RepoRoot")?.Value;
        if (stamped is not null && File.Exists(Path.Combine(stamped, "MyKvm.slnx")))
            return Path.GetFullPath(stamped);
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "MyKvm.slnx")))
                return dir.FullName;
        // Built into a private artifacts folder outside the tree: fall back to the working directory's ancestors.
        for (var dir = new DirectoryInfo(Directory.GetCurrentDirectory()); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "MyKvm.slnx")))
                return dir.FullName;
        throw new InvalidOperationException("cannot find the repository root (MyKvm.slnx)");
    }
}
