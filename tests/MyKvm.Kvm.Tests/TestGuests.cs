using MyKvm.Core;

namespace MyKvm.Kvm.Tests;

/// <summary>Boot states and page tables the trampoline tests start from.</summary>
internal static class TestGuests
{
    public const ulong PageDirectory = 0x10000;

    /// <summary>A stos-like state: 32-bit paging with 4 MiB pages, the kernel at 0xC0100000 (physical 1 MiB).</summary>
    public static VcpuState HigherHalf32(GuestRam ram, bool identityLow = true)
    {
        if (identityLow) ram.Write32(PageDirectory, 0x83);
        ram.Write32(PageDirectory + (0xC000_0000 >> 22) * 4, 0x83);
        var s = VcpuState.Flat32(0xC010_0000, 0x10, 0x18, PcMemoryLayout.BootGdtBase, 31);
        s.Cr3 = PageDirectory;
        s.Cr4 = VcpuState.Cr4PSE;
        s.Cr0 |= VcpuState.Cr0PG | VcpuState.Cr0WP;
        s.Rax = 0x2BAD_B002; s.Rbx = 0x9500; s.Rcx = 0x1111; s.Rdx = 0x2222; s.Rsi = 0x3333; s.Rdi = 0x4444; s.Rbp = 0x5555;
        s.Rsp = 0xC009_0000;
        s.Rflags = 0x2 | 0x40 | 0x1; // ZF, CF: the trampoline must not touch the arithmetic flags
        return s;
    }

    /// <summary>Identity-mapped 4-level page tables for the low 1 GiB (2 MiB pages), PML4 at 0x20000.</summary>
    public static VcpuState Long64(GuestRam ram, ulong entry = 0x20_0000)
    {
        const ulong pml4 = 0x20000, pdpt = 0x21000, pd = 0x22000;
        ram.Write64(pml4, pdpt | 3);
        ram.Write64(pdpt, pd | 3);
        for (ulong i = 0; i < 512; i++) ram.Write64(pd + i * 8, (i << 21) | 0x83);
        // The loader's own GDT: null, (unused), 64-bit code at 0x10, data at 0x18.
        ram.Write64(PcMemoryLayout.BootGdtBase + 0x10, 0x00AF_9B00_0000_FFFF);
        ram.Write64(PcMemoryLayout.BootGdtBase + 0x18, 0x00CF_9300_0000_FFFF);
        var s = new VcpuState
        {
            Rip = entry,
            Cr0 = VcpuState.Cr0PE | VcpuState.Cr0ET | VcpuState.Cr0PG | VcpuState.Cr0NE,
            Cr3 = pml4,
            Cr4 = VcpuState.Cr4PAE,
            Efer = VcpuState.EferLME | VcpuState.EferLMA | VcpuState.EferSCE,
            Cs = SegmentState.Code64(0x10),
            GdtBase = PcMemoryLayout.BootGdtBase,
            GdtLimit = 0x1F,
            IdtBase = 0,
            IdtLimit = 0,
            Tr = SegmentState.Tss32(0, 0, 0xFFFF),
            Ldtr = SegmentState.NullLdt(),
            Rsi = 0x9_0000, // Linux boot protocol: the zero page
            Rsp = 0x8_0000,
            Rax = 0x1122_3344_5566_7788, R8 = 0x8888_0000_0000_0008, R15 = 0xF15,
            Rflags = 0x2 | 0x80, // SF
        };
        s.Ds = s.Es = s.Ss = s.Fs = s.Gs = SegmentState.FlatData32(0x18);
        return s;
    }
}
