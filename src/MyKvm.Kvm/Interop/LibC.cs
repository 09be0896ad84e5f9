using System.Runtime.InteropServices;

namespace MyKvm.Kvm.Interop;

/// <summary>The few libc calls the KVM backend needs (glibc, x86-64 Linux).</summary>
internal static unsafe partial class LibC
{
    private const string Lib = "libc";

    public const int O_RDWR = 2, O_CLOEXEC = 0x80000;
    public const int PROT_READ = 1, PROT_WRITE = 2, MAP_SHARED = 1;
    public const int SIG_BLOCK = 0, SIG_UNBLOCK = 1, SIG_SETMASK = 2;
    public const int CLOCK_MONOTONIC = 1;
    /// <summary>Linux's SIGEV_THREAD_ID: a POSIX timer that signals one thread (timer_create(2)).</summary>
    public const int SIGEV_THREAD_ID = 4;

    public const int EPERM = 1, ENOENT = 2, EINTR = 4, EIO = 5, ENXIO = 6, E2BIG = 7, EBADF = 9, EAGAIN = 11, ENOMEM = 12,
        EACCES = 13, EFAULT = 14, EBUSY = 16, EEXIST = 17, ENODEV = 19, EINVAL = 22, ENFILE = 23, EMFILE = 24, ENOTTY = 25,
        ENOSPC = 28, EOPNOTSUPP = 95;

    /// <summary>glibc's sigset_t is 1024 bits; the kernel's is 64 (what KVM_SET_SIGNAL_MASK takes).</summary>
    public const int LibcSigsetBytes = 128, KernelSigsetBytes = 8;

    [LibraryImport(Lib, EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int Open(string path, int flags);

    [LibraryImport(Lib, EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    // ioctl(2) is variadic in C; on x86-64 SysV a variadic callee reads integer arguments from the same registers
    // as a fixed-argument one, so declaring the third argument as a pointer-sized integer is exact.
    [LibraryImport(Lib, EntryPoint = "ioctl", SetLastError = true)]
    public static partial int Ioctl(int fd, nuint request, nint arg);

    [LibraryImport(Lib, EntryPoint = "mmap", SetLastError = true)]
    public static partial nint Mmap(nint addr, nuint length, int prot, int flags, int fd, nint offset);

    [LibraryImport(Lib, EntryPoint = "munmap", SetLastError = true)]
    public static partial int Munmap(nint addr, nuint length);

    [LibraryImport(Lib, EntryPoint = "gettid")]
    public static partial int GetTid();

    [LibraryImport(Lib, EntryPoint = "getpid")]
    public static partial int GetPid();

    [LibraryImport(Lib, EntryPoint = "tgkill", SetLastError = true)]
    public static partial int TgKill(int tgid, int tid, int sig);

    [LibraryImport(Lib, EntryPoint = "pthread_sigmask")]
    public static partial int PthreadSigmask(int how, byte* set, byte* oldset);

    [LibraryImport(Lib, EntryPoint = "sigtimedwait", SetLastError = true)]
    public static partial int SigTimedWait(byte* set, byte* info, Timespec* timeout);

    [LibraryImport(Lib, EntryPoint = "__libc_current_sigrtmax")]
    public static partial int CurrentSigRtMax();

    [LibraryImport(Lib, EntryPoint = "timer_create", SetLastError = true)]
    public static partial int TimerCreate(int clockId, SigEvent* sevp, nint* timerId);

    [LibraryImport(Lib, EntryPoint = "timer_settime", SetLastError = true)]
    public static partial int TimerSettime(nint timerId, int flags, ITimerspec* newValue, ITimerspec* oldValue);

    [LibraryImport(Lib, EntryPoint = "timer_delete", SetLastError = true)]
    public static partial int TimerDelete(nint timerId);

    [LibraryImport(Lib, EntryPoint = "strerror")]
    public static partial nint StrError(int errnum);

    [StructLayout(LayoutKind.Sequential)]
    public struct Timespec
    {
        public long Sec, Nsec;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct ITimerspec
    {
        public Timespec Interval, Value;
    }

    /// <summary>struct sigevent (64 bytes on x86-64): value, signo, notify, then the union whose first int is the thread id.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 64)]
    public struct SigEvent
    {
        [FieldOffset(0)] public nint Value;
        [FieldOffset(8)] public int Signo;
        [FieldOffset(12)] public int Notify;
        [FieldOffset(16)] public int ThreadId;
    }

    /// <summary>Sets bit <paramref name="signal"/> in a sigset (signal numbers start at 1).</summary>
    public static void SigAddSet(Span<byte> set, int signal) => set[(signal - 1) >> 3] |= (byte)(1 << ((signal - 1) & 7));

    public static void SigDelSet(Span<byte> set, int signal) => set[(signal - 1) >> 3] &= (byte)~(1 << ((signal - 1) & 7));

    public static string ErrnoName(int errno) => errno switch
    {
        EPERM => "EPERM", ENOENT => "ENOENT", EINTR => "EINTR", EIO => "EIO", ENXIO => "ENXIO", E2BIG => "E2BIG",
        EBADF => "EBADF", EAGAIN => "EAGAIN", ENOMEM => "ENOMEM", EACCES => "EACCES", EFAULT => "EFAULT",
        EBUSY => "EBUSY", EEXIST => "EEXIST", ENODEV => "ENODEV", EINVAL => "EINVAL", ENFILE => "ENFILE",
        EMFILE => "EMFILE", ENOTTY => "ENOTTY", ENOSPC => "ENOSPC", EOPNOTSUPP => "EOPNOTSUPP",
        _ => $"errno {errno}",
    };
}
