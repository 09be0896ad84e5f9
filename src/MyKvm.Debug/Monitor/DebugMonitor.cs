using System.Globalization;
using System.Text;
using MyKvm.Core;
using MyKvm.Debug.Disasm;
using MyKvm.Debug.Explain;
using MyKvm.Debug.Memory;
using MyKvm.Debug.Symbols;
using MyKvm.Debug.X86;

namespace MyKvm.Debug.Monitor;

/// <summary>
/// The mykvm monitor (QEMU-monitor-like): text in, text out, against an <see cref="IDebugTarget"/>. Every address it
/// prints carries the kernel's symbol where one covers it. Used by <c>--monitor stdio</c>, the Ctrl-A c console
/// escape, and gdb's <c>monitor</c> command.
/// </summary>
public sealed class DebugMonitor
{
    private readonly IDebugTarget _target;
    private readonly SymbolTable _symbols;
    private readonly Func<string, string>? _screendump;
    private readonly Func<string?>? _explain;
    private AsmSyntax _syntax;

    /// <param name="screendump">Writes the screen to a PNG file and returns a message (null: no display in this machine).</param>
    /// <param name="explain">Returns the fault explainer's report for the latest exception chain (for <c>explain</c>).</param>
    public DebugMonitor(IDebugTarget target, SymbolTable? symbols = null, Func<string, string>? screendump = null,
        Func<string?>? explain = null, AsmSyntax syntax = AsmSyntax.Att)
    {
        _target = target;
        _symbols = symbols ?? SymbolTable.Empty;
        _screendump = screendump;
        _explain = explain;
        _syntax = syntax;
    }

    /// <summary>Set by <c>quit</c>: the caller should end the machine.</summary>
    public bool QuitRequested { get; private set; }

    public const string Help = """
        info registers          all registers, with CR0/CR4/EFER/EFLAGS bits decoded
        info gdt | ldt | idt    descriptor tables, each entry decoded
        info tss                the current task-state segment
        info mem                mapped linear ranges with permissions (page-table walk)
        info tlb                every mapped page, linear -> physical
        info break              breakpoints and watchpoints
        x/NFU ADDR              linear memory: N units, F = x d u c i s, U = b h w g (x/8xw $esp, x/5i $eip)
        xp/NFU ADDR             the same for physical memory
        disas [ADDR [N]]        disassemble N instructions (default: 10 at EIP)
        set syntax att|intel    disassembly syntax
        sym ADDR                the symbol and source line at ADDR
        walk ADDR               the page walk of a linear address, level by level
        bt                      backtrace by frame pointers
        break ADDR | delete [ADDR] | watch ADDR [LEN]
        stop | step [N] | cont  execution control
        explain                 the fault explainer's report for the last exception chain
        screendump FILE.png     save the screen as a PNG
        quit                    end the machine
        ADDR: 0x1000, 4096, kmain, kmain+0x10, $eip, $esp+8
        """;

    public string Execute(string line)
    {
        line = line.Trim();
        if (line.Length == 0) return "";
        try
        {
            return Dispatch(line);
        }
        catch (MonitorException e)
        {
            return e.Message + "\n";
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Whatever the guest's memory holds, a monitor command must never take the machine down.
            return $"{line}: failed: {e.GetType().Name}: {e.Message}\n";
        }
    }

    private string Dispatch(string line)
    {
        var (cmd, rest) = SplitWord(line);
        string? fmt = null;
        int slash = cmd.IndexOf('/');
        if (slash >= 0)
        {
            fmt = cmd[(slash + 1)..];
            cmd = cmd[..slash];
        }
        switch (cmd)
        {
            case "help" or "h" or "?":
                return Help + "\n";
            case "info" or "i":
                return Info(rest);
            case "x":
                return Examine(rest, fmt, physical: false);
            case "xp":
                return Examine(rest, fmt, physical: true);
            case "disas" or "disassemble" or "u":
                return Disassemble(rest);
            case "set":
                return Set(rest);
            case "sym" or "symbol":
                return Symbol(rest);
            case "walk":
                return Walk(rest);
            case "bt" or "backtrace" or "where":
                return BacktraceText();
            case "break" or "b":
                return Break(rest, BreakpointType.Software);
            case "hbreak":
                return Break(rest, BreakpointType.Hardware);
            case "watch":
                return Watch(rest);
            case "delete" or "d":
                return Delete(rest);
            case "stop":
                return Stop();
            case "step" or "s" or "si" or "stepi":
                return Step(rest);
            case "cont" or "c" or "continue":
                return Continue();
            case "explain":
                return _explain?.Invoke() ?? "no exception has been recorded\n";
            case "screendump":
                if (rest.Length == 0) throw new MonitorException("usage: screendump FILE.png");
                return (_screendump?.Invoke(rest) ?? "screendump: this machine has no display") + "\n";
            case "quit" or "q":
                QuitRequested = true;
                _target.Kill();
                return "";
            default:
                throw new MonitorException($"unknown command '{cmd}' (try help)");
        }
    }

    private static (string Word, string Tail) SplitWord(string s)
    {
        s = s.Trim();
        int sp = s.IndexOfAny([' ', '\t']);
        return sp < 0 ? (s, "") : (s[..sp], s[(sp + 1)..].Trim());
    }

    private VcpuState State => _target.GetRegisters();

    private string Info(string what)
    {
        var (sub, _) = SplitWord(what);
        var s = State;
        var mem = new LinearMemory(_target.Physical, s);
        switch (sub)
        {
            case "registers" or "reg" or "r" or "regs":
                return RegisterDump.Format(s, _symbols);
            case "gdt":
                return DescriptorTable("GDT", s.GdtBase, s.GdtLimit, mem, s);
            case "ldt":
                if ((s.Ldtr.Selector & ~3) == 0) return "no LDT is loaded (LDTR is null)\n";
                return DescriptorTable("LDT", s.Ldtr.Base, s.Ldtr.Limit, mem, s);
            case "idt":
                return IdtText(mem, s);
            case "tss":
                if ((s.Tr.Selector & ~3) == 0 && s.Tr.Base == 0) return "no TSS is loaded (TR is null)\n";
                return $"TR=0x{s.Tr.Selector:x4}\n" + TaskStateSegment.Format(mem, s.Tr.Base, s.Tr.Limit, DescriptorTables.IsLongMode(s));
            case "mem":
                return MemText(s, summarise: true);
            case "tlb":
                return MemText(s, summarise: false);
            case "break" or "breakpoints" or "b":
                return BreakpointsText();
            case "symbols":
                return $"{_symbols.Symbols.Count} symbols{(_symbols.SourcePath is { } p ? $" from {p}" : "")}, line table: {(_symbols.Lines is null ? "none" : $"{_symbols.Lines.Rows.Count} rows")}\n";
            default:
                throw new MonitorException("info what? registers, gdt, ldt, idt, tss, mem, tlb, break, symbols");
        }
    }

    private static string DescriptorTable(string name, ulong tableBase, ulong limit, LinearMemory mem, VcpuState s)
    {
        var sb = new StringBuilder($"{name} at 0x{tableBase:x}, limit 0x{limit:x} ({(limit + 1) / 8} entries)\n");
        bool lm = DescriptorTables.IsLongMode(s);
        for (ulong off = 0; off + 7 <= limit && off < 0x10000; off += 8)
        {
            int index = (int)(off / 8);
            if (!mem.TryRead64(tableBase + off, out ulong low))
            {
                sb.AppendLine($"  [{index,4}] sel 0x{off:x4}: not mapped");
                break;
            }
            if (index == 0 && name == "GDT")
            {
                sb.AppendLine($"  [   0] sel 0x0000: null descriptor{(low != 0 ? $" (not zero: 0x{low:x16})" : "")}");
                continue;
            }
            if (low == 0)
            {
                sb.AppendLine($"  [{index,4}] sel 0x{off:x4}: empty");
                continue;
            }
            var d = new SegmentDescriptor(low, 0, lm);
            ulong high = 0;
            if (d.IsWide && mem.TryRead64(tableBase + off + 8, out high)) d = new SegmentDescriptor(low, high, lm);
            string active = ActiveMarks(s, (ushort)off);
            sb.AppendLine($"  [{index,4}] sel 0x{off:x4}: 0x{low:x16}  {d}{active}");
            if (d.IsWide) off += 8;
        }
        return sb.ToString();
    }

    private static string ActiveMarks(VcpuState s, ushort sel)
    {
        var names = new List<string>();
        void Check(string n, SegmentState seg)
        {
            if ((seg.Selector & ~3) == sel && sel != 0) names.Add(n);
        }
        Check("CS", s.Cs);
        Check("SS", s.Ss);
        Check("DS", s.Ds);
        Check("ES", s.Es);
        Check("FS", s.Fs);
        Check("GS", s.Gs);
        Check("TR", s.Tr);
        Check("LDTR", s.Ldtr);
        return names.Count == 0 ? "" : "  <- " + string.Join(',', names);
    }

    private string IdtText(LinearMemory mem, VcpuState s)
    {
        bool lm = DescriptorTables.IsLongMode(s);
        int size = lm ? 16 : 8;
        int count = Math.Min(256, (s.IdtLimit + 1) / size);
        var sb = new StringBuilder($"IDT at 0x{s.IdtBase:x}, limit 0x{s.IdtLimit:x} ({count} gates)\n");
        if (count == 0) sb.AppendLine("  the IDT is empty: any exception or interrupt triple-faults");
        int empty = 0;
        for (int v = 0; v < count; v++)
        {
            if (!DescriptorTables.TryReadGate(mem, s, v, out var gate, out var problem))
            {
                sb.AppendLine($"  [{v,3}] {problem}");
                break;
            }
            if (gate.Low == 0 && gate.High == 0)
            {
                empty++;
                continue;
            }
            string name = v < 32 ? $" {Exceptions.Mnemonic(v),-6}" : "       ";
            string target = gate.ValidIdtType && gate.Type != 5 && _symbols.Describe(gate.Offset) is { } sym ? $" <{sym}>" : "";
            string diag = DescriptorTables.DiagnoseGate(mem, s, v, gate) is { } d ? $"\n        !! {d}" : "";
            sb.AppendLine($"  [{v,3}]{name} {gate}{target}{diag}");
        }
        if (empty > 0) sb.AppendLine($"  ({empty} empty gates not shown)");
        return sb.ToString();
    }

    private string MemText(VcpuState s, bool summarise)
    {
        var mode = PageWalker.ModeOf(s);
        if (mode == PagingMode.None) return "paging is off: linear addresses are physical\n";
        var sb = new StringBuilder($"{PageWalker.ModeName(mode)}, CR3=0x{s.Cr3:x}\n");
        var mappings = PageWalker.EnumerateMappings(_target.Physical, s);
        bool wide = mode is PagingMode.Level4 or PagingMode.Level5;
        string W(ulong v) => "0x" + v.ToString(wide ? "x16" : "x8");
        if (summarise)
        {
            var ranges = PageWalker.Summarise(mappings);
            sb.AppendLine($"  {"linear start",-12} {"linear end",-12} {"size",-10} {"physical",-12} perms");
            foreach (var r in ranges)
            {
                string sym = _symbols.Describe(r.Linear) is { } d ? $"  <{d}>" : "";
                sb.AppendLine($"  {W(r.Linear)}-{W(r.Linear + r.Size)} {("0x" + r.Size.ToString("x")),-10} -> {W(r.Physical)} {r.Permissions}{sym}");
            }
            if (ranges.Count == 0) sb.AppendLine("  nothing is mapped");
        }
        else
        {
            int n = 0;
            foreach (var m in mappings)
            {
                if (++n > 4096)
                {
                    sb.AppendLine("  ... (more than 4096 pages; use info mem for ranges)");
                    break;
                }
                sb.AppendLine($"  {W(m.Linear)} -> {W(m.Physical)} {("(" + (m.Size >> 10) + " KiB)"),-12} {m.Permissions}");
            }
        }
        return sb.ToString();
    }

    private string BreakpointsText()
    {
        if (_target is not VcpuDebugger d) return "breakpoints are not listed by this target\n";
        var list = d.Breakpoints;
        if (list.Count == 0) return "no breakpoints\n";
        var sb = new StringBuilder();
        foreach (var (type, addr, len) in list)
            sb.AppendLine($"  {type,-12} {_symbols.Format(addr)}{(type >= BreakpointType.WriteWatch ? $" len {len}" : "")}");
        return sb.ToString();
    }

    // -------------------------------------------------------------- addresses

    /// <summary>Evaluates an address: numbers (0x.. hex, else decimal), symbols, $registers, joined by + and -.</summary>
    public ulong Evaluate(string expr)
    {
        expr = expr.Replace(" ", "");
        if (expr.Length == 0) throw new MonitorException("an address is needed");
        ulong total = 0;
        int sign = 1, i = 0;
        VcpuState? s = null;
        while (i < expr.Length)
        {
            int start = i;
            while (i < expr.Length && expr[i] is not '+' and not '-') i++;
            string term = expr[start..i];
            ulong value = Term(term, ref s);
            total = sign > 0 ? total + value : total - value;
            if (i < expr.Length)
            {
                sign = expr[i] == '+' ? 1 : -1;
                i++;
            }
        }
        return total;
    }

    private ulong Term(string t, ref VcpuState? s)
    {
        if (t.Length == 0) throw new MonitorException("malformed address");
        if (t[0] == '$')
        {
            s ??= State;
            return t[1..].ToLowerInvariant() switch
            {
                "eax" or "rax" => s.Rax, "ebx" or "rbx" => s.Rbx, "ecx" or "rcx" => s.Rcx, "edx" or "rdx" => s.Rdx,
                "esi" or "rsi" => s.Rsi, "edi" or "rdi" => s.Rdi, "ebp" or "rbp" => s.Rbp, "esp" or "rsp" or "sp" => s.Rsp,
                "eip" or "rip" or "pc" => s.Cs.Base + s.Rip, "cr2" => s.Cr2, "cr3" => s.Cr3,
                "r8" => s.R8, "r9" => s.R9, "r10" => s.R10, "r11" => s.R11, "r12" => s.R12, "r13" => s.R13, "r14" => s.R14, "r15" => s.R15,
                _ => throw new MonitorException($"unknown register {t}"),
            };
        }
        if (t.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
        {
            if (ulong.TryParse(t.AsSpan(2), NumberStyles.HexNumber, null, out ulong h)) return h;
            throw new MonitorException($"bad hex number {t}");
        }
        if (char.IsDigit(t[0]))
        {
            if (ulong.TryParse(t, out ulong dec)) return dec;
            throw new MonitorException($"bad number {t} (hex needs 0x)");
        }
        if (_symbols.TryGetAddress(t, out ulong addr)) return addr;
        throw new MonitorException($"no symbol '{t}'");
    }

    // -------------------------------------------------------------- memory

    private string Examine(string rest, string? fmt, bool physical)
    {
        int count = 1;
        char format = 'x';
        int unit = 4;
        if (fmt is not null)
        {
            int i = 0;
            while (i < fmt.Length && char.IsDigit(fmt[i])) i++;
            if (i > 0) count = int.Parse(fmt[..i], CultureInfo.InvariantCulture);
            foreach (char c in fmt[i..])
            {
                switch (c)
                {
                    case 'x' or 'd' or 'u' or 'c' or 'i' or 's': format = c; break;
                    case 'b': unit = 1; break;
                    case 'h': unit = 2; break;
                    case 'w': unit = 4; break;
                    case 'g': unit = 8; break;
                    default: throw new MonitorException($"unknown format letter '{c}' (x d u c i s, b h w g)");
                }
            }
        }
        if (format == 'c') unit = 1;
        count = Math.Clamp(count, 1, 4096);
        ulong addr = Evaluate(rest);
        var s = State;
        Func<ulong, Span<byte>, int> read = physical
            ? (a, b) => _target.Physical.Read(a, b)
            : (a, b) => new LinearMemory(_target.Physical, s).Read(a, b);

        if (format == 'i')
        {
            if (physical) throw new MonitorException("xp/i: disassemble a linear address with x/i");
            return DisassembleAt(s, addr, count);
        }
        if (format == 's')
        {
            var sb0 = new StringBuilder();
            for (int n = 0; n < count; n++)
            {
                var buf = new byte[256];
                int got = read(addr, buf);
                int len = Array.IndexOf(buf, (byte)0, 0, got);
                if (len < 0) len = got;
                sb0.AppendLine($"{Label(addr, physical)}: \"{Escape(buf.AsSpan(0, len))}\"");
                addr += (ulong)len + 1;
            }
            return sb0.ToString();
        }

        int total = count * unit;
        var data = new byte[total];
        int have = read(addr, data);
        var sb = new StringBuilder();
        int perLine = format == 'c' ? 16 : Math.Max(1, 16 / unit);
        for (int n = 0; n < count; n++)
        {
            if (n % perLine == 0)
            {
                if (n > 0) sb.AppendLine();
                sb.Append($"{Label(addr + (ulong)(n * unit), physical)}:");
            }
            int off = n * unit;
            if (off + unit > have)
            {
                sb.AppendLine(physical ? " (not RAM)" : " (not mapped)");
                return sb.ToString();
            }
            ulong v = 0;
            for (int k = 0; k < unit; k++) v |= (ulong)data[off + k] << (8 * k);
            sb.Append(' ');
            sb.Append(format switch
            {
                'x' => "0x" + v.ToString("x" + unit * 2),
                'd' => unit switch { 1 => ((sbyte)v).ToString(), 2 => ((short)v).ToString(), 4 => ((int)v).ToString(), _ => ((long)v).ToString() },
                'u' => v.ToString(),
                'c' => v is >= 32 and < 127 ? $"'{(char)v}'" : $"\\x{v:x2}",
                _ => v.ToString("x"),
            });
        }
        sb.AppendLine();
        return sb.ToString();
    }

    private string Label(ulong addr, bool physical) =>
        physical ? "0x" + addr.ToString("x8") : _symbols.Format(addr, addr > 0xFFFF_FFFF ? 16 : 8);

    private static string Escape(ReadOnlySpan<byte> b)
    {
        var sb = new StringBuilder();
        foreach (byte c in b)
            sb.Append(c switch { (byte)'\n' => "\\n", (byte)'\t' => "\\t", (byte)'"' => "\\\"", >= 32 and < 127 => ((char)c).ToString(), _ => $"\\x{c:x2}" });
        return sb.ToString();
    }

    private string Disassemble(string rest)
    {
        var s = State;
        ulong addr;
        int count = 10;
        if (rest.Length == 0) addr = s.Cs.Base + s.Rip;
        else
        {
            var (a, n) = SplitWord(rest);
            addr = Evaluate(a);
            if (n.Length > 0 && !int.TryParse(n, out count)) throw new MonitorException($"bad count '{n}'");
        }
        return DisassembleAt(s, addr, Math.Clamp(count, 1, 1000));
    }

    private string DisassembleAt(VcpuState s, ulong addr, int count)
    {
        var dis = new Disassembler(_symbols, _syntax);
        var mem = new LinearMemory(_target.Physical, s);
        var list = dis.Disassemble(mem, addr, Disassembler.Bitness(s), count);
        if (list.Count == 0) return $"0x{addr:x}: not mapped\n";
        ulong pc = s.Cs.Base + s.Rip;
        var sb = new StringBuilder();
        string? lastLine = null;
        foreach (var i in list)
        {
            if (_symbols.SourceLine(i.Address) is { } src && src != lastLine)
            {
                sb.AppendLine($"  {src}");
                lastLine = src;
            }
            sb.AppendLine(dis.FormatLine(i, marker: i.Address == pc ? "=> " : "   "));
        }
        return sb.ToString();
    }

    private string Set(string rest)
    {
        var (what, value) = SplitWord(rest);
        if (what == "syntax")
        {
            _syntax = value switch
            {
                "att" or "at&t" => AsmSyntax.Att,
                "intel" => AsmSyntax.Intel,
                _ => throw new MonitorException("set syntax att|intel"),
            };
            return "";
        }
        throw new MonitorException("set syntax att|intel");
    }

    private string Symbol(string rest)
    {
        ulong a = Evaluate(rest);
        string where = _symbols.Format(a);
        string line = _symbols.SourceLine(a) is { } l ? $" at {l}" : "";
        return where + line + "\n";
    }

    private string Walk(string rest)
    {
        ulong a = Evaluate(rest);
        var s = State;
        var walk = PageWalker.Walk(_target.Physical, s, a);
        var sb = new StringBuilder($"0x{a:x}: {PageWalker.ModeName(walk.Mode)}, CR3=0x{s.Cr3:x}\n");
        foreach (var l in walk.Levels) sb.AppendLine("  " + l);
        sb.AppendLine(walk.Mapped ? $"  => physical 0x{walk.Physical:x}, {walk.Permissions}" : $"  => not mapped: {walk.Failure}");
        return sb.ToString();
    }

    private string BacktraceText()
    {
        var s = State;
        var frames = Explain.Backtrace.Walk(new LinearMemory(_target.Physical, s), s, _symbols);
        return Explain.Backtrace.Format(frames, RegisterDump.Is64(s));
    }

    // -------------------------------------------------------------- execution

    private string Break(string rest, BreakpointType type)
    {
        ulong a = Evaluate(rest);
        if (!_target.AddBreakpoint(type, a, 1)) throw new MonitorException("this CPU backend cannot set breakpoints");
        return $"breakpoint at {_symbols.Format(a)}{(_symbols.SourceLine(a) is { } l ? $" ({l})" : "")}\n";
    }

    private string Watch(string rest)
    {
        var (a, n) = SplitWord(rest);
        ulong addr = Evaluate(a);
        int len = n.Length > 0 ? (int)Evaluate(n) : 4;
        if (!_target.AddBreakpoint(BreakpointType.WriteWatch, addr, len)) throw new MonitorException("this CPU backend cannot set watchpoints");
        return $"watchpoint on writes to {_symbols.Format(addr)}, {len} bytes\n";
    }

    private string Delete(string rest)
    {
        if (rest.Length == 0)
        {
            _target.RemoveAllBreakpoints();
            return "all breakpoints deleted\n";
        }
        ulong a = Evaluate(rest);
        bool any = false;
        foreach (var t in Enum.GetValues<BreakpointType>())
        {
            any |= _target.RemoveBreakpoint(t, a, 1);
            if (t >= BreakpointType.WriteWatch)
                for (int len = 1; len <= 8; len *= 2) any |= _target.RemoveBreakpoint(t, a, len);
        }
        return any ? $"deleted the breakpoint at {_symbols.Format(a)}\n" : $"no breakpoint at {_symbols.Format(a)}\n";
    }

    private string Stop()
    {
        if (!_target.IsRunning) return WhereText("already stopped");
        _target.Interrupt();
        var stop = _target.WaitForStop(TimeSpan.FromSeconds(5));
        return stop is null ? "the CPU did not stop within 5 s\n" : WhereText(stop.ToString());
    }

    private string Step(string rest)
    {
        int n = rest.Length == 0 ? 1 : (int)Math.Clamp(Evaluate(rest), 1, 1_000_000);
        if (_target.IsRunning)
        {
            _target.Interrupt();
            _target.WaitForStop(TimeSpan.FromSeconds(5));
        }
        StopEvent? stop = null;
        for (int i = 0; i < n; i++)
        {
            _target.Resume(step: true);
            stop = _target.WaitForStop(TimeSpan.FromSeconds(10));
            if (stop is null) return "the step did not finish within 10 s\n";
            if (stop.Reason != StopReason.Step) break;
        }
        return WhereText(stop?.ToString() ?? "stepped");
    }

    private string Continue()
    {
        if (_target.HasExited) return "the machine has ended\n";
        if (_target.IsRunning) return "already running\n";
        _target.Resume(step: false);
        return "";
    }

    /// <summary>"stopped: breakpoint at ... " plus the instruction at EIP, as after a stop.</summary>
    public string WhereText(string why)
    {
        if (_target.HasExited) return why + "\n";
        var s = State;
        return $"{why}\n{DisassembleAt(s, s.Cs.Base + s.Rip, 1)}";
    }
}

/// <summary>A monitor command's error, printed as one line.</summary>
public sealed class MonitorException(string message) : Exception(message);
