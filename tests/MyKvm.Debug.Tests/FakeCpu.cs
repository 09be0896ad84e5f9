using MyKvm.Core;

namespace MyKvm.Debug.Tests;

/// <summary>
/// A tiny stand-in CPU for debugger tests, executing a few real x86 encodings (enough for gdb to follow):
/// 90 nop, 40 inc eax, A3 imm32 (mov [imm32],eax), EB rel8 (jmp), 0F 0B (ud2: raises #UD through the event hook and
/// jumps to the IDT gate's offset), F4 (hlt with IF=0: the machine ends). It implements <see cref="IVcpuDebug"/>
/// with the semantics the real backends must have.
/// </summary>
internal sealed class FakeCpu(GuestRam ram, CpuSignals signals) : IVcpu, IVcpuDebug
{
    private VcpuState _s = VcpuState.Flat32(0x10_0000, 0x08, 0x10, 0x1000, 0x17);
    private HashSet<ulong> _breakpoints = [];
    private List<VcpuWatchpoint> _watch = [];

    public string BackendName => "fake";
    public long RetiredInstructions { get; private set; }
    public bool SingleStep { get; set; }
    public VcpuDebugStop LastStop { get; private set; }
    public Func<VcpuEvent, bool>? EventHook { get; set; }
    public List<(ulong, int)> MemoryNotifications { get; } = [];

    public void SetState(VcpuState state) => _s = state.Clone();
    public VcpuState GetState() => _s.Clone();
    public void SetBreakpoints(IReadOnlyCollection<ulong> linearAddresses) => _breakpoints = [.. linearAddresses];
    public bool SetWatchpoints(IReadOnlyList<VcpuWatchpoint> watchpoints) { _watch = [.. watchpoints]; return true; }
    public void NotifyMemoryWritten(ulong physicalAddress, int length) => MemoryNotifications.Add((physicalAddress, length));

    public VcpuExit Run(long budget)
    {
        for (long n = 0; n < budget; n++)
        {
            int flags = signals.Flags;
            if ((flags & CpuSignals.Stop) != 0) return new VcpuExit(VcpuExitReason.Stopped);
            if ((flags & CpuSignals.Attention) != 0 && n > 0) return new VcpuExit(VcpuExitReason.BudgetExhausted);
            ulong pc = _s.Cs.Base + _s.Rip;
            if (_breakpoints.Contains(pc))
            {
                LastStop = new VcpuDebugStop(VcpuDebugStopKind.Breakpoint, pc);
                return new VcpuExit(VcpuExitReason.Debug);
            }
            byte op = ram.Read8(pc);
            ulong? watched = null;
            switch (op)
            {
                case 0x90: _s.Rip += 1; break;
                case 0x40: _s.Rax = (uint)(_s.Rax + 1); _s.Rip += 1; break;
                case 0xA3:
                {
                    uint addr = ram.Read32(pc + 1);
                    ram.Write32(addr, (uint)_s.Rax);
                    _s.Rip += 5;
                    foreach (var w in _watch)
                        if (w.Kind.HasFlag(WatchKind.Write) && addr < w.LinearAddress + (ulong)w.Length && w.LinearAddress < addr + 4)
                            watched = w.LinearAddress;
                    break;
                }
                case 0xEB: _s.Rip = (ulong)((long)_s.Rip + 2 + (sbyte)ram.Read8(pc + 1)); break;
                case 0x0F when ram.Read8(pc + 1) == 0x0B:
                {
                    bool stop = EventHook?.Invoke(new VcpuEvent(6, VcpuEventSource.Exception, null, _s.Cr2, _s.Cs.Selector, _s.Rip, RetiredInstructions)) ?? false;
                    ulong gate = ram.Read64(_s.IdtBase + 6 * 8);
                    _s.Rip = (gate & 0xFFFF) | ((gate >> 32) & 0xFFFF_0000);
                    RetiredInstructions++;
                    if (stop)
                    {
                        LastStop = new VcpuDebugStop(VcpuDebugStopKind.Event);
                        return new VcpuExit(VcpuExitReason.Debug);
                    }
                    continue;
                }
                case 0xF4:
                    _s.Rip += 1;
                    RetiredInstructions++;
                    return new VcpuExit(VcpuExitReason.HaltedForever);
                default:
                    return new VcpuExit(VcpuExitReason.Unimplemented, $"opcode {op:x2}");
            }
            RetiredInstructions++;
            if (watched is { } wa)
            {
                LastStop = new VcpuDebugStop(VcpuDebugStopKind.Watchpoint, wa, WatchKind.Write);
                return new VcpuExit(VcpuExitReason.Debug);
            }
            if (SingleStep)
            {
                LastStop = new VcpuDebugStop(VcpuDebugStopKind.Step);
                return new VcpuExit(VcpuExitReason.Debug);
            }
        }
        return new VcpuExit(VcpuExitReason.BudgetExhausted);
    }

    public void Dispose() { }
}

/// <summary>A machine run loop on its own thread, wired to a <see cref="VcpuDebugger"/> as the real machine must be.</summary>
internal sealed class FakeMachine : IDisposable
{
    public GuestRam Ram { get; } = new(4 << 20);
    public CpuSignals Signals { get; } = new();
    public FakeCpu Cpu { get; }
    public VcpuDebugger Debugger { get; }
    public VcpuExit? FinalExit { get; private set; }
    private readonly Thread _thread;
    private volatile bool _end;

    public FakeMachine(byte[] program, bool startStopped = true)
    {
        Cpu = new FakeCpu(Ram, Signals);
        Ram.Write(0x10_0000, program);
        Debugger = new VcpuDebugger(Cpu, Ram, Signals, _ => _end = true, startStopped);
        _thread = new Thread(Loop) { IsBackground = true, Name = "fake vcpu" };
    }

    public void Start() => _thread.Start();

    private void Loop()
    {
        while (true)
        {
            Debugger.BeforeRun();
            Signals.Clear(CpuSignals.Attention);
            var exit = Cpu.Run(100);
            if (Debugger.AfterRun(exit)) continue;
            if (_end || exit.Reason is VcpuExitReason.HaltedForever or VcpuExitReason.Stopped or VcpuExitReason.Unimplemented or VcpuExitReason.TripleFault)
            {
                FinalExit = exit;
                Debugger.OnMachineExit(exit.Reason == VcpuExitReason.HaltedForever ? 0 : 3, exit.Reason.ToString());
                return;
            }
            Thread.Sleep(0);
        }
    }

    public bool Join(TimeSpan t) => _thread.Join(t);

    public void Dispose()
    {
        _end = true;
        Signals.Raise(CpuSignals.Stop);
        Debugger.Kill();
        _thread.Join(TimeSpan.FromSeconds(5));
        Ram.Dispose();
    }
}
