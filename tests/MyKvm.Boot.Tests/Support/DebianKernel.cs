namespace MyKvm.Boot.Tests.Support;

/// <summary>
/// Debian's x86_64 kernel (the linux-image-6.1.*-amd64 package linux-image-amd64 depends on), fetched outside the
/// tests: <c>apt-get download</c> into /tmp/debian-kernel and <c>dpkg -x</c> (or only its boot/), or
/// scripts/linux/fetch-kernel.sh (.artifacts/linux/vmlinuz), or any path in MYKVM_DEBIAN_KERNEL.
/// </summary>
internal static class DebianKernel
{
    private static readonly Lazy<string?> s_path = new(Find);

    public static string? Path => s_path.Value;

    public static string Require() => Path ?? throw new InvalidOperationException("no Debian kernel (the fact should have been skipped)");

    private static string? Find()
    {
        if (Environment.GetEnvironmentVariable("MYKVM_DEBIAN_KERNEL") is { Length: > 0 } env && File.Exists(env))
            return env;
        const string apt = "/tmp/debian-kernel/boot";
        if (Directory.Exists(apt))
            foreach (var f in Directory.GetFiles(apt, "vmlinuz-6.1.*-amd64").Order())
                return f;
        string fetched = System.IO.Path.Combine(Guests.RepoRoot, ".artifacts", "linux", "vmlinuz");
        return File.Exists(fetched) ? fetched : null;
    }
}

/// <summary>A fact about Debian's kernel, skipped (with how to get it) when it has not been fetched.</summary>
public sealed class DebianKernelFactAttribute : FactAttribute
{
    public DebianKernelFactAttribute()
    {
        if (DebianKernel.Path is null)
            Skip = "needs Debian's linux-image-6.1.*-amd64: apt-get download it into /tmp/debian-kernel and dpkg -x it there, "
                + "run scripts/linux/fetch-kernel.sh, or set MYKVM_DEBIAN_KERNEL";
    }
}

/// <summary>
/// A 4-level page walk (Intel SDM Vol. 3A §4.5), written apart from the loader's table writer, to check what the
/// boot page tables map.
/// </summary>
internal static class PageWalk
{
    /// <summary>The physical address <paramref name="linear"/> maps to under <paramref name="cr3"/>, or null.</summary>
    public static ulong? Translate(MyKvm.Core.GuestRam ram, ulong cr3, ulong linear)
    {
        const ulong addressMask = 0x000F_FFFF_FFFF_F000;
        ulong table = cr3 & addressMask;
        for (int level = 3; level >= 0; level--)
        {
            int shift = 12 + 9 * level;
            ulong entry = ram.Read64(table + ((linear >> shift) & 0x1FF) * 8);
            if ((entry & 1) == 0) return null;
            bool large = level is 1 or 2 && (entry & 0x80) != 0;
            if (large || level == 0)
            {
                ulong pageMask = (1UL << shift) - 1;
                return (entry & addressMask & ~pageMask) | (linear & pageMask);
            }
            table = entry & addressMask;
        }
        return null;
    }
}
