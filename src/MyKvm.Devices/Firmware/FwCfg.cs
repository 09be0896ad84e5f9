using System.Buffers.Binary;
using System.Text;
using MyKvm.Core;

namespace MyKvm.Devices.Firmware;

/// <summary>
/// Item selectors of the QEMU firmware configuration device (QEMU docs/specs/fw_cfg.rst, "Firmware Configuration
/// Items"). Keys below <see cref="FileFirst"/> are fixed; 0x8000 and up are architecture-specific (x86 here).
/// Numbers in fixed items are little-endian; the file directory is big-endian.
/// </summary>
public static class FwCfgKeys
{
    public const ushort Signature = 0x00, Id = 0x01, Uuid = 0x02, RamSize = 0x03, NoGraphic = 0x04, NbCpus = 0x05,
        MachineId = 0x06, KernelAddr = 0x07, KernelSize = 0x08, KernelCmdline = 0x09, InitrdAddr = 0x0A,
        InitrdSize = 0x0B, BootDevice = 0x0C, Numa = 0x0D, BootMenu = 0x0E, MaxCpus = 0x0F, KernelEntry = 0x10,
        KernelData = 0x11, InitrdData = 0x12, CmdlineAddr = 0x13, CmdlineSize = 0x14, CmdlineData = 0x15,
        SetupAddr = 0x16, SetupSize = 0x17, SetupData = 0x18, FileDir = 0x19, FileFirst = 0x20;

    /// <summary>x86: ACPI tables (legacy), SMBIOS entries, IRQ 0 → GSI 2 override, E820 reservations, HPET.</summary>
    public const ushort AcpiTables = 0x8000, SmbiosEntries = 0x8001, Irq0Override = 0x8002, E820Table = 0x8003, Hpet = 0x8004;

    /// <summary>Bit 14 of a selector: the guest means to write (ignored by the port interface since QEMU 2.4).</summary>
    public const ushort WriteFlag = 0x4000;

    /// <summary><see cref="Id"/> feature bits: the port interface, and the DMA interface.</summary>
    public const uint FeatureTraditional = 1, FeatureDma = 2;
}

/// <summary>One entry of the fw_cfg file directory.</summary>
public readonly record struct FwCfgFile(string Name, ushort Selector, int Size);

/// <summary>
/// The QEMU firmware configuration device as SeaBIOS (and OVMF, and Linux's qemu_fw_cfg driver) find it on x86:
/// QEMU docs/specs/fw_cfg.rst. Ports (<see cref="RegisterOn"/>):
/// <list type="bullet">
/// <item>0x510, 16-bit write: the selector. Selecting an item rewinds its data offset to 0.</item>
/// <item>0x511, 8-bit read: the next byte of the selected item; 0 past its end or for an unknown item. Writes are
/// ignored, as in QEMU since 2.4.</item>
/// <item>0x514/0x518 (with <c>dma: true</c>): the DMA address, big-endian, high half first; writing the low half
/// runs the transfer described by the <c>FWCfgDmaAccess</c> structure at that guest-physical address (control,
/// length, address — all big-endian), synchronously, then clears its control field (or leaves the error bit).
/// Reading them gives the signature "QEMU CFG".</item>
/// </list>
/// Files get selectors from <see cref="FwCfgKeys.FileFirst"/> in name order (as QEMU does for current machine
/// types), so add every file before the guest starts.
/// </summary>
public sealed class FwCfgDevice : IPortDevice
{
    public const ushort SelectorPort = 0x510, DataPort = 0x511, DmaPort = 0x514;
    /// <summary>Longest file name, without the terminating NUL (the directory entry has 56 bytes).</summary>
    public const int MaxFileNameLength = 55;
    /// <summary>DMA control bits (fw_cfg.rst, "DMA interface").</summary>
    public const uint DmaError = 0x01, DmaRead = 0x02, DmaSkip = 0x04, DmaSelect = 0x08, DmaWrite = 0x10;

    private sealed class Item(byte[] data, bool writable)
    {
        public byte[] Data = data;
        public readonly bool Writable = writable;
    }

    private readonly GuestRam _ram;
    private readonly Dictionary<ushort, Item> _items = [];
    private readonly SortedDictionary<string, Item> _files = new(StringComparer.Ordinal);
    private ushort _selector;
    private Item? _current;
    private int _offset;
    private ulong _dmaAddress;

    /// <param name="ram">Guest RAM for DMA transfers.</param>
    /// <param name="dma">Offer the DMA interface (the <see cref="FwCfgKeys.Id"/> item says so, and ports 0x514–0x51B answer).</param>
    public FwCfgDevice(GuestRam ram, bool dma = true)
    {
        ArgumentNullException.ThrowIfNull(ram);
        _ram = ram;
        DmaEnabled = dma;
        Add(FwCfgKeys.Signature, "QEMU"u8);
        AddU32(FwCfgKeys.Id, FwCfgKeys.FeatureTraditional | (dma ? FwCfgKeys.FeatureDma : 0));
        RebuildDirectory();
    }

    public bool DmaEnabled { get; }

    /// <summary>How many DMA transfers ran (tests, --verbose).</summary>
    public long DmaTransfers { get; private set; }

    /// <summary>The file directory in selector order.</summary>
    public IReadOnlyList<FwCfgFile> Files
    {
        get
        {
            var list = new List<FwCfgFile>(_files.Count);
            ushort sel = FwCfgKeys.FileFirst;
            foreach (var (name, item) in _files) list.Add(new FwCfgFile(name, sel++, item.Data.Length));
            return list;
        }
    }

    /// <summary>Sets a fixed item (a copy of <paramref name="data"/>).</summary>
    public void Add(ushort key, ReadOnlySpan<byte> data)
    {
        ushort k = Normalize(key);
        if (k == FwCfgKeys.FileDir || (k >= FwCfgKeys.FileFirst && k < 0x8000))
            throw new ArgumentOutOfRangeException(nameof(key), $"fw_cfg key 0x{key:x} belongs to the file directory; use AddFile");
        _items[k] = new Item(data.ToArray(), writable: false);
    }

    public void AddU16(ushort key, ushort value) { Span<byte> b = stackalloc byte[2]; BinaryPrimitives.WriteUInt16LittleEndian(b, value); Add(key, b); }
    public void AddU32(ushort key, uint value) { Span<byte> b = stackalloc byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(b, value); Add(key, b); }
    public void AddU64(ushort key, ulong value) { Span<byte> b = stackalloc byte[8]; BinaryPrimitives.WriteUInt64LittleEndian(b, value); Add(key, b); }

    /// <summary>
    /// Adds (or replaces) a named file. <paramref name="writable"/> files accept DMA writes within their size
    /// (<see cref="ReadFile"/> shows what the guest wrote).
    /// </summary>
    public void AddFile(string name, ReadOnlySpan<byte> data, bool writable = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (Encoding.UTF8.GetByteCount(name) > MaxFileNameLength)
            throw new ArgumentException($"fw_cfg file name '{name}' is longer than {MaxFileNameLength} bytes", nameof(name));
        if (_files.Count >= 0x8000 - FwCfgKeys.FileFirst)
            throw new InvalidOperationException("the fw_cfg file directory is full");
        _files[name] = new Item(data.ToArray(), writable);
        RebuildDirectory();
    }

    /// <summary>The current contents of a file, or null.</summary>
    public byte[]? ReadFile(string name) => _files.TryGetValue(name, out var item) ? (byte[])item.Data.Clone() : null;

    /// <summary>The selector of a file, or null.</summary>
    public ushort? SelectorOf(string name)
    {
        ushort sel = FwCfgKeys.FileFirst;
        foreach (var key in _files.Keys)
        {
            if (key == name) return sel;
            sel++;
        }
        return null;
    }

    /// <summary>Claims 0x510–0x511, and 0x514–0x51B when DMA is offered.</summary>
    public void RegisterOn(IoBus io)
    {
        ArgumentNullException.ThrowIfNull(io);
        io.Register(SelectorPort, 2, this);
        if (DmaEnabled) io.Register(DmaPort, 8, this);
    }

    // The selector's bit 14 (write intent) does not name a different item.
    private static ushort Normalize(ushort key) => (ushort)(key & ~FwCfgKeys.WriteFlag);

    private Item? Lookup(ushort key)
    {
        ushort k = Normalize(key);
        if (k >= FwCfgKeys.FileFirst && k < 0x8000)
        {
            int index = k - FwCfgKeys.FileFirst;
            if (index >= _files.Count) return null;
            return _files.Values.ElementAt(index);
        }
        return _items.GetValueOrDefault(k);
    }

    private void Select(ushort key)
    {
        _selector = key;
        _current = Lookup(key);
        _offset = 0;
    }

    /// <summary>The directory item: a big-endian count, then per file size (be32), select (be16), reserved, name[56].</summary>
    private void RebuildDirectory()
    {
        var dir = new byte[4 + 64 * _files.Count];
        BinaryPrimitives.WriteUInt32BigEndian(dir, (uint)_files.Count);
        int o = 4;
        ushort sel = FwCfgKeys.FileFirst;
        foreach (var (name, item) in _files)
        {
            BinaryPrimitives.WriteUInt32BigEndian(dir.AsSpan(o), (uint)item.Data.Length);
            BinaryPrimitives.WriteUInt16BigEndian(dir.AsSpan(o + 4), sel++);
            Encoding.UTF8.GetBytes(name, dir.AsSpan(o + 8, 56));
            o += 64;
        }
        _items[FwCfgKeys.FileDir] = new Item(dir, writable: false);
        // A guest that had the directory (or a file) selected keeps reading the same item.
        _current = Lookup(_selector);
    }

    private byte NextByte()
    {
        if (_current is null || _offset >= _current.Data.Length) return 0;
        return _current.Data[_offset++];
    }

    public uint PortRead(ushort port, int size)
    {
        if (port is SelectorPort or DataPort)
        {
            // Only byte reads of the data port are the interface; wider reads return consecutive bytes, the first in the low bits.
            uint v = 0;
            for (int i = 0; i < size; i++) v |= (uint)NextByte() << (8 * i);
            return v;
        }
        // DMA address register: reads give "QEMU CFG" in memory order.
        ReadOnlySpan<byte> signature = "QEMU CFG"u8;
        int at = port - DmaPort;
        uint r = 0;
        for (int i = 0; i < size && at + i < 8; i++) r |= (uint)signature[at + i] << (8 * i);
        return r;
    }

    public void PortWrite(ushort port, int size, uint value)
    {
        switch (port)
        {
            case SelectorPort when size >= 2:
                Select((ushort)value);
                return;
            case SelectorPort:
            case DataPort:
                return;   // data-port writes are ignored (QEMU ≥ 2.4); a byte write to the selector is not a selection
            case DmaPort when size == 4:
                _dmaAddress = (ulong)BinaryPrimitives.ReverseEndianness(value) << 32;
                return;
            case DmaPort + 4 when size == 4:
                ulong address = _dmaAddress | BinaryPrimitives.ReverseEndianness(value);
                _dmaAddress = 0;
                RunDma(address);
                return;
        }
    }

    /// <summary>
    /// One DMA request: optional select, then read/write/skip of <c>length</c> bytes at the item's offset. Reading past the
    /// item's end fills with zeros; writing is allowed only into a writable file and only within its size; a guest
    /// address that is not RAM sets the error bit. The request's control field is rewritten last (0 or the error bit).
    /// </summary>
    private void RunDma(ulong requestAddress)
    {
        if (!_ram.Contains(requestAddress, 16)) return;   // nowhere to report an error
        DmaTransfers++;
        var request = _ram.GetSpan(requestAddress, 16);
        uint control = BinaryPrimitives.ReadUInt32BigEndian(request);
        uint length = BinaryPrimitives.ReadUInt32BigEndian(request[4..]);
        ulong address = BinaryPrimitives.ReadUInt64BigEndian(request[8..]);

        if ((control & DmaSelect) != 0) Select((ushort)(control >> 16));
        bool read = (control & DmaRead) != 0;
        bool write = !read && (control & DmaWrite) != 0;
        bool skip = !read && !write && (control & DmaSkip) != 0;
        uint result = 0;
        if ((read || write) && length > int.MaxValue)
            result = DmaError;
        else if (read || write || skip)
        {
            var item = _current;
            int available = item is null ? 0 : Math.Max(0, item.Data.Length - _offset);
            int fromItem = (int)Math.Min(length, (uint)available);
            if (read)
            {
                if (!_ram.Contains(address, length))
                    result = DmaError;
                else
                {
                    var dest = _ram.GetSpan(address, (int)length);
                    if (fromItem > 0) item!.Data.AsSpan(_offset, fromItem).CopyTo(dest);
                    dest[fromItem..].Clear();
                    _offset += fromItem;
                }
            }
            else if (write)
            {
                if (item is null || !item.Writable || fromItem != length || !_ram.Contains(address, length))
                    result = DmaError;
                else
                {
                    _ram.GetSpan(address, (int)length).CopyTo(item.Data.AsSpan(_offset));
                    _offset += fromItem;
                }
            }
            else
                _offset += fromItem;
        }
        BinaryPrimitives.WriteUInt32BigEndian(_ram.GetSpan(requestAddress, 4), result);
    }
}
