using MyKvm.Kvm;

namespace MyKvm.Kvm.Tests;

/// <summary>
/// A fact that needs a working /dev/kvm. xunit 2.9 has no dynamic skip, so the skip reason is decided when tests are
/// discovered: opening /dev/kvm (and, with <see cref="NeedsPaging"/>, running the paged probe guest) and putting the
/// one-line reason into <see cref="FactAttribute.Skip"/>, where the runner prints it.
/// </summary>
public sealed class KvmFactAttribute : FactAttribute
{
    private static readonly Lazy<string?> OpenFailure = new(() =>
    {
        using var system = KvmSystem.TryOpen(out string reason);
        return system is null ? reason : null;
    });

    private static readonly Lazy<string?> ProbeFailure = new(() =>
    {
        var result = KvmProbe.Run();
        return result.Usable ? null : result.Reason;
    });

    public KvmFactAttribute(bool needsPaging = false)
    {
        NeedsPaging = needsPaging;
        string? why = OpenFailure.Value ?? (needsPaging ? ProbeFailure.Value : null);
        if (why is not null) Skip = $"needs KVM: {why}";
    }

    public bool NeedsPaging { get; }
}
