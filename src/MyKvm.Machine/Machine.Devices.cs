using MyKvm.Core;
using MyKvm.Devices.Legacy;

namespace MyKvm.Machine;

public sealed partial class Machine
{
    private Uart16550? _com1;
    private Pic8259Pair? _pic;

    /// <summary>The PC devices on their ports and IRQ lines (ISA IRQ numbers as on a PC/AT).</summary>
    private void AttachDevices()
    {
        _pic = new Pic8259Pair(Signals);
        Signals.Controller = _pic;
        Io.Register(0x20, 2, _pic);
        Io.Register(0xA0, 2, _pic);
        Io.Register(0x4D0, 2, _pic);

        var pit = new Pit8254(_pic.GetIrqLine(0), Timers);
        Io.Register(0x40, 4, pit);
        Io.Register(0x61, 1, pit.Port61);

        // The RTC fills its base/extended memory-size registers from the RAM sizes, as a BIOS would.
        var rtc = new CmosRtc(_pic.GetIrqLine(8), Timers, Ram.LowSize, Ram.HighSize, _config.Rtc);
        Io.Register(0x70, 2, rtc);

        _com1 = new Uart16550(_pic.GetIrqLine(4), _serial.Write, Timers);
        Io.Register(0x3F8, 8, _com1);
        Io.Register(0xF4, 4, new DebugExitDevice(this));
        Io.Register(0xE9, 1, new BochsConsole(_serial.Write));
    }

    /// <summary>Platform tables that depend on the loaded kernel's layout.</summary>
    private void AfterBoot()
    {
    }

    private void DeliverSerialInput(byte[] bytes) => _com1?.ReceiveInput(bytes);

    private void OnStopped()
    {
    }
}
