using MyKvm.Kvm;

namespace MyKvm.Boot.Integration;

/// <summary>
/// A fact that needs KVM able to run paged guests (the stos state starts with paging on, which KVM reaches through
/// its trampoline). xunit 2.9 has no dynamic skip, so the reason is found at discovery and put in Skip, where the
/// runner prints it.
/// </summary>
public sealed class KvmFactAttribute : FactAttribute
{
    private static readonly Lazy<string?> Failure = new(() =>
    {
        using (var system = KvmSystem.TryOpen(out string reason))
            if (system is null) return reason;
        var probe = KvmProbe.Run();
        return probe.Usable ? null : probe.Reason;
    });

    public KvmFactAttribute()
    {
        if (Failure.Value is { } why) Skip = $"needs KVM: {why}";
    }
}
