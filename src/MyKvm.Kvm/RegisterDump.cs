using System.Text;
using MyKvm.Core;

namespace MyKvm.Kvm;

/// <summary>A register dump for error reports (triple fault, failed VM entry, MMIO outside every device).</summary>
public static class RegisterDump
{
    public static string Format(VcpuState s)
    {
        var sb = new StringBuilder();
        bool wide = (s.Efer & VcpuState.EferLMA) != 0 || s.Rax > uint.MaxValue || s.Rip > uint.MaxValue || s.Rsp > uint.MaxValue;
        if (wide)
        {
            sb.AppendLine($"  RAX={s.Rax:x16} RBX={s.Rbx:x16} RCX={s.Rcx:x16} RDX={s.Rdx:x16}");
            sb.AppendLine($"  RSI={s.Rsi:x16} RDI={s.Rdi:x16} RBP={s.Rbp:x16} RSP={s.Rsp:x16}");
            sb.AppendLine($"  R8 ={s.R8:x16} R9 ={s.R9:x16} R10={s.R10:x16} R11={s.R11:x16}");
            sb.AppendLine($"  R12={s.R12:x16} R13={s.R13:x16} R14={s.R14:x16} R15={s.R15:x16}");
            sb.AppendLine($"  RIP={s.Rip:x16} RFL={s.Rflags:x8} [{Flags(s.Rflags)}]");
        }
        else
        {
            sb.AppendLine($"  EAX={s.Rax:x8} EBX={s.Rbx:x8} ECX={s.Rcx:x8} EDX={s.Rdx:x8} ESI={s.Rsi:x8} EDI={s.Rdi:x8} EBP={s.Rbp:x8} ESP={s.Rsp:x8}");
            sb.AppendLine($"  EIP={s.Rip:x8} EFL={s.Rflags:x8} [{Flags(s.Rflags)}]");
        }
        sb.AppendLine($"  CS={s.Cs}  SS={s.Ss}");
        sb.AppendLine($"  DS={s.Ds}  ES={s.Es}");
        sb.AppendLine($"  FS={s.Fs}  GS={s.Gs}");
        sb.AppendLine($"  TR={s.Tr}  LDT={s.Ldtr}");
        sb.AppendLine($"  GDT={s.GdtBase:x}/{s.GdtLimit:x} IDT={s.IdtBase:x}/{s.IdtLimit:x}");
        sb.Append($"  CR0={s.Cr0:x8} CR2={s.Cr2:x} CR3={s.Cr3:x} CR4={s.Cr4:x8} EFER={s.Efer:x}");
        return sb.ToString();
    }

    private static string Flags(ulong f)
    {
        var sb = new StringBuilder();
        void Bit(int bit, char c) => sb.Append((f & (1UL << bit)) != 0 ? c : '-');
        Bit(11, 'O'); Bit(10, 'D'); Bit(9, 'I'); Bit(8, 'T'); Bit(7, 'S'); Bit(6, 'Z'); Bit(4, 'A'); Bit(2, 'P'); Bit(0, 'C');
        return sb.ToString();
    }
}
