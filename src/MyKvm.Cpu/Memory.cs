using System.Runtime.CompilerServices;

namespace MyKvm.Cpu;

/// <summary>
/// Segmentation checks, the TLB and the page walk (SDM Vol. 3A chapter 4), and guest memory accesses.
/// The hit path is inlined; misses, page crossings, MMIO and writes to pages holding decoded code go
/// through the NoInlining slow paths.
/// </summary>
internal static unsafe partial class X86
{
    public const int TlbBits = 10, TlbSize = 1 << TlbBits;
    public const ulong TlbIdxMask = TlbSize - 1;
    public const ulong TlbInvalid = 1;
    public const int AccWrite = 1, AccUser = 2, AccFetch = 4;

    // ---- faults ---------------------------------------------------------------------------------

    /// <summary>Records a pending exception; handlers return the result (1) so the run loop delivers it.</summary>
    public static int Fault(CpuState* s, int vector)
    {
        s->FaultVec = vector;
        s->FaultErr = 0;
        s->FaultHasErr = HasErrorCode(vector) ? 1 : 0;
        return 1;
    }

    public static int Fault(CpuState* s, int vector, uint error)
    {
        s->FaultVec = vector;
        s->FaultErr = error;
        s->FaultHasErr = 1;
        return 1;
    }

    public static bool HasErrorCode(int v) => v is Vec.DF or Vec.TS or Vec.NP or Vec.SS or Vec.GP or Vec.PF or Vec.AC;

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static bool SegFault(CpuState* s, int seg)
    {
        Fault(s, seg == SegReg.SS ? Vec.SS : Vec.GP, 0);
        return false;
    }

    // ---- segmented accesses (fast paths) --------------------------------------------------------

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Rd<T>(CpuState* s, int seg, ulong off, out ulong v) where T : ISz
    {
        Seg* sg = &s->Es + seg;
        if (off < sg->RdLo || off + (ulong)(T.Bytes - 1) > sg->RdHi) { v = 0; return SegFault(s, seg); }
        ulong lin = (sg->Base + off) & s->LinMask;
        TlbEntry* e = s->TlbR + ((lin >> 12) & TlbIdxMask);
        if (e->Tag == ((lin + (ulong)(T.Bytes - 1)) & ~0xFFFUL))
        {
            v = T.Load((void*)(e->Delta + (long)lin));
            return true;
        }
        return ReadSlow<T>(s, lin, s->Cpl == 3 ? AccUser : 0, out v);
    }

    /// <summary>The read half of a read-modify-write: checks write permission so the write cannot fault.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool RdW<T>(CpuState* s, int seg, ulong off, out ulong v) where T : ISz
    {
        Seg* sg = &s->Es + seg;
        if (off < sg->WrLo || off + (ulong)(T.Bytes - 1) > sg->WrHi) { v = 0; return SegFault(s, seg); }
        ulong lin = (sg->Base + off) & s->LinMask;
        TlbEntry* e = s->TlbW + ((lin >> 12) & TlbIdxMask);
        if (e->Tag == ((lin + (ulong)(T.Bytes - 1)) & ~0xFFFUL))
        {
            v = T.Load((void*)(e->Delta + (long)lin));
            return true;
        }
        return ReadSlow<T>(s, lin, (s->Cpl == 3 ? AccUser : 0) | AccWrite, out v);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Wr<T>(CpuState* s, int seg, ulong off, ulong v) where T : ISz
    {
        Seg* sg = &s->Es + seg;
        if (off < sg->WrLo || off + (ulong)(T.Bytes - 1) > sg->WrHi) return SegFault(s, seg);
        ulong lin = (sg->Base + off) & s->LinMask;
        TlbEntry* e = s->TlbW + ((lin >> 12) & TlbIdxMask);
        if (e->Tag == ((lin + (ulong)(T.Bytes - 1)) & ~0xFFFUL))
        {
            T.Store((void*)(e->Delta + (long)lin), v);
            return true;
        }
        return WriteSlow<T>(s, lin, s->Cpl == 3 ? AccUser : 0, v);
    }

    /// <summary>Checks that a write of <paramref name="size"/> bytes at seg:off would succeed (segment and page).</summary>
    public static bool ProbeWrite(CpuState* s, int seg, ulong off, int size)
    {
        Seg* sg = &s->Es + seg;
        if (off < sg->WrLo || off + (ulong)(size - 1) > sg->WrHi) return SegFault(s, seg);
        ulong lin = (sg->Base + off) & s->LinMask;
        int acc = (s->Cpl == 3 ? AccUser : 0) | AccWrite;
        if (!Translate(s, lin, acc, out _)) return false;
        ulong last = (lin + (ulong)(size - 1)) & s->LinMask;
        if ((last & ~0xFFFUL) != (lin & ~0xFFFUL) && !Translate(s, last & ~0xFFFUL, acc, out _)) return false;
        return true;
    }

    public static bool ProbeRead(CpuState* s, int seg, ulong off, int size)
    {
        Seg* sg = &s->Es + seg;
        if (off < sg->RdLo || off + (ulong)(size - 1) > sg->RdHi) return SegFault(s, seg);
        ulong lin = (sg->Base + off) & s->LinMask;
        int acc = s->Cpl == 3 ? AccUser : 0;
        if (!Translate(s, lin, acc, out _)) return false;
        ulong last = (lin + (ulong)(size - 1)) & s->LinMask;
        if ((last & ~0xFFFUL) != (lin & ~0xFFFUL) && !Translate(s, last & ~0xFFFUL, acc, out _)) return false;
        return true;
    }

    // ---- linear accesses (slow paths) ------------------------------------------------------------

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public static bool ReadSlow<T>(CpuState* s, ulong lin, int acc, out ulong v) where T : ISz
    {
        v = 0;
        ulong last = (lin + (ulong)(T.Bytes - 1)) & s->LinMask;
        if (!Translate(s, lin, acc, out ulong p0)) return false;
        if ((last & ~0xFFFUL) == (lin & ~0xFFFUL))
        {
            v = PhysRead(s, p0, T.Bytes);
            return true;
        }
        if (!Translate(s, last & ~0xFFFUL, acc, out ulong p1)) return false;   // CR2 = first byte on the next page
        int n0 = 0x1000 - (int)(lin & 0xFFF);
        ulong lo = PhysRead(s, p0, n0 >= 8 ? 8 : n0, exact: true);
        ulong hi = PhysRead(s, p1 & ~0xFFFUL, T.Bytes - n0, exact: true);
        v = (lo | (hi << (n0 * 8))) & T.Mask;
        return true;
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public static bool WriteSlow<T>(CpuState* s, ulong lin, int acc, ulong v) where T : ISz
    {
        acc |= AccWrite;
        ulong last = (lin + (ulong)(T.Bytes - 1)) & s->LinMask;
        if (!Translate(s, lin, acc, out ulong p0)) return false;
        if ((last & ~0xFFFUL) == (lin & ~0xFFFUL))
        {
            PhysWrite(s, p0, T.Bytes, v);
            return true;
        }
        if (!Translate(s, last & ~0xFFFUL, acc, out ulong p1)) return false;   // CR2 = first byte on the next page
        int n0 = 0x1000 - (int)(lin & 0xFFF);
        PhysWrite(s, p0, n0, v, exact: true);
        PhysWrite(s, p1 & ~0xFFFUL, T.Bytes - n0, v >> (n0 * 8), exact: true);
        return true;
    }

    /// <summary>An implicit supervisor-mode read (descriptor tables, TSS, IDT): SDM Vol. 3A §4.6.1.</summary>
    public static bool SysRead<T>(CpuState* s, ulong lin, out ulong v) where T : ISz => ReadSlow<T>(s, lin & s->LinMask, 0, out v);
    public static bool SysWrite<T>(CpuState* s, ulong lin, ulong v) where T : ISz => WriteSlow<T>(s, lin & s->LinMask, 0, v);

    // ---- physical memory -------------------------------------------------------------------------

    /// <summary>Host-mapping offset of a guest-physical address, or -1 when it is not RAM (MMIO).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long HostOffset(CpuState* s, ulong phys)
    {
        if (phys < s->RamLow) return (long)phys;
        if (phys >= 0x1_0000_0000UL && phys - 0x1_0000_0000UL < s->RamHigh) return (long)(s->RamLow + phys - 0x1_0000_0000UL);
        return -1;
    }

    /// <summary>Reads 1..8 bytes that stay within one page. <paramref name="exact"/>: size need not be 1/2/4/8.</summary>
    public static ulong PhysRead(CpuState* s, ulong phys, int size, bool exact = false)
    {
        long off = HostOffset(s, phys);
        if (off >= 0)
        {
            byte* p = s->Ram + off;
            switch (size)
            {
                case 1: return *p;
                case 2: return Unsafe.ReadUnaligned<ushort>(p);
                case 4: return Unsafe.ReadUnaligned<uint>(p);
                case 8: return Unsafe.ReadUnaligned<ulong>(p);
            }
            ulong r = 0;
            for (int i = 0; i < size; i++) r |= (ulong)p[i] << (8 * i);
            return r;
        }
        var cpu = SoftCpu.Of(s);
        if (!exact || size is 1 or 2 or 4 or 8) return cpu.MmioRead(phys, size);
        ulong v = 0;
        for (int i = 0; i < size; i++) v |= cpu.MmioRead(phys + (ulong)i, 1) << (8 * i);
        return v;
    }

    public static void PhysWrite(CpuState* s, ulong phys, int size, ulong v, bool exact = false)
    {
        long off = HostOffset(s, phys);
        if (off >= 0)
        {
            if (s->CodeMask[off >> 12] != 0) SoftCpu.Of(s).CodeWritten((ulong)off, size);
            byte* p = s->Ram + off;
            switch (size)
            {
                case 1: *p = (byte)v; return;
                case 2: Unsafe.WriteUnaligned(p, (ushort)v); return;
                case 4: Unsafe.WriteUnaligned(p, (uint)v); return;
                case 8: Unsafe.WriteUnaligned(p, v); return;
            }
            for (int i = 0; i < size; i++) p[i] = (byte)(v >> (8 * i));
            return;
        }
        var cpu = SoftCpu.Of(s);
        if (!exact || size is 1 or 2 or 4 or 8) { cpu.MmioWrite(phys, size, v); return; }
        for (int i = 0; i < size; i++) cpu.MmioWrite(phys + (ulong)i, 1, (v >> (8 * i)) & 0xFF);
    }

    // ---- translation -----------------------------------------------------------------------------

    private const ulong PteP = 1, PteW = 2, PteU = 4, PteA = 0x20, PteD = 0x40, PtePS = 0x80, PteG = 0x100;
    private const ulong PteNX = 1UL << 63;
    /// <summary>MAXPHYADDR reported by CPUID 0x80000008 and used for reserved-bit checks.</summary>
    public const int PhysAddrBits = 40;
    private const ulong PaeAddrMask = ((1UL << PhysAddrBits) - 1) & ~0xFFFUL;

    /// <summary>
    /// Translates a linear address, checking permissions for <paramref name="acc"/> (AccWrite/AccUser/AccFetch),
    /// setting accessed/dirty bits and filling the TLB. On failure raises #PF with CR2 and the error code
    /// of SDM Vol. 3A §4.7 and returns false.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static bool Translate(CpuState* s, ulong lin, int acc, out ulong phys)
    {
        lin &= s->LinMask;
        if ((s->Cr0 & 0x8000_0000UL) == 0)
        {
            phys = lin;
            FillTlb(s, lin, phys, acc, 0);
            return true;
        }
        bool write = (acc & AccWrite) != 0, user = (acc & AccUser) != 0, fetch = (acc & AccFetch) != 0;
        bool wp = (s->Cr0 & 0x10000) != 0;
        ulong entryAddr1 = 0, entryAddr2 = 0, entryAddr3 = ulong.MaxValue;
        ulong e1, e2, e3 = 0;
        ulong perm;          // accumulated: U and W bits AND-ed, NX OR-ed
        ulong nx = 0;
        int info = 0;
        bool pae = (s->Cr4 & 0x20) != 0;
        bool nxe = pae && (s->Efer & (1UL << 11)) != 0;
        ulong rsvdHigh = nxe ? ~((1UL << PhysAddrBits) - 1) & ~PteNX : ~((1UL << PhysAddrBits) - 1);
        uint err = (uint)((write ? 2 : 0) | (user ? 4 : 0) | (fetch && nxe ? 0x10 : 0));

        if (!pae)
        {
            entryAddr1 = (s->Cr3 & 0xFFFF_F000UL) + ((lin >> 22) << 2);
            e1 = PhysRead(s, entryAddr1, 4);
            if ((e1 & PteP) == 0) return PageFault(s, lin, err, out phys);
            perm = e1;
            if ((e1 & PtePS) != 0 && (s->Cr4 & 0x10) != 0)
            {
                // 4 MiB page; PSE-36 puts physical bits 32..39 in PDE bits 13..20 (SDM Vol. 3A §4.3).
                phys = (e1 & 0xFFC0_0000UL) | (((e1 >> 13) & 0xFF) << 32) | (lin & 0x3F_FFFF);
                info = 2;
                e2 = e1; entryAddr2 = entryAddr1; entryAddr1 = ulong.MaxValue;
            }
            else
            {
                entryAddr2 = (e1 & 0xFFFF_F000UL) + (((lin >> 12) & 0x3FF) << 2);
                e2 = PhysRead(s, entryAddr2, 4);
                if ((e2 & PteP) == 0) return PageFault(s, lin, err, out phys);
                perm &= e2 | ~(PteU | PteW);
                phys = (e2 & 0xFFFF_F000UL) | (lin & 0xFFF);
            }
        }
        else
        {
            // PAE: PDPTE, PDE, PTE, 64-bit entries (SDM Vol. 3A §4.4).
            ulong pdpteAddr = (s->Cr3 & 0xFFFF_FFE0UL) + ((lin >> 30) & 3) * 8;
            ulong pdpte = PhysRead(s, pdpteAddr, 8);
            if ((pdpte & PteP) == 0) return PageFault(s, lin, err, out phys);
            if ((pdpte & (rsvdHigh | 0x1E6UL) & ~PteNX) != 0) return PageFault(s, lin, err | 9, out phys);
            entryAddr1 = (pdpte & PaeAddrMask) + ((lin >> 21) & 0x1FF) * 8;
            e1 = PhysRead(s, entryAddr1, 8);
            if ((e1 & PteP) == 0) return PageFault(s, lin, err, out phys);
            if ((e1 & rsvdHigh) != 0) return PageFault(s, lin, err | 9, out phys);
            perm = e1;
            nx = e1 & PteNX;
            if ((e1 & PtePS) != 0)
            {
                if ((e1 & 0x1F_E000UL) != 0) return PageFault(s, lin, err | 9, out phys);
                phys = (e1 & PaeAddrMask & ~0x1F_FFFFUL) | (lin & 0x1F_FFFF);
                info = 2;
                e2 = e1; entryAddr2 = entryAddr1; entryAddr1 = ulong.MaxValue;
            }
            else
            {
                entryAddr2 = (e1 & PaeAddrMask) + ((lin >> 12) & 0x1FF) * 8;
                e2 = PhysRead(s, entryAddr2, 8);
                if ((e2 & PteP) == 0) return PageFault(s, lin, err, out phys);
                if ((e2 & rsvdHigh) != 0) return PageFault(s, lin, err | 9, out phys);
                perm &= e2 | ~(PteU | PteW);
                nx |= e2 & PteNX;
                phys = (e2 & PaeAddrMask) | (lin & 0xFFF);
            }
            if (!nxe) nx = 0;
        }
        _ = e3; _ = entryAddr3;

        // Permission checks (SDM Vol. 3A §4.6).
        bool uOk = (perm & PteU) != 0, wOk = (perm & PteW) != 0;
        if (user && !uOk) return PageFault(s, lin, err | 1, out phys);
        if (write && !wOk && (user || wp)) return PageFault(s, lin, err | 1, out phys);
        if (fetch && nx != 0) return PageFault(s, lin, err | 1, out phys);

        // Accessed and dirty bits (SDM Vol. 3A §4.8).
        if (entryAddr1 != ulong.MaxValue && (e1 & PteA) == 0) PhysWrite(s, entryAddr1, 4, (uint)(e1 | PteA));
        ulong newE2 = e2 | PteA | (write ? PteD : 0);
        if (newE2 != e2) PhysWrite(s, entryAddr2, 4, (uint)newE2);

        if ((e2 & PteG) != 0 && (s->Cr4 & 0x80) != 0) info |= 1;
        // A TLB entry caches what this access proved allowed, for this privilege class.
        int allowed = 0;
        if (!user || uOk)
        {
            allowed |= 1;                                            // read
            if (wOk || (!user && !wp)) allowed |= 2;                 // write (D is now set if this was a write)
            if (nx == 0) allowed |= 4;                               // fetch
        }
        if (!write || (newE2 & PteD) != 0) FillTlbChecked(s, lin, phys, acc, info, allowed);
        return true;
    }

    private static bool PageFault(CpuState* s, ulong lin, uint err, out ulong phys)
    {
        phys = 0;
        s->Cr2 = lin;
        Fault(s, Vec.PF, err);
        return false;
    }

    private static void FillTlb(CpuState* s, ulong lin, ulong phys, int acc, int info) => FillTlbChecked(s, lin, phys, acc, info, 7);

    private static void FillTlbChecked(CpuState* s, ulong lin, ulong phys, int acc, int info, int allowed)
    {
        long off = HostOffset(s, phys & ~0xFFFUL);
        if (off < 0) return;                    // MMIO: always the slow path
        int kind = (acc & AccFetch) != 0 ? 2 : (acc & AccWrite) != 0 ? 1 : 0;
        if ((allowed & (1 << kind)) == 0) return;
        if (kind == 1 && s->CodeMask[off >> 12] != 0) return;   // writes to code pages must see the invalidation path
        int set = ((acc & AccUser) != 0 ? 3 : 0) + kind;
        ulong page = lin & ~0xFFFUL;
        ulong idx = (page >> 12) & TlbIdxMask;
        TlbEntry* e = s->TlbBase + set * TlbSize + (int)idx;
        e->Tag = page;
        e->Delta = (long)(s->Ram + off) - (long)page;
        s->TlbInfo[set * TlbSize + (int)idx] = (byte)info;
        if ((info & 2) != 0) s->LargeInTlb = 1;
    }

    /// <summary>Drops every TLB entry, or every non-global one (a CR3 load with CR4.PGE set, SDM Vol. 3A §4.10.4).</summary>
    public static void FlushTlb(CpuState* s, bool keepGlobal)
    {
        ClearJumpCache(s);
        TlbEntry* e = s->TlbBase;
        byte* info = s->TlbInfo;
        int n = 6 * TlbSize;
        bool anyLarge = false;
        for (int i = 0; i < n; i++)
        {
            if (keepGlobal && (info[i] & 1) != 0)
            {
                if ((info[i] & 2) != 0) anyLarge = true;
                continue;
            }
            e[i].Tag = TlbInvalid;
            info[i] = 0;
        }
        s->LargeInTlb = anyLarge ? 1 : 0;
    }

    /// <summary>INVLPG: drops the entries for the page holding <paramref name="lin"/> (all of it if a large page).</summary>
    public static void InvalidatePage(CpuState* s, ulong lin)
    {
        ClearJumpCache(s);
        ulong page = lin & s->LinMask & ~0xFFFUL;
        int idx = (int)((page >> 12) & TlbIdxMask);
        for (int set = 0; set < 6; set++)
        {
            TlbEntry* e = s->TlbBase + set * TlbSize + idx;
            if (e->Tag == page) { e->Tag = TlbInvalid; s->TlbInfo[set * TlbSize + idx] = 0; }
        }
        if (s->LargeInTlb != 0)
        {
            // A large page is cached as 4 KiB pieces: drop every piece of a large page around lin.
            ulong lo = page & ~0x3F_FFFFUL, hi = lo + 0x40_0000;
            int n = 6 * TlbSize;
            for (int i = 0; i < n; i++)
            {
                if ((s->TlbInfo[i] & 2) != 0 && s->TlbBase[i].Tag >= lo && s->TlbBase[i].Tag < hi)
                {
                    s->TlbBase[i].Tag = TlbInvalid;
                    s->TlbInfo[i] = 0;
                }
            }
        }
    }

    /// <summary>Removes write entries that map host page <paramref name="hostPage"/> (it now holds decoded code).</summary>
    public static void DropWriteEntries(CpuState* s, ulong hostPage)
    {
        long target = (long)(s->Ram + hostPage * 4096);
        for (int set = 1; set < 6; set += 3)
        {
            TlbEntry* e = s->TlbBase + set * TlbSize;
            for (int i = 0; i < TlbSize; i++)
                if ((e[i].Tag & 1) == 0 && e[i].Delta + (long)e[i].Tag == target) e[i].Tag = TlbInvalid;
        }
    }

    public const int JumpCacheBits = 12, JumpCacheSize = 1 << JumpCacheBits;

    /// <summary>Forgets every linear-RIP-to-block mapping (the linear-to-physical map or the blocks changed).</summary>
    public static void ClearJumpCache(CpuState* s)
    {
        if (s->JumpCache != null) new Span<JumpCacheEntry>(s->JumpCache, JumpCacheSize).Clear();
    }

    /// <summary>Selects the TLB arrays for the current privilege (CPL 3 uses the user set).</summary>
    public static void SetCpl(CpuState* s, int cpl)
    {
        s->Cpl = cpl;
        int set = cpl == 3 ? 3 : 0;
        s->TlbR = s->TlbBase + set * TlbSize;
        s->TlbW = s->TlbBase + (set + 1) * TlbSize;
        s->TlbX = s->TlbBase + (set + 2) * TlbSize;
    }
}
