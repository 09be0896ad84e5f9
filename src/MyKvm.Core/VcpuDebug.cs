namespace MyKvm.Core;

/// <summary>Where an exception or interrupt the vCPU delivers comes from.</summary>
public enum VcpuEventSource
{
    /// <summary>A fault, trap or abort raised by an instruction or by the delivery of another event.</summary>
    Exception,
    /// <summary>INT n, INT3, INTO (and BOUND's #BR is an <see cref="Exception"/>).</summary>
    SoftwareInterrupt,
    /// <summary>An interrupt acknowledged from the interrupt controller.</summary>
    ExternalInterrupt,
    Nmi,
}

/// <summary>
/// One exception or interrupt the vCPU is about to deliver, reported to <see cref="IVcpuDebug.EventHook"/> before
/// delivery starts, while the architectural state is still that of the faulting instruction (faults are precise),
/// so the hook may call <see cref="IVcpu.GetState"/>.
/// </summary>
/// <param name="Vector">The IDT vector.</param>
/// <param name="ErrorCode">The error code pushed for it, if the vector has one (SDM Vol. 3A §6.13).</param>
/// <param name="Cr2">CR2 after the event (the faulting linear address for #PF).</param>
/// <param name="Cs">CS selector of the instruction the event is reported at.</param>
/// <param name="Rip">RIP (offset in CS) of that instruction: the faulting one for faults, the next one for traps and INT n.</param>
/// <param name="InstructionCount">Instructions retired so far (<see cref="IInstructionCounter.RetiredInstructions"/>).</param>
/// <param name="DeliveringVector">The vector whose delivery raised this exception (a fault while pushing the frame or
/// loading the gate's CS, the #DF of SDM Vol. 3A Table 6-5), or -1 when it was raised by an instruction.</param>
public readonly record struct VcpuEvent(
    byte Vector,
    VcpuEventSource Source,
    uint? ErrorCode,
    ulong Cr2,
    ushort Cs,
    ulong Rip,
    long InstructionCount,
    int DeliveringVector = -1);

/// <summary>What kind of data access a watchpoint stops on.</summary>
[Flags]
public enum WatchKind
{
    Write = 1,
    Read = 2,
    Access = Write | Read,
}

/// <summary>A data watchpoint on <see cref="Length"/> bytes of linear address space.</summary>
public readonly record struct VcpuWatchpoint(ulong LinearAddress, int Length, WatchKind Kind);

public enum VcpuDebugStopKind
{
    None,
    /// <summary><see cref="IVcpuDebug.SingleStep"/>: one instruction retired (or one event delivered).</summary>
    Step,
    /// <summary>About to execute an instruction at a breakpoint address; it has not executed.</summary>
    Breakpoint,
    /// <summary>An instruction accessed watched memory; it has completed (a trap, like DR7 data breakpoints).</summary>
    Watchpoint,
    /// <summary><see cref="IVcpuDebug.EventHook"/> asked to stop; the event was delivered and RIP is the handler's first instruction.</summary>
    Event,
}

/// <summary>Why <see cref="IVcpu.Run"/> returned <see cref="VcpuExitReason.Debug"/>.</summary>
/// <param name="Address">The breakpoint's linear address, or the watched linear address that was accessed.</param>
/// <param name="Access">For a watchpoint: whether it was written or read.</param>
public readonly record struct VcpuDebugStop(VcpuDebugStopKind Kind, ulong Address = 0, WatchKind Access = 0);

/// <summary>
/// The execution hooks a vCPU backend offers the debugger (gdb stub, monitor, fault explainer, traces), implemented by
/// the backend's <see cref="IVcpu"/> class next to it. Everything here is set and read on the vCPU thread between
/// <see cref="IVcpu.Run"/> calls; a backend must make the unset case cost nothing measurable on its hot path
/// (for example one flags word checked once per instruction or only at TLB fills).
/// </summary>
public interface IVcpuDebug
{
    /// <summary>
    /// When true, <see cref="IVcpu.Run"/> executes at most one instruction and returns <see cref="VcpuExitReason.Debug"/>
    /// with <see cref="VcpuDebugStopKind.Step"/>. An instruction that raises an exception counts as one step that ends
    /// at the handler's first instruction.
    /// </summary>
    bool SingleStep { get; set; }

    /// <summary>
    /// Replaces the set of instruction breakpoints (linear addresses: CS base + RIP). Before executing an instruction at
    /// one of them, <see cref="IVcpu.Run"/> returns <see cref="VcpuExitReason.Debug"/> with
    /// <see cref="VcpuDebugStopKind.Breakpoint"/>, the instruction not executed. Guest memory is never patched.
    /// </summary>
    void SetBreakpoints(IReadOnlyCollection<ulong> linearAddresses);

    /// <summary>Replaces the set of watchpoints. Returns false if the backend cannot watch this many or this kind.</summary>
    bool SetWatchpoints(IReadOnlyList<VcpuWatchpoint> watchpoints);

    /// <summary>Why the last <see cref="IVcpu.Run"/> returned <see cref="VcpuExitReason.Debug"/>.</summary>
    VcpuDebugStop LastStop { get; }

    /// <summary>
    /// Called for every exception and interrupt before it is delivered, including each fault raised while delivering
    /// another and the one that ends in a triple fault. Returning true makes <see cref="IVcpu.Run"/> return
    /// <see cref="VcpuExitReason.Debug"/> (<see cref="VcpuDebugStopKind.Event"/>) once the event has been delivered.
    /// Null (the default) means no calls at all.
    /// </summary>
    Func<VcpuEvent, bool>? EventHook { get; set; }

    /// <summary>
    /// The debugger changed guest RAM behind the CPU's back (gdb <c>M</c>/<c>X</c>, the monitor): drop anything cached
    /// from [<paramref name="physicalAddress"/>, +<paramref name="length"/>), such as decoded instructions.
    /// </summary>
    void NotifyMemoryWritten(ulong physicalAddress, int length);
}
