using System.Diagnostics;
using System.Runtime.InteropServices;
using MyKvm.Core;
using MyKvm.Kvm.Boot;
using MyKvm.Kvm.Interop;

namespace MyKvm.Kvm;

/// <summary>
/// A vCPU run by KVM. <see cref="Run"/> enters KVM_RUN until an exit the host must see: port I/O goes to
/// <see cref="VcpuContext.Io"/>, MMIO to <see cref="VcpuContext.Mmio"/>, both handled inside Run; HLT returns
/// <see cref="VcpuExitReason.Halted"/> (IF=1) or <see cref="VcpuExitReason.HaltedForever"/> (IF=0).
/// <para>
/// Interrupts (without the in-kernel irqchip): while <see cref="CpuSignals.Intr"/> is set, the vector from
/// <see cref="CpuSignals.Controller"/>'s INTA cycle is injected with KVM_INTERRUPT as soon as kvm_run says the guest
/// can take it (ready_for_interrupt_injection and IF); until then request_interrupt_window asks KVM to exit when it can.
/// </para>
/// <para>
/// Time: the budget passed to <see cref="Run"/> is nanoseconds of wall time (the machine runs KVM on a real-time
/// clock); a per-thread POSIX timer signal ends the slice (see <see cref="VcpuThreadSignal"/>), and
/// <see cref="CpuSignals.Kick"/> is set to kick the thread out of KVM_RUN from any other thread.
/// </para>
/// <para>
/// <see cref="RetiredInstructions"/>: KVM cannot count instructions; this reports nanoseconds spent inside KVM_RUN,
/// i.e. an estimate at one instruction per nanosecond (the machine's KVM clock uses NsPerInstruction=1).
/// </para>
/// </summary>
public sealed unsafe class KvmVcpu : IVcpu
{
    private const ulong MaxSliceNs = 60_000_000_000; // longer budgets just mean "until something happens"

    private readonly KvmVm _vm;
    private readonly bool _ownsVm;
    private readonly VcpuContext _ctx;
    private readonly VcpuThreadSignal _signal = new();
    private readonly Action _kick;
    private int _fd = -1;
    private KvmRun* _run;
    private nuint _runSize;
    private long _guestNs;
    private bool _ioPending;
    private VcpuState? _requestedState;    // a boot state entered through the trampoline: what GetState reports until Run
    private PageTablePatch? _patch;
    private bool _disposed;

    internal KvmVcpu(KvmVm vm, int id, VcpuContext ctx, bool ownsVm)
    {
        _vm = vm;
        _ownsVm = ownsVm;
        _ctx = ctx;
        Id = id;
        _kick = _signal.Kick;
        try
        {
            _fd = KvmVm.RetryOnEintr(() => LibC.Ioctl(vm.Fd, KvmIoctls.CreateVcpu, id), "KVM_CREATE_VCPU");
            int size = vm.System.VcpuMmapSize;
            nint p = LibC.Mmap(0, (nuint)size, LibC.PROT_READ | LibC.PROT_WRITE, LibC.MAP_SHARED, _fd, 0);
            if (p == -1) throw new KvmException(KvmErrorKind.Failed, $"mmap of the kvm_run page failed: {KvmException.Describe(Marshal.GetLastPInvokeError())}");
            _run = (KvmRun*)p;
            _runSize = (nuint)size;
            SetCpuid();
        }
        catch
        {
            ReleaseNative();
            if (ownsVm) vm.Dispose();
            throw;
        }
        // Chained, not replaced: the machine may wake its own waits through Kick too.
        ctx.Signals.Kick += _kick;
    }

    public string BackendName => "kvm";
    public int Id { get; }
    public KvmVm Vm => _vm;
    /// <summary>Estimated: nanoseconds spent in KVM_RUN (one instruction per nanosecond).</summary>
    public long RetiredInstructions => _guestNs;
    /// <summary>What the paging trampoline did for the last boot state, if it was needed (for --verbose).</summary>
    public string? TrampolineDescription { get; private set; }

    /// <summary>
    /// Opens /dev/kvm, creates a VM over <paramref name="context"/>'s RAM and its vCPU 0. The vCPU owns the VM and the
    /// device fd: disposing it closes everything, in order. Throws <see cref="KvmException"/>; leaves nothing open then.
    /// </summary>
    public static KvmVcpu Create(VcpuContext context, KvmOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(context);
        options ??= new KvmOptions();
        var system = KvmSystem.Open(options.DevicePath);
        KvmVm vm;
        try
        {
            vm = new KvmVm(system, context.Ram, options, ownsSystem: true);
        }
        catch
        {
            system.Dispose();
            throw;
        }
        try
        {
            return vm.CreateVcpu(context, ownsVm: true);
        }
        catch
        {
            vm.Dispose(); // CreateVcpu disposes an owned VM itself on its own failures; a second Dispose is harmless
            throw;
        }
    }

    // ---- state ----

    public void SetState(VcpuState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        ThrowIfDisposed();
        CompletePendingIo();
        var entry = state;
        _patch = null;
        _requestedState = null;
        TrampolineDescription = null;
        if (PagingTrampoline.IsNeeded(state))
        {
            var t = PagingTrampoline.Write(_ctx.Ram, state);
            entry = t.EntryState;
            _patch = t.Patch;
            _requestedState = state.Clone();
            TrampolineDescription = t.Description;
        }
        LoadState(entry);
        // kvm_run still describes the old state until the next exit: ask for an interrupt window rather than trust it.
        _run->ReadyForInterruptInjection = 0;
        _run->IfFlag = 0;
    }

    public VcpuState GetState()
    {
        ThrowIfDisposed();
        if (_requestedState is not null) return _requestedState.Clone();
        CompletePendingIo();
        return ReadState();
    }

    private void LoadState(VcpuState s)
    {
        var sregs = KvmStateConversion.ToKvmSregs(s);
        Check(LibC.Ioctl(_fd, KvmIoctls.SetSregs, (nint)(&sregs)), "KVM_SET_SREGS");
        var regs = KvmStateConversion.ToKvmRegs(s);
        Check(LibC.Ioctl(_fd, KvmIoctls.SetRegs, (nint)(&regs)), "KVM_SET_REGS");
        // The x87/SSE reset values of FNINIT and of the MXCSR power-up state (SDM Vol. 1 §8.1.5, §10.2.3.1).
        var fpu = new KvmFpu { Fcw = 0x37F, Mxcsr = 0x1F80 };
        SetFpu(fpu);
        int n = KvmStateConversion.StateMsrs.Length;
        Span<KvmMsrEntry> msrs = stackalloc KvmMsrEntry[n];
        KvmStateConversion.WriteMsrs(s, msrs);
        // KVM_SET_MSRS stops at the first MSR the host refuses; skip it and go on. A refused MSR matters only when
        // the boot state gives it a value (a host without SYSCALL MSRs, say, is fine for a 32-bit guest).
        byte* buffer = stackalloc byte[sizeof(KvmMsrsHeader) + n * sizeof(KvmMsrEntry)];
        for (int done = 0; done < n;)
        {
            ((KvmMsrsHeader*)buffer)->Nmsrs = (uint)(n - done);
            ((KvmMsrsHeader*)buffer)->Pad = 0;
            msrs[done..].CopyTo(new Span<KvmMsrEntry>(buffer + sizeof(KvmMsrsHeader), n - done));
            int written = LibC.Ioctl(_fd, KvmIoctls.SetMsrs, (nint)buffer);
            if (written < 0) throw KvmException.IoctlFailed("KVM_SET_MSRS", Marshal.GetLastPInvokeError());
            done += written;
            if (done < n)
            {
                if (msrs[done].Data != 0)
                    throw new KvmException(KvmErrorKind.Unsupported, $"KVM_SET_MSRS: this host's KVM refuses MSR 0x{msrs[done].Index:x} (value 0x{msrs[done].Data:x})");
                done++;
            }
        }
    }

    private VcpuState ReadState()
    {
        var s = new VcpuState();
        KvmRegs regs;
        Check(LibC.Ioctl(_fd, KvmIoctls.GetRegs, (nint)(&regs)), "KVM_GET_REGS");
        KvmSregs sregs;
        Check(LibC.Ioctl(_fd, KvmIoctls.GetSregs, (nint)(&sregs)), "KVM_GET_SREGS");
        KvmStateConversion.FromKvmRegs(regs, s);
        KvmStateConversion.FromKvmSregs(sregs, s);
        int n = KvmStateConversion.StateMsrs.Length;
        byte* buffer = stackalloc byte[sizeof(KvmMsrsHeader) + n * sizeof(KvmMsrEntry)];
        ((KvmMsrsHeader*)buffer)->Nmsrs = (uint)n;
        ((KvmMsrsHeader*)buffer)->Pad = 0;
        var entries = new Span<KvmMsrEntry>(buffer + sizeof(KvmMsrsHeader), n);
        for (int i = 0; i < n; i++) entries[i] = new KvmMsrEntry { Index = KvmStateConversion.StateMsrs[i] };
        int read = LibC.Ioctl(_fd, KvmIoctls.GetMsrs, (nint)buffer);
        if (read > 0) KvmStateConversion.ReadMsrs(entries[..read], s);
        return s;
    }

    public KvmFpu GetFpu()
    {
        ThrowIfDisposed();
        KvmFpu fpu;
        Check(LibC.Ioctl(_fd, KvmIoctls.GetFpu, (nint)(&fpu)), "KVM_GET_FPU");
        return fpu;
    }

    public void SetFpu(in KvmFpu fpu)
    {
        ThrowIfDisposed();
        fixed (KvmFpu* p = &fpu)
            Check(LibC.Ioctl(_fd, KvmIoctls.SetFpu, (nint)p), "KVM_SET_FPU");
    }

    /// <summary>
    /// After an IN or MMIO-read exit KVM completes the instruction (writes EAX or memory) at the next KVM_RUN; run it
    /// with immediate_exit so registers read or written now are final (Documentation/virt/kvm/api.rst, kvm_run).
    /// </summary>
    private void CompletePendingIo()
    {
        if (!_ioPending || !_vm.HasImmediateExit) return;
        _run->ImmediateExit = 1;
        LibC.Ioctl(_fd, KvmIoctls.Run, 0); // returns EINTR once the pending operation is complete
        _run->ImmediateExit = 0;
        _ioPending = false;
    }

    /// <summary>Filters KVM's supported CPUID for the machine mykvm builds and loads it (KVM_SET_CPUID2).</summary>
    private void SetCpuid()
    {
        var entries = _vm.System.GetSupportedCpuid();
        bool lapic = _vm.InKernelIrqchip || _ctx.Mmio.IsClaimed(PcMemoryLayout.LocalApicBase);
        var list = new List<KvmCpuidEntry2>(entries.Length);
        foreach (var e0 in entries)
        {
            var e = e0;
            // Without the in-kernel irqchip KVM offers no paravirtual features that need its LAPIC: hide the KVM leaves.
            if (!_vm.InKernelIrqchip && e.Function is >= 0x4000_0000 and <= 0x4000_00FF) continue;
            if (e.Function == 1)
            {
                e.Ebx = (e.Ebx & 0x00FF_FFFF) | (uint)Id << 24;   // initial APIC ID
                if (!_vm.InKernelIrqchip) e.Ecx &= ~((1u << 21) | (1u << 24)); // x2APIC, TSC-deadline: need KVM's LAPIC
                if (!lapic) e.Edx &= ~(1u << 9);                   // no LAPIC device at all
            }
            list.Add(e);
        }
        int bytes = sizeof(KvmCpuid2Header) + list.Count * sizeof(KvmCpuidEntry2);
        byte* buffer = (byte*)NativeMemory.AllocZeroed((nuint)bytes);
        try
        {
            ((KvmCpuid2Header*)buffer)->Nent = (uint)list.Count;
            CollectionsMarshal.AsSpan(list).CopyTo(new Span<KvmCpuidEntry2>(buffer + sizeof(KvmCpuid2Header), list.Count));
            Check(LibC.Ioctl(_fd, KvmIoctls.SetCpuid2, (nint)buffer), "KVM_SET_CPUID2");
        }
        finally
        {
            NativeMemory.Free(buffer);
        }
    }

    // ---- running ----

    public VcpuExit Run(long instructionBudget)
    {
        ThrowIfDisposed();
        long budgetNs = Math.Max(1, instructionBudget);
        try
        {
            _signal.Enter(_fd);
            long start = Stopwatch.GetTimestamp();
            long deadline = (ulong)budgetNs >= MaxSliceNs ? long.MaxValue : start + (long)(budgetNs * (Stopwatch.Frequency / 1e9));
            if (deadline != long.MaxValue) _signal.ArmSlice(budgetNs);
            return RunLoop(deadline);
        }
        catch (KvmException e)
        {
            return new VcpuExit(VcpuExitReason.Error, e.Message);
        }
        finally
        {
            _signal.Leave();
        }
    }

    private VcpuExit RunLoop(long deadline)
    {
        var signals = _ctx.Signals;
        bool entered = false;
        while (true)
        {
            int flags = signals.Flags;
            if ((flags & CpuSignals.Stop) != 0) return new VcpuExit(VcpuExitReason.Stopped);
            if ((flags & CpuSignals.Attention) != 0) return new VcpuExit(VcpuExitReason.BudgetExhausted);
            if ((flags & CpuSignals.Nmi) != 0)
            {
                signals.Clear(CpuSignals.Nmi);
                Check(LibC.Ioctl(_fd, KvmIoctls.Nmi, 0), "KVM_NMI");
            }
            if (!_vm.InKernelIrqchip) PrepareInterrupt(flags);
            // At least one entry per call, so even a tiny budget makes progress; the slice timer ends it soon.
            if (entered && Stopwatch.GetTimestamp() >= deadline) return new VcpuExit(VcpuExitReason.BudgetExhausted);
            entered = true;

            long t0 = Stopwatch.GetTimestamp();
            int r = LibC.Ioctl(_fd, KvmIoctls.Run, 0);
            int errno = r < 0 ? Marshal.GetLastPInvokeError() : 0;
            _guestNs += (long)((Stopwatch.GetTimestamp() - t0) * (1e9 / Stopwatch.Frequency));
            _requestedState = null;
            if (r < 0)
            {
                if (errno is LibC.EINTR or LibC.EAGAIN)
                {
                    _signal.Drain();
                    continue;
                }
                return Fail(VcpuExitReason.Error, $"KVM_RUN failed: {KvmException.Describe(errno)}");
            }
            _ioPending = false;
            if (_patch is not null) UndoTrampolinePatch();

            switch ((KvmExitReason)_run->ExitReason)
            {
                case KvmExitReason.Io:
                    if (HandleIo() is { } ioError) return ioError;
                    break;
                case KvmExitReason.Mmio:
                    if (HandleMmio() is { } mmioError) return mmioError;
                    break;
                case KvmExitReason.Hlt:
                    if (_run->IfFlag == 0) return new VcpuExit(VcpuExitReason.HaltedForever);
                    if ((signals.Flags & CpuSignals.Intr) == 0) return new VcpuExit(VcpuExitReason.Halted);
                    break; // an interrupt is already waiting: inject it and go on
                case KvmExitReason.IrqWindowOpen:
                case KvmExitReason.Intr:
                    break;
                case KvmExitReason.Shutdown:
                    return Fail(VcpuExitReason.TripleFault, "KVM_EXIT_SHUTDOWN: the guest triple-faulted");
                case KvmExitReason.FailEntry:
                    return Fail(VcpuExitReason.Error, DescribeFailEntry());
                case KvmExitReason.InternalError:
                    return Fail(VcpuExitReason.Error, DescribeInternalError());
                case KvmExitReason.Debug:
                case KvmExitReason.Exception:
                    return new VcpuExit(VcpuExitReason.Debug, $"KVM exit {(KvmExitReason)_run->ExitReason}");
                case KvmExitReason.SystemEvent:
                    return Fail(VcpuExitReason.Error, $"KVM_EXIT_SYSTEM_EVENT type {_run->SystemEvent.Type} ({SystemEventName(_run->SystemEvent.Type)})");
                default:
                    return Fail(VcpuExitReason.Error, $"unexpected KVM exit reason {_run->ExitReason} (hardware exit reason 0x{_run->HardwareExitReason:x})");
            }
        }
    }

    /// <summary>Injects the controller's vector when the guest can take it, else asks KVM for an interrupt window.</summary>
    private void PrepareInterrupt(int flags)
    {
        if ((flags & CpuSignals.Intr) == 0 || _ctx.Signals.Controller is not { } controller)
        {
            _run->RequestInterruptWindow = 0;
            return;
        }
        if (_run->ReadyForInterruptInjection != 0 && _run->IfFlag != 0)
        {
            var irq = new KvmInterrupt { Irq = controller.Acknowledge() };
            Check(LibC.Ioctl(_fd, KvmIoctls.Interrupt, (nint)(&irq)), "KVM_INTERRUPT");
            // One interrupt per entry: KVM reports readiness again at the next exit.
            _run->ReadyForInterruptInjection = 0;
            _run->RequestInterruptWindow = (byte)((_ctx.Signals.Flags & CpuSignals.Intr) != 0 ? 1 : 0);
        }
        else
        {
            _run->RequestInterruptWindow = 1;
        }
    }

    private VcpuExit? HandleIo()
    {
        var io = _run->Io;
        int size = io.Size;
        ulong total = (ulong)io.Count * (ulong)size;
        if (size is not (1 or 2 or 4) || io.DataOffset + total > _runSize)
            return Fail(VcpuExitReason.Error, $"KVM_EXIT_IO with a malformed request (port 0x{io.Port:x}, size {size}, count {io.Count}, offset 0x{io.DataOffset:x})");
        byte* data = (byte*)_run + io.DataOffset;
        for (uint i = 0; i < io.Count; i++, data += size)
        {
            if (io.Direction == KvmRunIo.DirectionOut)
            {
                uint value = size switch { 1 => *data, 2 => *(ushort*)data, _ => *(uint*)data };
                _ctx.Io.Write(io.Port, size, value);
            }
            else
            {
                uint value = _ctx.Io.Read(io.Port, size);
                switch (size)
                {
                    case 1: *data = (byte)value; break;
                    case 2: *(ushort*)data = (ushort)value; break;
                    default: *(uint*)data = value; break;
                }
                _ioPending = true;
            }
        }
        return null;
    }

    private VcpuExit? HandleMmio()
    {
        ulong address = _run->Mmio.PhysAddr;
        int len = (int)_run->Mmio.Len;
        bool write = _run->Mmio.IsWrite != 0;
        if (len is < 1 or > 8)
            return Fail(VcpuExitReason.Error, $"KVM_EXIT_MMIO with length {len} at 0x{address:x}");
        byte* data = _run->Mmio.Data;
        ulong value = 0;
        if (write)
            for (int i = 0; i < len; i++) value |= (ulong)data[i] << (8 * i);
        if (_vm.Options.StrictMmio && !_ctx.Mmio.IsClaimed(address))
        {
            string what = write ? $"write of 0x{value:x} ({len} bytes) to" : $"read of {len} bytes from";
            return Fail(VcpuExitReason.Error, $"guest MMIO {what} 0x{address:x}, which is neither RAM nor any device");
        }
        if (write)
        {
            _ctx.Mmio.Write(address, len, value);
        }
        else
        {
            value = _ctx.Mmio.Read(address, len);
            for (int i = 0; i < len; i++) data[i] = (byte)(value >> (8 * i));
            _ioPending = true;
        }
        return null;
    }

    /// <summary>
    /// Once the guest left the trampoline, puts back the page-directory entry the trampoline added — only while the
    /// guest still uses that page directory and has not changed the entry itself (A and D bits aside).
    /// </summary>
    private void UndoTrampolinePatch()
    {
        var patch = _patch!;
        KvmRegs regs;
        KvmSregs sregs;
        if (LibC.Ioctl(_fd, KvmIoctls.GetRegs, (nint)(&regs)) < 0 || LibC.Ioctl(_fd, KvmIoctls.GetSregs, (nint)(&sregs)) < 0) return;
        ulong linearIp = sregs.Cs.Base + regs.Rip;
        if (linearIp - PagingTrampoline.Base < PagingTrampoline.PageBytes) return; // still in the trampoline
        _patch = null;
        if ((sregs.Cr3 & ~0xFFFUL) != (patch.Cr3 & ~0xFFFUL)) return;
        const uint accessedDirty = 0x60;
        if (_ctx.Ram.Contains(patch.Address, 4) && (_ctx.Ram.Read32(patch.Address) & ~accessedDirty) == patch.PatchedValue)
            _ctx.Ram.Write32(patch.Address, patch.OriginalValue);
    }

    private VcpuExit Fail(VcpuExitReason reason, string line)
    {
        string dump;
        try
        {
            dump = RegisterDump.Format(ReadState());
        }
        catch (KvmException e)
        {
            dump = $"  (no register dump: {e.Message})";
        }
        return new VcpuExit(reason, $"{line}\n{dump}");
    }

    private string DescribeFailEntry()
    {
        ulong reason = _run->FailEntry.HardwareEntryFailureReason;
        // Intel: VM-exit reason with bit 31 set for a failed entry (SDM Vol. 3C §27.8, appendix C).
        string hint = (reason & 0xFFFF) switch
        {
            33 => " (VMX: invalid guest state)",
            34 => " (VMX: MSR loading)",
            41 => " (VMX: machine-check event)",
            _ => "",
        };
        return $"KVM_EXIT_FAIL_ENTRY: the CPU refused to enter the guest, hardware reason 0x{reason:x}{hint} on CPU {_run->FailEntry.Cpu}";
    }

    private string DescribeInternalError()
    {
        var e = _run->Internal;
        string name = (KvmInternalError)e.Suberror switch
        {
            KvmInternalError.Emulation => "KVM could not emulate an instruction",
            KvmInternalError.SimultaneousException => "an exception while delivering another",
            KvmInternalError.DeliveryEvent => "an exit while delivering an event",
            KvmInternalError.UnexpectedExitReason => "an exit reason KVM does not handle",
            _ => $"suberror {e.Suberror}",
        };
        var words = new List<string>();
        for (int i = 0; i < Math.Min(e.Ndata, 16u); i++) words.Add($"0x{e.Data[i]:x}");
        return $"KVM_EXIT_INTERNAL_ERROR: {name} (suberror {e.Suberror}{(words.Count > 0 ? ", data " + string.Join(' ', words) : "")})";
    }

    private static string SystemEventName(uint type) => type switch
    {
        KvmRunSystemEvent.Shutdown => "shutdown",
        KvmRunSystemEvent.Reset => "reset",
        KvmRunSystemEvent.Crash => "crash",
        _ => "unknown",
    };

    private static void Check(int result, string request) => KvmVm.Check(result, request);

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    // ---- teardown ----

    private void ReleaseNative()
    {
        if (_run != null)
        {
            LibC.Munmap((nint)_run, _runSize);
            _run = null;
        }
        if (_fd >= 0)
        {
            LibC.Close(_fd);
            _fd = -1;
        }
        _signal.Dispose();
    }

    /// <summary>Unmaps kvm_run, closes the vCPU fd, then (if owned) the VM and /dev/kvm.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _ctx.Signals.Kick -= _kick;
        ReleaseNative();
        if (_ownsVm) _vm.Dispose();
    }
}
