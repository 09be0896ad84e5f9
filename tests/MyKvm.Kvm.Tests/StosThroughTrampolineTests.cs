using System.Text;
using MyKvm.Boot;
using MyKvm.Core;
using MyKvm.Cpu;
using MyKvm.Kvm.Boot;
using MyKvm.TestSupport;

namespace MyKvm.Kvm.Tests;

/// <summary>
/// The real stos loader's boot state (paging on, kernel at 0xC0000000), entered directly and through the KVM
/// trampoline, both on the software CPU: the mini-stos kernel must print the same and exit the same way.
/// </summary>
public class StosThroughTrampolineTests
{
    /// <summary>COM1 as far as lib/serial.c needs it (transmitter always empty), and the debug-exit port.</summary>
    private sealed class SerialAndExit(CpuSignals signals) : IPortDevice
    {
        private readonly StringBuilder _text = new();
        private bool _dlab;
        public string Text => _text.ToString();
        public uint? ExitValue { get; private set; }

        public uint PortRead(ushort port, int size) => port == 0x3FD ? 0x60u : 0u;

        public void PortWrite(ushort port, int size, uint value)
        {
            switch (port)
            {
                case 0xF4:
                    ExitValue = value;
                    signals.Raise(CpuSignals.Stop);
                    break;
                case 0x3FB:
                    _dlab = (value & 0x80) != 0;
                    break;
                case 0x3F8 when !_dlab:
                    _text.Append((char)(byte)value);
                    break;
            }
        }
    }

    private static (string Serial, uint? Exit) Boot(bool throughTrampoline)
    {
        string Build(string name) => TestEnvironment.Guest(name);
        using var ram = new GuestRam(64 << 20);
        var result = KernelLoader.Load(ram, new BootRequest
        {
            KernelPath = Build("ministos.elf"),
            InitrdPath = Build("ministos/initramfs.cpio"),
            ModulePaths = [Build("ministos/hello.ko"), Build("ministos/greet.ko")],
            CommandLine = "init.mode=tests greet.who=world",
            Protocol = BootProtocol.Stos,
        });
        Assert.True(result.InitialState.PagingEnabled);
        var start = throughTrampoline ? PagingTrampoline.Write(ram, result.InitialState).EntryState : result.InitialState;
        var signals = new CpuSignals();
        var io = new IoBus();
        var ports = new SerialAndExit(signals);
        io.Register(0x3F8, 8, ports);
        io.Register(0xF4, 4, ports);
        var ctx = new VcpuContext { Ram = ram, Io = io, Mmio = new MmioBus(), Signals = signals, Clock = new MachineClock(ClockMode.Virtual) };
        using var cpu = new SoftCpu(ctx);
        cpu.SetState(start);
        VcpuExit exit = default;
        for (int i = 0; i < 200 && (exit = cpu.Run(1_000_000)).Reason == VcpuExitReason.BudgetExhausted; i++) { }
        Assert.True(exit.Reason is VcpuExitReason.Stopped or VcpuExitReason.HaltedForever, $"{exit.Reason}: {exit.Detail}\n{ports.Text}");
        return (ports.Text, ports.ExitValue);
    }

    [Fact]
    public void MiniStosRunsTheSameThroughTheTrampoline()
    {
        var direct = Boot(throughTrampoline: false);
        var trampolined = Boot(throughTrampoline: true);
        Assert.Contains("ministos: all checks passed", direct.Serial);
        Assert.NotNull(direct.Exit);
        Assert.Equal(direct.Serial, trampolined.Serial);
        Assert.Equal(direct.Exit, trampolined.Exit);
    }
}
