using System.Buffers.Binary;
using System.Text;
using MyKvm.Core;

namespace MyKvm.Devices.Storage;

/// <summary>
/// One IDE (parallel ATA) channel with a master and an optional slave drive, PIO only
/// (ANSI INCITS 361-2002, ATA/ATAPI-6, "AT Attachment with Packet Interface - 6"; section numbers below are ATA-6).
/// Ports: the command block (data, error/features, sector count, LBA low/mid/high, device, status/command) at
/// <see cref="CommandBase"/>..+7 and the control block (alternate status / device control) at <see cref="ControlPort"/>;
/// register both with <see cref="RegisterOn"/>. Commands complete at once, on the vCPU thread, inside the OUT that
/// issues them: BSY is only ever seen during a software reset. INTRQ follows the selected drive's pending
/// interrupt unless nIEN is set, and is cleared by reading Status or writing Command (§5.2.9, §5.2.13).
/// Supported: IDENTIFY DEVICE, READ/WRITE SECTORS (LBA28 and CHS), READ/WRITE MULTIPLE, SET MULTIPLE MODE,
/// the LBA48 EXT variants, READ VERIFY, INITIALIZE DEVICE PARAMETERS, FLUSH CACHE, SET FEATURES, power
/// management no-ops, EXECUTE DEVICE DIAGNOSTIC and SRST. DMA commands are aborted (no bus master).
/// </summary>
public sealed class IdeChannel : IPortDevice, IDisposable
{
    public const ushort PrimaryCommandBase = 0x1F0, PrimaryControlPort = 0x3F6, SecondaryCommandBase = 0x170, SecondaryControlPort = 0x376;
    public const int PrimaryIrq = 14, SecondaryIrq = 15;

    // Status register bits (§7.15.6).
    public const byte Bsy = 0x80, Drdy = 0x40, Df = 0x20, Dsc = 0x10, Drq = 0x08, Err = 0x01;
    // Error register bits (§7.9).
    public const byte ErrAbrt = 0x04, ErrIdnf = 0x10, ErrUnc = 0x40;
    // Device control bits (§7.8).
    private const byte CtlNien = 0x02, CtlSrst = 0x04, CtlHob = 0x80;

    private readonly IIrqLine _irq;
    private readonly AtaDrive?[] _drives;

    // The command block registers are written to both devices at once (§5.2.1), so they are held once per channel.
    // Each of the LBA48-capable registers is a two-deep FIFO: "previous" is what the HOB bit reads back (§6.20).
    private byte _features, _count, _lbaLow, _lbaMid, _lbaHigh;
    private byte _prevFeatures, _prevCount, _prevLbaLow, _prevLbaMid, _prevLbaHigh;
    private byte _device;
    private byte _control;
    private bool _irqLevel;

    public IdeChannel(ushort commandBase, ushort controlPort, IIrqLine irq, IBlockDevice? master, IBlockDevice? slave = null, string serialPrefix = "MYKVM")
    {
        CommandBase = commandBase;
        ControlPort = controlPort;
        _irq = irq;
        _drives = [master is null ? null : new AtaDrive(master, $"{serialPrefix}-{commandBase:X3}-0"),
                   slave is null ? null : new AtaDrive(slave, $"{serialPrefix}-{commandBase:X3}-1")];
        foreach (var d in _drives) d?.PowerOn();
        SetSignature();
    }

    public static IdeChannel Primary(IIrqLine irq14, IBlockDevice? master, IBlockDevice? slave = null) =>
        new(PrimaryCommandBase, PrimaryControlPort, irq14, master, slave);

    public static IdeChannel Secondary(IIrqLine irq15, IBlockDevice? master, IBlockDevice? slave = null) =>
        new(SecondaryCommandBase, SecondaryControlPort, irq15, master, slave);

    public ushort CommandBase { get; }
    public ushort ControlPort { get; }
    public AtaDrive? Master => _drives[0];
    public AtaDrive? Slave => _drives[1];
    public bool IrqAsserted => _irqLevel;

    public void RegisterOn(IoBus io)
    {
        io.Register(CommandBase, 8, this);
        io.Register(ControlPort, 1, this);
    }

    private int SelectedIndex => (_device >> 4) & 1;
    private AtaDrive? Selected => _drives[SelectedIndex];
    private bool Hob => (_control & CtlHob) != 0;
    private bool LbaMode => (_device & 0x40) != 0;

    public uint PortRead(ushort port, int size)
    {
        if (_drives[0] is null && _drives[1] is null)
            return size switch { 1 => 0xFF, 2 => 0xFFFF, _ => 0xFFFF_FFFF };
        if (port == ControlPort)
            return StatusOf(Selected);
        int reg = port - CommandBase;
        if (reg == 0)
        {
            var d = Selected;
            if (d is null) return size switch { 1 => 0xFF, 2 => 0xFFFF, _ => 0xFFFF_FFFF };
            uint v = ReadDataWord(d);
            if (size == 4) v |= (uint)ReadDataWord(d) << 16;
            return size == 1 ? v & 0xFF : v;
        }
        // A non-data register read with size > 1 only reads the addressed byte: the neighbours are other registers.
        return reg switch
        {
            1 => Selected?.Error ?? 0,
            2 => Hob ? _prevCount : _count,
            3 => Hob ? _prevLbaLow : _lbaLow,
            4 => Hob ? _prevLbaMid : _lbaMid,
            5 => Hob ? _prevLbaHigh : _lbaHigh,
            6 => (uint)(_device | 0xA0),
            _ => ReadStatusAndAcknowledge(),
        };
    }

    public void PortWrite(ushort port, int size, uint value)
    {
        if (port == ControlPort)
        {
            WriteDeviceControl((byte)value);
            return;
        }
        int reg = port - CommandBase;
        if (reg == 0)
        {
            var d = Selected;
            if (d is null) return;
            WriteDataWord(d, (ushort)value);
            if (size == 4) WriteDataWord(d, (ushort)(value >> 16));
            return;
        }
        byte b = (byte)value;
        // Writing any command block register clears HOB (§7.8.1).
        if (reg is >= 1 and <= 7) _control &= unchecked((byte)~CtlHob);
        switch (reg)
        {
            case 1: _prevFeatures = _features; _features = b; break;
            case 2: _prevCount = _count; _count = b; break;
            case 3: _prevLbaLow = _lbaLow; _lbaLow = b; break;
            case 4: _prevLbaMid = _lbaMid; _lbaMid = b; break;
            case 5: _prevLbaHigh = _lbaHigh; _lbaHigh = b; break;
            case 6: _device = (byte)(b & 0x5F); UpdateIrq(); break;
            case 7: ExecuteCommand(b); break;
        }
    }

    private byte StatusOf(AtaDrive? d) => d?.Status ?? 0;

    private uint ReadStatusAndAcknowledge()
    {
        var d = Selected;
        if (d is null) return 0;
        byte s = d.Status;
        if (d.InterruptPending)
        {
            d.InterruptPending = false;
            UpdateIrq();
        }
        return s;
    }

    private void WriteDeviceControl(byte value)
    {
        bool wasReset = (_control & CtlSrst) != 0;
        _control = (byte)(value & (CtlNien | CtlSrst | CtlHob));
        bool reset = (_control & CtlSrst) != 0;
        if (reset && !wasReset)
        {
            foreach (var d in _drives)
                d?.BeginReset();
        }
        else if (!reset && wasReset)
        {
            // §9.2: after SRST each device sets its signature, error 01h (no error) and DEV = 0.
            foreach (var d in _drives)
                d?.EndReset();
            _device = 0;
            SetSignature();
        }
        UpdateIrq();
    }

    private void SetSignature()
    {
        // ATA device signature (§9.12): count 01h, LBA low 01h, LBA mid 00h, LBA high 00h, device 00h.
        _count = 1;
        _lbaLow = 1;
        _lbaMid = 0;
        _lbaHigh = 0;
    }

    private void UpdateIrq()
    {
        var d = Selected;
        bool level = d is not null && d.InterruptPending && (_control & CtlNien) == 0;
        if (level == _irqLevel) return;
        _irqLevel = level;
        _irq.Set(level);
    }

    private void Interrupt(AtaDrive d)
    {
        d.InterruptPending = true;
        UpdateIrq();
    }

    // ---------------------------------------------------------------- commands

    private void ExecuteCommand(byte command)
    {
        var d = Selected;
        // A command to an absent device, or to one still in reset, is not seen by anything.
        if (d is null || (d.Status & Bsy) != 0) return;
        d.InterruptPending = false;
        d.CancelTransfer();
        d.Error = 0;
        UpdateIrq();

        switch (command)
        {
            case 0xEC: // IDENTIFY DEVICE (§8.15)
                d.BeginDataIn(d.BuildIdentify());
                Interrupt(d);
                break;
            case 0x20 or 0x21: StartPio(d, ext: false, write: false, multiple: false); break; // READ SECTORS
            case 0x24: StartPio(d, ext: true, write: false, multiple: false); break;            // READ SECTORS EXT
            case 0xC4: StartPio(d, ext: false, write: false, multiple: true); break;            // READ MULTIPLE
            case 0x29: StartPio(d, ext: true, write: false, multiple: true); break;             // READ MULTIPLE EXT
            case 0x30 or 0x31: StartPio(d, ext: false, write: true, multiple: false); break;    // WRITE SECTORS
            case 0x34: StartPio(d, ext: true, write: true, multiple: false); break;             // WRITE SECTORS EXT
            case 0xC5: StartPio(d, ext: false, write: true, multiple: true); break;             // WRITE MULTIPLE
            case 0x39: StartPio(d, ext: true, write: true, multiple: true); break;              // WRITE MULTIPLE EXT
            case 0x40 or 0x41: Verify(d, ext: false); break;                                    // READ VERIFY SECTORS
            case 0x42: Verify(d, ext: true); break;
            case 0xC6: // SET MULTIPLE MODE (§8.39): a power of two up to the maximum; 0 disables
                if (_count == 0 || (_count <= AtaDrive.MaxMultiple && (_count & (_count - 1)) == 0))
                {
                    d.MultipleCount = _count;
                    Complete(d);
                }
                else Abort(d, ErrAbrt);
                break;
            case 0x91: // INITIALIZE DEVICE PARAMETERS (§8.16, obsolete since ATA-6 but used by BIOSes and old drivers)
                if (_count == 0) Abort(d, ErrAbrt);
                else
                {
                    d.LogicalHeads = (_device & 0x0F) + 1;
                    d.LogicalSectorsPerTrack = _count;
                    Complete(d);
                }
                break;
            case 0xE7 or 0xEA: // FLUSH CACHE (EXT)
                try
                {
                    d.Disk.Flush();
                    Complete(d);
                }
                catch (IOException)
                {
                    Abort(d, ErrAbrt);
                }
                break;
            case 0xEF: // SET FEATURES (§8.37): transfer mode, write cache, look-ahead, revert to defaults
                if (_features is 0x02 or 0x03 or 0x55 or 0x66 or 0x82 or 0xAA or 0xCC) Complete(d);
                else Abort(d, ErrAbrt);
                break;
            case 0xE5 or 0x98: // CHECK POWER MODE: FFh = active or idle
                _count = 0xFF;
                Complete(d);
                break;
            case 0xE0 or 0xE1 or 0xE2 or 0xE3 or 0xE6 or 0x94 or 0x95 or 0x96 or 0x97 or 0x99:
                Complete(d); // standby / idle / sleep: no spindle to stop
                break;
            case >= 0x10 and <= 0x1F: // RECALIBRATE
            case >= 0x70 and <= 0x7F: // SEEK
                Complete(d);
                break;
            case 0xF8: // READ NATIVE MAX ADDRESS
                if (!LbaMode) { Abort(d, ErrAbrt); break; }
                SetLba28(Math.Min(d.Disk.SectorCount, AtaDrive.MaxLba28Sectors) - 1);
                Complete(d);
                break;
            case 0x27: // READ NATIVE MAX ADDRESS EXT
                SetLba48(d.Disk.SectorCount - 1);
                Complete(d);
                break;
            case 0x90: // EXECUTE DEVICE DIAGNOSTIC (§8.11): both devices, the result in the error register
                foreach (var drive in _drives)
                {
                    if (drive is null) continue;
                    drive.CancelTransfer();
                    drive.Status = Drdy | Dsc;
                    drive.Error = 0x01;
                }
                _device = 0;
                SetSignature();
                if (_drives[0] is { } m) Interrupt(m);
                break;
            default:
                // NOP, DEVICE RESET and PACKET commands (ATAPI), DMA commands, and everything unknown.
                Abort(d, ErrAbrt);
                break;
        }
    }

    private void Complete(AtaDrive d)
    {
        d.Status = Drdy | Dsc;
        Interrupt(d);
    }

    private void Abort(AtaDrive d, byte error)
    {
        d.CancelTransfer();
        d.Error = error;
        d.Status = Drdy | Dsc | Err;
        Interrupt(d);
    }

    /// <summary>Decodes the command's starting sector and count, or aborts with IDNF if it is not on the disk.</summary>
    private bool TryDecodeRange(AtaDrive d, bool ext, out long lba, out int count)
    {
        if (ext)
        {
            lba = ((long)_prevLbaHigh << 40) | ((long)_prevLbaMid << 32) | ((long)_prevLbaLow << 24)
                | ((long)_lbaHigh << 16) | ((long)_lbaMid << 8) | _lbaLow;
            count = (_prevCount << 8) | _count;
            if (count == 0) count = 65536;
            if (!LbaMode) { Abort(d, ErrAbrt); return false; }
        }
        else
        {
            count = _count == 0 ? 256 : _count;
            if (LbaMode)
                lba = ((long)(_device & 0x0F) << 24) | ((long)_lbaHigh << 16) | ((long)_lbaMid << 8) | _lbaLow;
            else
            {
                int cylinder = (_lbaHigh << 8) | _lbaMid, head = _device & 0x0F, sector = _lbaLow;
                if (sector == 0 || sector > d.LogicalSectorsPerTrack || head >= d.LogicalHeads)
                {
                    lba = 0;
                    Abort(d, ErrIdnf);
                    return false;
                }
                lba = ((long)cylinder * d.LogicalHeads + head) * d.LogicalSectorsPerTrack + sector - 1;
            }
        }
        if (lba + count > d.Disk.SectorCount || (!ext && lba + count > AtaDrive.MaxLba28Sectors))
        {
            Abort(d, ErrIdnf);
            return false;
        }
        return true;
    }

    private void StartPio(AtaDrive d, bool ext, bool write, bool multiple)
    {
        if (multiple && d.MultipleCount == 0) { Abort(d, ErrAbrt); return; } // §8.26: multiple mode not enabled
        if (!TryDecodeRange(d, ext, out long lba, out int count)) return;
        if (write && d.Disk.ReadOnly) { Abort(d, ErrAbrt); return; }
        d.Transfer = new PioTransfer(lba, count, multiple ? d.MultipleCount : 1, write, ext);
        if (write)
        {
            // The first DRQ block of a write is requested without an interrupt (§9.8, PIO data-out protocol).
            d.BeginDataOut(d.Transfer.NextBlockSectors * IBlockDevice.SectorSize);
        }
        else
            LoadReadBlock(d);
    }

    private void LoadReadBlock(AtaDrive d)
    {
        var t = d.Transfer!;
        int sectors = t.NextBlockSectors;
        var buffer = d.Buffer(sectors * IBlockDevice.SectorSize);
        try
        {
            d.Disk.Read(t.Lba, buffer);
        }
        catch (IOException)
        {
            ReportTransferError(d, t.Lba);
            return;
        }
        d.BeginDataIn(buffer);
        Interrupt(d);
    }

    private void ReportTransferError(AtaDrive d, long lba)
    {
        var t = d.Transfer!;
        SetAddress(lba, t.Ext);
        Abort(d, ErrUnc);
    }

    private void Verify(AtaDrive d, bool ext)
    {
        if (!TryDecodeRange(d, ext, out long lba, out int count)) return;
        SetAddress(lba + count - 1, ext);
        Complete(d);
    }

    /// <summary>Called when the host has moved the whole DRQ block through the data port.</summary>
    private void BlockDone(AtaDrive d)
    {
        var t = d.Transfer!;
        int sectors = t.NextBlockSectors;
        if (t.Write)
        {
            try
            {
                d.Disk.Write(t.Lba, d.Buffer(sectors * IBlockDevice.SectorSize));
            }
            catch (IOException)
            {
                ReportTransferError(d, t.Lba);
                return;
            }
        }
        t.Advance(sectors);
        // The registers track the transfer: remaining count, and the address of the last sector moved.
        SetAddress(t.Lba - 1, t.Ext);
        if (t.Ext) { _prevCount = (byte)(t.Remaining >> 8); }
        _count = (byte)t.Remaining;
        if (t.Remaining == 0)
        {
            d.Transfer = null;
            d.Status = Drdy | Dsc;
            if (t.Write) Interrupt(d); // a read ends silently after the last block; a write reports completion
            return;
        }
        if (t.Write)
        {
            d.BeginDataOut(t.NextBlockSectors * IBlockDevice.SectorSize);
            Interrupt(d);
        }
        else
            LoadReadBlock(d);
    }

    private void SetAddress(long lba, bool ext)
    {
        if (ext) SetLba48(lba);
        else if (LbaMode) SetLba28(lba);
        else
        {
            var d = Selected!;
            long perCylinder = (long)d.LogicalHeads * d.LogicalSectorsPerTrack;
            long cylinder = lba / perCylinder;
            int head = (int)(lba / d.LogicalSectorsPerTrack % d.LogicalHeads);
            int sector = (int)(lba % d.LogicalSectorsPerTrack) + 1;
            _lbaLow = (byte)sector;
            _lbaMid = (byte)cylinder;
            _lbaHigh = (byte)(cylinder >> 8);
            _device = (byte)((_device & 0xF0) | head);
        }
    }

    private void SetLba28(long lba)
    {
        _lbaLow = (byte)lba;
        _lbaMid = (byte)(lba >> 8);
        _lbaHigh = (byte)(lba >> 16);
        _device = (byte)((_device & 0xF0) | (int)((lba >> 24) & 0x0F));
    }

    private void SetLba48(long lba)
    {
        _lbaLow = (byte)lba;
        _lbaMid = (byte)(lba >> 8);
        _lbaHigh = (byte)(lba >> 16);
        _prevLbaLow = (byte)(lba >> 24);
        _prevLbaMid = (byte)(lba >> 32);
        _prevLbaHigh = (byte)(lba >> 40);
    }

    // ---------------------------------------------------------------- data port

    private ushort ReadDataWord(AtaDrive d)
    {
        if (!d.DataIn) return 0xFFFF;
        ushort v = d.TakeWord();
        if (d.BlockComplete)
        {
            if (d.Transfer is null)
            {
                // IDENTIFY: one block, then the command is over.
                d.EndData();
                d.Status = Drdy | Dsc;
            }
            else
            {
                d.EndData();
                BlockDone(d);
            }
        }
        return v;
    }

    private void WriteDataWord(AtaDrive d, ushort value)
    {
        if (!d.DataOut) return;
        d.PutWord(value);
        if (d.BlockComplete)
        {
            d.EndData();
            BlockDone(d);
        }
    }

    public void Dispose()
    {
        foreach (var d in _drives)
            d?.Disk.Dispose();
    }
}

/// <summary>A multi-sector PIO command in progress.</summary>
internal sealed class PioTransfer(long lba, int count, int blockSectors, bool write, bool ext)
{
    public long Lba { get; private set; } = lba;
    public int Remaining { get; private set; } = count;
    public int BlockSectors { get; } = blockSectors;
    public bool Write { get; } = write;
    public bool Ext { get; } = ext;
    public int NextBlockSectors => Math.Min(BlockSectors, Remaining);

    public void Advance(int sectors)
    {
        Lba += sectors;
        Remaining -= sectors;
    }
}

/// <summary>The per-drive half of an ATA device: its status, error, geometry, multiple-mode setting and data buffer.</summary>
public sealed class AtaDrive
{
    public const int MaxMultiple = 16;
    public const long MaxLba28Sectors = 0x0FFF_FFFF;

    private readonly byte[] _buffer = new byte[MaxMultiple * IBlockDevice.SectorSize];
    private int _length, _position;
    private bool _dataIn, _dataOut;

    internal AtaDrive(IBlockDevice disk, string serial)
    {
        Disk = disk;
        Serial = serial;
        // Default geometry the way BIOSes expect from an LBA-translated drive (ATA-6 Annex B):
        // 16 heads, 63 sectors per track, cylinders from the capacity, at most 16383.
        DefaultHeads = 16;
        DefaultSectorsPerTrack = 63;
        DefaultCylinders = (int)Math.Clamp(disk.SectorCount / (16 * 63), 1, 16383);
    }

    public IBlockDevice Disk { get; }
    public string Serial { get; }
    public string Model { get; init; } = "MYKVM HARDDISK";
    public string Firmware { get; init; } = "1.0";
    public int DefaultCylinders { get; }
    public int DefaultHeads { get; }
    public int DefaultSectorsPerTrack { get; }

    public byte Status { get; internal set; }
    public byte Error { get; internal set; }
    public int MultipleCount { get; internal set; }
    public int LogicalHeads { get; internal set; }
    public int LogicalSectorsPerTrack { get; internal set; }
    internal bool InterruptPending { get; set; }
    internal PioTransfer? Transfer { get; set; }

    internal bool DataIn => _dataIn;
    internal bool DataOut => _dataOut;
    internal bool BlockComplete => _position >= _length;

    internal void PowerOn()
    {
        Status = IdeChannel.Drdy | IdeChannel.Dsc;
        Error = 0x01;
        MultipleCount = 0;
        LogicalHeads = DefaultHeads;
        LogicalSectorsPerTrack = DefaultSectorsPerTrack;
    }

    internal void BeginReset()
    {
        CancelTransfer();
        InterruptPending = false;
        Status = IdeChannel.Bsy;
    }

    internal void EndReset()
    {
        Status = IdeChannel.Drdy | IdeChannel.Dsc;
        Error = 0x01;
    }

    internal void CancelTransfer()
    {
        Transfer = null;
        EndData();
    }

    internal Span<byte> Buffer(int length) => _buffer.AsSpan(0, length);

    internal void BeginDataIn(ReadOnlySpan<byte> data)
    {
        if (!data.Overlaps(_buffer)) data.CopyTo(_buffer);
        _length = data.Length;
        _position = 0;
        _dataIn = true;
        _dataOut = false;
        Status = IdeChannel.Drdy | IdeChannel.Dsc | IdeChannel.Drq;
    }

    internal void BeginDataOut(int length)
    {
        _length = length;
        _position = 0;
        _dataOut = true;
        _dataIn = false;
        Status = IdeChannel.Drdy | IdeChannel.Dsc | IdeChannel.Drq;
    }

    internal void EndData()
    {
        _dataIn = _dataOut = false;
        _length = _position = 0;
        Status &= unchecked((byte)~IdeChannel.Drq);
    }

    internal ushort TakeWord()
    {
        ushort v = BinaryPrimitives.ReadUInt16LittleEndian(_buffer.AsSpan(_position));
        _position += 2;
        return v;
    }

    internal void PutWord(ushort v)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(_buffer.AsSpan(_position), v);
        _position += 2;
    }

    /// <summary>The 256-word IDENTIFY DEVICE data (ATA-6 §8.15, table 27).</summary>
    public byte[] BuildIdentify()
    {
        var w = new ushort[256];
        long total = Disk.SectorCount;
        long lba28 = Math.Min(total, MaxLba28Sectors);
        w[0] = 0x0040;                           // fixed device, not removable
        w[1] = (ushort)DefaultCylinders;
        w[3] = (ushort)DefaultHeads;
        w[6] = (ushort)DefaultSectorsPerTrack;
        PutString(w, 10, 20, Serial);
        PutString(w, 23, 8, Firmware);
        PutString(w, 27, 40, Model);
        w[47] = 0x8000 | MaxMultiple;            // READ/WRITE MULTIPLE: up to 16 sectors per DRQ block
        w[49] = 0x0200;                          // LBA supported; no DMA
        w[50] = 0x4000;
        w[51] = 0x0200;                          // PIO mode 2 timing (obsolete field)
        w[53] = 0x0003;                          // words 54-58 and 64-70 are valid
        long chsCapacity = (long)DefaultCylinders * DefaultHeads * DefaultSectorsPerTrack;
        long currentCylinders = Math.Min(65535, chsCapacity / ((long)LogicalHeads * LogicalSectorsPerTrack));
        long currentCapacity = currentCylinders * LogicalHeads * LogicalSectorsPerTrack;
        w[54] = (ushort)currentCylinders;
        w[55] = (ushort)LogicalHeads;
        w[56] = (ushort)LogicalSectorsPerTrack;
        w[57] = (ushort)currentCapacity;
        w[58] = (ushort)(currentCapacity >> 16);
        w[59] = (ushort)(MultipleCount != 0 ? 0x0100 | MultipleCount : 0);
        w[60] = (ushort)lba28;
        w[61] = (ushort)(lba28 >> 16);
        w[64] = 0x0003;                          // PIO modes 3 and 4
        w[65] = w[66] = w[67] = w[68] = 120;     // cycle times, ns
        w[80] = 0x007E;                          // ATA-1 .. ATA-6
        w[82] = 0x4000;                          // NOP supported (it aborts, as the standard says)
        w[83] = 0x4000 | 0x2000 | 0x1000 | 0x0400; // FLUSH CACHE EXT, FLUSH CACHE, 48-bit addressing
        w[84] = 0x4000;
        w[85] = w[82];
        w[86] = (ushort)(w[83] & ~0x4000);
        w[87] = 0x4000;
        w[100] = (ushort)total;
        w[101] = (ushort)(total >> 16);
        w[102] = (ushort)(total >> 32);
        w[103] = (ushort)(total >> 48);
        var bytes = new byte[512];
        for (int i = 0; i < 255; i++)
            BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(2 * i), w[i]);
        // Integrity word (§8.15.61): signature A5h, then a checksum making the 512 bytes sum to 0 mod 256.
        bytes[510] = 0xA5;
        int sum = 0;
        for (int i = 0; i < 511; i++) sum += bytes[i];
        bytes[511] = (byte)(-sum);
        return bytes;
    }

    // ATA strings hold two characters per word, the first in the high byte (§8.15 "ATA string convention").
    private static void PutString(ushort[] words, int firstWord, int length, string s)
    {
        var chars = Encoding.ASCII.GetBytes(s.PadRight(length)[..length]);
        for (int i = 0; i < length; i += 2)
            words[firstWord + i / 2] = (ushort)((chars[i] << 8) | chars[i + 1]);
    }
}
