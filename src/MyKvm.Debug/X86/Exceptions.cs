using System.Text;

namespace MyKvm.Debug.X86;

/// <summary>The architectural exceptions (SDM Vol. 3A §6.3.1, Table 6-1) and their error codes (§6.13).</summary>
public static class Exceptions
{
    public const int DE = 0, DB = 1, NMI = 2, BP = 3, OF = 4, BR = 5, UD = 6, NM = 7, DF = 8, TS = 10, NP = 11, SS = 12, GP = 13, PF = 14, MF = 16, AC = 17, MC = 18, XM = 19, VE = 20, CP = 21;

    private static readonly (string Mnemonic, string Name)[] Table =
    [
        ("#DE", "divide error"), ("#DB", "debug"), ("NMI", "non-maskable interrupt"), ("#BP", "breakpoint"),
        ("#OF", "overflow"), ("#BR", "BOUND range exceeded"), ("#UD", "invalid opcode"), ("#NM", "device not available"),
        ("#DF", "double fault"), ("#MF(9)", "coprocessor segment overrun"), ("#TS", "invalid TSS"), ("#NP", "segment not present"),
        ("#SS", "stack-segment fault"), ("#GP", "general protection"), ("#PF", "page fault"), ("#15", "reserved"),
        ("#MF", "x87 floating-point error"), ("#AC", "alignment check"), ("#MC", "machine check"), ("#XM", "SIMD floating-point"),
        ("#VE", "virtualization exception"), ("#CP", "control protection"),
    ];

    /// <summary>"#GP", "#PF", or "int 0x80" for vectors past the exceptions.</summary>
    public static string Mnemonic(int vector) => vector < Table.Length ? Table[vector].Mnemonic : vector < 32 ? $"#{vector}" : $"int 0x{vector:x}";

    public static string Name(int vector) => vector < Table.Length ? Table[vector].Name : vector < 32 ? "reserved exception" : "interrupt";

    /// <summary>Vectors that push an error code (§6.13).</summary>
    public static bool HasErrorCode(int vector) => vector is DF or TS or NP or SS or GP or PF or AC or CP or 30;

    /// <summary>Vectors whose error code has the selector format (§6.13, Figure 6-6).</summary>
    public static bool HasSelectorErrorCode(int vector) => vector is TS or NP or SS or GP;

    /// <summary>
    /// Decodes a selector-format error code: "index 2 in the GDT (selector 0x10)", "IDT vector 14", EXT.
    /// </summary>
    public static string DecodeSelectorErrorCode(uint code)
    {
        if (code == 0) return "0 (no selector: the fault is not about a particular descriptor)";
        bool ext = (code & 1) != 0, idt = (code & 2) != 0, ti = (code & 4) != 0;
        int index = (int)((code >> 3) & 0x1FFF);
        var sb = new StringBuilder($"0x{code:x}: ");
        if (idt) sb.Append($"IDT entry {index} (vector 0x{index:x}, {Mnemonic(index)})");
        else sb.Append($"{(ti ? "LDT" : "GDT")} index {index} (selector 0x{code & 0xFFF8 | (ti ? 4u : 0u):x})");
        sb.Append(ext ? "; EXT=1: raised while delivering an external event or another exception" : "; EXT=0");
        return sb.ToString();
    }

    /// <summary>The #PF error code bits (§4.7, Figure 4-12).</summary>
    public static string DecodePageFaultErrorCode(uint code)
    {
        var parts = new List<string>
        {
            (code & 1) != 0 ? "P=1 protection violation (the page is present)" : "P=0 the page is not present",
            (code & 2) != 0 ? "W=1 write" : "W=0 read",
            (code & 4) != 0 ? "U=1 user-mode access" : "U=0 supervisor-mode access",
        };
        if ((code & 8) != 0) parts.Add("RSVD=1 a reserved bit is set in a paging entry");
        if ((code & 16) != 0) parts.Add("I=1 instruction fetch");
        if ((code & 32) != 0) parts.Add("PK=1 protection key");
        if ((code & 64) != 0) parts.Add("SS=1 shadow stack");
        if ((code & 0x8000) != 0) parts.Add("SGX=1");
        return $"0x{code:x}: " + string.Join(", ", parts);
    }

    /// <summary>Decodes any vector's error code.</summary>
    public static string DecodeErrorCode(int vector, uint code) => vector switch
    {
        PF => DecodePageFaultErrorCode(code),
        DF or AC => $"0x{code:x} (always 0 for {Mnemonic(vector)})",
        _ when HasSelectorErrorCode(vector) => DecodeSelectorErrorCode(code),
        _ => $"0x{code:x}",
    };

    /// <summary>
    /// The #DF rule of SDM Vol. 3A Table 6-5: a second exception while delivering the first becomes a double fault when
    /// both are contributory, or the first is #PF and the second contributory or #PF.
    /// </summary>
    public static bool IsContributory(int vector) => vector is DE or TS or NP or SS or GP;
}

/// <summary>Names of the bits in CR0, CR4, EFER and EFLAGS (SDM Vol. 3A §2.5, §2.2.1; Vol. 1 §3.4.3).</summary>
public static class RegisterBits
{
    private static readonly (int Bit, string Name)[] Cr0Bits =
        [(0, "PE"), (1, "MP"), (2, "EM"), (3, "TS"), (4, "ET"), (5, "NE"), (16, "WP"), (18, "AM"), (29, "NW"), (30, "CD"), (31, "PG")];
    private static readonly (int Bit, string Name)[] Cr4Bits =
        [(0, "VME"), (1, "PVI"), (2, "TSD"), (3, "DE"), (4, "PSE"), (5, "PAE"), (6, "MCE"), (7, "PGE"), (8, "PCE"), (9, "OSFXSR"),
         (10, "OSXMMEXCPT"), (11, "UMIP"), (12, "LA57"), (13, "VMXE"), (14, "SMXE"), (16, "FSGSBASE"), (17, "PCIDE"),
         (18, "OSXSAVE"), (20, "SMEP"), (21, "SMAP"), (22, "PKE"), (23, "CET"), (24, "PKS")];
    private static readonly (int Bit, string Name)[] EferBits =
        [(0, "SCE"), (8, "LME"), (10, "LMA"), (11, "NXE"), (12, "SVME"), (13, "LMSLE"), (14, "FFXSR"), (15, "TCE")];
    private static readonly (int Bit, string Name)[] FlagBits =
        [(0, "CF"), (2, "PF"), (4, "AF"), (6, "ZF"), (7, "SF"), (8, "TF"), (9, "IF"), (10, "DF"), (11, "OF"), (14, "NT"),
         (16, "RF"), (17, "VM"), (18, "AC"), (19, "VIF"), (20, "VIP"), (21, "ID")];

    private static string Names((int Bit, string Name)[] table, ulong value)
    {
        var names = table.Where(t => (value & (1UL << t.Bit)) != 0).Select(t => t.Name).ToList();
        return names.Count == 0 ? "-" : string.Join(' ', names);
    }

    public static string Cr0(ulong v) => Names(Cr0Bits, v);
    public static string Cr4(ulong v) => Names(Cr4Bits, v);
    public static string Efer(ulong v) => Names(EferBits, v);

    public static string Eflags(ulong v)
    {
        string names = Names(FlagBits, v);
        int iopl = (int)(v >> 12) & 3;
        return iopl != 0 ? $"{names} IOPL={iopl}" : names;
    }

    /// <summary>"[ CF ZF IF ]" as gdb and QEMU show flags.</summary>
    public static string EflagsBracketed(ulong v) => $"[ {Eflags(v)} ]";
}
