using System.Text;

namespace MyKvm.Cpu;

/// <summary>CPUID and model-specific registers: what this CPU claims to be (only what is implemented).</summary>
public sealed unsafe partial class SoftCpu
{
    private const uint MaxBasicLeaf = 1, MaxExtLeaf = 0x8000_0008;
    private static readonly byte[] Brand = Encoding.ASCII.GetBytes("mykvm software x86 CPU".PadRight(47, '\0') + "\0");

    /// <summary>
    /// CPUID (SDM Vol. 2 CPUID). Family 6 "GenuineIntel" with the integer features implemented here:
    /// DE, PSE, TSC, MSR, PAE, CX8, APIC (if the machine has one), SEP, PGE, CMOV, PSE-36, and NX.
    /// No FPU, MMX or SSE: x87/SSE arrive with the long-mode work.
    /// </summary>
    internal void Cpuid(uint leaf, uint sub, out uint a, out uint b, out uint c, out uint d)
    {
        a = b = c = d = 0;
        if (leaf >= 0x8000_0000 ? leaf > MaxExtLeaf : leaf > MaxBasicLeaf) leaf = MaxBasicLeaf;   // Intel: out-of-range leaves return the highest basic leaf
        switch (leaf)
        {
            case 0:
                a = MaxBasicLeaf;
                b = 0x756E_6547; d = 0x4965_6E69; c = 0x6C65_746E;      // "GenuineIntel"
                break;
            case 1:
                a = (6 << 8) | (0xF << 4) | 1;                            // family 6, model 15, stepping 1
                b = ((uint)_opt.ApicId << 24) | (1 << 16);
                d = (1u << 2) | (1u << 3) | (1u << 4) | (1u << 5) | (1u << 6) | (1u << 8) | (1u << 11) | (1u << 13) | (1u << 15) | (1u << 17);
                if (_opt.HasApic) d |= 1u << 9;
                break;
            case 0x8000_0000:
                a = MaxExtLeaf;
                break;
            case 0x8000_0001:
                d = 1u << 20;                                               // NX
                break;
            case 0x8000_0002: case 0x8000_0003: case 0x8000_0004:
            {
                int o = (int)(leaf - 0x8000_0002) * 16;
                a = BitConverter.ToUInt32(Brand, o); b = BitConverter.ToUInt32(Brand, o + 4);
                c = BitConverter.ToUInt32(Brand, o + 8); d = BitConverter.ToUInt32(Brand, o + 12);
                break;
            }
            case 0x8000_0008:
                a = (uint)X86.PhysAddrBits | (32 << 8);
                break;
        }
        _ = sub;
    }

    public const uint MsrTsc = 0x10, MsrApicBase = 0x1B, MsrBiosSignId = 0x8B, MsrSysenterCs = 0x174,
        MsrSysenterEsp = 0x175, MsrSysenterEip = 0x176, MsrEfer = 0xC000_0080;

    internal bool ReadMsr(uint msr, out ulong v)
    {
        CpuState* s = _s;
        v = 0;
        switch (msr)
        {
            case MsrTsc: v = ReadTsc(); return true;
            case MsrApicBase: if (!_opt.HasApic) return false; v = s->ApicBase; return true;
            case MsrBiosSignId: return true;
            case MsrSysenterCs: v = s->SysenterCs; return true;
            case MsrSysenterEsp: v = s->SysenterEsp; return true;
            case MsrSysenterEip: v = s->SysenterEip; return true;
            case MsrEfer: v = s->Efer; return true;
        }
        return false;
    }

    internal bool WriteMsr(uint msr, ulong v)
    {
        CpuState* s = _s;
        switch (msr)
        {
            case MsrTsc: s->TscOffset = 0; s->TscOffset = v - ReadTsc(); return true;
            case MsrApicBase:
                if (!_opt.HasApic || (v & ~0xF_FFFF_F900UL) != 0) return false;
                s->ApicBase = v;
                return true;
            case MsrBiosSignId: return true;
            case MsrSysenterCs: s->SysenterCs = v & 0xFFFF; return true;
            case MsrSysenterEsp: s->SysenterEsp = v; return true;
            case MsrSysenterEip: s->SysenterEip = v; return true;
            case MsrEfer:
                // Only NXE is implemented (no SYSCALL, no long mode yet): other bits are reserved (#GP).
                if ((v & ~(1UL << 11)) != 0) return false;
                s->Efer = v;
                X86.FlushTlb(s, false);
                return true;
        }
        return false;
    }
}
