using MyKvm.Core;

namespace MyKvm.Devices.Legacy;

/// <summary>
/// QEMU's <c>isa-debug-exit</c> device (iobase 0xf4, iosize 4): a write of value v ends the run with
/// exit status <c>(v &lt;&lt; 1) | 1</c>, so a guest's status can never be confused with a clean 0.
/// Register it with <c>io.Register(0xF4, 4, device)</c>; a write of any size at any of the four ports exits.
/// </summary>
public sealed class DebugExitDevice : IPortDevice
{
    private readonly IMachineControl _control;

    public DebugExitDevice(IMachineControl control)
    {
        ArgumentNullException.ThrowIfNull(control);
        _control = control;
    }

    public uint PortRead(ushort port, int size) => size switch { 1 => 0xFFu, 2 => 0xFFFFu, _ => 0xFFFF_FFFFu };

    public void PortWrite(ushort port, int size, uint value)
    {
        uint v = size switch { 1 => value & 0xFF, 2 => value & 0xFFFF, _ => value };
        int status = unchecked((int)((v << 1) | 1));
        _control.RequestExit(status, $"the guest wrote 0x{v:x} to the debug-exit port 0x{port:x} (exit status {status})");
    }
}
