using System.Text;
using Iced.Intel;
using MyKvm.Core;
using MyKvm.Debug.Disasm;
using MyKvm.Debug.Memory;
using MyKvm.Debug.Symbols;
using MyKvm.Debug.X86;

namespace MyKvm.Debug.Explain;

/// <summary>
/// Turns a chain of exceptions (and the vCPU state at each) into a report a kernel author can act on: for each
/// exception the faulting instruction with its symbol and source line, the error code decoded, the gate or descriptor
/// involved, the page walk of CR2 level by level, a diagnosis in words; then the registers and a backtrace.
/// </summary>
public sealed class FaultExplainer
{
    private readonly IPhysicalMemory _physical;
    private readonly SymbolTable _symbols;
    private readonly Disassembler _disassembler;

    public FaultExplainer(IPhysicalMemory physical, SymbolTable? symbols = null, AsmSyntax syntax = AsmSyntax.Att)
    {
        _physical = physical;
        _symbols = symbols ?? SymbolTable.Empty;
        _disassembler = new Disassembler(_symbols, syntax);
    }

    /// <summary>The full report for a triple fault (or an exception chain the guest could not survive).</summary>
    /// <param name="chain">The exceptions, oldest first (see <see cref="FaultRecorder.Chain"/>); may be empty.</param>
    /// <param name="finalState">The state when the CPU shut down (used when the chain has no states).</param>
    /// <param name="backendDetail">The backend's own one-line account (the <see cref="VcpuExit.Detail"/>), shown when no chain was recorded.</param>
    public string ExplainTripleFault(IReadOnlyList<FaultRecord> chain, VcpuState? finalState, string? backendDetail = null)
    {
        var sb = new StringBuilder();
        sb.AppendLine("=== mykvm fault explainer: triple fault, the CPU shut down ===");
        if (chain.Count == 0)
        {
            sb.AppendLine("The exception chain was not recorded (this CPU backend does not report exceptions to the debugger).");
            if (backendDetail is not null) sb.AppendLine($"The backend says: {backendDetail}");
            if (finalState is not null) AppendShutdownStateAnalysis(sb, finalState);
            return sb.ToString();
        }

        sb.AppendLine("Exception chain:");
        for (int i = 0; i < chain.Count; i++)
        {
            var e = chain[i].Event;
            string arrow = i == 0 ? "   " : "-> ";
            string during = e.DeliveringVector >= 0 ? $" while delivering {Exceptions.Mnemonic(e.DeliveringVector)}" : "";
            string ec = e.ErrorCode is { } c ? $" error 0x{c:x}" : "";
            string cr2 = e.Vector == Exceptions.PF ? $" CR2=0x{e.Cr2:x}" : "";
            sb.AppendLine($"  {arrow}{Exceptions.Mnemonic(e.Vector)} {Exceptions.Name(e.Vector)}{during}{ec}{cr2}");
        }
        sb.AppendLine("  -> triple fault: a fault while delivering #DF shuts the CPU down (SDM Vol. 3A §6.15, interrupt 8)");

        var (trigger, blocker) = Summary(chain);
        sb.AppendLine();
        if (trigger is not null) sb.AppendLine($"What happened:        {trigger}");
        if (blocker is not null) sb.AppendLine($"Why it was fatal:     {blocker}");
        for (int i = 0; i < chain.Count; i++)
        {
            sb.AppendLine();
            AppendEvent(sb, i + 1, chain[i], i > 0 ? chain[i - 1] : null);
        }
        var first = chain.FirstOrDefault(r => r.State is not null)?.State ?? finalState;
        if (first is not null) AppendStateAndBacktrace(sb, first, "at the first exception");
        return sb.ToString();
    }

    /// <summary>The report for one exception the guest will handle (<c>--explain-faults</c>).</summary>
    public string ExplainException(FaultRecord record, FaultRecord? previous = null, bool withState = false)
    {
        var sb = new StringBuilder();
        AppendEvent(sb, 0, record, previous);
        if (withState && record.State is not null) AppendStateAndBacktrace(sb, record.State, "");
        return sb.ToString();
    }

    /// <summary>
    /// The chain in two lines: what the first exception was (with its diagnosis), and why it could not be handled
    /// (the first fault raised while delivering an event: a bad gate, an unusable stack).
    /// </summary>
    public (string? Trigger, string? Blocker) Summary(IReadOnlyList<FaultRecord> chain)
    {
        string? trigger = null, blocker = null;
        if (chain.Count > 0)
        {
            var r = chain[0];
            var (_, d) = Diagnose(r);
            string at = r.State is { } s ? $" at {Where(s, r.Event)}" : "";
            trigger = $"{Exceptions.Mnemonic(r.Event.Vector)} {Exceptions.Name(r.Event.Vector)}{at}{(d is null ? "" : ": " + d)}";
        }
        foreach (var r in chain.Skip(1))
        {
            if (r.Event.DeliveringVector < 0) continue;
            var (_, d) = Diagnose(r);
            if (d is null) continue;
            blocker = $"{Exceptions.Mnemonic(r.Event.Vector)} while delivering {Exceptions.Mnemonic(r.Event.DeliveringVector)}: {d}";
            break;
        }
        return (trigger, blocker);
    }

    private string Where(VcpuState s, VcpuEvent e)
    {
        ulong lin = s.Cs.Base + e.Rip;
        string sym = _symbols.Describe(lin) is { } d ? $" <{d}>" : "";
        string line = _symbols.SourceLine(lin) is { } l ? $" ({l})" : "";
        return $"{e.Cs:x4}:{e.Rip:x8}{sym}{line}";
    }

    private void AppendEvent(StringBuilder sb, int number, FaultRecord record, FaultRecord? previous)
    {
        var e = record.Event;
        var s = record.State;
        string num = number > 0 ? $"[{number}] " : "";
        string during = e.DeliveringVector >= 0
            ? $", raised while delivering {Exceptions.Mnemonic(e.DeliveringVector)} (vector {e.DeliveringVector})" : "";
        string source = e.Source switch
        {
            VcpuEventSource.SoftwareInterrupt => " (software interrupt)",
            VcpuEventSource.ExternalInterrupt => " (external interrupt)",
            VcpuEventSource.Nmi => "",
            _ => "",
        };
        sb.AppendLine($"{num}{Exceptions.Mnemonic(e.Vector)} {Exceptions.Name(e.Vector)}{source}{during}");
        const string pad = "    ";
        if (s is not null) sb.AppendLine($"{pad}at          {Where(s, e)}  [instruction {e.InstructionCount}]");
        else sb.AppendLine($"{pad}at          {e.Cs:x4}:{e.Rip:x8}  [instruction {e.InstructionCount}]");

        if (s is not null && e.DeliveringVector < 0 && e.Source != VcpuEventSource.ExternalInterrupt)
        {
            var mem = new LinearMemory(_physical, s);
            var instr = _disassembler.Disassemble(mem, s.Cs.Base + e.Rip, Disassembler.Bitness(s), 1);
            if (instr.Count > 0) sb.AppendLine($"{pad}instruction {_disassembler.FormatLine(instr[0])}");
            else sb.AppendLine($"{pad}instruction (the code at 0x{s.Cs.Base + e.Rip:x} is not mapped)");
        }
        if (e.ErrorCode is { } code)
            sb.AppendLine($"{pad}error code  {Exceptions.DecodeErrorCode(e.Vector, code)}");

        if (s is not null)
        {
            var mem = new LinearMemory(_physical, s);
            if (e.Vector == Exceptions.PF)
            {
                sb.AppendLine($"{pad}CR2         0x{e.Cr2:x}{(_symbols.Describe(e.Cr2) is { } d ? $" <{d}>" : "")}");
                AppendPageWalk(sb, s, e.Cr2, pad);
            }
            if (e.ErrorCode is { } c2 && Exceptions.HasSelectorErrorCode(e.Vector) && (c2 & ~3u) != 0)
            {
                if ((c2 & 2) != 0)
                {
                    int vec = (int)(c2 >> 3) & 0x1FFF;
                    AppendGate(sb, mem, s, vec, pad);
                }
                else
                {
                    ushort sel = (ushort)(c2 & 0xFFFC);
                    if (DescriptorTables.TryReadSegment(mem, s, sel, out var desc, out var problem))
                        sb.AppendLine($"{pad}descriptor  {((sel & 4) != 0 ? "LDT" : "GDT")}[{sel >> 3}] = 0x{desc.Low:x16}: {desc}");
                    else
                        sb.AppendLine($"{pad}descriptor  selector 0x{sel:x}: {problem}");
                }
            }
            if (e.DeliveringVector >= 0 && !(e.ErrorCode is { } c3 && (c3 & 2) != 0 && (c3 >> 3) == (uint)e.DeliveringVector))
                AppendGate(sb, mem, s, e.DeliveringVector, pad);
        }

        var (_, diagnosis) = Diagnose(record);
        if (diagnosis is not null) sb.AppendLine($"{pad}diagnosis   {diagnosis}");
    }

    private void AppendGate(StringBuilder sb, LinearMemory mem, VcpuState s, int vector, string pad)
    {
        if (!DescriptorTables.TryReadGate(mem, s, vector, out var gate, out var problem))
        {
            sb.AppendLine($"{pad}IDT[{vector}]    {problem} (IDTR base 0x{s.IdtBase:x} limit 0x{s.IdtLimit:x})");
            return;
        }
        sb.AppendLine($"{pad}IDT[{vector}]{new string(' ', Math.Max(1, 8 - vector.ToString().Length))}= {(gate.LongMode ? $"0x{gate.High:x16}_" : "0x")}{gate.Low:x16}: {DescribeGate(gate)}");
        if (gate.ValidIdtType && gate.Type != 5)
        {
            if (DescriptorTables.TryReadSegment(mem, s, gate.Selector, out var cs, out var p))
                sb.AppendLine($"{pad}gate's CS   selector 0x{gate.Selector:x} -> {((gate.Selector & 4) != 0 ? "LDT" : "GDT")}[{gate.Selector >> 3}] = 0x{cs.Low:x16}: {cs}");
            else
                sb.AppendLine($"{pad}gate's CS   selector 0x{gate.Selector:x}: {p}");
        }
    }

    private string DescribeGate(GateDescriptor gate)
    {
        string text = gate.ToString();
        if (gate.ValidIdtType && gate.Type != 5 && _symbols.Describe(gate.Offset) is { } sym)
            text += $" <{sym}>";
        return text;
    }

    private void AppendPageWalk(StringBuilder sb, VcpuState s, ulong linear, string pad)
    {
        var walk = PageWalker.Walk(_physical, s, linear);
        sb.AppendLine($"{pad}page walk   of 0x{linear:x}, {DescribeMode(walk.Mode)}, CR3=0x{s.Cr3:x}, CR0.WP={((s.Cr0 & VcpuState.Cr0WP) != 0 ? 1 : 0)}");
        foreach (var level in walk.Levels)
        {
            string next = level.Present
                ? level.Leaf ? $" -> page 0x{(level.Entry & 0x000F_FFFF_FFFF_F000 & ~(walk.PageSize - 1)):x}" : $" -> table 0x{level.Entry & (level.EntrySize == 4 ? 0xFFFF_F000UL : 0x000F_FFFF_FFFF_F000UL):x}"
                : "";
            sb.AppendLine($"{pad}              {level.Name,-5} [{level.Index,3}] at 0x{level.EntryAddress:x}: 0x{level.Entry.ToString(level.EntrySize == 4 ? "x8" : "x16")}  {level.FlagNames()}{next}");
        }
        if (walk.Mapped)
            sb.AppendLine($"{pad}              => physical 0x{walk.Physical:x} ({FormatSize(walk.PageSize)} page, {walk.Permissions})");
        else
            sb.AppendLine($"{pad}              => not mapped: {walk.Failure}");
    }

    private static string DescribeMode(PagingMode m) => m switch
    {
        PagingMode.None => "paging off",
        PagingMode.Legacy32 => "32-bit paging",
        PagingMode.Pae => "PAE paging",
        PagingMode.Level4 => "4-level paging",
        _ => "5-level paging",
    };

    private static string FormatSize(ulong size) => size >= 1 << 30 ? $"{size >> 30} GiB" : size >= 1 << 20 ? $"{size >> 20} MiB" : $"{size >> 10} KiB";

    /// <summary>The diagnosis of one event, in words, or null when there is nothing specific to say.</summary>
    public (string? Kind, string? Text) Diagnose(FaultRecord record)
    {
        var e = record.Event;
        var s = record.State;
        if (s is null) return (null, null);
        var mem = new LinearMemory(_physical, s);

        // A fault while delivering another event: the gate (or the stack it pushes on) is the problem.
        if (e.DeliveringVector >= 0)
        {
            if (DescriptorTables.TryReadGate(mem, s, e.DeliveringVector, out var gate, out var problem))
            {
                if (DescriptorTables.DiagnoseGate(mem, s, e.DeliveringVector, gate) is { } g)
                    return ("gate", g);
            }
            else
            {
                return ("idt", $"vector {e.DeliveringVector} cannot be delivered: {problem}");
            }
            if (e.Vector == Exceptions.PF)
                return ("stack", $"pushing the exception frame for {Exceptions.Mnemonic(e.DeliveringVector)} faulted at 0x{e.Cr2:x} " +
                    $"(ESP=0x{s.Rsp:x}): {PageFaultCause(s, e)}");
            if (StackPushProblem(mem, s, gate) is { } stack)
                return ("stack", stack);
            if (e.Vector == Exceptions.DF)
                return ("df", $"a second exception while delivering {Exceptions.Mnemonic(e.DeliveringVector)} " +
                    "(contributory after contributory, or #PF/contributory after #PF: SDM Vol. 3A Table 6-5)");
        }

        switch (e.Vector)
        {
            case Exceptions.PF:
                return ("pf", PageFaultCause(s, e));
            case Exceptions.GP:
            {
                uint code = e.ErrorCode ?? 0;
                if ((code & 2) != 0)
                {
                    int vec = (int)(code >> 3);
                    if (DescriptorTables.TryReadGate(mem, s, vec, out var gate, out var problem))
                        return ("gate", DescriptorTables.DiagnoseGate(mem, s, vec, gate)
                            ?? $"IDT entry {vec} was refused (gate DPL {gate.Dpl} < CPL {RegisterDump.Cpl(s)} for a software interrupt?)");
                    return ("idt", $"vector {vec}: {problem}");
                }
                if ((code & ~3u) != 0)
                {
                    ushort sel = (ushort)(code & 0xFFFC);
                    if (!DescriptorTables.TryReadSegment(mem, s, sel, out var d, out var problem))
                        return ("selector", $"selector 0x{sel:x}: {problem}");
                    return ("selector", $"selector 0x{sel:x} names {d.TypeName} (DPL {d.Dpl}) and was refused where it was used");
                }
                return ("gp0", GeneralProtectionZero(mem, s, e));
            }
            case Exceptions.NP:
            {
                uint code = e.ErrorCode ?? 0;
                if ((code & 2) != 0) return ("gate", $"IDT entry {code >> 3} is not present (P=0)");
                return ("selector", $"the segment with selector 0x{code & 0xFFFC:x} is not present (P=0)");
            }
            case Exceptions.TS:
                return ("tss", $"the TSS (TR=0x{s.Tr.Selector:x}, base 0x{s.Tr.Base:x}, limit 0x{s.Tr.Limit:x}) is invalid for this task switch or stack switch");
            case Exceptions.SS:
                return ("ss", $"a stack access outside SS's limit or a not-present stack segment (SS=0x{s.Ss.Selector:x}, ESP=0x{s.Rsp:x})");
            case Exceptions.UD:
            {
                var instr = _disassembler.Disassemble(mem, s.Cs.Base + e.Rip, Disassembler.Bitness(s), 1);
                if (instr.Count > 0 && instr[0].Decoded.Mnemonic == Mnemonic.Ud2)
                    return ("ud", "UD2: an intentional invalid opcode (a BUG() or assertion in the kernel)");
                string bytes = instr.Count > 0 ? string.Join(' ', instr[0].Bytes.Take(8).Select(b => b.ToString("x2"))) : "unreadable";
                return ("ud", $"the bytes at CS:EIP ({bytes}) are not an instruction this CPU runs in this mode (jumped into data?)");
            }
            case Exceptions.DE:
                return ("de", "division by zero, or a quotient too large for the destination");
            case Exceptions.DF:
                return ("df", "a double fault raised directly (not while delivering another event)");
        }
        return (null, null);
    }

    /// <summary>
    /// Where the CPU pushes the exception frame (the current stack at the same privilege level, or the TSS's ring-0
    /// stack for a gate into ring 0 from ring 3; SDM Vol. 3A §6.12.1), and what is wrong with it, if anything.
    /// </summary>
    private string? StackPushProblem(LinearMemory mem, VcpuState s, GateDescriptor gate)
    {
        int cpl = RegisterDump.Cpl(s);
        ulong sp;
        string which;
        if (cpl == 0 || DescriptorTables.IsLongMode(s))
        {
            sp = (s.Ss.Base + s.Rsp) & (RegisterDump.Is64(s) ? ulong.MaxValue : 0xFFFF_FFFF);
            which = "the current stack";
        }
        else
        {
            if (!mem.TryRead32(s.Tr.Base + 4, out uint esp0)) return $"the TSS at 0x{s.Tr.Base:x} is not mapped, so ESP0 cannot be read";
            sp = esp0;
            which = "the ring-0 stack from the TSS (ESP0)";
        }
        ulong top = sp - 4;
        var walk = PageWalker.Walk(_physical, s, top);
        if (walk.Mapped && walk.Writable) return null;
        string sym = _symbols.Describe(top) is { } d ? $" <{d}>" : "";
        return walk.Mapped
            ? $"the exception frame goes on {which} at 0x{top:x}{sym}, which is read-only"
            : $"the exception frame goes on {which} at 0x{top:x}{sym}, which is not mapped ({walk.Failure}): the stack has overflowed or ESP is wild, and the handler runs on the same stack";
    }

    private string GeneralProtectionZero(LinearMemory mem, VcpuState s, VcpuEvent e)
    {
        var instr = _disassembler.Disassemble(mem, s.Cs.Base + e.Rip, Disassembler.Bitness(s), 1);
        if (instr.Count == 0 || instr[0].Invalid)
            return "a protection check failed (the instruction could not be read)";
        var i = instr[0].Decoded;
        int cpl = RegisterDump.Cpl(s);
        bool privileged = i.Mnemonic is Mnemonic.Hlt or Mnemonic.Lgdt or Mnemonic.Lidt or Mnemonic.Lldt or Mnemonic.Ltr
            or Mnemonic.Invlpg or Mnemonic.Wrmsr or Mnemonic.Rdmsr or Mnemonic.Clts or Mnemonic.Wbinvd or Mnemonic.Invd
            || (i.Mnemonic == Mnemonic.Mov && (i.Op0Register.IsCR() || i.Op1Register.IsCR() || i.Op0Register.IsDR() || i.Op1Register.IsDR()));
        if (privileged && cpl > 0)
            return $"'{instr[0].Text}' is privileged and CPL is {cpl}";
        bool io = i.Mnemonic is Mnemonic.In or Mnemonic.Out or Mnemonic.Insb or Mnemonic.Insw or Mnemonic.Insd or Mnemonic.Outsb or Mnemonic.Outsw or Mnemonic.Outsd
            or Mnemonic.Cli or Mnemonic.Sti;
        int iopl = (int)(s.Rflags >> 12) & 3;
        if (io && cpl > iopl)
            return $"'{instr[0].Text}' needs CPL <= IOPL (CPL {cpl}, IOPL {iopl}){(i.Mnemonic is Mnemonic.Cli or Mnemonic.Sti ? "" : " and the TSS I/O bitmap does not allow the port")}";
        if (i.Mnemonic is Mnemonic.Iret or Mnemonic.Iretd or Mnemonic.Iretq or Mnemonic.Retf)
            return $"'{instr[0].Text}' popped a selector or EFLAGS value that is not allowed (look at the frame at ESP=0x{s.Rsp:x})";
        if (i.Mnemonic == Mnemonic.Mov && i.Op0Kind == OpKind.Register && i.Op0Register.IsSegmentRegister())
            return $"'{instr[0].Text}' loads a segment register with an unusable selector";
        if (RegisterDump.Is64(s))
            return $"in 64-bit code, #GP(0) from '{instr[0].Text}' usually means a non-canonical address";
        return $"'{instr[0].Text}' failed a protection check: a segment limit, a null segment, or a write to a read-only segment";
    }

    private string PageFaultCause(VcpuState s, VcpuEvent e)
    {
        uint code = e.ErrorCode ?? 0;
        bool present = (code & 1) != 0, write = (code & 2) != 0, user = (code & 4) != 0, rsvd = (code & 8) != 0, fetch = (code & 16) != 0;
        var walk = PageWalker.Walk(_physical, s, e.Cr2);
        string access = fetch ? "an instruction fetch" : write ? "a write" : "a read";
        string who = user ? "user-mode" : "kernel";
        if (rsvd)
            return $"a paging entry for 0x{e.Cr2:x} has a reserved bit set ({walk.Failure ?? "check the entries above"})";
        if (!present)
        {
            ulong sp = (s.Ss.Base + s.Rsp) & (RegisterDump.Is64(s) ? ulong.MaxValue : 0xFFFF_FFFF);
            bool nearStack = e.Cr2 + 0x1000 >= sp && e.Cr2 <= sp + 0x100;
            if (nearStack)
            {
                var above = PageWalker.Walk(_physical, s, (e.Cr2 & ~0xFFFUL) + 0x1000);
                string guard = above.Mapped ? $"; the page above it (0x{(e.Cr2 & ~0xFFFUL) + 0x1000:x}) is mapped, so this is the guard page below the stack" : "";
                string sym = _symbols.Describe(e.Cr2) is { } d ? $" <{d}>" : "";
                return $"stack overflow: {access} at 0x{e.Cr2:x}{sym}, right at ESP=0x{sp:x}, hit an unmapped page{guard}";
            }
            if (e.Cr2 < 0x1000)
                return $"{who} {access} at 0x{e.Cr2:x}: a null pointer dereference (page 0 is not mapped)";
            return $"{who} {access} at 0x{e.Cr2:x}: the page is not mapped ({walk.Failure})";
        }
        if (fetch && walk.NoExecute)
            return $"{who} instruction fetch at 0x{e.Cr2:x} from a no-execute page (NX=1)";
        if (user && !walk.User)
        {
            var level = walk.Levels.FirstOrDefault(l => l.Present && (l.Entry & PageWalker.US) == 0 && !(walk.Mode == PagingMode.Pae && l.Name == "PDPTE"));
            return $"user-mode {access} at 0x{e.Cr2:x} touched a supervisor-only page (U/S=0 in the {level?.Name ?? "walk"})";
        }
        if (write && !walk.Writable)
        {
            var level = walk.Levels.FirstOrDefault(l => l.Present && (l.Entry & PageWalker.RW) == 0 && !(walk.Mode == PagingMode.Pae && l.Name == "PDPTE"));
            string sym = _symbols.Describe(e.Cr2) is { } d ? $" <{d}>" : "";
            return user
                ? $"user-mode write to a read-only page at 0x{e.Cr2:x}{sym} (R/W=0 in the {level?.Name ?? "walk"})"
                : $"kernel write to a read-only page at 0x{e.Cr2:x}{sym}: R/W=0 in the {level?.Name ?? "walk"}, and CR0.WP=1 makes supervisor writes obey it";
        }
        return $"{who} {access} at 0x{e.Cr2:x}: a protection violation the page tables in memory no longer show (changed since, or a stale TLB entry: was INVLPG or a CR3 reload missed?)";
    }

    private void AppendStateAndBacktrace(StringBuilder sb, VcpuState s, string when)
    {
        sb.AppendLine();
        sb.AppendLine($"Registers {when}:".Replace(" :", ":"));
        foreach (var line in RegisterDump.Format(s, _symbols).Split('\n', StringSplitOptions.RemoveEmptyEntries))
            sb.AppendLine("  " + line);
        sb.AppendLine();
        sb.AppendLine("Backtrace:");
        var mem = new LinearMemory(_physical, s);
        sb.Append(Backtrace.Format(Backtrace.Walk(mem, s, _symbols), RegisterDump.Is64(s)));
    }

    /// <summary>Without a chain (KVM): what the state at shutdown says about the gates a fault would have used.</summary>
    private void AppendShutdownStateAnalysis(StringBuilder sb, VcpuState s)
    {
        var mem = new LinearMemory(_physical, s);
        sb.AppendLine($"The CPU stopped at {s.Cs.Selector:x4}:{s.Rip:x8}{(_symbols.Describe(s.Cs.Base + s.Rip) is { } d ? $" <{d}>" : "")}.");
        var instr = _disassembler.Disassemble(mem, s.Cs.Base + s.Rip, Disassembler.Bitness(s), 1);
        if (instr.Count > 0) sb.AppendLine($"    instruction {_disassembler.FormatLine(instr[0])}");
        if (s.IdtLimit == 0 || s.IdtLimit == 0xFFFF && s.IdtBase == 0 && (s.Cr0 & VcpuState.Cr0PE) != 0)
            sb.AppendLine($"    the IDT is {(s.IdtLimit == 0 ? "empty (limit 0)" : "not loaded")}: any exception becomes a triple fault");
        // The instruction hints at the first exception: its gate is the first one the CPU needed.
        int? likely = instr.Count == 0 ? null : instr[0].Decoded.Mnemonic switch
        {
            Mnemonic.Ud2 => Exceptions.UD,
            Mnemonic.Div or Mnemonic.Idiv => Exceptions.DE,
            Mnemonic.Int3 => Exceptions.BP,
            Mnemonic.Int => instr[0].Decoded.Immediate8,
            _ => null,
        };
        var vectors = new List<int>();
        if (likely is { } l)
        {
            sb.AppendLine($"    the instruction suggests the first exception was {Exceptions.Mnemonic(l)} ({Exceptions.Name(l)})");
            vectors.Add(l);
        }
        vectors.AddRange(new[] { Exceptions.DF, Exceptions.GP, Exceptions.PF }.Where(v => v != likely));
        foreach (int v in vectors)
        {
            if (!DescriptorTables.TryReadGate(mem, s, v, out var gate, out var problem))
            {
                sb.AppendLine($"    IDT[{v}] {Exceptions.Mnemonic(v)}: {problem}");
                continue;
            }
            string diag = DescriptorTables.DiagnoseGate(mem, s, v, gate) is { } g ? $"  <- {g}" : "";
            sb.AppendLine($"    IDT[{v}] {Exceptions.Mnemonic(v)}: {DescribeGate(gate)}{diag}");
        }
        AppendStateAndBacktrace(sb, s, "at shutdown");
    }
}
