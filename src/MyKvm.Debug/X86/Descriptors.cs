using MyKvm.Core;
using MyKvm.Debug.Memory;

namespace MyKvm.Debug.X86;

/// <summary>
/// A GDT/LDT entry: a code or data segment, or a system descriptor (LDT, TSS, gates), SDM Vol. 3A §3.4.5 and
/// §3.5 (Table 3-2). In long mode, LDT and TSS descriptors take 16 bytes (<see cref="High"/> is the second quadword).
/// </summary>
public readonly record struct SegmentDescriptor(ulong Low, ulong High = 0, bool LongMode = false)
{
    public int Type => (int)(Low >> 40) & 0xF;
    /// <summary>S=1: code or data; S=0: a system descriptor.</summary>
    public bool CodeOrData => (Low & (1UL << 44)) != 0;
    public int Dpl => (int)(Low >> 45) & 3;
    public bool Present => (Low & (1UL << 47)) != 0;
    public bool Avl => (Low & (1UL << 52)) != 0;
    public bool L => (Low & (1UL << 53)) != 0;
    public bool DB => (Low & (1UL << 54)) != 0;
    public bool Granularity => (Low & (1UL << 55)) != 0;
    public bool IsCode => CodeOrData && (Type & 8) != 0;
    public bool IsData => CodeOrData && (Type & 8) == 0;
    public bool IsSystem => !CodeOrData;
    /// <summary>A 16-byte system descriptor in long mode (LDT, TSS, call gate).</summary>
    public bool IsWide => LongMode && IsSystem && Type is 2 or 9 or 0xB or 0xC;

    public ulong Base
    {
        get
        {
            ulong b = ((Low >> 16) & 0xFF_FFFF) | ((Low >> 32) & 0xFF00_0000);
            if (IsWide) b |= (High & 0xFFFF_FFFF) << 32;
            return b;
        }
    }

    /// <summary>The limit in bytes (scaled by G).</summary>
    public uint Limit
    {
        get
        {
            uint raw = (uint)(Low & 0xFFFF) | (uint)((Low >> 32) & 0xF_0000);
            return Granularity ? (raw << 12) | 0xFFF : raw;
        }
    }

    /// <summary>The descriptor cache attributes as <see cref="SegmentState.Attributes"/> packs them.</summary>
    public ushort Attributes => (ushort)(((Low >> 40) & 0xFF) | ((Low >> 40) & 0xF000));

    public string TypeName
    {
        get
        {
            if (IsCode)
                return "code " + ((Type & 2) != 0 ? "execute/read" : "execute-only") + ((Type & 4) != 0 ? " conforming" : "") + ((Type & 1) != 0 ? " accessed" : "");
            if (IsData)
                return "data " + ((Type & 2) != 0 ? "read/write" : "read-only") + ((Type & 4) != 0 ? " expand-down" : "") + ((Type & 1) != 0 ? " accessed" : "");
            return SystemTypeName(Type, LongMode);
        }
    }

    public static string SystemTypeName(int type, bool longMode) => longMode
        ? type switch
        {
            2 => "LDT",
            9 => "64-bit TSS (available)",
            0xB => "64-bit TSS (busy)",
            0xC => "64-bit call gate",
            0xE => "64-bit interrupt gate",
            0xF => "64-bit trap gate",
            _ => $"reserved system type {type}",
        }
        : type switch
        {
            1 => "16-bit TSS (available)",
            2 => "LDT",
            3 => "16-bit TSS (busy)",
            4 => "16-bit call gate",
            5 => "task gate",
            6 => "16-bit interrupt gate",
            7 => "16-bit trap gate",
            9 => "32-bit TSS (available)",
            0xB => "32-bit TSS (busy)",
            0xC => "32-bit call gate",
            0xE => "32-bit interrupt gate",
            0xF => "32-bit trap gate",
            _ => $"reserved system type {type}",
        };

    public override string ToString()
    {
        if (!IsSystem || IsWide || Type is 1 or 3 or 9 or 0xB or 2)
        {
            string size = IsCode ? (L ? " 64-bit" : DB ? " 32-bit" : " 16-bit") : IsData ? (DB ? " 32-bit" : " 16-bit") : "";
            return $"{TypeName}{size}, base 0x{Base:x}, limit 0x{Limit:x}, DPL {Dpl}, {(Present ? "present" : "NOT PRESENT")}";
        }
        return new GateDescriptor(Low, High, LongMode).ToString();
    }
}

/// <summary>An IDT gate or a call gate (SDM Vol. 3A §6.11, Figure 6-2; §6.14.1 for 64-bit gates).</summary>
public readonly record struct GateDescriptor(ulong Low, ulong High = 0, bool LongMode = false)
{
    public int Type => (int)(Low >> 40) & 0xF;
    public bool SystemBit => (Low & (1UL << 44)) != 0;
    public int Dpl => (int)(Low >> 45) & 3;
    public bool Present => (Low & (1UL << 47)) != 0;
    public ushort Selector => (ushort)(Low >> 16);
    public int Ist => LongMode ? (int)(Low >> 32) & 7 : 0;

    public ulong Offset
    {
        get
        {
            ulong o = (Low & 0xFFFF) | ((Low >> 32) & 0xFFFF_0000);
            if (LongMode) o |= (High & 0xFFFF_FFFF) << 32;
            else if (Type is 6 or 7 or 4) o &= 0xFFFF;
            return o;
        }
    }

    public string TypeName => SegmentDescriptor.SystemTypeName(Type, LongMode);

    /// <summary>Whether the type is one the IDT may hold (task/interrupt/trap gates; SDM Vol. 3A §6.11).</summary>
    public bool ValidIdtType => !SystemBit && (LongMode ? Type is 0xE or 0xF : Type is 5 or 6 or 7 or 0xE or 0xF);

    public override string ToString()
    {
        if (!Present && Low == 0 && High == 0) return "empty (all zero)";
        if (SystemBit) return $"not a gate (S=1: a code/data descriptor), raw 0x{Low:x16}";
        string target = Type == 5 ? $"TSS selector 0x{Selector:x}" : $"{Selector:x4}:{Offset:x}";
        string ist = Ist != 0 ? $", IST {Ist}" : "";
        return $"{TypeName} -> {target}, DPL {Dpl}{ist}, {(Present ? "present" : "NOT PRESENT")}";
    }
}

/// <summary>Reads GDT/LDT/IDT entries through linear memory, as the CPU would (GDTR/IDTR bases are linear).</summary>
public static class DescriptorTables
{
    public static bool IsLongMode(VcpuState s) => (s.Efer & VcpuState.EferLMA) != 0;

    /// <summary>Reads the descriptor a selector names in the GDT or the current LDT. Fails past the limit or unmapped.</summary>
    public static bool TryReadSegment(LinearMemory mem, VcpuState s, ushort selector, out SegmentDescriptor descriptor, out string? problem)
    {
        descriptor = default;
        bool ldt = (selector & 4) != 0;
        int index = selector >> 3;
        ulong tableBase = ldt ? s.Ldtr.Base : s.GdtBase;
        ulong limit = ldt ? s.Ldtr.Limit : s.GdtLimit;
        string table = ldt ? "LDT" : "GDT";
        if (ldt && (s.Ldtr.Selector & ~3) == 0)
        {
            problem = $"selector 0x{selector:x} refers to the LDT, but no LDT is loaded";
            return false;
        }
        ulong offset = (ulong)index * 8;
        if (offset + 7 > limit)
        {
            problem = $"index {index} is past the {table} limit 0x{limit:x} ({(limit + 1) / 8} entries)";
            return false;
        }
        if (!mem.TryRead64(tableBase + offset, out ulong low))
        {
            problem = $"{table} entry {index} at 0x{tableBase + offset:x} is not mapped";
            return false;
        }
        bool lm = IsLongMode(s);
        ulong high = 0;
        var d = new SegmentDescriptor(low, 0, lm);
        if (d.IsWide && offset + 15 <= limit) mem.TryRead64(tableBase + offset + 8, out high);
        descriptor = new SegmentDescriptor(low, high, lm);
        problem = null;
        return true;
    }

    public static bool TryReadGate(LinearMemory mem, VcpuState s, int vector, out GateDescriptor gate, out string? problem)
    {
        gate = default;
        bool lm = IsLongMode(s);
        int size = lm ? 16 : 8;
        ulong offset = (ulong)(vector * size);
        if (offset + (ulong)size - 1 > s.IdtLimit)
        {
            problem = $"vector {vector} is past the IDT limit 0x{s.IdtLimit:x} ({(s.IdtLimit + 1) / size} gates)";
            return false;
        }
        if (!mem.TryRead64(s.IdtBase + offset, out ulong low) || (lm && !mem.TryRead64(s.IdtBase + offset + 8, out _)))
        {
            problem = $"IDT entry {vector} at 0x{s.IdtBase + offset:x} is not mapped";
            return false;
        }
        ulong high = 0;
        if (lm) mem.TryRead64(s.IdtBase + offset + 8, out high);
        gate = new GateDescriptor(low, high, lm);
        problem = null;
        return true;
    }

    /// <summary>
    /// What is wrong with a gate as the CPU would find it while delivering <paramref name="vector"/> (SDM Vol. 3A
    /// §6.12.1.1 and the #GP/#NP conditions of §6.15), or null if it looks deliverable.
    /// </summary>
    public static string? DiagnoseGate(LinearMemory mem, VcpuState s, int vector, GateDescriptor gate)
    {
        if (!gate.ValidIdtType)
            return gate.Low == 0 && gate.High == 0
                ? $"IDT entry {vector} is empty (all zero): not a gate, so delivery raises #GP"
                : $"IDT entry {vector} has type {gate.Type} ({gate.TypeName}{(gate.SystemBit ? ", S=1" : "")}), which is not a valid gate type, so delivery raises #GP";
        if (!gate.Present)
            return $"IDT entry {vector} is not present (P=0), so delivery raises #NP";
        if (gate.Type == 5) return null;
        ushort sel = gate.Selector;
        if ((sel & ~3) == 0)
            return $"the gate's code selector is null (0x{sel:x}): #GP(0)";
        if (!TryReadSegment(mem, s, sel, out var cs, out var problem))
            return $"the gate's code selector 0x{sel:x}: {problem}: #GP(0x{sel & 0xFFFC:x})";
        if (!cs.IsCode)
            return $"the gate's code selector 0x{sel:x} names {(cs.IsData ? "a data segment" : "a system descriptor")} ({cs.TypeName}), not a code segment: #GP(0x{sel & 0xFFFC:x})";
        if (!cs.Present)
            return $"the gate's code segment 0x{sel:x} is not present: #NP(0x{sel & 0xFFFC:x})";
        if (IsLongMode(s) && !(cs.L && !cs.DB))
            return $"the gate's code segment 0x{sel:x} is not a 64-bit code segment (L=0) in long mode: #GP(0x{sel & 0xFFFC:x})";
        return null;
    }
}
