using MyKvm.Core;
using MyKvm.Debug.Memory;

namespace MyKvm.Debug.Tests;

/// <summary>Builds known guest states in RAM for the tests: a GDT, an IDT, 32-bit/PAE/4-level page tables.</summary>
internal sealed class GuestBuilder : IDisposable
{
    public GuestRam Ram { get; } = new(16 << 20);
    public RamPhysicalMemory Physical { get; }
    public VcpuState State { get; }

    public const ulong GdtBase = 0x1000, IdtBase = 0x2000, TssBase = 0x3000;
    private ulong _nextTable = 0x10_0000 * 8; // page tables from 8 MiB up

    public GuestBuilder()
    {
        Physical = new RamPhysicalMemory(Ram);
        State = VcpuState.Flat32(0x10_0000, 0x08, 0x10, GdtBase, 8 * 6 - 1);
        // null, 0x08 code, 0x10 data, 0x18 user code, 0x20 user data, 0x28 TSS
        Ram.Write64(GdtBase + 0x08, 0x00CF9A000000FFFF);
        Ram.Write64(GdtBase + 0x10, 0x00CF92000000FFFF);
        Ram.Write64(GdtBase + 0x18, 0x00CFFA000000FFFF);
        Ram.Write64(GdtBase + 0x20, 0x00CFF2000000FFFF);
        Ram.Write64(GdtBase + 0x28, TssDescriptor(TssBase, 0x67));
        State.Tr = new SegmentState(0x28, TssBase, 0x67, 0x8B);
        State.IdtBase = IdtBase;
        State.IdtLimit = 256 * 8 - 1;
    }

    public static ulong TssDescriptor(ulong b, uint limit) =>
        (limit & 0xFFFF) | ((b & 0xFF_FFFF) << 16) | (0x89UL << 40) | ((ulong)(limit >> 16 & 0xF) << 48) | ((b >> 24) << 56);

    /// <summary>A 32-bit gate: selector, offset, type_attr (0x8E: present interrupt gate).</summary>
    public void SetGate(int vector, ushort selector, uint offset, byte typeAttr = 0x8E) =>
        Ram.Write64(IdtBase + (ulong)vector * 8,
            (offset & 0xFFFF) | ((ulong)selector << 16) | ((ulong)typeAttr << 40) | ((ulong)(offset >> 16) << 48));

    public ulong AllocTable()
    {
        ulong t = _nextTable;
        _nextTable += 0x1000;
        Ram.Fill(t, 0x1000, 0);
        return t;
    }

    /// <summary>32-bit paging: identity-maps [0, 8 MiB) with 4 KiB pages, kernel read/write; returns the page directory.</summary>
    public ulong Paging32(bool wp = true)
    {
        ulong pd = AllocTable();
        for (int t = 0; t < 2; t++)
        {
            ulong pt = AllocTable();
            for (int i = 0; i < 1024; i++) Ram.Write32(pt + (ulong)i * 4, (uint)((t * 1024 + i) << 12) | 3);
            Ram.Write32(pd + (ulong)t * 4, (uint)pt | 3);
        }
        State.Cr3 = pd;
        State.Cr0 |= VcpuState.Cr0PG | (wp ? VcpuState.Cr0WP : 0);
        return pd;
    }

    /// <summary>The 32-bit PTE address for a linear address (after <see cref="Paging32"/>).</summary>
    public ulong Pte32(uint linear)
    {
        uint pde = Ram.Read32(State.Cr3 + (linear >> 22) * 4);
        return (pde & 0xFFFF_F000) + ((linear >> 12) & 0x3FF) * 4;
    }

    /// <summary>Loads an ELF32's PT_LOAD segments at their physical addresses (bss zeroed), as a Multiboot loader would.</summary>
    public void LoadElf32(string path)
    {
        var f = File.ReadAllBytes(path);
        uint phoff = BitConverter.ToUInt32(f, 0x1C);
        int phentsize = BitConverter.ToUInt16(f, 0x2A), phnum = BitConverter.ToUInt16(f, 0x2C);
        for (int i = 0; i < phnum; i++)
        {
            int o = (int)phoff + i * phentsize;
            if (BitConverter.ToUInt32(f, o) != 1) continue;
            uint offset = BitConverter.ToUInt32(f, o + 4), paddr = BitConverter.ToUInt32(f, o + 12);
            uint filesz = BitConverter.ToUInt32(f, o + 16), memsz = BitConverter.ToUInt32(f, o + 20);
            Ram.Fill(paddr, (int)memsz, 0);
            Ram.Write(paddr, f.AsSpan((int)offset, (int)filesz));
        }
    }

    /// <summary>The address of the first occurrence of <paramref name="bytes"/> at or after <paramref name="from"/>.</summary>
    public ulong Find(ulong from, params byte[] bytes)
    {
        var span = Ram.GetSpan(from, 0x1000);
        int i = span.IndexOf(bytes);
        if (i < 0) throw new InvalidOperationException("pattern not found");
        return from + (ulong)i;
    }

    public void Dispose() => Ram.Dispose();
}
