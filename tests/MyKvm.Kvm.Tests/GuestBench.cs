using Iced.Intel;
using MyKvm.Core;

namespace MyKvm.Kvm.Tests;

/// <summary>
/// A minimal machine for backend tests: RAM, a GDT, an output port that records bytes (0xE9, like Bochs' console),
/// an input port that answers a fixed byte, and 32-bit code assembled with Iced.
/// </summary>
internal sealed class GuestBench : IDisposable
{
    public const ushort OutPort = 0xE9;
    public const byte InPort = 0x70, InValue = 0x5A;
    public const ulong GdtBase = PcMemoryLayout.BootGdtBase, CodeBase = 0x10_0000, StackTop = 0x9_0000;

    public GuestBench(ulong ramBytes = 8 << 20)
    {
        Ram = new GuestRam(ramBytes);
        Io.Register(OutPort, 1, Output);
        Io.Register(InPort, 1, new ConstantPort(InValue));
        Ram.Write64(GdtBase + 0x08, 0x00CF_9B00_0000_FFFF); // 32-bit code
        Ram.Write64(GdtBase + 0x10, 0x00CF_9300_0000_FFFF); // data
        Context = new VcpuContext { Ram = Ram, Io = Io, Mmio = Mmio, Signals = Signals, Clock = new MachineClock(ClockMode.RealTime) };
    }

    public GuestRam Ram { get; }
    public IoBus Io { get; } = new();
    public MmioBus Mmio { get; } = new();
    public CpuSignals Signals { get; } = new();
    public RecordingPort Output { get; } = new();
    public VcpuContext Context { get; }

    /// <summary>Assembles <paramref name="emit"/> at <paramref name="address"/> (32-bit code) and returns the flat state to start there.</summary>
    public VcpuState Load32(Action<Assembler> emit, ulong address = CodeBase)
    {
        var a = new Assembler(32);
        emit(a);
        var stream = new MemoryStream();
        a.Assemble(new StreamCodeWriter(stream), address);
        Ram.Write(address, stream.ToArray());
        var s = VcpuState.Flat32((uint)address, 0x08, 0x10, GdtBase, 23);
        s.Rsp = StackTop;
        return s;
    }

    public static byte[] Assemble64(Action<Assembler> emit, ulong address)
    {
        var a = new Assembler(64);
        emit(a);
        var stream = new MemoryStream();
        a.Assemble(new StreamCodeWriter(stream), address);
        return stream.ToArray();
    }

    public void Dispose() => Ram.Dispose();

    public sealed class RecordingPort : IPortDevice
    {
        private readonly List<byte> _bytes = [];
        public string Text { get { lock (_bytes) return System.Text.Encoding.ASCII.GetString([.. _bytes]); } }
        public uint PortRead(ushort port, int size) => 0xFF;
        public void PortWrite(ushort port, int size, uint value) { lock (_bytes) _bytes.Add((byte)value); }
    }

    private sealed class ConstantPort(byte value) : IPortDevice
    {
        public uint PortRead(ushort port, int size) => value;
        public void PortWrite(ushort port, int size, uint v) { }
    }
}

/// <summary>An interrupt controller with one pending vector, acknowledged once.</summary>
internal sealed class OneShotController(CpuSignals signals, byte vector) : IInterruptController
{
    public int Acknowledged { get; private set; }
    public bool InterruptPending => (signals.Flags & CpuSignals.Intr) != 0;
    public byte Acknowledge()
    {
        Acknowledged++;
        signals.SetIntr(false);
        return vector;
    }
}

/// <summary>An MMIO device that remembers the last write and answers reads with a constant.</summary>
internal sealed class ScratchMmio : IMmioDevice
{
    public (ulong Offset, int Size, ulong Value)? LastWrite { get; private set; }
    public ulong MmioRead(ulong offset, int size) => 0xCAFE_F00D_0000_0000UL | offset;
    public void MmioWrite(ulong offset, int size, ulong value) => LastWrite = (offset, size, value);
}
