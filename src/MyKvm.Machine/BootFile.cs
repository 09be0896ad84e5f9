using MyKvm.Boot;

namespace MyKvm.Machine;

/// <summary>
/// The course's <c>.boot</c> file: an ini-like list of <c>key=value</c> lines.
/// <code>
/// commandline=init.mode=all
/// kernel=kernel/stos
/// initramfs=initramfs.img
/// module=modules/8259A.ko      (one line per module, in order)
/// </code>
/// plus mykvm's own keys for what the CLI can say (<c>memory</c>, <c>accel</c>, <c>serial</c>, <c>display</c>,
/// <c>protocol</c>, <c>timeout</c>, <c>expect</c>, <c>rtc</c>). Paths are relative to the file's folder.
/// Blank lines and lines starting with <c>#</c> or <c>;</c> are ignored. A .boot file implies the stos protocol
/// unless it says <c>protocol=</c>.
/// </summary>
public sealed record BootFile
{
    public string? Kernel { get; init; }
    public string? Initramfs { get; init; }
    public IReadOnlyList<string> Modules { get; init; } = [];
    public string? CommandLine { get; init; }
    public BootProtocol Protocol { get; init; } = BootProtocol.Stos;
    public int? MemoryMiB { get; init; }
    public Accelerator? Accel { get; init; }
    public SerialTarget? Serial { get; init; }
    public DisplayTarget? Display { get; init; }
    public double? TimeoutSeconds { get; init; }
    public string? Expect { get; init; }
    public DateTime? Rtc { get; init; }

    public static readonly IReadOnlyList<string> Keys =
        ["commandline", "kernel", "initramfs", "module", "protocol", "memory", "accel", "serial", "display", "timeout", "expect", "rtc"];

    public static BootFile Load(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ConfigException($"{path}: cannot read: {Describe(e)}");
        }
        return Parse(text, path, Path.GetDirectoryName(Path.GetFullPath(path))!);
    }

    public static BootFile Parse(string text, string name, string baseDir)
    {
        var result = new BootFile();
        var modules = new List<string>();
        var seen = new HashSet<string>();
        var lines = text.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i].TrimEnd('\r').Trim();
            string where = $"{name}:{i + 1}";
            if (line.Length == 0 || line[0] == '#' || line[0] == ';') continue;
            int eq = line.IndexOf('=');
            if (eq <= 0)
                throw new ConfigException($"{where}: expected key=value, got '{line}'");
            string key = line[..eq].Trim().ToLowerInvariant();
            string value = line[(eq + 1)..].Trim();
            if (!Keys.Contains(key))
                throw new ConfigException($"{where}: unknown key '{key}' (known: {string.Join(", ", Keys)})");
            if (key != "module" && !seen.Add(key))
                throw new ConfigException($"{where}: duplicate '{key}='");
            string FilePath()
            {
                if (value.Length == 0) throw new ConfigException($"{where}: '{key}=' needs a path");
                return Path.GetFullPath(value, baseDir);
            }
            result = key switch
            {
                "commandline" => result with { CommandLine = value },
                "kernel" => result with { Kernel = FilePath() },
                "initramfs" => result with { Initramfs = FilePath() },
                "module" => AddModule(result, modules, FilePath()),
                "protocol" => result with { Protocol = ParseProtocol(value, where) },
                "memory" => result with { MemoryMiB = ParseMemory(value, where) },
                "accel" => result with { Accel = ParseAccel(value, where) },
                "serial" => result with { Serial = Wrap(() => SerialTarget.Parse(value), where) },
                "display" => result with { Display = Wrap(() => DisplayTarget.Parse(value), where) },
                "timeout" => result with { TimeoutSeconds = ParseSeconds(value, where) },
                "expect" => result with { Expect = value },
                "rtc" => result with { Rtc = ParseRtc(value, where) },
                _ => throw new InvalidOperationException(key),
            };
        }
        return result with { Modules = modules };
    }

    private static BootFile AddModule(BootFile f, List<string> modules, string path)
    {
        modules.Add(path);
        return f;
    }

    private static T Wrap<T>(Func<T> parse, string where)
    {
        try { return parse(); }
        catch (ConfigException e) { throw new ConfigException($"{where}: {e.Message}"); }
    }

    public static BootProtocol ParseProtocol(string value, string where) => value.ToLowerInvariant() switch
    {
        "auto" => BootProtocol.Auto,
        "multiboot" => BootProtocol.Multiboot,
        "stos" => BootProtocol.Stos,
        "linux" => BootProtocol.Linux,
        "elf" => BootProtocol.Elf,
        _ => throw new ConfigException($"{where}: protocol must be auto, multiboot, stos, linux or elf, not '{value}'"),
    };

    public static Accelerator ParseAccel(string value, string where) => value.ToLowerInvariant() switch
    {
        "soft" or "tcg" => Accelerator.Soft,
        "kvm" => Accelerator.Kvm,
        "auto" => Accelerator.Auto,
        _ => throw new ConfigException($"{where}: accel must be soft, kvm or auto, not '{value}'"),
    };

    public static int ParseMemory(string value, string where)
    {
        string v = value.Trim();
        long scale = 1;
        if (v.EndsWith('G') || v.EndsWith('g')) { scale = 1024; v = v[..^1]; }
        else if (v.EndsWith('M') || v.EndsWith('m')) { v = v[..^1]; }
        if (!long.TryParse(v, System.Globalization.NumberStyles.None, null, out long n))
            throw new ConfigException($"{where}: memory must be a number of MiB (like 128 or 1G), not '{value}'");
        return CheckMemory(n * scale, where);
    }

    public static int CheckMemory(long mib, string where)
    {
        if (mib < MachineConfig.MinMemoryMiB)
            throw new ConfigException($"{where}: {mib} MiB is too little memory (at least {MachineConfig.MinMemoryMiB} MiB: low memory and 1 MiB above it)");
        if (mib > MachineConfig.MaxMemoryMiB)
            throw new ConfigException($"{where}: {mib} MiB is more memory than mykvm supports ({MachineConfig.MaxMemoryMiB} MiB)");
        return (int)mib;
    }

    public static double ParseSeconds(string value, string where)
    {
        if (!double.TryParse(value, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double s) || s <= 0 || double.IsInfinity(s))
            throw new ConfigException($"{where}: timeout must be a positive number of seconds, not '{value}'");
        return s;
    }

    public static DateTime ParseRtc(string value, string where)
    {
        if (DateTime.TryParse(value, System.Globalization.CultureInfo.InvariantCulture,
                System.Globalization.DateTimeStyles.AdjustToUniversal | System.Globalization.DateTimeStyles.AssumeUniversal, out var t))
            return t;
        throw new ConfigException($"{where}: rtc must be a date like 2024-01-31T12:00:00, not '{value}'");
    }

    public static string Describe(Exception e) => e switch
    {
        FileNotFoundException or DirectoryNotFoundException => "no such file",
        UnauthorizedAccessException => "permission denied",
        _ => e.Message,
    };
}
