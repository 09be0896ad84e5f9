using MyKvm.Core;
using MyKvm.Debug.Disasm;
using MyKvm.Debug.Memory;
using MyKvm.Debug.Symbols;
using MyKvm.Debug.X86;

namespace MyKvm.Debug.Explain;

/// <summary>One frame of a backtrace.</summary>
/// <param name="Guessed">Found by scanning the stack for return addresses rather than by the frame-pointer chain.</param>
public sealed record StackFrame(int Number, ulong Pc, ulong FramePointer, string? Symbol, string? SourceLine, bool Guessed);

/// <summary>
/// A backtrace by the frame-pointer chain (JOS lab 1's <c>backtrace</c>: [EBP] is the caller's EBP, [EBP+4] the return
/// address), with symbols and DWARF lines; when the chain gives nothing beyond the first frame (code built without
/// frame pointers), a scan of the stack for plausible return addresses, marked as guesses.
/// </summary>
public static class Backtrace
{
    public static List<StackFrame> Walk(LinearMemory mem, VcpuState s, SymbolTable symbols, int maxFrames = 24)
    {
        int ptr = RegisterDump.Is64(s) ? 8 : 4;
        ulong Mask(ulong v) => ptr == 8 ? v : v & 0xFFFF_FFFF;
        var frames = new List<StackFrame>();
        ulong pc = Mask(s.Cs.Base + s.Rip);
        ulong fp = Mask(s.Ss.Base + s.Rbp);
        frames.Add(Frame(0, pc, fp, symbols, false, false));
        // Frame 0 may not have its own frame yet (stopped at the first instructions, or a leaf function built without
        // a prologue): then its return address is on top of the stack and EBP is still the caller's frame.
        ulong sp = Mask(s.Ss.Base + s.Rsp);
        if (symbols.TryLookup(pc, out var fn, out var offset) && fn.Kind == SymbolKind.Function)
        {
            Span<byte> head = stackalloc byte[4];
            bool read = mem.Read(fn.Address, head) == 4;
            int pushLen = 1, movLen = ptr == 8 ? 3 : 2;
            bool prologue = read && head[0] == 0x55 && (ptr == 8 ? head[1] == 0x48 && head[2] == 0x89 && head[3] == 0xE5 : head[1] == 0x89 && head[2] == 0xE5);
            ulong? retSlot = !prologue || offset == 0 ? sp : offset < (ulong)(pushLen + movLen) ? sp + (ulong)ptr : null;
            if (retSlot is { } slot && mem.TryReadPointer(slot, ptr, out ulong ret0) && symbols.Describe(ret0) is not null)
                frames.Add(Frame(1, ret0, fp, symbols, true, false));
        }
        var seen = new HashSet<ulong>();
        while (frames.Count < maxFrames && fp != 0 && seen.Add(fp))
        {
            if (!mem.TryReadPointer(fp + (ulong)ptr, ptr, out ulong ret) || !mem.TryReadPointer(fp, ptr, out ulong next)) break;
            if (ret == 0) break;
            frames.Add(Frame(frames.Count, ret, fp, symbols, true, false));
            if (next != 0 && next <= fp) break; // frames must move up the stack
            fp = next;
        }
        if (frames.Count == 1 || (frames.Count == 2 && symbols.Describe(frames[1].Pc) is null))
        {
            // No usable frame chain: look for return addresses on the stack.
            var guessed = ScanStack(mem, s, symbols, ptr, maxFrames);
            if (guessed.Count > 0)
            {
                frames.RemoveRange(1, frames.Count - 1);
                foreach (var pcGuess in guessed)
                    frames.Add(Frame(frames.Count, pcGuess.Pc, pcGuess.Slot, symbols, true, true));
            }
        }
        return frames;
    }

    private static StackFrame Frame(int n, ulong pc, ulong fp, SymbolTable symbols, bool isReturn, bool guessed) =>
        // A return address points after the call; its line is the call's (pc - 1), as gdb does.
        new(n, pc, fp, symbols.Describe(pc), symbols.SourceLine(isReturn ? pc - 1 : pc), guessed);

    private static List<(ulong Pc, ulong Slot)> ScanStack(LinearMemory mem, VcpuState s, SymbolTable symbols, int ptr, int maxFrames)
    {
        var result = new List<(ulong, ulong)>();
        if (symbols.Symbols.Count == 0) return result;
        ulong sp = s.Ss.Base + s.Rsp;
        if (ptr == 4) sp &= 0xFFFF_FFFF;
        for (int i = 0; i < 512 && result.Count < maxFrames - 1; i++)
        {
            ulong slot = sp + (ulong)(i * ptr);
            if (!mem.TryReadPointer(slot, ptr, out ulong v)) break;
            if (!symbols.TryLookup(v, out var sym, out var off) || off == 0 || sym.Kind == SymbolKind.Object) continue;
            if (FollowsCall(mem, v)) result.Add((v, slot));
        }
        return result;
    }

    /// <summary>True when the bytes before <paramref name="ret"/> end with a CALL (E8 rel32, or FF /2 in its usual forms).</summary>
    private static bool FollowsCall(LinearMemory mem, ulong ret)
    {
        Span<byte> b = stackalloc byte[7];
        if (ret < 7 || mem.Read(ret - 7, b) != 7) return false;
        if (b[2] == 0xE8) return true;                                   // call rel32
        if (b[5] == 0xFF && (b[6] & 0x38) == 0x10 && b[6] >= 0xC0) return true; // call *%reg
        if (b[5] == 0xFF && (b[6] & 0x38) == 0x10 && (b[6] & 0xC7) != 0x05 && b[6] < 0x40) return true; // call *(%reg)
        if (b[4] == 0xFF && (b[5] & 0x38) == 0x10 && (b[5] & 0xC0) == 0x40) return true; // call *disp8(%reg)
        if (b[1] == 0xFF && (b[2] & 0x38) == 0x10 && (b[2] & 0xC0) == 0x80) return true; // call *disp32(%reg)
        return false;
    }

    public static string Format(IEnumerable<StackFrame> frames, bool wide)
    {
        var sb = new System.Text.StringBuilder();
        var list = frames.ToList();
        for (int i = 0; i < list.Count; i++)
        {
            var f = list[i];
            // Runaway recursion: one line for a run of identical frames.
            int same = 0;
            while (i + same + 1 < list.Count && list[i + same + 1].Pc == f.Pc && i > 0) same++;
            if (same >= 2)
            {
                sb.AppendLine($"  #{f.Number}-#{list[i + same].Number}: 0x{f.Pc.ToString(wide ? "x16" : "x8")} in {f.Symbol ?? "??"}{(f.SourceLine is { } l ? $" at {l}" : "")}   ({same + 1} identical frames: recursion{(i + same + 1 == list.Count ? ", and more below" : "")})");
                i += same;
                continue;
            }
            string pc = "0x" + f.Pc.ToString(wide ? "x16" : "x8");
            sb.Append($"  #{f.Number,-2} {pc}");
            sb.Append(f.Symbol is { } sym ? $" in {sym}" : " in ??");
            if (f.SourceLine is { } line) sb.Append($" at {line}");
            if (f.Guessed) sb.Append("   (? found on the stack, no frame pointer)");
            sb.AppendLine();
        }
        return sb.ToString();
    }
}
