using MyKvm.Kvm.Interop;

namespace MyKvm.Kvm;

/// <summary>What went wrong, coarsely: it decides the process exit code.</summary>
public enum KvmErrorKind
{
    /// <summary>No /dev/kvm, or KVM disabled in firmware: KVM cannot be used on this host.</summary>
    Unavailable,
    /// <summary>/dev/kvm exists but this user may not open it.</summary>
    PermissionDenied,
    /// <summary>The kernel's KVM API version or capabilities are not what this VMM needs.</summary>
    Unsupported,
    /// <summary>An ioctl failed while building or running the VM.</summary>
    Failed,
    /// <summary>The requested boot state cannot be entered under KVM (for example the paging trampoline cannot be mapped).</summary>
    BadBootState,
}

/// <summary>A KVM failure described in one line, with the errno decoded into advice where there is some.</summary>
public sealed class KvmException : Exception
{
    public KvmException(KvmErrorKind kind, string message, int errno = 0) : base(message)
    {
        Kind = kind;
        Errno = errno;
    }

    public KvmErrorKind Kind { get; }
    /// <summary>The errno of the failing call, 0 when none.</summary>
    public int Errno { get; }

    /// <summary>
    /// A suggested process exit code, from sysexits.h: 69 EX_UNAVAILABLE (no KVM here), 77 EX_NOPERM, 70 EX_SOFTWARE
    /// (an ioctl failed) and 78 EX_CONFIG (unsupported KVM or boot state).
    /// </summary>
    public int ExitCode => Kind switch
    {
        KvmErrorKind.Unavailable => 69,
        KvmErrorKind.PermissionDenied => 77,
        KvmErrorKind.Unsupported or KvmErrorKind.BadBootState => 78,
        _ => 70,
    };

    /// <summary>The error for a failed open of the KVM device node.</summary>
    public static KvmException OpenFailed(string path, int errno) => errno switch
    {
        LibC.ENOENT => new(KvmErrorKind.Unavailable, $"no {path}: is the kvm module loaded? (modprobe kvm_intel or kvm_amd; in a VM, enable nested virtualization)", errno),
        LibC.EACCES or LibC.EPERM => new(KvmErrorKind.PermissionDenied, $"permission denied on {path}: add yourself to the kvm group (sudo usermod -aG kvm $USER, then log in again)", errno),
        LibC.ENXIO or LibC.ENODEV => new(KvmErrorKind.Unavailable, $"{path} exists but no KVM driver answers it: is virtualization (VT-x/AMD-V) enabled in the firmware?", errno),
        _ => new(KvmErrorKind.Unavailable, $"cannot open {path}: {Describe(errno)}", errno),
    };

    /// <summary>The error for a failed ioctl named <paramref name="request"/> ("KVM_CREATE_VM").</summary>
    public static KvmException IoctlFailed(string request, int errno, string? context = null)
    {
        string advice = (request, errno) switch
        {
            ("KVM_CREATE_VM", LibC.EBUSY) => "another hypervisor (VirtualBox, VMware) holds the virtualization extensions",
            ("KVM_CREATE_VM", LibC.ENOMEM or LibC.ENOSPC) => "the host is out of memory or VM slots",
            ("KVM_CREATE_VM", LibC.EINVAL) => "the host cannot create a VM of the default type",
            ("KVM_SET_USER_MEMORY_REGION", LibC.EINVAL) => "the slot is misaligned or overlaps another",
            ("KVM_SET_USER_MEMORY_REGION", LibC.EEXIST) => "the slot overlaps an existing one",
            (_, LibC.ENOTTY) => "this kernel's KVM does not know this ioctl",
            (_, LibC.E2BIG) => "the kernel wanted a bigger buffer",
            (_, LibC.ENOMEM) => "the host is out of memory",
            (_, LibC.EFAULT) => "the kernel could not read or write the argument",
            _ => "",
        };
        string what = context is null ? request : $"{request} ({context})";
        string line = advice.Length == 0 ? $"{what} failed: {Describe(errno)}" : $"{what} failed: {advice} ({Describe(errno)})";
        return new KvmException(KvmErrorKind.Failed, line, errno);
    }

    /// <summary>"EACCES: Permission denied".</summary>
    public static string Describe(int errno)
    {
        string text = System.Runtime.InteropServices.Marshal.PtrToStringUTF8(LibC.StrError(errno)) ?? "";
        return $"{LibC.ErrnoName(errno)}: {text}";
    }
}
