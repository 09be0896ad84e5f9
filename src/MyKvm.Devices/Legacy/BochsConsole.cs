namespace MyKvm.Devices.Legacy;

/// <summary>
/// The Bochs/QEMU debug console on port 0xE9: every byte written is echoed to the output; a read returns
/// 0xE9, which is how guests detect that the port is there.
/// </summary>
public sealed class BochsConsole : Core.IPortDevice
{
    public const ushort Port = 0xE9;
    private readonly Action<byte> _output;

    public BochsConsole(Action<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        _output = output;
    }

    public uint PortRead(ushort port, int size) => Port;

    public void PortWrite(ushort port, int size, uint value) => _output((byte)value);
}
