using MyKvm.Core;
using MyKvm.Debug.Disasm;
using MyKvm.Debug.Explain;
using MyKvm.Debug.Memory;
using MyKvm.Debug.Symbols;
using MyKvm.Debug.X86;

namespace MyKvm.Debug.Trace;

/// <summary>
/// Writes <c>--trace</c> lines, each stamped with the instruction count (<c>[      12345]</c>) so runs can be compared:
/// exceptions and interrupts from the vCPU's event hook, bus accesses as the buses' <see cref="IBusTracer"/>, and
/// instructions (one line each, with the disassembly and general registers) while single-stepping for <c>cpu</c>.
/// </summary>
public sealed class DebugTracer : IBusTracer
{
    private readonly TextWriter _out;
    private readonly IInstructionCounter _counter;
    private readonly SymbolTable _symbols;
    private readonly IPhysicalMemory _physical;
    private readonly Disassembler _disassembler;
    private long _cpuLines;

    public DebugTracer(TraceOptions options, TextWriter output, IInstructionCounter counter, IPhysicalMemory physical, SymbolTable? symbols = null)
    {
        Options = options;
        _out = output;
        _counter = counter;
        _physical = physical;
        _symbols = symbols ?? SymbolTable.Empty;
        _disassembler = new Disassembler(_symbols);
    }

    public TraceOptions Options { get; }

    /// <summary>False once <c>cpu</c> tracing has written its limit (the debugger then stops single-stepping).</summary>
    public bool CpuTracing => Options.Cpu && _cpuLines < Options.CpuLimit;

    private string Stamp => $"[{_counter.RetiredInstructions,11}] ";

    /// <summary>For <see cref="VcpuDebugger.EventRaised"/>.</summary>
    public void OnEvent(FaultRecord record)
    {
        var e = record.Event;
        bool exception = e.Source == VcpuEventSource.Exception;
        if (exception && e.Vector == Exceptions.PF && Options.PageFaults)
        {
            string walk = record.State is { } s ? PageWalkSummary(s, e.Cr2) : "";
            _out.WriteLine($"{Stamp}pf   CR2=0x{e.Cr2:x}{Sym(e.Cr2)} {Exceptions.DecodePageFaultErrorCode(e.ErrorCode ?? 0)} at {e.Cs:x4}:{e.Rip:x}{Sym(record.State is { } st ? st.Cs.Base + e.Rip : e.Rip)}{walk}");
            return;
        }
        if (exception && Options.Exceptions)
        {
            string ec = e.ErrorCode is { } c ? $" error {Exceptions.DecodeErrorCode(e.Vector, c)}" : "";
            string during = e.DeliveringVector >= 0 ? $" while delivering {Exceptions.Mnemonic(e.DeliveringVector)}" : "";
            string cr2 = e.Vector == Exceptions.PF ? $" CR2=0x{e.Cr2:x}" : "";
            _out.WriteLine($"{Stamp}exc  {Exceptions.Mnemonic(e.Vector)} {Exceptions.Name(e.Vector)}{during} at {e.Cs:x4}:{e.Rip:x}{Sym(record.State is { } st ? st.Cs.Base + e.Rip : e.Rip)}{ec}{cr2}");
            return;
        }
        if (!exception && Options.Interrupts)
        {
            string kind = e.Source switch
            {
                VcpuEventSource.ExternalInterrupt => "external",
                VcpuEventSource.SoftwareInterrupt => "software",
                _ => "NMI",
            };
            _out.WriteLine($"{Stamp}int  vector 0x{e.Vector:x2} ({kind}) at {e.Cs:x4}:{e.Rip:x}{Sym(e.Rip)}");
        }
    }

    private string PageWalkSummary(VcpuState s, ulong linear)
    {
        var w = PageWalker.Walk(_physical, s, linear);
        var levels = string.Join(" ", w.Levels.Select(l => $"{l.Name}=0x{l.Entry:x}"));
        return $" | {levels} => {(w.Mapped ? $"0x{w.Physical:x} {w.Permissions}" : w.Failure)}";
    }

    private string Sym(ulong address) => _symbols.Describe(address) is { } d ? $" <{d}>" : "";

    /// <summary>One instruction about to execute (the debugger calls this before each single step).</summary>
    public void OnInstruction(VcpuState s)
    {
        ulong pc = s.Cs.Base + s.Rip;
        if (pc < Options.CpuStart || pc >= Options.CpuEnd || !CpuTracing) return;
        _cpuLines++;
        var mem = new LinearMemory(_physical, s);
        var ins = _disassembler.Disassemble(mem, pc, Disassembler.Bitness(s), 1);
        string text = ins.Count > 0 ? ins[0].Text : "(not mapped)";
        string regs = RegisterDump.Is64(s)
            ? $"RAX={s.Rax:x} RBX={s.Rbx:x} RCX={s.Rcx:x} RDX={s.Rdx:x} RSI={s.Rsi:x} RDI={s.Rdi:x} RBP={s.Rbp:x} RSP={s.Rsp:x} FL={s.Rflags:x}"
            : $"EAX={(uint)s.Rax:x8} EBX={(uint)s.Rbx:x8} ECX={(uint)s.Rcx:x8} EDX={(uint)s.Rdx:x8} ESI={(uint)s.Rsi:x8} EDI={(uint)s.Rdi:x8} EBP={(uint)s.Rbp:x8} ESP={(uint)s.Rsp:x8} FL={(uint)s.Rflags:x}";
        _out.WriteLine($"{Stamp}cpu  {s.Cs.Selector:x4}:{s.Rip:x8}{Sym(pc)}  {text,-36} {regs}");
        if (!CpuTracing) _out.WriteLine($"{Stamp}cpu  (trace limit of {Options.CpuLimit} instructions reached)");
    }

    public void Unclaimed(string space, ulong address, int size, bool write, ulong value)
    {
        if (!Wants(space)) return;
        _out.WriteLine(write
            ? $"{Stamp}{space,-4} write 0x{address:x} size {size} value 0x{value:x} (no device: ignored)"
            : $"{Stamp}{space,-4} read  0x{address:x} size {size} -> 0x{value:x} (no device)");
    }

    public void Access(string space, ulong address, int size, bool write, ulong value)
    {
        if (!Wants(space)) return;
        _out.WriteLine($"{Stamp}{space,-4} {(write ? "write" : "read ")} 0x{address:x} size {size} {(write ? "value" : "->")} 0x{value:x}");
    }

    private bool Wants(string space) => space == "io" ? Options.Io : Options.Mmio;

    public void Flush() => _out.Flush();
}
