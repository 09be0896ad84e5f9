using System.Runtime.InteropServices;
using static MyKvm.Cpu.X86;

namespace MyKvm.Cpu;

/// <summary>A run of decoded instructions starting at one host-RAM offset, for one code size.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct Block
{
    public long Key;        // hostOffset * 4 + mode; -1 when invalidated
    public ulong HostOff;
    public int First;       // index of the first Insn in the pool
    public int Count;
    public int Next;        // hash chain
    public uint Bytes;
    public ulong Check0, Check1;   // the first 16 code bytes (fewer at a page end), re-checked on entry
}

/// <summary>
/// The decoded-instruction cache: blocks keyed by the host offset of their first byte (so the same physical code
/// is shared across address spaces and paging changes cost nothing), never crossing a page. Pages holding code
/// are tracked in 64-byte chunks; writes to those chunks go through the slow write path (the write TLB never
/// maps code pages) and invalidate the overlapping blocks (Bochs-style, written from scratch).
/// </summary>
public sealed unsafe partial class SoftCpu
{
    private const int HashBits = 16, HashSize = 1 << HashBits;
    private const int MaxBlockInsns = 64;
    private Insn* _pool;
    private int _poolUsed, _poolCap;
    private Block* _blocks;
    private int _blockCount, _blockCap;
    private int* _hash;
    private Insn* _scratch;
    private readonly Dictionary<ulong, List<int>> _pageBlocks = [];

    private void InitCodeCache()
    {
        _poolCap = Math.Max(_opt.CodeCacheInstructions, 4096);
        _pool = (Insn*)NativeMemory.AllocZeroed((nuint)_poolCap, (nuint)sizeof(Insn));
        _blockCap = _poolCap / 4;
        _blocks = (Block*)NativeMemory.AllocZeroed((nuint)_blockCap, (nuint)sizeof(Block));
        _hash = (int*)NativeMemory.Alloc(HashSize, sizeof(int));
        _scratch = (Insn*)NativeMemory.AllocZeroed(1, (nuint)sizeof(Insn));
        _s->JumpCache = (JumpCacheEntry*)NativeMemory.AllocZeroed(JumpCacheSize, (nuint)sizeof(JumpCacheEntry));
        FlushCodeCache();
    }

    private void FreeCodeCache()
    {
        NativeMemory.Free(_pool);
        NativeMemory.Free(_blocks);
        NativeMemory.Free(_hash);
        NativeMemory.Free(_scratch);
        NativeMemory.Free(_s->JumpCache);
    }

    /// <summary>Drops every decoded block.</summary>
    public void FlushCodeCache()
    {
        for (int k = 0; k < HashSize; k++) _hash[k] = -1;
        _poolUsed = 0;
        _blockCount = 0;
        foreach (var page in _pageBlocks.Keys) _s->CodeMask[page] = 0;
        _pageBlocks.Clear();
        ClearJumpCache(_s);
        _s->Events |= CpuState.EvSmc;
    }

    private static int HashOf(long key) => (int)(((ulong)key * 0x9E37_79B9_7F4A_7C15UL) >> (64 - HashBits));

    private Block* Lookup(ulong hostOff, int mode)
    {
        long key = (long)(hostOff * 4) + mode;
        for (int b = _hash[HashOf(key)]; b >= 0; b = _blocks[b].Next)
            if (_blocks[b].Key == key) return _blocks + b;
        return null;
    }

    private Block* Build(ulong hostOff, int mode, int avail)
    {
        if (_poolUsed + MaxBlockInsns > _poolCap || _blockCount >= _blockCap) FlushCodeCache();
        byte* code = _s->Ram + hostOff;
        int pos = 0, count = 0;
        Insn* first = _pool + _poolUsed;
        while (count < MaxBlockInsns && pos < avail)
        {
            int len = Decoder.Decode(code + pos, avail - pos, mode, first + count, out bool end);
            if (len == 0) break;
            pos += len;
            count++;
            if (end) break;
        }
        if (count == 0) return null;
        int id = _blockCount++;
        Block* b = _blocks + id;
        long key = (long)(hostOff * 4) + mode;
        int h = HashOf(key);
        *b = new Block { Key = key, HostOff = hostOff, First = _poolUsed, Count = count, Next = _hash[h], Bytes = (uint)pos };
        ReadCheckBytes(hostOff, out b->Check0, out b->Check1);
        _hash[h] = id;
        _poolUsed += count;
        ulong page = hostOff >> 12;
        if (!_pageBlocks.TryGetValue(page, out var list)) _pageBlocks[page] = list = [];
        list.Add(id);
        if (_s->CodeMask[page] == 0) DropWriteEntries(_s, page);
        _s->CodeMask[page] |= ChunkBits(hostOff, (ulong)pos);
        return b;
    }

    /// <summary>
    /// The bytes a block's entry check compares: RAM written behind the CPU's back (DMA, a loader, a debugger
    /// that did not call <see cref="NotifyRamWritten"/>) is caught at least where a block starts.
    /// </summary>
    private void ReadCheckBytes(ulong hostOff, out ulong c0, out ulong c1)
    {
        int left = 4096 - (int)(hostOff & 0xFFF);
        byte* p = _s->Ram + hostOff;
        c0 = left >= 8 ? *(ulong*)p : *p;
        c1 = left >= 16 ? *(ulong*)(p + 8) : 0;
    }

    private bool BlockStillValid(Block* b)
    {
        ReadCheckBytes(b->HostOff, out ulong c0, out ulong c1);
        if (c0 == b->Check0 && c1 == b->Check1) return true;
        InvalidateRange(b->HostOff >> 12, b->HostOff, b->HostOff + b->Bytes);
        return false;
    }

    private static ulong ChunkBits(ulong off, ulong len)
    {
        int c0 = (int)((off & 0xFFF) >> 6), c1 = (int)(((off + len - 1) & 0xFFF) >> 6);
        if (((off + len - 1) >> 12) != (off >> 12)) c1 = 63;
        ulong hi = c1 == 63 ? ulong.MaxValue : (2UL << c1) - 1;
        return hi & ~((1UL << c0) - 1);
    }

    /// <summary>A guest write of <paramref name="size"/> bytes at host offset <paramref name="hostOff"/> hit a code page.</summary>
    internal void CodeWritten(ulong hostOff, int size)
    {
        ulong page = hostOff >> 12;
        if ((_s->CodeMask[page] & ChunkBits(hostOff, (ulong)size)) == 0) return;
        InvalidateRange(page, hostOff, hostOff + (ulong)size);
    }

    private void InvalidateRange(ulong page, ulong lo, ulong hi)
    {
        if (!_pageBlocks.TryGetValue(page, out var list)) { _s->CodeMask[page] = 0; return; }
        ulong mask = 0;
        for (int k = list.Count - 1; k >= 0; k--)
        {
            Block* b = _blocks + list[k];
            ulong bs = b->HostOff, be = bs + b->Bytes;
            if (bs < hi && lo < be) { b->Key = -1; list.RemoveAt(k); }
            else mask |= ChunkBits(bs, b->Bytes);
        }
        _s->CodeMask[page] = mask;
        if (list.Count == 0) _pageBlocks.Remove(page);
        _s->Events |= CpuState.EvSmc;
    }

    /// <summary>
    /// Tells the CPU that something other than the CPU (a DMA-capable device, a loader) wrote guest RAM, so
    /// decoded code there is dropped.
    /// </summary>
    public void NotifyRamWritten(ulong gpa, ulong length)
    {
        if (length == 0) return;
        for (ulong a = gpa & ~0xFFFUL; a < gpa + length; a += 0x1000)
        {
            long off = HostOffset(_s, a);
            if (off < 0) continue;
            ulong page = (ulong)off >> 12;
            if (_s->CodeMask[page] == 0) continue;
            ulong lo = Math.Max(a, gpa), hi = Math.Min(a + 0x1000, gpa + length);
            InvalidateRange(page, (ulong)off + (lo - a), (ulong)off + (hi - a));
        }
    }
}
