using MyKvm.Core;
using MyKvm.Debug.Memory;

namespace MyKvm.Debug;

/// <summary>Why the target stopped.</summary>
public enum StopReason
{
    /// <summary>At a software breakpoint (gdb Z0, monitor <c>break</c>); the instruction there has not run.</summary>
    Breakpoint,
    /// <summary>At a hardware breakpoint (gdb Z1).</summary>
    HardwareBreakpoint,
    /// <summary>One instruction was executed.</summary>
    Step,
    /// <summary>A watched address was accessed; the accessing instruction has completed.</summary>
    Watchpoint,
    /// <summary>Stopped on request (gdb Ctrl-C, monitor <c>stop</c>, <c>--gdb-wait</c>).</summary>
    Interrupted,
    /// <summary>An exception was delivered (when stopping on exceptions is enabled).</summary>
    Exception,
    /// <summary>The CPU shut down (triple fault); registers show the state at shutdown.</summary>
    TripleFault,
    /// <summary>The machine ended (the guest's exit, a reset, the monitor's quit).</summary>
    Exited,
}

/// <summary>A stop of the target, as the gdb stub and the monitor report it.</summary>
public sealed record StopEvent(
    StopReason Reason,
    ulong Address = 0,
    WatchKind Access = 0,
    int Vector = -1,
    uint? ErrorCode = null,
    ulong Cr2 = 0,
    int ExitCode = 0,
    string? Detail = null)
{
    public override string ToString() => Reason switch
    {
        StopReason.Breakpoint or StopReason.HardwareBreakpoint => $"breakpoint at 0x{Address:x}",
        StopReason.Watchpoint => $"watchpoint: {(Access.HasFlag(WatchKind.Write) ? "write" : "read")} of 0x{Address:x}",
        StopReason.Step => "stepped",
        StopReason.Interrupted => "stopped",
        StopReason.Exception => $"exception {X86.Exceptions.Mnemonic(Vector)}",
        StopReason.TripleFault => "triple fault",
        StopReason.Exited => $"machine ended (exit status {ExitCode}){(Detail is null ? "" : ": " + Detail)}",
        _ => Reason.ToString(),
    };
}

/// <summary>The breakpoint and watchpoint kinds, numbered as gdb's Z packets number them.</summary>
public enum BreakpointType
{
    Software = 0,
    Hardware = 1,
    WriteWatch = 2,
    ReadWatch = 3,
    AccessWatch = 4,
}

/// <summary>
/// What the gdb stub and the monitor drive: one vCPU with its memory. Every method may be called from any thread;
/// an implementation marshals to the vCPU thread where it must. Addresses of breakpoints and watchpoints are linear.
/// </summary>
public interface IDebugTarget
{
    /// <summary>The registers (a snapshot). Valid while stopped; while running, a snapshot at some instruction boundary.</summary>
    VcpuState GetRegisters();

    /// <summary>Replaces the registers; only while stopped.</summary>
    void SetRegisters(VcpuState state);

    /// <summary>Guest RAM (reads never touch MMIO devices).</summary>
    IPhysicalMemory Physical { get; }

    bool AddBreakpoint(BreakpointType type, ulong address, int length);
    bool RemoveBreakpoint(BreakpointType type, ulong address, int length);
    void RemoveAllBreakpoints();

    /// <summary>Lets the vCPU run (or execute exactly one instruction); returns at once. The next stop arrives from <see cref="WaitForStop"/>.</summary>
    void Resume(bool step);

    /// <summary>Asks the running vCPU to stop (any thread); <see cref="StopReason.Interrupted"/> follows.</summary>
    void Interrupt();

    /// <summary>The next stop, or null if none within <paramref name="timeout"/>.</summary>
    StopEvent? WaitForStop(TimeSpan timeout);

    /// <summary>True while the vCPU runs (between <see cref="Resume"/> and the stop).</summary>
    bool IsRunning { get; }

    /// <summary>True once the machine has ended: nothing can run any more.</summary>
    bool HasExited { get; }

    /// <summary>Instructions retired so far.</summary>
    long InstructionCount { get; }

    /// <summary>Ends the machine (gdb's <c>k</c>, the monitor's <c>quit</c>).</summary>
    void Kill();
}

public static class DebugTargetExtensions
{
    /// <summary>Linear memory through the current page tables.</summary>
    public static LinearMemory Linear(this IDebugTarget target) => new(target.Physical, target.GetRegisters());

    /// <summary>Waits for the next stop, however long it takes (or until the machine ends).</summary>
    public static StopEvent WaitForStop(this IDebugTarget target)
    {
        while (true)
        {
            if (target.WaitForStop(TimeSpan.FromMilliseconds(200)) is { } stop) return stop;
        }
    }
}
