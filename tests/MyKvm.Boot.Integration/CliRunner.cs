using MyKvm.Cli;

namespace MyKvm.Boot.Integration;

/// <summary>Runs the mykvm command in-process with COM1 going to a file, and returns what the guest printed.</summary>
internal sealed class CliRunner : IDisposable
{
    public string Dir { get; } = Directory.CreateTempSubdirectory("mykvm-boot-it-").FullName;

    public sealed record Result(int ExitCode, string Serial, string Stderr);

    /// <summary>
    /// mykvm ARGS with --serial file: and a timeout added (unless the args say otherwise). Options must come before
    /// the kernel arguments, so they are put first.
    /// </summary>
    public Result Run(params string[] args)
    {
        string serial = Path.Combine(Dir, $"serial-{Guid.NewGuid():N}.txt");
        var full = new List<string>();
        if (!args.Contains("--serial")) full.AddRange(["--serial", $"file:{serial}"]);
        if (!args.Contains("--timeout")) full.AddRange(["--timeout", "120"]);
        full.AddRange(args);
        var err = new StringWriter();
        int code = CommandLineInterface.Run([.. full], new StringWriter(), err);
        string output = File.Exists(serial) ? File.ReadAllText(serial).Replace("\r\n", "\n") : "";
        return new Result(code, output, err.ToString());
    }

    public string Write(string name, string content)
    {
        string p = Path.Combine(Dir, name);
        File.WriteAllText(p, content);
        return p;
    }

    public string Copy(string source, string name)
    {
        string p = Path.Combine(Dir, name);
        Directory.CreateDirectory(Path.GetDirectoryName(p)!);
        File.Copy(source, p, overwrite: true);
        return p;
    }

    public void Dispose()
    {
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { }
    }
}
