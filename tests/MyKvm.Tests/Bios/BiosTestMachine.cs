using System.Text;
using MyKvm.Boot.Bios;
using MyKvm.Core;
using MyKvm.Devices.Apic;
using MyKvm.Devices.Firmware;
using MyKvm.Devices.Legacy;
using MyKvm.Devices.Pci;
using MyKvm.Devices.Storage;
using MyKvm.Devices.Video;

namespace MyKvm.Tests.Bios;

/// <summary>What to build a <see cref="BiosTestMachine"/> with.</summary>
internal sealed record BiosMachineOptions
{
    public required string BiosPath { get; init; }
    public string? VgaBiosPath { get; init; }
    /// <summary>Option ROM files offered as genroms/NAME (QEMU's -option-rom).</summary>
    public IReadOnlyList<string> OptionRomPaths { get; init; } = [];
    /// <summary>Raw disk image on the primary master, opened read-only under a copy-on-write overlay.</summary>
    public string? DiskPath { get; init; }
    public int MemoryMiB { get; init; } = 128;
    /// <summary>Serial console on COM1 through fw_cfg <c>etc/sercon-port</c> (QEMU's -nographic).</summary>
    public bool SerialConsole { get; init; } = true;
    public bool FwCfgDma { get; init; } = true;
    /// <summary>Virtual nanoseconds per instruction (the machine's clock; mykvm uses 1).</summary>
    public long NsPerInstruction { get; init; } = 1;
}

/// <summary>
/// A PC that boots through a BIOS image, assembled the way the machine should be for <c>--bios</c> (this is the
/// wiring the lead's <c>Machine</c> is told to copy; see Devices/Firmware/README.md): the same devices as
/// <c>Machine.AttachDevices</c>, plus the host bridge prepared for firmware, fw_cfg, the flash at 4 GiB and the
/// BIOS copied below 1 MiB; the vCPU starts in the reset state. Any <see cref="IVcpu"/> can run it: the software CPU
/// (<see cref="CreateSoftCpu"/>) or Unicorn as a reference (<see cref="CreateUnicorn"/>). The run loop is
/// <c>Machine.RunLoop</c>'s, on the virtual clock.
/// </summary>
internal sealed class BiosTestMachine : IDisposable, IMachineControl
{
    public static readonly DateTime RtcStart = new(2024, 5, 17, 9, 30, 0);

    private readonly StringBuilder _serial = new();
    private readonly StringBuilder _debugLog = new();
    private readonly List<IdeChannel> _ide = [];
    private string? _endReason;

    public GuestRam Ram { get; }
    public MachineClock Clock { get; }
    public TimerQueue Timers { get; }
    public IoBus Io { get; } = new();
    public MmioBus Mmio { get; } = new();
    public CpuSignals Signals { get; } = new();
    public PcInterruptSystem Irqs { get; }
    public VgaDevice Vga { get; }
    public FwCfgDevice FwCfg { get; }
    public BiosRom Rom { get; }
    public BiosBootResult Boot { get; }
    public IVcpu Vcpu { get; }
    public VcpuContext Context { get; }

    public BiosTestMachine(BiosMachineOptions options, Func<BiosTestMachine, IVcpu> createCpu)
    {
        try
        {
            Ram = new GuestRam((ulong)options.MemoryMiB << 20);
            Clock = new MachineClock(ClockMode.Virtual, options.NsPerInstruction);
            Timers = new TimerQueue(Clock);

            Irqs = new PcInterruptSystem(Signals, Timers);
            Irqs.RegisterOn(Io, Mmio);
            var pit = new Pit8254(Irqs.IsaIrq(0), Timers);
            Io.Register(0x40, 4, pit);
            Io.Register(0x61, 1, pit.Port61);
            Io.Register(0x70, 2, new CmosRtc(Irqs.IsaIrq(8), Timers, Ram.LowSize, Ram.HighSize, RtcStart));
            var a20 = new A20Gate();
            var keyboard = new I8042Controller(Irqs.IsaIrq(1), Irqs.IsaIrq(12), this, a20);
            Io.Register(0x60, 1, keyboard);
            Io.Register(0x64, 1, keyboard);
            Io.Register(0x92, 1, new SystemControlPortA(a20, this));

            var pci = new PciBus();
            var hostBridge = new PciHostBridgeFunction();
            FirmwareHostBridge.Prepare(hostBridge);
            pci.Attach(0, 0, hostBridge);
            pci.Attach(1, 0, new Piix3IsaBridgeFunction());
            pci.Attach(1, 1, new Piix3IdeFunction());
            Io.Register(PciHost.FirstPort, PciHost.PortCount, new PciHost(pci, new ResetControlRegister(this)));

            Io.Register(0x3F8, 8, new Uart16550(Irqs.IsaIrq(4), b => _serial.Append((char)b), Timers));
            Io.Register(0xF4, 4, new DebugExitDevice(this));
            Io.Register(0xE9, 1, new BochsConsole(b => _debugLog.Append((char)b)));
            // SeaBIOS's debug output goes to QEMU's debugcon port 0x402 (it checks that a read returns 0xE9).
            Io.Register(0x402, 1, new BochsConsole(b => _debugLog.Append((char)b)));
            Io.Register(PostCodePort.Port, 1, new PostCodePort());
            Vga = new VgaDevice(Ram, Clock);
            Vga.RegisterOn(Io);

            if (options.DiskPath is { } disk)
            {
                var channel = IdeChannel.Primary(Irqs.IsaIrq(IdeChannel.PrimaryIrq), new SnapshotDisk(new FileDisk(disk, writable: false), ownsBase: true));
                channel.RegisterOn(Io);
                _ide.Add(channel);
            }

            var image = BiosImage.Load(options.BiosPath);
            FwCfg = PcFirmwareConfig.Create(Ram, new FirmwareConfigOptions
            {
                SerialConsolePort = options.SerialConsole ? (ushort)0x3F8 : null,
                VgaBios = options.VgaBiosPath is { } vga ? BiosBoot.LoadOptionRom(vga) : null,
                OptionRoms = [.. options.OptionRomPaths.Select(p => (Path.GetFileName(p), BiosBoot.LoadOptionRom(p)))],
                Dma = options.FwCfgDma,
            });
            FwCfg.RegisterOn(Io);
            Rom = new BiosRom(image.Bytes);
            Rom.RegisterOn(Mmio);
            Boot = BiosBoot.Prepare(Ram, image);

            Context = new VcpuContext { Ram = Ram, Io = Io, Mmio = Mmio, Signals = Signals, Clock = Clock };
            Vcpu = createCpu(this);
            Clock.Counter = Vcpu;
            Vcpu.SetState(Boot.InitialState);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>mykvm's software CPU, as the machine creates it.</summary>
    public static IVcpu CreateSoftCpu(BiosTestMachine m) => new MyKvm.Cpu.SoftCpu(m.Context);

    /// <summary>A Unicorn vCPU with the flash and the APIC windows mapped.</summary>
    public static unsafe IVcpu CreateUnicorn(BiosTestMachine m)
    {
        var cpu = new UnicornVcpu(m.Context, m.Timers);
        cpu.MapRom(m.Rom.Base, (ulong)m.Rom.Size, m.Rom.HostPointer);
        cpu.MapMmio(PcMemoryLayout.IoApicBase, 0x1000);
        cpu.MapMmio(PcMemoryLayout.LocalApicBase, 0x1000);
        return cpu;
    }

    /// <summary>COM1 output as text, CR LF turned into LF.</summary>
    public string Serial => _serial.ToString().Replace("\r\n", "\n");
    /// <summary>What the BIOS wrote to the debug ports 0x402 and 0xE9.</summary>
    public string DebugLog => _debugLog.ToString();
    /// <summary>The guest's debug-exit status as QEMU reports it, (value &lt;&lt; 1) | 1.</summary>
    public int? ExitStatus { get; private set; }
    public string? EndReason => _endReason;
    public VcpuExit? LastExit { get; private set; }

    public void RequestExit(int exitCode, string reason)
    {
        ExitStatus ??= exitCode;
        _endReason ??= reason;
        Signals.Raise(CpuSignals.Stop);
    }

    public void RequestReset(string reason)
    {
        _endReason ??= "reset: " + reason;
        Signals.Raise(CpuSignals.Stop);
    }

    /// <summary>
    /// Runs until the guest exits or resets, the CPU stops for good, <paramref name="maxInstructions"/> retire, or
    /// <paramref name="until"/> (checked between slices) says so.
    /// </summary>
    public void Run(long maxInstructions, Func<BiosTestMachine, bool>? until = null)
    {
        while (_endReason is null && Vcpu.RetiredInstructions < maxInstructions)
        {
            Timers.RunDue(Clock.NowNs);
            if (until?.Invoke(this) == true) return;
            long budget = Math.Clamp(Clock.InstructionsUntil(Timers.NextDeadline), 1, 1_000_000);
            var exit = Vcpu.Run(Math.Min(budget, maxInstructions - Vcpu.RetiredInstructions));
            LastExit = exit;
            switch (exit.Reason)
            {
                case VcpuExitReason.BudgetExhausted:
                case VcpuExitReason.Stopped:
                    break;
                case VcpuExitReason.Halted:
                    // Idle: jump to the next timer; nothing else can wake the CPU here.
                    while ((Signals.Flags & (CpuSignals.Intr | CpuSignals.Stop)) == 0)
                    {
                        long next = Timers.NextDeadline;
                        if (next == long.MaxValue)
                        {
                            _endReason = "halted with no timer armed";
                            return;
                        }
                        Clock.SkipTo(next);
                        Timers.RunDue(Clock.NowNs);
                    }
                    break;
                default:
                    _endReason = $"{exit.Reason}: {exit.Detail}";
                    return;
            }
        }
    }

    public void Dispose()
    {
        Vcpu?.Dispose();
        foreach (var c in _ide) c.Dispose();
        Rom?.Dispose();
        Ram?.Dispose();
    }
}
