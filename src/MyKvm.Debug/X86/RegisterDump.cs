using System.Text;
using MyKvm.Core;
using MyKvm.Debug.Symbols;

namespace MyKvm.Debug.X86;

/// <summary>The register dump shared by the monitor's <c>info registers</c> and the fault explainer.</summary>
public static class RegisterDump
{
    public static bool Is64(VcpuState s) => (s.Efer & VcpuState.EferLMA) != 0 && s.Cs.Long;

    public static int Cpl(VcpuState s) => (s.Cr0 & VcpuState.Cr0PE) == 0 ? 0 : s.Cs.Selector & 3;

    /// <summary>"code 32-bit execute/read DPL0" etc. from a segment cache.</summary>
    public static string DescribeSegment(SegmentState seg)
    {
        if (!seg.Present) return "not present / unusable";
        var low = ((ulong)(seg.Attributes & 0xFF) << 40) | ((ulong)(seg.Attributes & 0xF000) << 40);
        var d = new SegmentDescriptor(low);
        string size = d.IsCode ? (d.L ? " 64-bit" : d.DB ? " 32-bit" : " 16-bit") : d.IsData ? (d.DB ? " 32-bit" : " 16-bit") : "";
        return $"{d.TypeName}{size} DPL{d.Dpl}";
    }

    public static string Format(VcpuState s, SymbolTable? symbols = null)
    {
        var sb = new StringBuilder();
        bool wide = Is64(s) || (s.Efer & VcpuState.EferLMA) != 0;
        ulong rip = s.Rip;
        string? where = symbols?.Describe(s.Cs.Base + rip);
        string? line = symbols?.SourceLine(s.Cs.Base + rip);
        if (wide)
        {
            sb.AppendLine($"RAX={s.Rax:x16} RBX={s.Rbx:x16} RCX={s.Rcx:x16} RDX={s.Rdx:x16}");
            sb.AppendLine($"RSI={s.Rsi:x16} RDI={s.Rdi:x16} RBP={s.Rbp:x16} RSP={s.Rsp:x16}");
            sb.AppendLine($"R8 ={s.R8:x16} R9 ={s.R9:x16} R10={s.R10:x16} R11={s.R11:x16}");
            sb.AppendLine($"R12={s.R12:x16} R13={s.R13:x16} R14={s.R14:x16} R15={s.R15:x16}");
            sb.Append($"RIP={rip:x16}");
        }
        else
        {
            sb.AppendLine($"EAX={(uint)s.Rax:x8} EBX={(uint)s.Rbx:x8} ECX={(uint)s.Rcx:x8} EDX={(uint)s.Rdx:x8}");
            sb.AppendLine($"ESI={(uint)s.Rsi:x8} EDI={(uint)s.Rdi:x8} EBP={(uint)s.Rbp:x8} ESP={(uint)s.Rsp:x8}");
            sb.Append($"EIP={(uint)rip:x8}");
        }
        if (where is not null) sb.Append($" <{where}>");
        if (line is not null) sb.Append($" at {line}");
        sb.AppendLine();
        sb.AppendLine($"EFL={s.Rflags:x8} {RegisterBits.EflagsBracketed(s.Rflags)} CPL={Cpl(s)} {ModeName(s)}");
        void Seg(string name, SegmentState seg) =>
            sb.AppendLine($"{name,-3}={seg.Selector:x4} {seg.Base:x16} {seg.Limit:x8} {seg.Attributes:x4}  {DescribeSegment(seg)}");
        Seg("ES", s.Es);
        Seg("CS", s.Cs);
        Seg("SS", s.Ss);
        Seg("DS", s.Ds);
        Seg("FS", s.Fs);
        Seg("GS", s.Gs);
        Seg("LDT", s.Ldtr);
        Seg("TR", s.Tr);
        sb.AppendLine($"GDT=     {s.GdtBase:x16} {s.GdtLimit:x8}");
        sb.AppendLine($"IDT=     {s.IdtBase:x16} {s.IdtLimit:x8}");
        sb.AppendLine($"CR0={s.Cr0:x8} [ {RegisterBits.Cr0(s.Cr0)} ]");
        sb.AppendLine($"CR2={s.Cr2:x16} CR3={s.Cr3:x16}");
        sb.AppendLine($"CR4={s.Cr4:x8} [ {RegisterBits.Cr4(s.Cr4)} ]");
        sb.AppendLine($"EFER={s.Efer:x16} [ {RegisterBits.Efer(s.Efer)} ]");
        sb.AppendLine($"DR0={s.Dr0:x16} DR1={s.Dr1:x16} DR2={s.Dr2:x16} DR3={s.Dr3:x16}");
        sb.AppendLine($"DR6={s.Dr6:x16} DR7={s.Dr7:x16}");
        return sb.ToString();
    }

    /// <summary>"real mode", "protected mode, paging off", "long mode (64-bit)", ...</summary>
    public static string ModeName(VcpuState s)
    {
        if ((s.Cr0 & VcpuState.Cr0PE) == 0) return "real mode";
        if ((s.Rflags & (1UL << 17)) != 0) return "virtual-8086 mode";
        string paging = (s.Cr0 & VcpuState.Cr0PG) == 0 ? "paging off"
            : (s.Cr4 & VcpuState.Cr4PAE) == 0 ? "32-bit paging" : (s.Efer & VcpuState.EferLMA) != 0 ? "4-level paging" : "PAE paging";
        if ((s.Efer & VcpuState.EferLMA) != 0)
            return s.Cs.Long ? $"long mode (64-bit), {paging}" : $"long mode (compatibility), {paging}";
        return $"protected mode ({(s.Cs.DefaultBig ? "32" : "16")}-bit), {paging}";
    }
}
