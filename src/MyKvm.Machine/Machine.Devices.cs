using MyKvm.Core;
using MyKvm.Devices.Legacy;

namespace MyKvm.Machine;

public sealed partial class Machine
{
    private Uart16550? _com1;

    /// <summary>The PC devices on their ports and IRQ lines (ISA IRQ numbers as on a PC/AT).</summary>
    private void AttachDevices()
    {
        _com1 = new Uart16550(NullIrqLine.Instance, _serial.Write);
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
