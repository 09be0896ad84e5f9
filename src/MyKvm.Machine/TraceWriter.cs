using MyKvm.Core;

namespace MyKvm.Machine;

/// <summary><c>--trace io</c>: bus accesses nobody claims (and all accesses with TraceAll), stamped with virtual time.</summary>
internal sealed class TraceWriter(TextWriter log, IClock clock) : IBusTracer
{
    public void Unclaimed(string space, ulong address, int size, bool write, ulong value) =>
        log.WriteLine(write
            ? $"[{clock.NowNs,12} ns] {space} write to unclaimed 0x{address:x} size {size} value 0x{value:x} (ignored)"
            : $"[{clock.NowNs,12} ns] {space} read of unclaimed 0x{address:x} size {size} -> 0x{value:x}");

    public void Access(string space, ulong address, int size, bool write, ulong value) =>
        log.WriteLine($"[{clock.NowNs,12} ns] {space} {(write ? "write" : "read ")} 0x{address:x} size {size} value 0x{value:x}");
}
