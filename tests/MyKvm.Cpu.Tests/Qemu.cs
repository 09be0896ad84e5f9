using System.Diagnostics;

namespace MyKvm.Cpu.Tests;

/// <summary>Runs a guest under qemu-system-i386 (the reference) and returns its serial output and exit code.</summary>
internal static class Qemu
{
    public static (string Serial, int ExitCode) Run(string elf, string extraArgs = "", int timeoutMs = 60_000)
    {
        var psi = new ProcessStartInfo("qemu-system-i386",
            $"-display none -serial stdio -monitor none -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=4 {extraArgs} -kernel {elf}")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeoutMs))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"qemu did not finish {elf}: {stdout.Result}");
        }
        p.WaitForExit();
        int status = p.ExitCode;
        // isa-debug-exit: status = (code << 1) | 1.
        return (stdout.Result.Replace("\r\n", "\n"), (status & 1) == 1 ? status >> 1 : -1);
    }
}
