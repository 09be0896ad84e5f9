using System.Runtime.InteropServices;
using System.Text;
using MyKvm.Core;
using static MyKvm.Cpu.X86;

namespace MyKvm.Cpu;

/// <summary>Tunables of the software CPU.</summary>
public sealed record CpuOptions
{
    /// <summary>Report a local APIC in CPUID (set when the machine has one).</summary>
    public bool HasApic { get; init; } = true;
    /// <summary>TSC frequency: RDTSC = machine clock (ns) × TscHz / 1e9.</summary>
    public long TscHz { get; init; } = 1_000_000_000;
    /// <summary>Initial APIC ID reported by CPUID.1:EBX[31:24].</summary>
    public byte ApicId { get; init; }
    /// <summary>Capacity of the decoded-instruction cache (instructions); it is flushed whole when full.</summary>
    public int CodeCacheInstructions { get; init; } = 1 << 18;
}

/// <summary>An exception or interrupt the CPU is about to deliver (for the debugger's fault explainer).</summary>
public readonly record struct CpuEvent(int Vector, uint ErrorCode, bool HasErrorCode, ulong Cr2, ushort Cs, ulong Rip, bool External);

/// <summary>
/// The software x86 CPU: an interpreter over pre-decoded blocks (see DESIGN.md "Hot-path C#").
/// State lives in one unmanaged <see cref="CpuState"/>; instructions are decoded once per block into
/// <see cref="Insn"/> records dispatched through function pointers; memory goes through an inlined TLB hit
/// path onto the raw guest-RAM mapping. Guest faults are values, never .NET exceptions.
/// </summary>
public sealed unsafe partial class SoftCpu : IVcpu
{
    private readonly VcpuContext _ctx;
    private readonly CpuOptions _opt;
    private readonly CpuSignals _signals;
    private CpuState* _s;
    private GCHandle _self;
    private string? _exitDetail;

    public SoftCpu(VcpuContext ctx, CpuOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        _ctx = ctx;
        _opt = options ?? new CpuOptions();
        _signals = ctx.Signals;
        _s = (CpuState*)NativeMemory.AllocZeroed((nuint)sizeof(CpuState));
        _self = GCHandle.Alloc(this, GCHandleType.Normal);
        CpuState* s = _s;
        s->Self = GCHandle.ToIntPtr(_self);
        s->Ram = ctx.Ram.HostBase;
        s->RamLow = ctx.Ram.LowSize;
        s->RamHigh = ctx.Ram.HighSize;
        ulong pages = ctx.Ram.Size >> 12;
        s->CodeMask = (ulong*)NativeMemory.AllocZeroed((nuint)(pages * 8));
        s->TlbBase = (TlbEntry*)NativeMemory.AllocZeroed((nuint)(6 * TlbSize * sizeof(TlbEntry)));
        s->TlbInfo = (byte*)NativeMemory.AllocZeroed((nuint)(6 * TlbSize));
        s->FaultVec = -1;
        s->FpuCw = 0x0040; s->FpuTw = 0x5555;      // x87 state at power-on (SDM Vol. 3A Table 9-1)
        InitCodeCache();
        SetCpl(s, 0);
        FlushTlb(s, false);
        SetState(VcpuState.Real(0xF000, 0xFFF0));
    }

    public string BackendName => "soft";

    public long RetiredInstructions => _s->Retired;

    /// <summary>Called before an exception or interrupt is delivered; null costs nothing.</summary>
    public Action<CpuEvent>? ExceptionObserver { get; set; }

    internal static SoftCpu Of(CpuState* s) => (SoftCpu)GCHandle.FromIntPtr(s->Self).Target!;

    // ---- the run loop ---------------------------------------------------------------------------

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public VcpuExit Run(long instructionBudget)
    {
        CpuState* s = _s;
        if (instructionBudget <= 0) instructionBudget = 1;
        s->BudgetEnd = s->Retired + instructionBudget;
        s->ExitReq = 0;
        _exitDetail = null;
        while (true)
        {
            int sig = _signals.Flags;
            if (((sig & s->SigMask) | s->Events) != 0 || s->Halted != 0)
            {
                if ((sig & CpuSignals.Stop) != 0) return new VcpuExit(VcpuExitReason.Stopped);
                if ((sig & CpuSignals.Attention) != 0) return new VcpuExit(VcpuExitReason.BudgetExhausted);
                bool inhibit = false;
                if ((s->Events & CpuState.EvShadow) != 0) s->Events &= ~CpuState.EvShadow;
                if ((s->Events & CpuState.EvShadowArm) != 0)
                {
                    s->Events = (s->Events & ~CpuState.EvShadowArm) | CpuState.EvShadow;
                    inhibit = true;
                }
                s->Events &= ~(CpuState.EvSmc | CpuState.EvRecheck);
                if (!inhibit && (sig & CpuSignals.Intr) != 0 && (s->Eflags & CpuState.IF) != 0 && _signals.Controller is { } ctl)
                {
                    int vec = ctl.Acknowledge();
                    s->Halted = 0;
                    ExceptionObserver?.Invoke(new CpuEvent(vec, 0, false, s->Cr2, s->Cs.Sel, s->Rip, true));
                    s->InsnStart = s->Rip;
                    if (!DeliverInterrupt(s, vec, IntKind.External, false, 0)) DeliverFault(vec);
                    if (s->ExitReq != 0) return TakeExit();
                    continue;
                }
                if (s->Halted != 0)
                    return new VcpuExit((s->Eflags & CpuState.IF) != 0 ? VcpuExitReason.Halted : VcpuExitReason.HaltedForever);
            }
            if (s->Retired >= s->BudgetEnd) return new VcpuExit(VcpuExitReason.BudgetExhausted);
            if (_debugActive)
            {
                if (DebugStep() is { } d) return d;
            }
            else if ((s->Eflags & CpuState.TF) != 0) StepTrap();
            else ExecuteBlock();
            if (s->FaultVec >= 0) DeliverFault(-1);
            if (s->ExitReq != 0) return TakeExit();
        }
    }

    // ---- debugger hooks ---------------------------------------------------------------------------

    private readonly HashSet<ulong> _breakpoints = [];
    private bool _singleStep, _debugActive;
    private ulong _resumeAt = ulong.MaxValue;

    /// <summary>When set, <see cref="Run"/> executes one instruction and returns <see cref="VcpuExitReason.Debug"/>.</summary>
    public bool SingleStep
    {
        get => _singleStep;
        set { _singleStep = value; _debugActive = _singleStep || _breakpoints.Count > 0; }
    }

    /// <summary>
    /// Stops with <see cref="VcpuExitReason.Debug"/> before executing the instruction at linear address
    /// <paramref name="linear"/> (the next Run executes it). While breakpoints are set, instructions run one at a time.
    /// </summary>
    public void AddBreakpoint(ulong linear) { _breakpoints.Add(linear); _debugActive = true; }
    public bool RemoveBreakpoint(ulong linear)
    {
        bool r = _breakpoints.Remove(linear);
        _debugActive = _singleStep || _breakpoints.Count > 0;
        return r;
    }

    /// <summary>The linear address of the next instruction (CS base + RIP).</summary>
    public ulong NextInstructionLinear => (_s->Cs.Base + _s->Rip) & _s->LinMask;

    private VcpuExit? DebugStep()
    {
        CpuState* s = _s;
        ulong lin = (s->Cs.Base + s->Rip) & s->LinMask;
        if (_breakpoints.Contains(lin) && _resumeAt != lin)
        {
            _resumeAt = lin;
            return new VcpuExit(VcpuExitReason.Debug, $"breakpoint at {s->Cs.Sel:x4}:{s->Rip:x8} (linear {lin:x8})");
        }
        _resumeAt = ulong.MaxValue;
        long end = s->BudgetEnd;
        long before = s->Retired;
        s->BudgetEnd = s->Retired + 1;
        if ((s->Eflags & CpuState.TF) != 0) StepTrap(); else ExecuteBlock();
        s->BudgetEnd = end;
        if (s->FaultVec >= 0) DeliverFault(-1);
        if (s->ExitReq != 0) return TakeExit();
        if (_singleStep && s->Retired != before)
            return new VcpuExit(VcpuExitReason.Debug, $"single step to {s->Cs.Sel:x4}:{s->Rip:x8}");
        return null;
    }

    private VcpuExit TakeExit()
    {
        var reason = (VcpuExitReason)(_s->ExitReq - 1);
        _s->ExitReq = 0;
        string? d = _exitDetail;
        _exitDetail = null;
        return new VcpuExit(reason, d);
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private void ExecuteBlock()
    {
        CpuState* s = _s;
        CpuSignals sig = _signals;
        // Blocks chain through the jump cache without leaving this loop while nothing needs the run loop:
        // no event or signal, budget left, no fault or exit.
        while (true)
        {
            ulong rip = s->Rip;
            int mode = s->CodeMode & 3;
            if (mode != 2 && rip > s->Cs.Limit) { s->InsnStart = rip; Fault(s, Vec.GP, 0); return; }
            ulong lin = (s->Cs.Base + rip) & s->LinMask;
            ulong tag = (lin << 3) | (uint)(mode << 1) | (s->Cpl == 3 ? 1UL : 0);
            JumpCacheEntry* jc = s->JumpCache + (int)((lin ^ (lin >> JumpCacheBits)) & (JumpCacheSize - 1));
            Block* b = jc->Block;
            if (jc->Tag != tag || b == null || b->Key < 0 || FirstWord(s->Ram, b->HostOff) != b->Check0 && !BlockStillValid(b))
            {
                b = FindBlock(lin, rip, mode);
                if (b == null) return;
                jc->Tag = tag;
                jc->Block = b;
            }
            if (mode != 2 && rip + b->Bytes - 1 > s->Cs.Limit) { StepSlow(); return; }

            Insn* i = _pool + b->First;
            long left = s->BudgetEnd - s->Retired;
            Insn* end = i + (left < b->Count ? Math.Max(left, 1) : b->Count);
            while (true)
            {
                // InsnStart is written only when an instruction stops the block (a fault needs it);
                // handlers that need it earlier compute RIP - Len.
                ulong start = s->Rip;
                s->Rip = start + i->Len;
                if (i->Fn(s, i) != 0)
                {
                    s->InsnStart = start;
                    if (s->FaultVec < 0) s->Retired++;
                    return;
                }
                s->Retired++;
                if (((sig.Flags & s->SigMask) | s->Events) != 0) return;
                if (++i >= end) break;
            }
            if (s->Retired >= s->BudgetEnd) return;
        }
    }

    private void RunBlock(Insn* i, int count)
    {
        CpuState* s = _s;
        long left = s->BudgetEnd - s->Retired;
        Insn* end = i + (left < count ? Math.Max(left, 1) : count);
        CpuSignals sig = _signals;
        while (true)
        {
            ulong start = s->Rip;
            s->Rip = start + i->Len;
            if (i->Fn(s, i) != 0)
            {
                s->InsnStart = start;
                if (s->FaultVec < 0) s->Retired++;
                return;
            }
            s->Retired++;
            if (++i >= end) return;
            if (((sig.Flags & s->SigMask) | s->Events) != 0) return;
        }
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private static ulong FirstWord(byte* ram, ulong off) => (off & 0xFFF) <= 0xFF8 ? *(ulong*)(ram + off) : ram[off];

    /// <summary>Translates the fetch address and finds or decodes the block there; null when it ran StepSlow or faulted.</summary>
    private Block* FindBlock(ulong lin, ulong rip, int mode)
    {
        CpuState* s = _s;
        TlbEntry* e = s->TlbX + ((lin >> 12) & TlbIdxMask);
        long host;
        if (e->Tag == (lin & ~0xFFFUL)) host = e->Delta + (long)lin;
        else
        {
            if (!Translate(s, lin, AccFetch | (s->Cpl == 3 ? AccUser : 0), out ulong phys)) { s->InsnStart = rip; return null; }
            long off = HostOffset(s, phys);
            if (off < 0) { StepSlow(); return null; }
            host = (long)s->Ram + off;
        }
        ulong hostOff = (ulong)(host - (long)s->Ram);
        Block* b = Lookup(hostOff, mode);
        if (b != null) return b;
        ulong avail = 4096 - (hostOff & 0xFFF);
        if (mode != 2) avail = Math.Min(avail, (ulong)s->Cs.Limit - rip + 1);
        b = Build(hostOff, mode, (int)avail);
        if (b == null) StepSlow();
        return b;
    }

    /// <summary>
    /// Executes one instruction fetched byte by byte: code crossing a page boundary, code in MMIO, or a block
    /// that would run past the CS limit. Fetch faults are raised only for bytes the instruction needs.
    /// </summary>
    private void StepSlow()
    {
        CpuState* s = _s;
        byte* buf = stackalloc byte[16];
        int n = 0;
        ulong rip = s->Rip;
        s->InsnStart = rip;
        int mode = s->CodeMode & 3;
        int acc = AccFetch | (s->Cpl == 3 ? AccUser : 0);
        while (true)
        {
            int len = Decoder.Decode(buf, n, mode, _scratch, out _);
            if (len > 0) break;
            if (n >= Decoder.MaxInsnLen) { Fault(s, Vec.GP, 0); return; }
            ulong off = rip + (ulong)n;
            if (mode != 2 && off > s->Cs.Limit) { Fault(s, Vec.GP, 0); return; }
            ulong lin = (s->Cs.Base + off) & s->LinMask;
            if (!Translate(s, lin, acc, out ulong phys)) return;
            buf[n++] = (byte)PhysRead(s, phys, 1);
        }
        RunBlock(_scratch, 1);
    }

    /// <summary>TF=1: one instruction, then a single-step #DB trap (SDM Vol. 3A §17.3.1.4).</summary>
    private void StepTrap()
    {
        CpuState* s = _s;
        long end = s->BudgetEnd;
        s->BudgetEnd = s->Retired + 1;
        long before = s->Retired;
        ExecuteBlock();
        s->BudgetEnd = end;
        if (s->FaultVec >= 0 || s->ExitReq != 0 || s->Retired == before) return;
        s->Dr[6] |= 0x4000;     // BS
        s->InsnStart = s->Rip;
        ExceptionObserver?.Invoke(new CpuEvent(Vec.DB, 0, false, s->Cr2, s->Cs.Sel, s->Rip, false));
        if (!DeliverInterrupt(s, Vec.DB, IntKind.Exception, false, 0)) DeliverFault(Vec.DB);
    }

    /// <summary>
    /// Delivers the pending fault with the double-fault rules of SDM Vol. 3A §6.15 (Table 6-5), reporting a
    /// triple fault to the machine. <paramref name="during"/> is an event whose delivery raised it, or -1.
    /// </summary>
    private void DeliverFault(int during)
    {
        CpuState* s = _s;
        int vec = s->FaultVec;
        uint err = s->FaultErr;
        bool hasErr = s->FaultHasErr != 0;
        s->FaultVec = -1;
        s->Rip = s->InsnStart;
        s->Halted = 0;
        Span<int> chain = stackalloc int[4];
        int chainLen = 0;
        if (during >= 0) chain[chainLen++] = during;
        if (during >= 0 && !IsBenign(during) && vec != Vec.DF && DoubleFaults(during, vec)) { chain[chainLen++] = vec; vec = Vec.DF; err = 0; hasErr = true; }
        while (true)
        {
            if (chainLen < chain.Length) chain[chainLen++] = vec;
            ExceptionObserver?.Invoke(new CpuEvent(vec, err, hasErr, s->Cr2, s->Cs.Sel, s->Rip, false));
            if (DeliverInterrupt(s, vec, IntKind.Exception, hasErr, err)) return;
            int v2 = s->FaultVec;
            uint e2 = s->FaultErr;
            bool h2 = s->FaultHasErr != 0;
            s->FaultVec = -1;
            if (vec == Vec.DF)
            {
                if (chainLen < chain.Length) chain[chainLen++] = v2;
                ReportTripleFault(chain[..chainLen], e2);
                return;
            }
            if (DoubleFaults(vec, v2)) { vec = Vec.DF; err = 0; hasErr = true; }
            else { vec = v2; err = e2; hasErr = h2; }
        }
    }

    private static bool IsContributory(int v) => v is Vec.DE or Vec.TS or Vec.NP or Vec.SS or Vec.GP;
    private static bool IsBenign(int v) => !IsContributory(v) && v != Vec.PF && v != Vec.DF;
    private static bool DoubleFaults(int first, int second) =>
        (IsContributory(first) && IsContributory(second)) || (first == Vec.PF && (IsContributory(second) || second == Vec.PF));

    // ---- state ----------------------------------------------------------------------------------

    public void SetState(VcpuState st)
    {
        ArgumentNullException.ThrowIfNull(st);
        CpuState* s = _s;
        ulong[] g = [st.Rax, st.Rcx, st.Rdx, st.Rbx, st.Rsp, st.Rbp, st.Rsi, st.Rdi, st.R8, st.R9, st.R10, st.R11, st.R12, st.R13, st.R14, st.R15];
        for (int r = 0; r < 16; r++) s->Regs[r] = g[r];
        s->Regs[CpuState.RegZero] = 0;
        s->Rip = st.Rip;
        s->Cr0 = st.Cr0 | VcpuState.Cr0ET; s->Cr2 = st.Cr2; s->Cr3 = st.Cr3; s->Cr4 = st.Cr4; s->Cr8 = st.Cr8; s->Efer = st.Efer;
        uint fl = (uint)st.Rflags;
        s->Eflags = (fl & 0x003F_7FD5u) | 2;
        s->FlLazy = 0;
        s->SigMask = (fl & CpuState.IF) != 0 ? ~0 : ~CpuSignals.Intr;
        s->GdtBase = st.GdtBase; s->GdtLimit = st.GdtLimit; s->IdtBase = st.IdtBase; s->IdtLimit = st.IdtLimit;
        s->Dr[0] = st.Dr0; s->Dr[1] = st.Dr1; s->Dr[2] = st.Dr2; s->Dr[3] = st.Dr3; s->Dr[6] = st.Dr6; s->Dr[7] = st.Dr7;
        s->ApicBase = st.ApicBase;
        s->SysenterCs = st.SysenterCs; s->SysenterEsp = st.SysenterEsp; s->SysenterEip = st.SysenterEip;
        s->Star = st.Star; s->Lstar = st.Lstar; s->Cstar = st.Cstar; s->Fmask = st.Fmask; s->KernelGsBase = st.KernelGsBase;
        SegmentState[] segs = [st.Es, st.Cs, st.Ss, st.Ds, st.Fs, st.Gs];
        s->CodeMode = 1;
        for (int k = 0; k < 6; k++)
        {
            Seg* p = SegP(s, k);
            p->Sel = segs[k].Selector; p->Base = segs[k].Base; p->Limit = segs[k].Limit; p->Attr = segs[k].Attributes;
        }
        s->Ldtr = new Seg { Sel = st.Ldtr.Selector, Base = st.Ldtr.Base, Limit = st.Ldtr.Limit, Attr = st.Ldtr.Attributes };
        s->Tr = new Seg { Sel = st.Tr.Selector, Base = st.Tr.Base, Limit = st.Tr.Limit, Attr = st.Tr.Attributes };
        int cpl = (s->Cr0 & 1) == 0 ? 0 : (fl & CpuState.VM) != 0 ? 3 : s->Cs.Sel & 3;
        SetCpl(s, cpl);
        RecomputeAllRanges(s);
        FlushTlb(s, false);
        s->Events = 0;
        s->Halted = 0;
        s->FaultVec = -1;
    }

    public VcpuState GetState()
    {
        CpuState* s = _s;
        static SegmentState Seg2(Seg* p) => new(p->Sel, p->Base, p->Limit, p->Attr);
        var st = new VcpuState
        {
            Rax = s->Regs[0], Rcx = s->Regs[1], Rdx = s->Regs[2], Rbx = s->Regs[3],
            Rsp = s->Regs[4], Rbp = s->Regs[5], Rsi = s->Regs[6], Rdi = s->Regs[7],
            R8 = s->Regs[8], R9 = s->Regs[9], R10 = s->Regs[10], R11 = s->Regs[11],
            R12 = s->Regs[12], R13 = s->Regs[13], R14 = s->Regs[14], R15 = s->Regs[15],
            Rip = s->Rip,
            Rflags = GetEflags(s),
            Es = Seg2(&s->Es), Cs = Seg2(&s->Cs), Ss = Seg2(&s->Ss), Ds = Seg2(&s->Ds), Fs = Seg2(&s->Fs), Gs = Seg2(&s->Gs),
            Ldtr = Seg2(&s->Ldtr), Tr = Seg2(&s->Tr),
            GdtBase = s->GdtBase, GdtLimit = (ushort)s->GdtLimit, IdtBase = s->IdtBase, IdtLimit = (ushort)s->IdtLimit,
            Cr0 = s->Cr0, Cr2 = s->Cr2, Cr3 = s->Cr3, Cr4 = s->Cr4, Cr8 = s->Cr8, Efer = s->Efer,
            Dr0 = s->Dr[0], Dr1 = s->Dr[1], Dr2 = s->Dr[2], Dr3 = s->Dr[3], Dr6 = s->Dr[6], Dr7 = s->Dr[7],
            ApicBase = s->ApicBase,
            SysenterCs = s->SysenterCs, SysenterEsp = s->SysenterEsp, SysenterEip = s->SysenterEip,
            Star = s->Star, Lstar = s->Lstar, Cstar = s->Cstar, Fmask = s->Fmask, KernelGsBase = s->KernelGsBase,
        };
        return st;
    }

    /// <summary>The current privilege level.</summary>
    public int Cpl => _s->Cpl;

    /// <summary>True after HLT until an interrupt arrives.</summary>
    public bool IsHalted => _s->Halted != 0;

    // ---- bus access -----------------------------------------------------------------------------

    internal ulong PortRead(ushort port, int size) => _ctx.Io.Read(port, size);
    internal void PortWrite(ushort port, int size, ulong v) => _ctx.Io.Write(port, size, (uint)v);
    internal ulong MmioRead(ulong phys, int size) => _ctx.Mmio.Read(phys, size);
    internal void MmioWrite(ulong phys, int size, ulong v) => _ctx.Mmio.Write(phys, size, v);

    internal ulong ReadTsc()
    {
        long ns = _ctx.Clock.NowNs;
        ulong t = _opt.TscHz == 1_000_000_000 ? (ulong)ns : (ulong)((Int128)ns * _opt.TscHz / 1_000_000_000);
        return t + _s->TscOffset;
    }

    // ---- reports --------------------------------------------------------------------------------

    internal void ReportUnimplemented(string? what)
    {
        CpuState* s = _s;
        ulong lin = (s->Cs.Base + s->InsnStart) & s->LinMask;
        string bytes = FormatBytes(PeekCode(lin, 15));
        _exitDetail = $"unimplemented instruction{(what is null ? "" : ": " + what)}; bytes {bytes} at {s->Cs.Sel:x4}:{s->InsnStart:x8} (linear {lin:x8}), {ModeName()}";
        s->ExitReq = 1 + (int)VcpuExitReason.Unimplemented;
    }

    private void ReportTripleFault(ReadOnlySpan<int> chain, uint lastErr)
    {
        CpuState* s = _s;
        ulong lin = (s->Cs.Base + s->InsnStart) & s->LinMask;
        var sb = new StringBuilder("triple fault: ");
        for (int k = 0; k < chain.Length; k++)
        {
            if (k > 0) sb.Append(k == chain.Length - 1 ? " while delivering the double fault, raised " : " then ");
            sb.Append(VectorName(chain[k]));
        }
        sb.Append($" (last error code 0x{lastErr:x})");
        sb.Append($"; the instruction at {s->Cs.Sel:x4}:{s->InsnStart:x8} (linear {lin:x8}) bytes {FormatBytes(PeekCode(lin, 15))}");
        sb.Append($"; {ModeName()}; CR0={s->Cr0:x8} CR2={s->Cr2:x8} CR3={s->Cr3:x8} CR4={s->Cr4:x8}");
        sb.Append($" IDTR={s->IdtBase:x8}/{s->IdtLimit:x4} GDTR={s->GdtBase:x8}/{s->GdtLimit:x4} TR={s->Tr.Sel:x4} ESP={s->Regs[4]:x8}.");
        sb.Append(" The CPU shut down (SDM Vol. 3A §6.15, interrupt 8).");
        _exitDetail = sb.ToString();
        s->ExitReq = 1 + (int)VcpuExitReason.TripleFault;
    }

    internal static string VectorName(int v) => v switch
    {
        0 => "#DE", 1 => "#DB", 2 => "NMI", 3 => "#BP", 4 => "#OF", 5 => "#BR", 6 => "#UD", 7 => "#NM", 8 => "#DF",
        10 => "#TS", 11 => "#NP", 12 => "#SS", 13 => "#GP", 14 => "#PF", 16 => "#MF", 17 => "#AC", 18 => "#MC", 19 => "#XM",
        _ => $"vector {v}",
    };

    private string ModeName()
    {
        CpuState* s = _s;
        string m = (s->Cr0 & 1) == 0 ? "real mode"
            : (s->Eflags & CpuState.VM) != 0 ? "virtual-8086 mode"
            : (s->CodeMode & 3) == 2 ? "64-bit mode"
            : (s->CodeMode & 3) == 1 ? "32-bit protected mode" : "16-bit protected mode";
        string pg = (s->Cr0 & 0x8000_0000) == 0 ? "paging off" : (s->Cr4 & 0x20) != 0 ? "PAE paging" : "paging on";
        return $"{m}, CPL {s->Cpl}, {pg}";
    }

    /// <summary>Reads code bytes for a report without raising faults or changing CR2.</summary>
    private byte[] PeekCode(ulong lin, int n)
    {
        CpuState* s = _s;
        int fv = s->FaultVec; uint fe = s->FaultErr; int fh = s->FaultHasErr; ulong cr2 = s->Cr2;
        var list = new List<byte>();
        for (int k = 0; k < n; k++)
        {
            if (!Translate(s, (lin + (ulong)k) & s->LinMask, 0, out ulong phys)) break;
            if (HostOffset(s, phys) < 0) break;
            list.Add((byte)PhysRead(s, phys, 1));
        }
        s->FaultVec = fv; s->FaultErr = fe; s->FaultHasErr = fh; s->Cr2 = cr2;
        return [.. list];
    }

    private static string FormatBytes(byte[] b) => b.Length == 0 ? "(unreadable)" : string.Join(" ", b.Select(x => x.ToString("x2")));

    public void Dispose()
    {
        if (_s == null) return;
        FreeCodeCache();
        NativeMemory.Free(_s->CodeMask);
        NativeMemory.Free(_s->TlbBase);
        NativeMemory.Free(_s->TlbInfo);
        NativeMemory.Free(_s);
        _s = null;
        if (_self.IsAllocated) _self.Free();
    }
}
