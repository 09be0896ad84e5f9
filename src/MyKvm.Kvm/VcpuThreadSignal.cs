using System.Runtime.InteropServices;
using MyKvm.Kvm.Interop;

namespace MyKvm.Kvm;

/// <summary>
/// Gets a vCPU thread out of KVM_RUN: for the end of a time slice, and for kicks from other threads
/// (Ctrl-C, host input, the timeout, device events).
/// <para>
/// The mechanism, and why: one real-time signal (SIGRTMAX-2) is kept <em>blocked</em> in the thread that runs
/// the vCPU, and KVM_SET_SIGNAL_MASK unblocks it only while that thread is inside KVM_RUN. A signal sent to the
/// thread (tgkill, or a POSIX timer with SIGEV_THREAD_ID for the slice end) therefore makes KVM_RUN return EINTR,
/// and outside KVM_RUN it just stays pending — so a kick that arrives while the VMM handles an exit is not lost:
/// the next KVM_RUN returns at once. The signal is never delivered, so no handler is installed and nothing
/// interferes with the .NET runtime's own handlers (it uses SIGRTMIN for thread activation and the usual
/// SIGSEGV/SIGINT/...); pending instances are consumed with sigtimedwait. Kicks are only sent while a thread
/// is registered as inside <see cref="KvmVcpu.Run"/>, so a thread id is never signalled after the thread moved on.
/// </para>
/// </summary>
internal sealed unsafe class VcpuThreadSignal : IDisposable
{
    private readonly object _lock = new();
    private readonly int _signal;
    private int _setupTid;
    private int _runningTid;
    private nint _timer;
    private bool _hasTimer;
    private bool _disposed;

    public VcpuThreadSignal()
    {
        _signal = LibC.CurrentSigRtMax() - 2;
    }

    public int Signal => _signal;

    /// <summary>Registers the calling thread as the one inside Run; sets it up on first use.</summary>
    public void Enter(int vcpuFd)
    {
        int tid = LibC.GetTid();
        if (tid != _setupTid) SetUpThread(tid, vcpuFd);
        lock (_lock) _runningTid = tid;
    }

    /// <summary>Ends the slice after <paramref name="ns"/> nanoseconds (the POSIX timer signals the vCPU thread).</summary>
    public void ArmSlice(long ns)
    {
        if (!_hasTimer) return;
        var spec = new LibC.ITimerspec { Value = new LibC.Timespec { Sec = ns / 1_000_000_000, Nsec = ns % 1_000_000_000 } };
        LibC.TimerSettime(_timer, 0, &spec, null);
    }

    /// <summary>Unregisters the thread, stops the slice timer and consumes a kick that is still pending.</summary>
    public void Leave()
    {
        if (_hasTimer)
        {
            var zero = default(LibC.ITimerspec);
            LibC.TimerSettime(_timer, 0, &zero, null);
        }
        lock (_lock) _runningTid = 0;
        Drain();
    }

    /// <summary>From any thread: makes the vCPU thread leave KVM_RUN (now, or at its next entry).</summary>
    public void Kick()
    {
        lock (_lock)
        {
            if (_runningTid == 0 || _disposed) return;
            if (_runningTid == LibC.GetTid()) return; // a device on the vCPU thread itself: the run loop sees the flag
            LibC.TgKill(LibC.GetPid(), _runningTid, _signal);
        }
    }

    /// <summary>Consumes pending instances of the kick signal in the calling thread; returns how many there were.</summary>
    public int Drain()
    {
        Span<byte> set = stackalloc byte[LibC.LibcSigsetBytes];
        set.Clear();
        LibC.SigAddSet(set, _signal);
        Span<byte> info = stackalloc byte[128];
        var zero = default(LibC.Timespec);
        fixed (byte* pSet = set)
        fixed (byte* pInfo = info)
        {
            int n = 0;
            while (LibC.SigTimedWait(pSet, pInfo, &zero) > 0) n++;
            return n;
        }
    }

    private void SetUpThread(int tid, int vcpuFd)
    {
        Span<byte> block = stackalloc byte[LibC.LibcSigsetBytes];
        Span<byte> old = stackalloc byte[LibC.LibcSigsetBytes];
        block.Clear();
        LibC.SigAddSet(block, _signal);
        fixed (byte* pBlock = block)
        fixed (byte* pOld = old)
        {
            int r = LibC.PthreadSigmask(LibC.SIG_BLOCK, pBlock, pOld);
            if (r != 0) throw new KvmException(KvmErrorKind.Failed, $"pthread_sigmask failed: {KvmException.Describe(r)}", r);
        }
        // vcpuFd < 0: tests of the signal and timer plumbing on hosts without KVM.
        if (vcpuFd >= 0) SetKvmSignalMask(vcpuFd, old, _signal);

        DeleteTimer();
        var sev = new LibC.SigEvent { Signo = _signal, Notify = LibC.SIGEV_THREAD_ID, ThreadId = tid };
        nint timer;
        if (LibC.TimerCreate(LibC.CLOCK_MONOTONIC, &sev, &timer) != 0)
            throw new KvmException(KvmErrorKind.Failed, $"timer_create for the vCPU slice timer failed: {KvmException.Describe(Marshal.GetLastPInvokeError())}");
        _timer = timer;
        _hasTimer = true;
        _setupTid = tid;
    }

    /// <summary>During KVM_RUN: the thread's mask as it was before blocking, with the kick signal open (the kernel's 64-bit sigset).</summary>
    private static void SetKvmSignalMask(int vcpuFd, ReadOnlySpan<byte> threadMaskBefore, int signal)
    {
        Span<byte> kvmMask = stackalloc byte[sizeof(KvmSignalMaskHeader) + LibC.KernelSigsetBytes];
        MemoryMarshal.Write(kvmMask, new KvmSignalMaskHeader { Len = LibC.KernelSigsetBytes });
        threadMaskBefore[..LibC.KernelSigsetBytes].CopyTo(kvmMask[sizeof(KvmSignalMaskHeader)..]);
        LibC.SigDelSet(kvmMask[sizeof(KvmSignalMaskHeader)..], signal);
        fixed (byte* pMask = kvmMask)
        {
            if (LibC.Ioctl(vcpuFd, KvmIoctls.SetSignalMask, (nint)pMask) < 0)
                throw KvmException.IoctlFailed("KVM_SET_SIGNAL_MASK", Marshal.GetLastPInvokeError());
        }
    }

    private void DeleteTimer()
    {
        if (!_hasTimer) return;
        LibC.TimerDelete(_timer);
        _hasTimer = false;
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _disposed = true;
            _runningTid = 0;
        }
        DeleteTimer();
    }
}
