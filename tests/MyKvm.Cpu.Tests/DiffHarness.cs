using System.Text;
using MyKvm.Core;
using Iced.Intel;

namespace MyKvm.Cpu.Tests;

/// <summary>One differential case: code (run at <see cref="DiffHarness.CodeAt"/>), registers, flags, data bytes.</summary>
internal sealed record DiffCase(byte[] Code, uint[] Regs, uint Eflags, byte[] Data, uint UndefinedFlags, bool ResultUndefined = false);

internal sealed record DiffResult(uint[] Regs, uint Eip, uint Eflags, byte[] Data, byte[] Stack, int Vector, string? Note);

/// <summary>
/// Runs the same short instruction sequence on the soft CPU and on Unicorn and compares registers, EIP,
/// flags (minus documented-undefined ones), the data area, the stack area, and the exception raised.
/// Layout: code page 0x1000 filled with HLT, the instruction at 0x1800; stack 0x6000..0x7000; data 0x8000..0xA000.
/// </summary>
internal sealed class DiffHarness : IDisposable
{
    public const uint CodeBase = 0x1000, CodeAt = 0x1800, StackBase = 0x6000, StackSize = 0x1000, DataBase = 0x8000, DataSize = 0x2000;
    public const uint InitialEsp = 0x6800;
    public const uint FlagMask = 0xCD5;      // CF PF AF ZF SF DF OF

    private readonly TestMachine _m = new(1 << 20);
    private Unicorn _uc = NewUnicorn();
    private int _softVector = -1;
    private static readonly byte[] Hlts = Enumerable.Repeat((byte)0xF4, 0x1000).ToArray();

    private static Unicorn NewUnicorn()
    {
        var uc = new Unicorn();
        uc.Map(0, 0x10000);
        return uc;
    }

    public DiffHarness()
    {
        _m.Cpu.ExceptionObserver = e => { if (_softVector < 0) _softVector = e.Vector; };
    }

    public DiffResult RunSoft(DiffCase c)
    {
        var ram = _m.Ram;
        ram.Write(CodeBase, Hlts);
        ram.Write(CodeAt, c.Code);
        ram.Write(DataBase, c.Data);
        ram.Fill(StackBase, (int)StackSize, 0);
        _m.Cpu.NotifyRamWritten(CodeBase, 0x1000);
        var st = VcpuState.Flat32(CodeAt, 0x08, 0x10, TestMachine.GdtBase, 23);
        ram.Write64(TestMachine.GdtBase, 0);
        ram.Write64(TestMachine.GdtBase + 8, 0x00CF_9A00_0000_FFFFUL);
        ram.Write64(TestMachine.GdtBase + 16, 0x00CF_9200_0000_FFFFUL);
        st.Rax = c.Regs[0]; st.Rcx = c.Regs[1]; st.Rdx = c.Regs[2]; st.Rbx = c.Regs[3];
        st.Rsp = c.Regs[4]; st.Rbp = c.Regs[5]; st.Rsi = c.Regs[6]; st.Rdi = c.Regs[7];
        st.Rflags = c.Eflags | 2;
        _m.Cpu.SetState(st);
        _softVector = -1;
        string? note = null;
        var exit = _m.Cpu.Run(100_000);
        if (exit.Reason is not (VcpuExitReason.HaltedForever or VcpuExitReason.TripleFault))
            note = $"soft exit {exit.Reason} {exit.Detail}";
        var o = _m.Cpu.GetState();
        uint[] regs = [(uint)o.Rax, (uint)o.Rcx, (uint)o.Rdx, (uint)o.Rbx, (uint)o.Rsp, (uint)o.Rbp, (uint)o.Rsi, (uint)o.Rdi];
        var data = new byte[DataSize];
        ram.Read(DataBase, data);
        var stack = new byte[StackSize];
        ram.Read(StackBase, stack);
        // On HLT the soft CPU has retired it: report the HLT's address like Unicorn's "until".
        uint eip = (uint)o.Rip;
        if (exit.Reason == VcpuExitReason.HaltedForever) eip--;
        return new DiffResult(regs, eip, (uint)o.Rflags, data, stack, _softVector, note);
    }

    public DiffResult RunUnicorn(DiffCase c)
    {
        _uc.Write(CodeBase, Hlts);
        _uc.Write(CodeAt, c.Code);
        _uc.Write(DataBase, c.Data);
        _uc.Write(StackBase, new byte[StackSize]);
        for (int r = 0; r < 8; r++) _uc.SetReg(Unicorn.Gpr[r], c.Regs[r]);
        _uc.SetReg(Unicorn.EFLAGS, c.Eflags | 2);
        // Run to the HLT after the instruction; a branch elsewhere lands on (and executes) one of the HLTs
        // that fill the page, which stops Unicorn one byte later.
        string? note = null;
        uint until = CodeAt + (uint)c.Code.Length;
        int err = _uc.Run(CodeAt, until, 100_000);
        uint eip = _uc.Reg(Unicorn.EIP);
        if (err != 0 && _uc.Interrupt < 0) note = $"unicorn error {err} at {eip:x}";
        if (eip != until && eip > CodeBase && eip <= CodeBase + 0x1000 && IsHltAt(c, eip - 1)) eip--;
        uint[] regs = new uint[8];
        for (int r = 0; r < 8; r++) regs[r] = _uc.Reg(Unicorn.Gpr[r]);
        var data = new byte[DataSize];
        _uc.Read(DataBase, data);
        var stack = new byte[StackSize];
        _uc.Read(StackBase, stack);
        int vector = _uc.Interrupt;
        if (vector < 0 && err == 10) { vector = 6; note = null; }     // UC_ERR_INSN_INVALID: #UD
        var result = new DiffResult(regs, eip, _uc.Reg(Unicorn.EFLAGS), data, stack, vector, note);
        if (_uc.Interrupt >= 0)
        {
            // Unicorn keeps exception state across runs (the next exception becomes #DF): start afresh.
            _uc.Dispose();
            _uc = NewUnicorn();
        }
        return result;
    }

    private static bool IsHltAt(DiffCase c, uint eip)
    {
        uint off = eip - CodeAt;
        return off >= c.Code.Length || c.Code[off] == 0xF4;     // outside the instruction the page is all HLT
    }

    /// <summary>Null when both CPUs agree, else a description of every difference.</summary>
    public string? Compare(DiffCase c)
    {
        var a = RunSoft(c);
        var b = RunUnicorn(c);
        var sb = new StringBuilder();
        if (a.Note != null) sb.AppendLine(a.Note);
        if (b.Note != null && b.Vector < 0) sb.AppendLine(b.Note);
        if (a.Vector != b.Vector) sb.AppendLine($"exception: soft {a.Vector} unicorn {b.Vector}");
        else
        {
            string[] names = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"];
            if (!c.ResultUndefined)
                for (int r = 0; r < 8; r++)
                    if (a.Regs[r] != b.Regs[r]) sb.AppendLine($"{names[r]}: soft {a.Regs[r]:x8} unicorn {b.Regs[r]:x8}");
            if (a.Vector < 0 && a.Eip != b.Eip) sb.AppendLine($"eip: soft {a.Eip:x8} unicorn {b.Eip:x8}");
            uint m = FlagMask & ~c.UndefinedFlags;
            if (a.Vector < 0 && ((a.Eflags ^ b.Eflags) & m) != 0)
                sb.AppendLine($"eflags: soft {a.Eflags & FlagMask:x4} unicorn {b.Eflags & FlagMask:x4} (compared {m:x4})");
            if (!c.ResultUndefined)
            {
                CompareBytes(sb, "data", DataBase, a.Data, b.Data);
                CompareBytes(sb, "stack", StackBase, a.Stack, b.Stack);
            }
        }
        if (sb.Length == 0) return null;
        return $"{Disassemble(c.Code)} [{string.Join(" ", c.Code.Select(x => x.ToString("x2")))}] regs {string.Join(",", c.Regs.Select(x => x.ToString("x")))} fl {c.Eflags:x}\n{sb}";
    }

    private static void CompareBytes(StringBuilder sb, string what, uint bas, byte[] a, byte[] b)
    {
        for (int k = 0; k < a.Length; k++)
            if (a[k] != b[k]) { sb.AppendLine($"{what} at {bas + k:x}: soft {a[k]:x2} unicorn {b[k]:x2}"); return; }
    }

    public static string Disassemble(byte[] code)
    {
        var dec = Iced.Intel.Decoder.Create(32, new ByteArrayCodeReader(code), CodeAt);
        dec.Decode(out var ins);
        var f = new NasmFormatter();
        var o = new StringOutput();
        f.Format(ins, o);
        return o.ToStringAndReset();
    }

    /// <summary>Instruction length per Iced, or 0 if Iced says invalid.</summary>
    public static int IcedLength(byte[] code, int bitness = 32)
    {
        var dec = Iced.Intel.Decoder.Create(bitness, new ByteArrayCodeReader(code), 0);
        dec.Decode(out var ins);
        return ins.IsInvalid ? 0 : ins.Length;
    }

    public void Dispose()
    {
        _uc.Dispose();
        _m.Dispose();
    }
}
