using System.Globalization;
using MyKvm.Debug.Symbols;

namespace MyKvm.Debug.Trace;

/// <summary>
/// <c>--trace</c> categories, like QEMU's <c>-d</c>: <c>int</c> (interrupts), <c>exc</c> (exceptions), <c>pf</c> (page
/// faults with the walk), <c>io</c> and <c>mmio</c> (every bus access), <c>cpu</c> (each instruction with registers).
/// <c>cpu</c> is bounded so it stays usable: <c>cpu=10000</c> (first N instructions), <c>cpu=0x100000-0x101000</c>
/// or <c>cpu=kmain</c> (only inside a linear range or a function), <c>cpu=kmain:500</c> (both). Unbounded <c>cpu</c>
/// stops after <see cref="DefaultCpuLimit"/> instructions.
/// </summary>
public sealed record TraceOptions
{
    public const long DefaultCpuLimit = 100_000;
    public static readonly string[] Categories = ["int", "exc", "pf", "io", "mmio", "cpu"];

    public bool Interrupts { get; init; }
    public bool Exceptions { get; init; }
    public bool PageFaults { get; init; }
    public bool Io { get; init; }
    public bool Mmio { get; init; }
    public bool Cpu { get; init; }
    /// <summary>Trace only instructions at linear addresses in [CpuStart, CpuEnd).</summary>
    public ulong CpuStart { get; init; }
    public ulong CpuEnd { get; init; } = ulong.MaxValue;
    /// <summary>At most this many instruction lines.</summary>
    public long CpuLimit { get; init; } = DefaultCpuLimit;

    public bool Any => Interrupts || Exceptions || PageFaults || Io || Mmio || Cpu;

    /// <summary>Parses "int,exc,cpu=kmain:200". Throws <see cref="ArgumentException"/> with a one-line message.</summary>
    public static TraceOptions Parse(string spec, SymbolTable? symbols = null)
    {
        var o = new TraceOptions();
        foreach (var raw in spec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int eq = raw.IndexOf('=');
            string name = eq < 0 ? raw : raw[..eq];
            string? arg = eq < 0 ? null : raw[(eq + 1)..];
            if (arg is not null && name != "cpu")
                throw new ArgumentException($"--trace: only cpu takes a bound ({raw})");
            o = name switch
            {
                "int" => o with { Interrupts = true },
                "exc" => o with { Exceptions = true },
                "pf" => o with { PageFaults = true },
                "io" => o with { Io = true },
                "mmio" => o with { Mmio = true },
                "cpu" => ParseCpu(o with { Cpu = true }, arg, symbols),
                _ => throw new ArgumentException($"--trace: unknown category '{name}' (known: {string.Join(", ", Categories)})"),
            };
        }
        return o;
    }

    private static TraceOptions ParseCpu(TraceOptions o, string? arg, SymbolTable? symbols)
    {
        if (string.IsNullOrEmpty(arg)) return o;
        string range = arg, count = "";
        int colon = arg.LastIndexOf(':');
        if (colon >= 0)
        {
            range = arg[..colon];
            count = arg[(colon + 1)..];
        }
        else if (long.TryParse(arg, out _))
        {
            range = "";
            count = arg;
        }
        if (count.Length > 0)
        {
            if (!long.TryParse(count, out long n) || n <= 0) throw new ArgumentException($"--trace cpu: bad instruction count '{count}'");
            o = o with { CpuLimit = n };
        }
        if (range.Length == 0) return o;
        int dash = range.IndexOf('-');
        if (dash > 0)
            return o with { CpuStart = Number(range[..dash]), CpuEnd = Number(range[(dash + 1)..]) };
        if (symbols?.Find(range) is { } sym)
            return o with { CpuStart = sym.Address, CpuEnd = sym.Address + Math.Max(1, sym.Size) };
        throw new ArgumentException($"--trace cpu={arg}: expected START-END, a function name from the kernel's symbols, and/or :COUNT");
    }

    private static ulong Number(string s)
    {
        s = s.Trim();
        if (s.StartsWith("0x", StringComparison.OrdinalIgnoreCase) && ulong.TryParse(s.AsSpan(2), NumberStyles.HexNumber, null, out ulong h)) return h;
        if (ulong.TryParse(s, out ulong d)) return d;
        throw new ArgumentException($"--trace cpu: bad address '{s}' (hex needs 0x)");
    }
}
