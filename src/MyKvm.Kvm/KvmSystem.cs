using System.Runtime.InteropServices;
using MyKvm.Kvm.Interop;

namespace MyKvm.Kvm;

/// <summary>
/// The open KVM device (/dev/kvm): API version, capability checks, supported CPUID, VM creation.
/// Disposing it closes the fd; VMs created from it keep their own fds and must be disposed first.
/// </summary>
public sealed unsafe class KvmSystem : IDisposable
{
    public const string DefaultDevicePath = "/dev/kvm";

    /// <summary>Capabilities without which this VMM cannot run a guest.</summary>
    internal static readonly KvmCap[] RequiredCaps = [KvmCap.UserMemory, KvmCap.SetTssAddr, KvmCap.ExtCpuid];

    private int _fd;

    private KvmSystem(int fd, string path)
    {
        _fd = fd;
        DevicePath = path;
    }

    public string DevicePath { get; }
    internal int Fd => _fd >= 0 ? _fd : throw new ObjectDisposedException(nameof(KvmSystem));

    /// <summary>
    /// Opens <paramref name="path"/> and checks API version 12 and the capabilities this VMM needs.
    /// Throws <see cref="KvmException"/> with a one-line reason.
    /// </summary>
    public static KvmSystem Open(string path = DefaultDevicePath)
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64)
            throw new KvmException(KvmErrorKind.Unavailable, $"KVM needs x86-64 Linux; this is {RuntimeInformation.OSDescription} on {RuntimeInformation.ProcessArchitecture}");
        int fd = LibC.Open(path, LibC.O_RDWR | LibC.O_CLOEXEC);
        if (fd < 0) throw KvmException.OpenFailed(path, Marshal.GetLastPInvokeError());
        var system = new KvmSystem(fd, path);
        try
        {
            int version = LibC.Ioctl(fd, KvmIoctls.GetApiVersion, 0);
            if (version < 0)
                throw new KvmException(KvmErrorKind.Unsupported, $"{path} is not a KVM device: KVM_GET_API_VERSION failed ({KvmException.Describe(Marshal.GetLastPInvokeError())})");
            if (version != KvmConstants.ApiVersion)
                throw new KvmException(KvmErrorKind.Unsupported, $"{path} reports KVM API version {version}; mykvm needs version {KvmConstants.ApiVersion}");
            foreach (var cap in RequiredCaps)
                if (system.CheckExtension(cap) <= 0)
                    throw new KvmException(KvmErrorKind.Unsupported, $"{path} lacks KVM_CAP_{CapName(cap)}, which mykvm needs");
            return system;
        }
        catch
        {
            system.Dispose();
            throw;
        }
    }

    /// <summary>Like <see cref="Open"/>, but returns null and a one-line reason instead of throwing.</summary>
    public static KvmSystem? TryOpen(out string reason, string path = DefaultDevicePath)
    {
        try
        {
            var system = Open(path);
            reason = $"{path}: KVM API {KvmConstants.ApiVersion}";
            return system;
        }
        catch (KvmException e)
        {
            reason = e.Message;
            return null;
        }
    }

    /// <summary>KVM_CHECK_EXTENSION: 0 when absent, else 1 or a capability-specific count.</summary>
    public int CheckExtension(KvmCap cap)
    {
        int r = LibC.Ioctl(Fd, KvmIoctls.CheckExtension, (nint)cap);
        return r < 0 ? 0 : r;
    }

    /// <summary>KVM_GET_VCPU_MMAP_SIZE: bytes to map from a vCPU fd (the kvm_run page and the PIO data page).</summary>
    public int VcpuMmapSize
    {
        get
        {
            int size = LibC.Ioctl(Fd, KvmIoctls.GetVcpuMmapSize, 0);
            if (size < 0) throw KvmException.IoctlFailed("KVM_GET_VCPU_MMAP_SIZE", Marshal.GetLastPInvokeError());
            if (size < sizeof(KvmRun)) throw new KvmException(KvmErrorKind.Unsupported, $"KVM_GET_VCPU_MMAP_SIZE is {size}, smaller than struct kvm_run ({sizeof(KvmRun)})");
            return size;
        }
    }

    /// <summary>KVM_GET_SUPPORTED_CPUID: the CPUID leaves KVM can present to a guest on this host.</summary>
    public KvmCpuidEntry2[] GetSupportedCpuid()
    {
        for (int capacity = 128; capacity <= 4096; capacity *= 2)
        {
            int bytes = sizeof(KvmCpuid2Header) + capacity * sizeof(KvmCpuidEntry2);
            byte* buffer = (byte*)NativeMemory.AllocZeroed((nuint)bytes);
            try
            {
                ((KvmCpuid2Header*)buffer)->Nent = (uint)capacity;
                if (LibC.Ioctl(Fd, KvmIoctls.GetSupportedCpuid, (nint)buffer) < 0)
                {
                    int errno = Marshal.GetLastPInvokeError();
                    if (errno == LibC.E2BIG) continue;
                    throw KvmException.IoctlFailed("KVM_GET_SUPPORTED_CPUID", errno);
                }
                int n = (int)((KvmCpuid2Header*)buffer)->Nent;
                return new ReadOnlySpan<KvmCpuidEntry2>(buffer + sizeof(KvmCpuid2Header), n).ToArray();
            }
            finally
            {
                NativeMemory.Free(buffer);
            }
        }
        throw new KvmException(KvmErrorKind.Failed, "KVM_GET_SUPPORTED_CPUID: more than 4096 entries");
    }

    public void Dispose()
    {
        if (_fd >= 0)
        {
            LibC.Close(_fd);
            _fd = -1;
        }
    }

    internal static string CapName(KvmCap cap) => cap switch
    {
        KvmCap.UserMemory => "USER_MEMORY",
        KvmCap.SetTssAddr => "SET_TSS_ADDR",
        KvmCap.ExtCpuid => "EXT_CPUID",
        KvmCap.SetIdentityMapAddr => "SET_IDENTITY_MAP_ADDR",
        KvmCap.ImmediateExit => "IMMEDIATE_EXIT",
        KvmCap.Irqchip => "IRQCHIP",
        KvmCap.Pit2 => "PIT2",
        KvmCap.Hlt => "HLT",
        KvmCap.NrMemslots => "NR_MEMSLOTS",
        KvmCap.NrVcpus => "NR_VCPUS",
        _ => ((uint)cap).ToString(),
    };
}
