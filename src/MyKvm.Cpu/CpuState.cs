using System.Runtime.InteropServices;

namespace MyKvm.Cpu;

/// <summary>
/// A segment register's hidden part (Intel SDM Vol. 3A §3.4.3), with the offset ranges that reads and writes
/// may touch precomputed at load time so an access checks two compares: valid iff lo &lt;= off and
/// off+size-1 &lt;= hi. An unusable segment (null selector, execute-only code for writes) has lo &gt; hi.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal struct Seg
{
    public ulong Base;
    public ulong RdLo, RdHi;
    public ulong WrLo, WrHi;
    public uint Limit;
    public ushort Sel;
    public ushort Attr;     // SegmentState.Attributes layout: type/S/DPL/P in 0..7, AVL/L/DB/G in 12..15

    public readonly int Dpl => (Attr >> 5) & 3;
    public readonly bool Big => (Attr & 0x4000) != 0;
    public readonly bool Present => (Attr & 0x80) != 0;
}

/// <summary>The jump cache: a direct-mapped map from (linear RIP, code size, user) to a decoded block.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct JumpCacheEntry
{
    public ulong Tag;
    public Block* Block;
}

/// <summary>One TLB slot: <c>Tag</c> is the 4 KiB-aligned linear page (odd = invalid); host byte = Delta + linear.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct TlbEntry
{
    public ulong Tag;
    public long Delta;
}

/// <summary>
/// The whole architectural and bookkeeping state of the software CPU in one unmanaged block, reached through
/// a pointer by every handler (DESIGN.md "Hot-path C#"). Arithmetic flags are lazy: ALU ops store their
/// result (sign-extended to 64 bits) in <see cref="FlRes"/> and a carry vector in <see cref="FlCv"/> whose bit 63 is
/// the carry out of the operand's top bit, bit 62 the carry out of the bit below it (so OF = b63 ^ b62) and
/// bit 3 the carry out of bit 3 (AF). When <see cref="FlLazy"/> is 0 the six flags live in <see cref="Eflags"/>.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct CpuState
{
    public const int RegZero = 16;   // index of a register that is always 0: "no base" / "no index"
    public const int RegRip = 17;    // holds the next RIP while an instruction runs (RIP-relative EA in long mode)

    public fixed ulong Regs[18];
    public ulong Rip;
    public ulong InsnStart;

    public ulong FlRes, FlCv;
    public uint Eflags;
    public int FlLazy;

    public Seg Es, Cs, Ss, Ds, Fs, Gs, Ldtr, Tr;

    public ulong GdtBase, IdtBase;
    public uint GdtLimit, IdtLimit;
    public ulong Cr0, Cr2, Cr3, Cr4, Cr8, Efer;
    public fixed ulong Dr[8];
    public ulong ApicBase, TscOffset, SysenterCs, SysenterEsp, SysenterEip;
    public ulong Star, Lstar, Cstar, Fmask, KernelGsBase;

    public int Cpl;
    /// <summary>0: 16-bit code, 1: 32-bit code, 2: 64-bit code (CS.D / CS.L), plus 4 for real mode, 8 for virtual-8086.</summary>
    public int CodeMode;
    public ulong LinMask;       // 0xFFFFFFFF outside long mode
    public ulong StackMask;     // 0xFFFF or 0xFFFFFFFF from SS.B (or all ones in 64-bit mode)

    public long Retired;
    public long BudgetEnd;
    /// <summary>Internal events checked before each instruction together with CpuSignals.Flags.</summary>
    public int Events;
    /// <summary>Nonzero when Run must return: a VcpuExitReason + 1.</summary>
    public int ExitReq;

    public int FaultVec;        // -1 when no fault is pending
    public uint FaultErr;
    public int FaultHasErr;

    public TlbEntry* TlbR, TlbW, TlbX;
    public byte* Ram;
    public ulong RamLow;        // GuestRam.LowSize
    public ulong RamHigh;       // GuestRam.HighSize
    public nint Self;           // GCHandle to the SoftCpu
    public ulong* CodeMask;     // per RAM page (by host offset): which 64-byte chunks hold decoded code
    public byte* TlbInfo;       // per TLB slot: 1 = global page, 2 = part of a large page
    public TlbEntry* TlbBase;   // six arrays: supervisor R/W/X, user R/W/X
    public int LargeInTlb;      // a large page has been cached since the last full flush
    public int A20Mask;         // unused for now (A20 always on)
    public int SigMask;         // CpuSignals bits that interrupt a block: Intr only while IF=1
    public int Halted;          // 1 after HLT until an interrupt wakes the CPU
    public JumpCacheEntry* JumpCache;
    public ushort FpuCw, FpuSw, FpuTw;  // x87 control/status/tag words (the register stack is not modelled yet)   // linear RIP -> decoded block, flushed with the TLB

    // Event bits
    public const int EvShadowArm = 1;      // STI / MOV SS executed: inhibit interrupts before the next instruction
    public const int EvShadow = 2;         // inhibit interrupts for this instruction
    public const int EvSmc = 4;            // a write hit decoded code: leave the block
    public const int EvTrap = 8;           // single-step trap pending after this instruction (TF)
    public const int EvRecheck = 16;       // something changed (IF set, mode switch): look at signals again

    // EFLAGS bits
    public const uint CF = 1, PF = 4, AF = 0x10, ZF = 0x40, SF = 0x80, TF = 0x100, IF = 0x200, DF = 0x400, OF = 0x800;
    public const uint IOPL = 0x3000, NT = 0x4000, RF = 0x10000, VM = 0x20000, AC = 0x40000, VIF = 0x80000, VIP = 0x100000, ID = 0x200000;
    public const uint ArithMask = CF | PF | AF | ZF | SF | OF;
}

/// <summary>Segment register numbers as encoded in instructions (ModRM.reg of MOV Sreg, prefixes).</summary>
internal static class SegReg
{
    public const int ES = 0, CS = 1, SS = 2, DS = 3, FS = 4, GS = 5;
    public static readonly string[] Names = ["es", "cs", "ss", "ds", "fs", "gs"];
}

/// <summary>Exception vectors (SDM Vol. 3A §6.3.1).</summary>
internal static class Vec
{
    public const int DE = 0, DB = 1, NMI = 2, BP = 3, OF = 4, BR = 5, UD = 6, NM = 7, DF = 8,
        TS = 10, NP = 11, SS = 12, GP = 13, PF = 14, MF = 16, AC = 17, MC = 18, XM = 19;
}
