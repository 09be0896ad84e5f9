using System.Text;
using MyKvm.Core;

namespace MyKvm.Debug.Gdb;

/// <summary>One register in a gdb target description and its place in the <c>g</c> packet.</summary>
/// <param name="Bits">Width; the <c>g</c> packet holds it little-endian in Bits/8 bytes.</param>
/// <param name="Type">The tdesc type (int32, code_ptr, data_ptr, i386_eflags, i387_ext, ...).</param>
public sealed record GdbRegister(string Name, int Bits, string Type, string Feature, Func<VcpuState, ulong>? Get, Action<VcpuState, ulong>? Set, string? Group = null);

/// <summary>
/// The i386 and x86-64 target descriptions (gdb manual, "Target Descriptions", "i386 Features"): the core feature
/// with the general, segment and x87 registers in the order gdb's i386/amd64 architectures number them, plus a
/// mykvm feature with the system registers (CR0, CR2, CR3, CR4, EFER, GDTR/IDTR bases) that gdb shows under
/// <c>info registers system</c>. The x87 registers read as their reset values: the CPU has no FPU state yet.
/// </summary>
public sealed class TargetDescription
{
    public const string Core = "org.gnu.gdb.i386.core";
    public const string Sys = "org.mykvm.x86.system";

    public bool Is64 { get; }
    public IReadOnlyList<GdbRegister> Registers { get; }
    public int PcRegister { get; }

    private TargetDescription(bool is64, List<GdbRegister> regs)
    {
        Is64 = is64;
        Registers = regs;
        PcRegister = regs.FindIndex(r => r.Name is "eip" or "rip");
    }

    public static TargetDescription I386 { get; } = new(false, BuildI386());
    public static TargetDescription Amd64 { get; } = new(true, BuildAmd64());

    /// <summary>The description for the CPU's mode: x86-64 once EFER.LMA is set, else i386.</summary>
    public static TargetDescription For(VcpuState s) => (s.Efer & VcpuState.EferLMA) != 0 ? Amd64 : I386;

    private static GdbRegister R(string name, int bits, string type, Func<VcpuState, ulong> get, Action<VcpuState, ulong> set, string feature = Core, string? group = null) =>
        new(name, bits, type, feature, get, set, group);

    private static GdbRegister Seg(string name, Func<VcpuState, SegmentState> get, Action<VcpuState, ushort> set) =>
        new(name, 32, "int32", Core, s => get(s).Selector, (s, v) => set(s, (ushort)v));

    private static IEnumerable<GdbRegister> X87()
    {
        for (int i = 0; i < 8; i++) yield return new GdbRegister($"st{i}", 80, "i387_ext", Core, null, null);
        yield return new GdbRegister("fctrl", 32, "int", Core, _ => 0x37F, null, "float");
        yield return new GdbRegister("fstat", 32, "int", Core, _ => 0, null, "float");
        yield return new GdbRegister("ftag", 32, "int", Core, _ => 0xFFFF, null, "float");
        yield return new GdbRegister("fiseg", 32, "int", Core, _ => 0, null, "float");
        yield return new GdbRegister("fioff", 32, "int", Core, _ => 0, null, "float");
        yield return new GdbRegister("foseg", 32, "int", Core, _ => 0, null, "float");
        yield return new GdbRegister("fooff", 32, "int", Core, _ => 0, null, "float");
        yield return new GdbRegister("fop", 32, "int", Core, _ => 0, null, "float");
    }

    private static IEnumerable<GdbRegister> Segments() =>
    [
        Seg("cs", s => s.Cs, (s, v) => s.Cs.Selector = v),
        Seg("ss", s => s.Ss, (s, v) => s.Ss.Selector = v),
        Seg("ds", s => s.Ds, (s, v) => s.Ds.Selector = v),
        Seg("es", s => s.Es, (s, v) => s.Es.Selector = v),
        Seg("fs", s => s.Fs, (s, v) => s.Fs.Selector = v),
        Seg("gs", s => s.Gs, (s, v) => s.Gs.Selector = v),
    ];

    private static IEnumerable<GdbRegister> SystemRegs(int bits) =>
    [
        R("cr0", bits, "int", s => s.Cr0, (s, v) => s.Cr0 = v, Sys, "system"),
        R("cr2", bits, "int", s => s.Cr2, (s, v) => s.Cr2 = v, Sys, "system"),
        R("cr3", bits, "int", s => s.Cr3, (s, v) => s.Cr3 = v, Sys, "system"),
        R("cr4", bits, "int", s => s.Cr4, (s, v) => s.Cr4 = v, Sys, "system"),
        R("efer", 64, "int", s => s.Efer, (s, v) => s.Efer = v, Sys, "system"),
        R("gdtr_base", bits, "data_ptr", s => s.GdtBase, (s, v) => s.GdtBase = v, Sys, "system"),
        R("gdtr_limit", 32, "int", s => s.GdtLimit, (s, v) => s.GdtLimit = (ushort)v, Sys, "system"),
        R("idtr_base", bits, "data_ptr", s => s.IdtBase, (s, v) => s.IdtBase = v, Sys, "system"),
        R("idtr_limit", 32, "int", s => s.IdtLimit, (s, v) => s.IdtLimit = (ushort)v, Sys, "system"),
        R("tr", 32, "int", s => s.Tr.Selector, (s, v) => s.Tr.Selector = (ushort)v, Sys, "system"),
        R("ldtr", 32, "int", s => s.Ldtr.Selector, (s, v) => s.Ldtr.Selector = (ushort)v, Sys, "system"),
    ];

    private static List<GdbRegister> BuildI386()
    {
        static void Lo(ref ulong reg, ulong v) => reg = (reg & ~0xFFFF_FFFFUL) | (v & 0xFFFF_FFFF);
        var regs = new List<GdbRegister>
        {
            R("eax", 32, "int32", s => s.Rax, (s, v) => Lo(ref s.Rax, v)),
            R("ecx", 32, "int32", s => s.Rcx, (s, v) => Lo(ref s.Rcx, v)),
            R("edx", 32, "int32", s => s.Rdx, (s, v) => Lo(ref s.Rdx, v)),
            R("ebx", 32, "int32", s => s.Rbx, (s, v) => Lo(ref s.Rbx, v)),
            R("esp", 32, "data_ptr", s => s.Rsp, (s, v) => Lo(ref s.Rsp, v)),
            R("ebp", 32, "data_ptr", s => s.Rbp, (s, v) => Lo(ref s.Rbp, v)),
            R("esi", 32, "int32", s => s.Rsi, (s, v) => Lo(ref s.Rsi, v)),
            R("edi", 32, "int32", s => s.Rdi, (s, v) => Lo(ref s.Rdi, v)),
            R("eip", 32, "code_ptr", s => s.Rip, (s, v) => Lo(ref s.Rip, v)),
            R("eflags", 32, "i386_eflags", s => s.Rflags, (s, v) => s.Rflags = (v & 0xFFFF_FFFF) | 2),
        };
        regs.AddRange(Segments());
        regs.AddRange(X87());
        regs.AddRange(SystemRegs(32));
        return regs;
    }

    private static List<GdbRegister> BuildAmd64()
    {
        var regs = new List<GdbRegister>
        {
            R("rax", 64, "int64", s => s.Rax, (s, v) => s.Rax = v),
            R("rbx", 64, "int64", s => s.Rbx, (s, v) => s.Rbx = v),
            R("rcx", 64, "int64", s => s.Rcx, (s, v) => s.Rcx = v),
            R("rdx", 64, "int64", s => s.Rdx, (s, v) => s.Rdx = v),
            R("rsi", 64, "int64", s => s.Rsi, (s, v) => s.Rsi = v),
            R("rdi", 64, "int64", s => s.Rdi, (s, v) => s.Rdi = v),
            R("rbp", 64, "data_ptr", s => s.Rbp, (s, v) => s.Rbp = v),
            R("rsp", 64, "data_ptr", s => s.Rsp, (s, v) => s.Rsp = v),
            R("r8", 64, "int64", s => s.R8, (s, v) => s.R8 = v),
            R("r9", 64, "int64", s => s.R9, (s, v) => s.R9 = v),
            R("r10", 64, "int64", s => s.R10, (s, v) => s.R10 = v),
            R("r11", 64, "int64", s => s.R11, (s, v) => s.R11 = v),
            R("r12", 64, "int64", s => s.R12, (s, v) => s.R12 = v),
            R("r13", 64, "int64", s => s.R13, (s, v) => s.R13 = v),
            R("r14", 64, "int64", s => s.R14, (s, v) => s.R14 = v),
            R("r15", 64, "int64", s => s.R15, (s, v) => s.R15 = v),
            R("rip", 64, "code_ptr", s => s.Rip, (s, v) => s.Rip = v),
            R("eflags", 32, "i386_eflags", s => s.Rflags, (s, v) => s.Rflags = (v & 0xFFFF_FFFF) | 2),
        };
        regs.AddRange(Segments());
        regs.AddRange(X87());
        regs.Add(R("fs_base", 64, "int", s => s.Fs.Base, (s, v) => s.Fs.Base = v, "org.gnu.gdb.i386.segments"));
        regs.Add(R("gs_base", 64, "int", s => s.Gs.Base, (s, v) => s.Gs.Base = v, "org.gnu.gdb.i386.segments"));
        regs.AddRange(SystemRegs(64));
        return regs;
    }

    /// <summary>The whole register file as the <c>g</c> packet's hex.</summary>
    public string EncodeAll(VcpuState s)
    {
        var sb = new StringBuilder();
        foreach (var r in Registers) EncodeOne(sb, r, s);
        return sb.ToString();
    }

    public string EncodeOne(int index, VcpuState s)
    {
        var sb = new StringBuilder();
        EncodeOne(sb, Registers[index], s);
        return sb.ToString();
    }

    private static void EncodeOne(StringBuilder sb, GdbRegister r, VcpuState s)
    {
        int bytes = r.Bits / 8;
        ulong v = r.Get?.Invoke(s) ?? 0;
        for (int i = 0; i < bytes; i++)
            sb.Append(i < 8 ? ((byte)(v >> (8 * i))).ToString("x2") : "00");
    }

    /// <summary>Applies a <c>G</c> packet's hex to <paramref name="s"/>. Returns false when it is malformed.</summary>
    public bool DecodeAll(string hex, VcpuState s)
    {
        int pos = 0;
        foreach (var r in Registers)
        {
            int chars = r.Bits / 4;
            if (pos + chars > hex.Length) return pos == hex.Length; // gdb may send fewer (only what it knows)
            if (!TryDecode(hex.AsSpan(pos, chars), out ulong v)) return false;
            if (!hex.AsSpan(pos, chars).Contains('x')) r.Set?.Invoke(s, v);
            pos += chars;
        }
        return true;
    }

    public bool DecodeOne(int index, string hex, VcpuState s)
    {
        if (index < 0 || index >= Registers.Count) return false;
        var r = Registers[index];
        if (hex.Length != r.Bits / 4 || !TryDecode(hex, out ulong v)) return false;
        r.Set?.Invoke(s, v);
        return true;
    }

    private static bool TryDecode(ReadOnlySpan<char> hex, out ulong value)
    {
        value = 0;
        for (int i = 0; i + 1 < hex.Length && i < 16; i += 2)
        {
            if (hex[i] == 'x') continue;
            if (!byte.TryParse(hex.Slice(i, 2), System.Globalization.NumberStyles.HexNumber, null, out byte b)) return false;
            value |= (ulong)b << (4 * i);
        }
        return true;
    }

    /// <summary>The XML gdb reads with <c>qXfer:features:read:target.xml</c>.</summary>
    public string ToXml()
    {
        var sb = new StringBuilder();
        sb.Append("<?xml version=\"1.0\"?>\n<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n<target version=\"1.0\">\n");
        sb.Append($"  <architecture>{(Is64 ? "i386:x86-64" : "i386")}</architecture>\n");
        string? feature = null;
        int regnum = 0;
        foreach (var r in Registers)
        {
            if (r.Feature != feature)
            {
                if (feature is not null) sb.Append("  </feature>\n");
                feature = r.Feature;
                sb.Append($"  <feature name=\"{feature}\">\n");
                if (feature == Core) sb.Append(EflagsFlags());
            }
            string group = r.Group is { } g ? $" group=\"{g}\"" : "";
            sb.Append($"    <reg name=\"{r.Name}\" bitsize=\"{r.Bits}\" type=\"{r.Type}\" regnum=\"{regnum}\"{group}/>\n");
            regnum++;
        }
        if (feature is not null) sb.Append("  </feature>\n");
        sb.Append("</target>\n");
        return sb.ToString();
    }

    private static string EflagsFlags()
    {
        // The flags type gdb prints as [ IF ZF ] (as in gdb's own 32bit-core.xml, written out here).
        (int Bit, string Name)[] bits =
        [
            (0, "CF"), (1, ""), (2, "PF"), (4, "AF"), (6, "ZF"), (7, "SF"), (8, "TF"), (9, "IF"), (10, "DF"), (11, "OF"),
            (14, "NT"), (16, "RF"), (17, "VM"), (18, "AC"), (19, "VIF"), (20, "VIP"), (21, "ID"),
        ];
        var sb = new StringBuilder("    <flags id=\"i386_eflags\" size=\"4\">\n");
        foreach (var (bit, name) in bits)
            sb.Append($"      <field name=\"{name}\" start=\"{bit}\" end=\"{bit}\"/>\n");
        sb.Append("    </flags>\n");
        return sb.ToString();
    }
}
