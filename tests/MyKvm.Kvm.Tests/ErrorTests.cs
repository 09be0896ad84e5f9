using MyKvm.Core;
using MyKvm.Kvm.Interop;

namespace MyKvm.Kvm.Tests;

public class ErrorTests
{
    private static readonly string Missing = Path.Combine(Path.GetTempPath(), "mykvm-no-such-dir", "kvm");

    [Fact]
    public void AMissingDeviceIsOneClearLine()
    {
        var e = Assert.Throws<KvmException>(() => KvmSystem.Open(Missing));
        Assert.Equal(KvmErrorKind.Unavailable, e.Kind);
        Assert.Equal(LibC.ENOENT, e.Errno);
        Assert.Equal(69, e.ExitCode);
        Assert.StartsWith($"no {Missing}: is the kvm module loaded?", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void TryOpenReturnsTheReasonInsteadOfThrowing()
    {
        Assert.Null(KvmSystem.TryOpen(out string reason, Missing));
        Assert.Contains("is the kvm module loaded?", reason);
    }

    [Fact]
    public void ADeviceThatIsNotKvmIsReported()
    {
        // /dev/null opens but answers no KVM ioctl (ENOTTY).
        var e = Assert.Throws<KvmException>(() => KvmSystem.Open("/dev/null"));
        Assert.Equal(KvmErrorKind.Unsupported, e.Kind);
        Assert.Equal("/dev/null is not a KVM device: KVM_GET_API_VERSION failed (ENOTTY: Inappropriate ioctl for device)", e.Message);
    }

    [Theory]
    [InlineData(LibC.EACCES, KvmErrorKind.PermissionDenied, 77, "permission denied on /dev/kvm: add yourself to the kvm group")]
    [InlineData(LibC.EPERM, KvmErrorKind.PermissionDenied, 77, "permission denied on /dev/kvm: add yourself to the kvm group")]
    [InlineData(LibC.ENXIO, KvmErrorKind.Unavailable, 69, "/dev/kvm exists but no KVM driver answers it")]
    [InlineData(LibC.ENOENT, KvmErrorKind.Unavailable, 69, "no /dev/kvm: is the kvm module loaded?")]
    [InlineData(LibC.EMFILE, KvmErrorKind.Unavailable, 69, "cannot open /dev/kvm: EMFILE: Too many open files")]
    public void OpenErrnosAreDecoded(int errno, KvmErrorKind kind, int exitCode, string start)
    {
        var e = KvmException.OpenFailed("/dev/kvm", errno);
        Assert.Equal(kind, e.Kind);
        Assert.Equal(exitCode, e.ExitCode);
        Assert.StartsWith(start, e.Message);
    }

    [Fact]
    public void IoctlErrnosAreDecoded()
    {
        Assert.Equal("KVM_CREATE_VM failed: another hypervisor (VirtualBox, VMware) holds the virtualization extensions (EBUSY: Device or resource busy)",
            KvmException.IoctlFailed("KVM_CREATE_VM", LibC.EBUSY).Message);
        Assert.Equal("KVM_SET_USER_MEMORY_REGION (slot 1: 0x0+0x1000) failed: the slot overlaps an existing one (EEXIST: File exists)",
            KvmException.IoctlFailed("KVM_SET_USER_MEMORY_REGION", LibC.EEXIST, "slot 1: 0x0+0x1000").Message);
        Assert.Equal("KVM_RUN failed: EIO: Input/output error", KvmException.IoctlFailed("KVM_RUN", LibC.EIO).Message);
        Assert.Equal(70, KvmException.IoctlFailed("KVM_RUN", LibC.EIO).ExitCode);
    }

    [Fact]
    public void CreatingAVcpuWithoutKvmFailsCleanly()
    {
        using var ram = new GuestRam(1 << 20);
        var ctx = new VcpuContext { Ram = ram, Io = new IoBus(), Mmio = new MmioBus(), Signals = new CpuSignals(), Clock = new MachineClock(ClockMode.RealTime) };
        var e = Assert.Throws<KvmException>(() => KvmVcpu.Create(ctx, new KvmOptions { DevicePath = Missing }));
        Assert.Equal(KvmErrorKind.Unavailable, e.Kind);
        Assert.Null(ctx.Signals.Kick);
    }

    [Fact]
    public void TheProbeSaysWhyKvmIsNotUsed()
    {
        var result = KvmProbe.Run(new KvmOptions { DevicePath = Missing });
        Assert.False(result.Usable);
        Assert.StartsWith($"no {Missing}", result.Reason);
        Assert.Equal($"accel auto: using the software CPU (no {Missing}: is the kvm module loaded?",
            KvmProbe.DescribeAutoChoice(result)[..($"accel auto: using the software CPU (no {Missing}: is the kvm module loaded?".Length)]);
        Assert.False(KvmProbe.Run(new KvmOptions { DevicePath = "/dev/null" }).Usable);
    }
}
