// Runs a Multiboot ELF on the soft CPU with a minimal machine (COM1 capture, debug exit) and reports the
// guest's own run time, retired instructions and MIPS; used by bench/run.sh next to QEMU and native runs.
using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using MyKvm.Core;
using MyKvm.Cpu;

if (args.Length < 1) { Console.Error.WriteLine("usage: mykvm-bench KERNEL.elf"); return 2; }
var ram = new GuestRam(64 << 20);
var io = new IoBus();
var signals = new CpuSignals();
var clock = new MachineClock(ClockMode.Virtual);
var serial = new Serial();
var exit = new ExitPort(signals);
io.Register(0x3F8, 8, serial);
io.Register(0xF4, 1, exit);
using var cpu = new SoftCpu(new VcpuContext { Ram = ram, Io = io, Mmio = new MmioBus(), Signals = signals, Clock = clock });
clock.Counter = cpu;

byte[] f = File.ReadAllBytes(args[0]);
uint entry = BinaryPrimitives.ReadUInt32LittleEndian(f.AsSpan(24));
uint phoff = BinaryPrimitives.ReadUInt32LittleEndian(f.AsSpan(28));
int phentsize = BinaryPrimitives.ReadUInt16LittleEndian(f.AsSpan(42)), phnum = BinaryPrimitives.ReadUInt16LittleEndian(f.AsSpan(44));
for (int k = 0; k < phnum; k++)
{
    var ph = f.AsSpan((int)phoff + k * phentsize);
    if (BinaryPrimitives.ReadUInt32LittleEndian(ph) != 1) continue;
    uint off = BinaryPrimitives.ReadUInt32LittleEndian(ph[4..]), pa = BinaryPrimitives.ReadUInt32LittleEndian(ph[12..]);
    uint fsz = BinaryPrimitives.ReadUInt32LittleEndian(ph[16..]), msz = BinaryPrimitives.ReadUInt32LittleEndian(ph[20..]);
    ram.Write(pa, f.AsSpan((int)off, (int)fsz));
    if (msz > fsz) ram.Fill(pa + fsz, (int)(msz - fsz), 0);
}
ram.Write64(0x7000, 0);
ram.Write64(0x7008, 0x00CF_9A00_0000_FFFFUL);
ram.Write64(0x7010, 0x00CF_9200_0000_FFFFUL);
var st = VcpuState.Flat32(entry, 0x08, 0x10, 0x7000, 23);
st.Rax = 0x2BADB002;
st.Rbx = 0x9000;
cpu.SetState(st);

var sw = Stopwatch.StartNew();
double cpu0 = ThreadCpu.Seconds();
VcpuExit e;
do e = cpu.Run(10_000_000); while (e.Reason == VcpuExitReason.BudgetExhausted);
double cpuSecs = ThreadCpu.Seconds() - cpu0;
sw.Stop();
Console.Write(serial.Text);
double secs = cpuSecs;
Console.Error.WriteLine($"mykvm_wall_seconds {sw.Elapsed.TotalSeconds:F6}");
Console.Error.WriteLine($"mykvm_seconds {secs:F6}");
Console.Error.WriteLine($"mykvm_instructions {cpu.RetiredInstructions}");
Console.Error.WriteLine($"mykvm_mips {cpu.RetiredInstructions / secs / 1e6:F1}");
if (e.Reason != VcpuExitReason.Stopped) { Console.Error.WriteLine($"exit {e.Reason}: {e.Detail}"); return 1; }
return exit.Code ?? 0;

/// <summary>CPU time of the calling thread (CLOCK_THREAD_CPUTIME_ID): stable on a busy machine, unlike wall time.</summary>
static unsafe class ThreadCpu
{
    [System.Runtime.InteropServices.DllImport("libc")]
    private static extern int clock_gettime(int clk, long* ts);
    public static double Seconds()
    {
        long* ts = stackalloc long[2];
        clock_gettime(3, ts);
        return ts[0] + ts[1] / 1e9;
    }
}

sealed class Serial : IPortDevice
{
    private readonly StringBuilder _out = new();
    private byte _lcr;
    public string Text => _out.ToString().Replace("\r\n", "\n");
    public uint PortRead(ushort port, int size) => port == 0x3FD ? 0x60u : port == 0x3FB ? _lcr : 0u;
    public void PortWrite(ushort port, int size, uint value)
    {
        if (port == 0x3FB) _lcr = (byte)value;
        else if (port == 0x3F8 && (_lcr & 0x80) == 0) _out.Append((char)(value & 0xFF));
    }
}

sealed class ExitPort(CpuSignals signals) : IPortDevice
{
    public int? Code;
    public uint PortRead(ushort port, int size) => 0xFFFF_FFFF;
    public void PortWrite(ushort port, int size, uint value) { Code = (int)value; signals.Set(CpuSignals.Stop); }
}
