using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using MyKvm.Core;

namespace MyKvm.Tests.Bios;

/// <summary>
/// An <see cref="IVcpu"/> on the Unicorn CPU emulator (libunicorn2, a Debian package): an independent reference CPU
/// for firmware boots, next to mykvm's software CPU. Guest RAM, the BIOS flash (read-only) and MMIO windows are
/// mapped into Unicorn; IN/OUT go to the machine's <see cref="IoBus"/>, MMIO windows to its <see cref="MmioBus"/>.
/// Unicorn has no interrupt pins, so this class plays INTR/INTA: at a block boundary in real mode it takes the vector
/// from <see cref="CpuSignals.Controller"/> and delivers it through the IVT (SDM Vol. 3A §20.1.4); INT n and CPU
/// exceptions, which Unicorn hands to a hook instead of delivering, go the same way.
/// <para>Limits, all from Unicorn 2.0.1 (see <see cref="Run"/>): emulation can only be resumed in real mode, so
/// protected-mode code runs until it returns to real mode (SeaBIOS's 32-bit code does, with interrupts off) or ends
/// the run; external interrupts are not delivered in protected mode. RDTSC cannot be hooked, so CPUID (answered here
/// like the software CPU's, see <see cref="Cpuid"/>) does not report a TSC and SeaBIOS times with the PIT —
/// deterministic on the virtual clock. The hidden CS base cannot be set, so the reset state (CS base 0xFFFF0000) is
/// entered at the same bytes' real-mode alias (CS base 0xF0000), after checking that the bytes match. Instructions
/// are estimated from block sizes (one per 3 bytes).</para>
/// </summary>
internal sealed unsafe partial class UnicornVcpu : IVcpu
{
    private const string Lib = "libunicorn.so.2";
    private const int UcArchX86 = 4, UcMode16 = 2, UcProtRead = 1, UcProtWrite = 2, UcProtExec = 4, UcProtAll = 7;
    private const int UcHookIntr = 1, UcHookInsn = 2, UcHookBlock = 8, UcX86InsIn = 218, UcX86InsOut = 500, UcX86InsCpuid = 113;
    private const int RegEax = 19, RegEbp = 20, RegEbx = 21, RegEcx = 22, RegEdi = 23, RegEdx = 24, RegEflags = 25, RegEip = 26,
        RegEs = 28, RegEsi = 29, RegEsp = 30, RegFs = 32, RegGs = 33, RegCs = 11, RegDs = 17, RegSs = 49,
        RegCr0 = 50, RegCr2 = 52, RegCr3 = 53, RegCr4 = 54, RegIdtr = 242, RegGdtr = 243;

    [StructLayout(LayoutKind.Sequential)]
    private struct X86Mmr
    {
        public ushort Selector;
        public ulong Base;
        public uint Limit;
        public uint Flags;
    }

    [LibraryImport(Lib)] private static partial int uc_open(int arch, int mode, out nint uc);
    [LibraryImport(Lib)] private static partial int uc_close(nint uc);
    [LibraryImport(Lib)] private static partial int uc_mem_map_ptr(nint uc, ulong address, nuint size, uint perms, void* ptr);
    [LibraryImport(Lib)] private static partial int uc_mmio_map(nint uc, ulong address, nuint size, void* readCb, nint readUser, void* writeCb, nint writeUser);
    [LibraryImport(Lib)] private static partial int uc_reg_write(nint uc, int regid, void* value);
    [LibraryImport(Lib)] private static partial int uc_reg_read(nint uc, int regid, void* value);
    [LibraryImport(Lib)] private static partial int uc_emu_start(nint uc, ulong begin, ulong until, ulong timeoutUs, nuint count);
    [LibraryImport(Lib)] private static partial int uc_emu_stop(nint uc);
    // uc_hook_add is variadic; on SysV x86-64 the trailing instruction id travels like an eighth fixed argument.
    [LibraryImport(Lib)] private static partial int uc_hook_add(nint uc, out nint hh, int type, void* callback, nint userData, ulong begin, ulong end, int insn);
    [LibraryImport(Lib)] private static partial nint uc_strerror(int err);

    /// <summary>True when libunicorn can be loaded.</summary>
    public static bool Available => NativeLibrary.TryLoad(Lib, out _);

    private readonly VcpuContext _ctx;
    private readonly TimerQueue? _timers;
    private readonly GCHandle _self;
    private readonly List<GCHandle> _mmio = [];
    private readonly List<(ulong Base, ulong Size, nint Host)> _roms = [];
    private nint _uc;
    private bool _halted;
    private long _retired;
    private Exception? _hookFailure;

    /// <param name="timers">Device timers to run from inside long stretches of emulation (null: only between runs).</param>
    public UnicornVcpu(VcpuContext ctx, TimerQueue? timers = null)
    {
        _ctx = ctx;
        _timers = timers;
        if (timers is not null) timers.Rearmed += () => _deadlineStale = true;
        Check(uc_open(UcArchX86, UcMode16, out _uc), "uc_open");
        _self = GCHandle.Alloc(this);
        foreach (var region in ctx.Ram.Regions)
            Check(uc_mem_map_ptr(_uc, region.GuestPhysical, (nuint)region.Size, UcProtAll, ctx.Ram.HostBase + region.HostOffset), "map RAM");
        nint me = GCHandle.ToIntPtr(_self);
        Check(uc_hook_add(_uc, out _, UcHookInsn, (delegate* unmanaged[Cdecl]<nint, uint, int, nint, uint>)&OnIn, me, 1, 0, UcX86InsIn), "hook in");
        Check(uc_hook_add(_uc, out _, UcHookInsn, (delegate* unmanaged[Cdecl]<nint, uint, int, uint, nint, void>)&OnOut, me, 1, 0, UcX86InsOut), "hook out");
        Check(uc_hook_add(_uc, out _, UcHookInsn, (delegate* unmanaged[Cdecl]<nint, nint, int>)&OnCpuid, me, 1, 0, UcX86InsCpuid), "hook cpuid");
        Check(uc_hook_add(_uc, out _, UcHookIntr, (delegate* unmanaged[Cdecl]<nint, uint, nint, void>)&OnIntrHook, me, 1, 0, 0), "hook intr");
        Check(uc_hook_add(_uc, out _, UcHookBlock, (delegate* unmanaged[Cdecl]<nint, ulong, uint, nint, void>)&OnBlockHook, me, 1, 0, 0), "hook block");
    }

    public string BackendName => "unicorn";
    public long RetiredInstructions => _retired;
    public byte ApicId { get; init; }

    /// <summary>Maps read-only memory (the BIOS flash) that code may execute from.</summary>
    public void MapRom(ulong gpa, ulong size, byte* host)
    {
        Check(uc_mem_map_ptr(_uc, gpa, (nuint)size, UcProtRead | UcProtExec, host), $"map ROM at 0x{gpa:x}");
        _roms.Add((gpa, size, (nint)host));
    }

    private sealed class MmioWindow(UnicornVcpu owner, ulong @base)
    {
        public readonly UnicornVcpu Owner = owner;
        public readonly ulong Base = @base;
    }

    /// <summary>Routes a guest-physical window to the machine's MMIO bus (LAPIC, I/O APIC).</summary>
    public void MapMmio(ulong gpa, ulong size)
    {
        var handle = GCHandle.Alloc(new MmioWindow(this, gpa));
        _mmio.Add(handle);
        Check(uc_mmio_map(_uc, gpa, (nuint)size,
            (delegate* unmanaged[Cdecl]<nint, ulong, uint, nint, ulong>)&OnMmioRead, GCHandle.ToIntPtr(handle),
            (delegate* unmanaged[Cdecl]<nint, ulong, uint, ulong, nint, void>)&OnMmioWrite, GCHandle.ToIntPtr(handle)), $"map MMIO at 0x{gpa:x}");
    }

    public void SetState(VcpuState s)
    {
        if ((s.Cr0 & VcpuState.Cr0PE) != 0)
            throw new NotSupportedException("the Unicorn vCPU starts in real mode only");
        ushort cs = s.Cs.Selector;
        if (s.Cs.Base != (ulong)cs << 4)
        {
            // Unicorn cannot hold a CS base that differs from selector × 16 (the reset state's 0xFFFF0000): enter at
            // the real-mode alias, which must hold the same code (the BIOS loader copies the flash's end there).
            Span<byte> atBase = stackalloc byte[16], atAlias = stackalloc byte[16];
            ReadPhysical(s.Cs.Base + s.Rip, atBase);
            ReadPhysical(((ulong)cs << 4) + s.Rip, atAlias);
            if (!atBase.SequenceEqual(atAlias))
                throw new NotSupportedException($"CS base 0x{s.Cs.Base:x} differs from its real-mode alias 0x{(ulong)cs << 4:x} and the code there is not the same");
        }
        WriteReg(RegCr0, s.Cr0 & ~(VcpuState.Cr0PE | VcpuState.Cr0PG | 0x6000_0000UL));
        foreach (var (reg, seg) in new[] { (RegCs, s.Cs), (RegDs, s.Ds), (RegEs, s.Es), (RegFs, s.Fs), (RegGs, s.Gs), (RegSs, s.Ss) })
            WriteReg(reg, seg.Selector);
        var idtr = new X86Mmr { Base = s.IdtBase, Limit = s.IdtLimit };
        Check(uc_reg_write(_uc, RegIdtr, &idtr), "idtr");
        var gdtr = new X86Mmr { Base = s.GdtBase, Limit = s.GdtLimit };
        Check(uc_reg_write(_uc, RegGdtr, &gdtr), "gdtr");
        WriteReg(RegEax, s.Rax); WriteReg(RegEbx, s.Rbx); WriteReg(RegEcx, s.Rcx); WriteReg(RegEdx, s.Rdx);
        WriteReg(RegEsi, s.Rsi); WriteReg(RegEdi, s.Rdi); WriteReg(RegEsp, s.Rsp); WriteReg(RegEbp, s.Rbp);
        WriteReg(RegEflags, s.Rflags);
        WriteReg(RegEip, s.Rip);
        _halted = false;
    }

    public VcpuState GetState()
    {
        var s = new VcpuState
        {
            Rax = ReadReg(RegEax), Rbx = ReadReg(RegEbx), Rcx = ReadReg(RegEcx), Rdx = ReadReg(RegEdx),
            Rsi = ReadReg(RegEsi), Rdi = ReadReg(RegEdi), Rsp = ReadReg(RegEsp), Rbp = ReadReg(RegEbp),
            Rip = ReadReg(RegEip), Rflags = ReadReg(RegEflags),
            Cr0 = ReadReg(RegCr0), Cr2 = ReadReg(RegCr2), Cr3 = ReadReg(RegCr3), Cr4 = ReadReg(RegCr4),
        };
        bool real = (s.Cr0 & VcpuState.Cr0PE) == 0;
        // Only selectors are readable; bases are exact in real mode, unknown (reported as 0) in protected mode.
        SegmentState Seg(int reg, bool code)
        {
            ushort sel = (ushort)ReadReg(reg);
            return real ? SegmentState.RealMode(sel, code) : new SegmentState(sel, 0, 0xFFFF_FFFF, code ? (ushort)0xC09B : (ushort)0xC093);
        }
        s.Cs = Seg(RegCs, true); s.Ds = Seg(RegDs, false); s.Es = Seg(RegEs, false);
        s.Fs = Seg(RegFs, false); s.Gs = Seg(RegGs, false); s.Ss = Seg(RegSs, false);
        var idtr = new X86Mmr();
        uc_reg_read(_uc, RegIdtr, &idtr);
        var gdtr = new X86Mmr();
        uc_reg_read(_uc, RegGdtr, &gdtr);
        s.IdtBase = idtr.Base; s.IdtLimit = (ushort)idtr.Limit; s.GdtBase = gdtr.Base; s.GdtLimit = (ushort)gdtr.Limit;
        return s;
    }

    /// <summary>
    /// Runs the guest. Unicorn 2.0.1 cannot resume 32-bit code above 64 KiB in a 16-bit engine (uc_emu_start sets
    /// EIP from a real-mode-style address) and reports a wrong EIP after a count-limited stop, so emulation is never
    /// stopped by count: a block hook counts, runs due device timers, and stops before a block only in real mode —
    /// for an interrupt that became deliverable or the end of the budget. In protected mode the budget is overrun
    /// until the guest returns to real mode (SeaBIOS does so constantly). Emulation that ends by itself without a
    /// stop request ended at HLT.
    /// </summary>
    public VcpuExit Run(long instructionBudget)
    {
        _runEnd = _retired + Math.Max(1, instructionBudget);
        while (true)
        {
            if ((_ctx.Signals.Flags & CpuSignals.Stop) != 0) return new VcpuExit(VcpuExitReason.Stopped);
            bool real = (ReadReg(RegCr0) & VcpuState.Cr0PE) == 0;
            bool interruptsOn = (ReadReg(RegEflags) & VcpuState.FlagIF) != 0;
            if (real && interruptsOn && (_ctx.Signals.Flags & CpuSignals.Intr) != 0 && _ctx.Signals.Controller is { } controller)
            {
                DeliverReal(controller.Acknowledge());
                _halted = false;
            }
            if (_halted)
            {
                if (!real || !interruptsOn) return new VcpuExit(VcpuExitReason.HaltedForever);
                return new VcpuExit(VcpuExitReason.Halted);
            }
            if (_retired >= _runEnd) return new VcpuExit(VcpuExitReason.BudgetExhausted);
            if (!real)
                return new VcpuExit(VcpuExitReason.Unimplemented, "unicorn vCPU: cannot resume protected-mode code");
            ulong cs = ReadReg(RegCs), eip = ReadReg(RegEip);
            _stopRequested = false;
            // In 16-bit mode Unicorn sets EIP = begin − CS selector × 16.
            int err = uc_emu_start(_uc, cs * 16 + eip, 0, 0, 0);
            if (_hookFailure is { } failure)
            {
                _hookFailure = null;
                throw new InvalidOperationException("a device threw during a port or MMIO access", failure);
            }
            if ((_ctx.Signals.Flags & CpuSignals.Stop) != 0) return new VcpuExit(VcpuExitReason.Stopped);
            if (err != 0)
                return new VcpuExit(VcpuExitReason.Error, $"unicorn: {Marshal.PtrToStringAnsi(uc_strerror(err))} at {ReadReg(RegCs):x4}:{ReadReg(RegEip):x8}");
            if (!_stopRequested)
            {
                _halted = true;
                _retired++;
            }
        }
    }

    private long _runEnd;
    private bool _stopRequested;
    /// <summary>
    /// Before each translated block: count it (one instruction per 3 bytes — Unicorn reports bytes, not
    /// instructions; the clock only needs to advance in proportion), fire due timers, and in real mode stop for a
    /// deliverable interrupt or the end of the budget.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void OnBlock(nint uc, ulong address, uint size)
    {
        _retired += Math.Max(1, size / 3);
        if (_timers is { } timers)
        {
            if (_deadlineStale)
            {
                _deadlineStale = false;
                _nextDeadline = timers.NextDeadline;
            }
            long now = _ctx.Clock.NowNs;
            if (_nextDeadline <= now)
            {
                timers.RunDue(now);
                _nextDeadline = timers.NextDeadline;
            }
        }
        int f = _ctx.Signals.Flags;
        if ((f & (CpuSignals.Stop | CpuSignals.Intr)) == 0 && _retired < _runEnd) return;
        // QEMU ends a block after STI; the instruction after it must run before an interrupt (SDM Vol. 3A §6.8.3).
        bool afterSti = address > 0 && address - 1 < _ctx.Ram.LowSize && _ctx.Ram.HostBase[address - 1] == 0xFB;
        bool wantStop = (f & CpuSignals.Stop) != 0 || _retired >= _runEnd
            || ((f & CpuSignals.Intr) != 0 && !afterSti && (ReadReg(RegEflags) & VcpuState.FlagIF) != 0);
        if (wantStop && ((f & CpuSignals.Stop) != 0 || (ReadReg(RegCr0) & VcpuState.Cr0PE) == 0))
        {
            _stopRequested = true;
            uc_emu_stop(uc);
        }
    }

    private long _nextDeadline = long.MaxValue;
    private bool _deadlineStale = true;

    /// <summary>
    /// INT n, INT3, INTO and CPU exceptions: Unicorn hands them to this hook instead of delivering them (EIP is past
    /// INT n, at the faulting instruction for a fault). Real mode vectors through the IVT; protected mode is not modelled.
    /// </summary>
    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void OnIntrHook(nint uc, uint vector, nint user)
    {
        var self = Self(user);
        try
        {
            if ((self.ReadReg(RegCr0) & VcpuState.Cr0PE) != 0)
                throw new NotSupportedException($"unicorn vCPU: interrupt or exception {vector} in protected mode at {self.ReadReg(RegCs):x4}:{self.ReadReg(RegEip):x8}");
            self.DeliverReal((byte)vector);
        }
        catch (Exception e)
        {
            self.Fail(uc, e);
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void OnBlockHook(nint uc, ulong address, uint size, nint user)
    {
        var self = Self(user);
        try
        {
            self.OnBlock(uc, address, size);
        }
        catch (Exception e)
        {
            self.Fail(uc, e);
        }
    }

    /// <summary>Real-mode interrupt: push FLAGS, CS, IP; clear IF, TF, AC; CS:IP from the IVT (SDM Vol. 3A §20.1.4).</summary>
    private void DeliverReal(byte vector)
    {
        var idtr = new X86Mmr();
        Check(uc_reg_read(_uc, RegIdtr, &idtr), "idtr");
        Span<byte> entry = stackalloc byte[4];
        ReadPhysical(idtr.Base + vector * 4u, entry);
        ushort ip = (ushort)(entry[0] | entry[1] << 8), seg = (ushort)(entry[2] | entry[3] << 8);
        ulong ss = ReadReg(RegSs);
        ushort sp = (ushort)ReadReg(RegEsp);
        ulong flags = ReadReg(RegEflags);
        Push(ss, ref sp, (ushort)flags);
        Push(ss, ref sp, (ushort)ReadReg(RegCs));
        Push(ss, ref sp, (ushort)ReadReg(RegEip));
        ulong esp = ReadReg(RegEsp);
        WriteReg(RegEsp, (esp & ~0xFFFFUL) | sp);
        WriteReg(RegEflags, flags & ~(VcpuState.FlagIF | 0x100UL | 0x40000UL));
        WriteReg(RegCs, seg);
        WriteReg(RegEip, ip);
        InterruptsDelivered++;
    }

    public long InterruptsDelivered { get; private set; }

    private void Push(ulong ss, ref ushort sp, ushort value)
    {
        sp -= 2;
        Span<byte> b = [(byte)value, (byte)(value >> 8)];
        _ctx.Ram.Write((ss << 4) + sp, b);
    }

    private void ReadPhysical(ulong gpa, Span<byte> dest)
    {
        if (!TryReadPhysical(gpa, dest))
            throw new InvalidOperationException($"unicorn vCPU: 0x{gpa:x} is neither RAM nor ROM");
    }

    private bool TryReadPhysical(ulong gpa, Span<byte> dest)
    {
        if (_ctx.Ram.Contains(gpa, (ulong)dest.Length))
        {
            _ctx.Ram.Read(gpa, dest);
            return true;
        }
        foreach (var (b, size, host) in _roms)
            if (gpa >= b && gpa + (ulong)dest.Length <= b + size)
            {
                new ReadOnlySpan<byte>((byte*)host + (gpa - b), dest.Length).CopyTo(dest);
                return true;
            }
        return false;
    }

    /// <summary>
    /// CPUID as the software CPU answers it (family 6 "GenuineIntel"; DE, PSE, MSR, PAE, CX8, APIC, SEP, PGE, CMOV,
    /// PSE-36; NX), except that TSC is not claimed: Unicorn's RDTSC follows the host clock, not the machine's.
    /// </summary>
    private void Cpuid()
    {
        uint leaf = (uint)ReadReg(RegEax);
        uint a = 0, b = 0, c = 0, d = 0;
        const uint maxBasic = 1, maxExt = 0x8000_0008;
        if (leaf >= 0x8000_0000 ? leaf > maxExt : leaf > maxBasic) leaf = maxBasic;
        switch (leaf)
        {
            case 0:
                a = maxBasic;
                b = 0x756E_6547; d = 0x4965_6E69; c = 0x6C65_746E;
                break;
            case 1:
                a = (6 << 8) | (0xF << 4) | 1;
                b = ((uint)ApicId << 24) | (1 << 16);
                d = (1u << 2) | (1u << 3) | (1u << 5) | (1u << 6) | (1u << 8) | (1u << 9) | (1u << 11) | (1u << 13) | (1u << 15) | (1u << 17);
                break;
            case 0x8000_0000:
                a = maxExt;
                break;
            case 0x8000_0001:
                d = 1u << 20;
                break;
            case 0x8000_0008:
                a = 36 | (32 << 8);
                break;
        }
        WriteReg(RegEax, a); WriteReg(RegEbx, b); WriteReg(RegEcx, c); WriteReg(RegEdx, d);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private ulong ReadReg(int reg)
    {
        ulong v = 0;
        uc_reg_read(_uc, reg, &v);
        return v;
    }

    private void WriteReg(int reg, ulong value)
    {
        ulong v = value;
        Check(uc_reg_write(_uc, reg, &v), $"reg {reg}");
    }

    private static UnicornVcpu Self(nint user) => (UnicornVcpu)GCHandle.FromIntPtr(user).Target!;

    // A device exception must not unwind through native frames: park it, stop, rethrow from Run.
    private void Fail(nint uc, Exception e)
    {
        _hookFailure ??= e;
        _stopRequested = true;
        uc_emu_stop(uc);
    }

    /// <summary>Stops emulation when the machine ends the run.</summary>
    private void StopIfSignalled(nint uc)
    {
        // Only the end of the run stops mid-block: other stops wait for the next block boundary in real mode (see Run).
        if ((_ctx.Signals.Flags & CpuSignals.Stop) != 0)
        {
            _stopRequested = true;
            uc_emu_stop(uc);
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static uint OnIn(nint uc, uint port, int size, nint user)
    {
        var self = Self(user);
        try
        {
            uint v = self._ctx.Io.Read((ushort)port, size);
            self.StopIfSignalled(uc);
            return v;
        }
        catch (Exception e)
        {
            self.Fail(uc, e);
            return 0;
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void OnOut(nint uc, uint port, int size, uint value, nint user)
    {
        var self = Self(user);
        try
        {
            self._ctx.Io.Write((ushort)port, size, value);
            self.StopIfSignalled(uc);
        }
        catch (Exception e)
        {
            self.Fail(uc, e);
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int OnCpuid(nint uc, nint user)
    {
        var self = Self(user);
        try
        {
            self.Cpuid();
        }
        catch (Exception e)
        {
            self.Fail(uc, e);
        }
        return 1;   // skip the emulator's own CPUID: the registers hold our answer
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static ulong OnMmioRead(nint uc, ulong offset, uint size, nint user)
    {
        var window = (MmioWindow)GCHandle.FromIntPtr(user).Target!;
        try
        {
            return window.Owner._ctx.Mmio.Read(window.Base + offset, (int)size);
        }
        catch (Exception e)
        {
            window.Owner.Fail(uc, e);
            return 0;
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void OnMmioWrite(nint uc, ulong offset, uint size, ulong value, nint user)
    {
        var window = (MmioWindow)GCHandle.FromIntPtr(user).Target!;
        try
        {
            window.Owner._ctx.Mmio.Write(window.Base + offset, (int)size, value);
            window.Owner.StopIfSignalled(uc);
        }
        catch (Exception e)
        {
            window.Owner.Fail(uc, e);
        }
    }

    private static void Check(int err, string what)
    {
        if (err != 0) throw new InvalidOperationException($"{what}: {Marshal.PtrToStringAnsi(uc_strerror(err))}");
    }

    public void Dispose()
    {
        if (_uc != 0)
        {
            uc_close(_uc);
            _uc = 0;
        }
        if (_self.IsAllocated) _self.Free();
        foreach (var h in _mmio) h.Free();
        _mmio.Clear();
    }
}
