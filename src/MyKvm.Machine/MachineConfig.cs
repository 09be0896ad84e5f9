using MyKvm.Core;
using MyKvm.Boot;

namespace MyKvm.Machine;

public enum Accelerator { Soft, Kvm, Auto }

public enum DisplayKind { None, Term, Png }

/// <summary>Where the guest's COM1 goes.</summary>
public sealed record SerialTarget(SerialKind Kind, string? Path = null)
{
    public static readonly SerialTarget Stdio = new(SerialKind.Stdio);

    /// <summary>Parses <c>stdio</c>, <c>none</c> or <c>file:PATH</c>.</summary>
    public static SerialTarget Parse(string text)
    {
        if (text == "stdio") return Stdio;
        if (text == "none") return new(SerialKind.None);
        if (text.StartsWith("file:", StringComparison.Ordinal) && text.Length > 5) return new(SerialKind.File, text[5..]);
        throw new ConfigException($"--serial: expected stdio, none or file:PATH, not '{text}'");
    }

    public override string ToString() => Kind switch
    {
        SerialKind.File => $"file:{Path}",
        SerialKind.None => "none",
        _ => "stdio",
    };
}

public enum SerialKind { Stdio, File, None }

/// <summary>Where the VGA text screen goes: nowhere, the terminal, or a PNG written at exit.</summary>
public sealed record DisplayTarget(DisplayKind Kind, string? Path = null)
{
    public static readonly DisplayTarget None = new(DisplayKind.None);

    public static DisplayTarget Parse(string text)
    {
        if (text == "none") return None;
        if (text == "term") return new(DisplayKind.Term);
        if (text.StartsWith("png:", StringComparison.Ordinal) && text.Length > 4) return new(DisplayKind.Png, text[4..]);
        throw new ConfigException($"--display: expected none, term or png:PATH, not '{text}'");
    }

    public override string ToString() => Kind switch
    {
        DisplayKind.Png => $"png:{Path}",
        DisplayKind.Term => "term",
        _ => "none",
    };
}

/// <summary>Everything that defines one run of a machine: what the CLI and a .boot file say.</summary>
public sealed record MachineConfig
{
    public const int MinMemoryMiB = 2;
    public const int MaxMemoryMiB = 64 * 1024;

    public int MemoryMiB { get; init; } = 128;
    public required BootRequest Boot { get; init; }
    public Accelerator Accel { get; init; } = Accelerator.Soft;
    public SerialTarget Serial { get; init; } = SerialTarget.Stdio;
    public DisplayTarget Display { get; init; } = DisplayTarget.None;
    /// <summary>Wall-clock seconds before the run is stopped (exit 124, or 1 with a pending --expect).</summary>
    public double? TimeoutSeconds { get; init; }
    /// <summary>Text whose appearance on the serial port ends the run with exit code 0.</summary>
    public string? Expect { get; init; }
    public ClockMode Clock { get; init; } = ClockMode.Virtual;
    /// <summary>Fixed RTC date for deterministic runs; null follows the host clock.</summary>
    public DateTime? Rtc { get; init; }
    public bool Verbose { get; init; }
    public IReadOnlySet<string> Trace { get; init; } = new HashSet<string>();
    /// <summary>Serial input: null reads standard input when it is not a terminal.</summary>
    public Stream? SerialInput { get; init; }
    public bool KvmIrqchip { get; init; }
}

/// <summary>A configuration error: one line for the user, exit code 2.</summary>
public sealed class ConfigException(string message) : Exception(message);
