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

/// <summary>A disk on the IDE controller: index 0–3 = primary master, primary slave, secondary master, secondary slave.</summary>
public sealed record DriveConfig(string Path, int Index, bool Snapshot = false, bool ReadOnly = false)
{
    /// <summary>Parses QEMU-style <c>file=PATH[,index=N][,snapshot=on][,readonly=on]</c>.</summary>
    public static DriveConfig Parse(string text, int defaultIndex)
    {
        string? path = null;
        int index = defaultIndex;
        bool snapshot = false, readOnly = false;
        foreach (var part in text.Split(','))
        {
            int eq = part.IndexOf('=');
            string key = eq < 0 ? part : part[..eq], value = eq < 0 ? "" : part[(eq + 1)..];
            switch (key)
            {
                case "file" when value.Length > 0: path = System.IO.Path.GetFullPath(value); break;
                case "index" when int.TryParse(value, out int i) && i is >= 0 and <= 3: index = i; break;
                case "snapshot": snapshot = ParseOnOff(value, text); break;
                case "readonly": readOnly = ParseOnOff(value, text); break;
                case "format" when value == "raw": break;
                case "if" when value == "ide": break;
                case "media" when value == "disk": break;
                default: throw new ConfigException($"--drive {text}: cannot use '{part}' (file=PATH, index=0..3, snapshot=on|off, readonly=on|off, format=raw, if=ide)");
            }
        }
        if (path is null) throw new ConfigException($"--drive {text}: needs file=PATH");
        return new DriveConfig(path, index, snapshot, readOnly);
    }

    private static bool ParseOnOff(string value, string text) => value switch
    {
        "on" or "" or "true" => true,
        "off" or "false" => false,
        _ => throw new ConfigException($"--drive {text}: expected on or off, not '{value}'"),
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
    /// <summary>Serial input: null reads standard input when it is not a terminal.</summary>
    public Stream? SerialInput { get; init; }
    public bool KvmIrqchip { get; init; }
    public IReadOnlyList<DriveConfig> Drives { get; init; } = [];
    /// <summary>gdb stub, trace, fault explanations (the kernel's symbols are added from the loader's result).</summary>
    public MyKvm.Debug.DebugOptions Debug { get; init; } = new();
    /// <summary><c>--monitor stdio</c>: the monitor reads commands from standard input (serial input is then closed).</summary>
    public bool MonitorOnStdio { get; init; }
}

/// <summary>A configuration error: one line for the user, exit code 2.</summary>
public sealed class ConfigException(string message) : Exception(message);
