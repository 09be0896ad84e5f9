using System.Buffers.Binary;
using System.Text;
using MyKvm.Core;
using MyKvm.Cpu;

namespace MyKvm.Cpu.Tests;

/// <summary>Captures COM1 output (THR writes) and reports an empty transmitter on LSR reads.</summary>
internal sealed class SerialCapture : IPortDevice
{
    public readonly StringBuilder Output = new();
    private byte _lcr;
    public uint PortRead(ushort port, int size) => port == 0x3FD ? 0x60u : port == 0x3FB ? _lcr : 0u;
    public void PortWrite(ushort port, int size, uint value)
    {
        if (port == 0x3FB) _lcr = (byte)value;
        else if (port == 0x3F8 && (_lcr & 0x80) == 0) Output.Append((char)(value & 0xFF));   // DLAB=0: THR
    }
    public string Text => Output.ToString().Replace("\r\n", "\n");
}

/// <summary>QEMU's isa-debug-exit at 0xf4: records the code and stops the CPU.</summary>
internal sealed class ExitPort(CpuSignals signals) : IPortDevice
{
    public int? Code;
    public uint PortRead(ushort port, int size) => 0xFFFF_FFFF;
    public void PortWrite(ushort port, int size, uint value)
    {
        Code = (int)value;
        signals.Set(CpuSignals.Stop);
    }
}

/// <summary>A minimal machine for CPU tests: RAM, COM1 capture, debug exit, and the soft CPU.</summary>
internal sealed class TestMachine : IDisposable
{
    public readonly GuestRam Ram;
    public readonly IoBus Io = new();
    public readonly MmioBus Mmio = new();
    public readonly CpuSignals Signals = new();
    public readonly MachineClock Clock = new(ClockMode.Virtual);
    public readonly SerialCapture Serial = new();
    public readonly ExitPort Exit;
    public readonly SoftCpu Cpu;

    public TestMachine(ulong ramBytes = 64 << 20)
    {
        Ram = new GuestRam(ramBytes);
        Exit = new ExitPort(Signals);
        Io.Register(0x3F8, 8, Serial);
        Io.Register(0xF4, 1, Exit);
        Cpu = new SoftCpu(new VcpuContext { Ram = Ram, Io = Io, Mmio = Mmio, Signals = Signals, Clock = Clock });
        Clock.Counter = Cpu;
    }

    public const ulong GdtBase = 0x7000, InfoBase = 0x9000;

    /// <summary>Loads an ELF32 by p_paddr, writes a flat GDT and starts the CPU as a Multiboot loader would.</summary>
    public void LoadMultibootElf(string path)
    {
        byte[] f = File.ReadAllBytes(path);
        uint entry = BinaryPrimitives.ReadUInt32LittleEndian(f.AsSpan(24));
        uint phoff = BinaryPrimitives.ReadUInt32LittleEndian(f.AsSpan(28));
        int phentsize = BinaryPrimitives.ReadUInt16LittleEndian(f.AsSpan(42));
        int phnum = BinaryPrimitives.ReadUInt16LittleEndian(f.AsSpan(44));
        for (int k = 0; k < phnum; k++)
        {
            var ph = f.AsSpan((int)phoff + k * phentsize);
            if (BinaryPrimitives.ReadUInt32LittleEndian(ph) != 1) continue;
            uint off = BinaryPrimitives.ReadUInt32LittleEndian(ph[4..]);
            uint paddr = BinaryPrimitives.ReadUInt32LittleEndian(ph[12..]);
            uint filesz = BinaryPrimitives.ReadUInt32LittleEndian(ph[16..]);
            uint memsz = BinaryPrimitives.ReadUInt32LittleEndian(ph[20..]);
            Ram.Write(paddr, f.AsSpan((int)off, (int)filesz));
            if (memsz > filesz) Ram.Fill(paddr + filesz, (int)(memsz - filesz), 0);
        }
        // null, 0x08 flat code, 0x10 flat data
        Ram.Write64(GdtBase, 0);
        Ram.Write64(GdtBase + 8, 0x00CF_9A00_0000_FFFFUL);
        Ram.Write64(GdtBase + 16, 0x00CF_9200_0000_FFFFUL);
        // Multiboot info: flags = mem_lower/mem_upper only.
        Ram.Write32(InfoBase, 1);
        Ram.Write32(InfoBase + 4, 639);
        Ram.Write32(InfoBase + 8, (uint)((Ram.LowSize >> 10) - 1024));
        var st = VcpuState.Flat32(entry, 0x08, 0x10, GdtBase, 23);
        st.Rax = 0x2BADB002;
        st.Rbx = InfoBase;
        Cpu.SetState(st);
    }

    /// <summary>Runs until the guest exits, halts forever, or something goes wrong; returns the last exit.</summary>
    public VcpuExit Run(long maxInstructions = 2_000_000_000)
    {
        long start = Cpu.RetiredInstructions;
        while (true)
        {
            var exit = Cpu.Run(1_000_000);
            switch (exit.Reason)
            {
                case VcpuExitReason.BudgetExhausted:
                    if (Cpu.RetiredInstructions - start > maxInstructions) return exit;
                    continue;
                case VcpuExitReason.Halted:
                    return exit;
                default:
                    return exit;
            }
        }
    }

    public static string RepoRoot([System.Runtime.CompilerServices.CallerFilePath] string here = "")
    {
        string dir = Path.GetDirectoryName(here)!;
        while (dir != "/" && !File.Exists(Path.Combine(dir, "guests", "Makefile"))) dir = Path.GetDirectoryName(dir)!;
        return dir;
    }

    public static string GuestPath(string name)
    {
        string dir = RepoRoot();
        while (dir != "/" && !File.Exists(Path.Combine(dir, "guests", "Makefile"))) dir = Path.GetDirectoryName(dir)!;
        return Path.Combine(dir, "guests", "build", name);
    }

    public void Dispose()
    {
        Cpu.Dispose();
        Ram.Dispose();
    }
}
