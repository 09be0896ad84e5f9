using System.Diagnostics;

namespace MyKvm.Boot.Tests.Support;

/// <summary>Runs a guest under qemu-system-i386, the reference, and returns its serial output and exit status.</summary>
internal static class Qemu
{
    public static (string Serial, int ExitStatus) Run(IEnumerable<string> args, int timeoutSeconds = 60)
    {
        var psi = new ProcessStartInfo("qemu-system-i386")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        foreach (var a in new[] { "-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot",
                     "-device", "isa-debug-exit,iobase=0xf4,iosize=4" }.Concat(args))
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("cannot start qemu-system-i386");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeoutSeconds * 1000))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"qemu did not finish in {timeoutSeconds} s; output so far: {stdout.Result}");
        }
        return (stdout.Result.Replace("\r\n", "\n"), p.ExitCode);
    }
}
