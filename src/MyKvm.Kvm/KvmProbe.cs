using MyKvm.Core;
using MyKvm.Kvm.Boot;

namespace MyKvm.Kvm;

/// <summary>Whether KVM can run mykvm's guests here, and why (one line).</summary>
public sealed record KvmProbeResult(bool Usable, string Reason);

/// <summary>
/// For <c>--accel auto</c>: opens /dev/kvm, checks the API version and capabilities, then runs a short guest with
/// paging in a throwaway VM. Some hosts' KVM (paravirtual implementations) run only real mode and unpaged protected
/// mode and triple-fault on the first paged instruction; the probe catches that before a real guest is started.
/// </summary>
public static class KvmProbe
{
    /// <summary>The port the probe guest writes its result to (its own bus; nothing else is on it).</summary>
    internal const ushort ResultPort = 0x80;
    internal const uint MagicA = 0x1234_5678, MagicB = 0x0F0F_0F0F;
    private const ulong PageDirectory = 0x10000, CodePhysical = 0x20000, DataPhysical = 0x30000;
    private const uint HigherHalf = 0xC000_0000;
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(2);

    /// <summary>Never throws: any failure makes the result unusable, with the reason.</summary>
    public static KvmProbeResult Run(KvmOptions? options = null)
    {
        options ??= new KvmOptions();
        using var system = KvmSystem.TryOpen(out string reason, options.DevicePath);
        if (system is null) return new KvmProbeResult(false, reason);
        try
        {
            return RunPagedGuest(system, options);
        }
        catch (Exception e) when (e is KvmException or GuestMemoryException or InvalidOperationException or OutOfMemoryException)
        {
            return new KvmProbeResult(false, $"{options.DevicePath} opened, but the probe VM failed: {e.Message}");
        }
    }

    /// <summary>"accel auto: kvm (...)" or "accel auto: software CPU (...)".</summary>
    public static string DescribeAutoChoice(KvmProbeResult result) => result.Usable
        ? $"accel auto: using KVM ({result.Reason})"
        : $"accel auto: using the software CPU ({result.Reason})";

    private static KvmProbeResult RunPagedGuest(KvmSystem system, KvmOptions options)
    {
        using var ram = new GuestRam(4 << 20);
        var state = WriteProbeGuest(ram);
        var io = new IoBus();
        var sink = new ResultPortDevice();
        io.Register(ResultPort, 4, sink);
        var ctx = new VcpuContext { Ram = ram, Io = io, Mmio = new MmioBus(), Signals = new CpuSignals(), Clock = new MachineClock(ClockMode.RealTime) };
        using var vm = new KvmVm(system, ram, options with { InKernelIrqchip = false, StrictMmio = true });
        using var vcpu = vm.CreateVcpu(ctx);
        vcpu.SetState(state);
        var wall = System.Diagnostics.Stopwatch.StartNew();
        while (wall.Elapsed < Limit)
        {
            var exit = vcpu.Run(50_000_000);
            switch (exit.Reason)
            {
                case VcpuExitReason.BudgetExhausted:
                    continue;
                case VcpuExitReason.HaltedForever:
                    uint expected = MagicA + MagicB;
                    return sink.Value == expected
                        ? new KvmProbeResult(true, $"{system.DevicePath} works: KVM API {Interop.KvmConstants.ApiVersion}, a paged probe guest ran correctly")
                        : new KvmProbeResult(false, $"{system.DevicePath}: the paged probe guest computed 0x{sink.Value:x} instead of 0x{expected:x}");
                case VcpuExitReason.TripleFault:
                    return new KvmProbeResult(false, $"{system.DevicePath}: this host's KVM triple-faults on paged guest code (it may run only real mode and unpaged protected mode)");
                default:
                    return new KvmProbeResult(false, $"{system.DevicePath}: the paged probe guest stopped with {exit.Reason}: {FirstLine(exit.Detail)}");
            }
        }
        return new KvmProbeResult(false, $"{system.DevicePath}: the paged probe guest did not finish within {Limit.TotalSeconds:0} s");
    }

    /// <summary>
    /// A page directory mapping 0–4 MiB twice (identity and at 0xC0000000, 4 MiB PSE pages), and code reached through
    /// the higher-half mapping that adds two words read through it and writes the sum to <see cref="ResultPort"/>.
    /// </summary>
    internal static VcpuState WriteProbeGuest(GuestRam ram)
    {
        ram.Write32(PageDirectory + 0 * 4, 0x83);                        // P, RW, PS: 4 MiB at 0
        ram.Write32(PageDirectory + (HigherHalf >> 22) * 4, 0x83);       // 0xC0000000 -> 0
        ram.Write32(DataPhysical, MagicA);
        ram.Write32(DataPhysical + 4, MagicB);
        byte[] code =
        [
            0xA1, ..LE(HigherHalf + (uint)DataPhysical),                 // mov eax, [0xC0030000]
            0x03, 0x05, ..LE(HigherHalf + (uint)DataPhysical + 4),       // add eax, [0xC0030004]
            0xBA, ..LE(ResultPort),                                      // mov edx, 0x80
            0xEF,                                                        // out dx, eax
            0xFA,                                                        // cli
            0xF4,                                                        // hlt
        ];
        ram.Write(CodePhysical, code);
        // A flat GDT so the selectors mean something (segments are loaded from the state, not from it).
        ram.Write64(PcMemoryLayout.BootGdtBase + 8, 0x00CF_9B00_0000_FFFF);
        ram.Write64(PcMemoryLayout.BootGdtBase + 16, 0x00CF_9300_0000_FFFF);
        var s = VcpuState.Flat32(HigherHalf + (uint)CodePhysical, 0x08, 0x10, PcMemoryLayout.BootGdtBase, 23);
        s.Cr3 = PageDirectory;
        s.Cr4 = VcpuState.Cr4PSE;
        s.Cr0 |= VcpuState.Cr0PG;
        s.Rsp = 0x9_0000;
        return s;
    }

    private static byte[] LE(uint v) => BitConverter.GetBytes(v);

    private static string FirstLine(string? s) => s is null ? "" : s.Split('\n')[0];

    private sealed class ResultPortDevice : IPortDevice
    {
        public uint Value { get; private set; }
        public uint PortRead(ushort port, int size) => 0xFFFF_FFFF;
        public void PortWrite(ushort port, int size, uint value) => Value = value;
    }
}
