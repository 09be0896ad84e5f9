namespace MyKvm.Devices.Legacy;

/// <summary>
/// The POST diagnostic port 0x80. Linux and many hobby kernels write it as a short I/O delay; BIOSes write
/// progress codes. Writes are kept (the last one is shown by the monitor); reads return the last value, as on
/// many chipsets. Register it so these writes do not show up as unclaimed in <c>--trace io</c>.
/// </summary>
public sealed class PostCodePort : Core.IPortDevice
{
    public const ushort Port = 0x80;

    /// <summary>The last byte written.</summary>
    public byte LastCode { get; private set; }

    /// <summary>How many writes there were.</summary>
    public long Writes { get; private set; }

    public uint PortRead(ushort port, int size) => LastCode;

    public void PortWrite(ushort port, int size, uint value)
    {
        LastCode = (byte)value;
        Writes++;
    }
}
