using MyKvm.Core;

namespace MyKvm.Devices.Legacy;

/// <summary>
/// The PC/AT's two cascaded Intel 8259A programmable interrupt controllers (master at 0x20/0x21 for IRQ 0–7,
/// slave at 0xA0/0xA1 for IRQ 8–15 on master input 2), plus the PIIX edge/level control registers (ELCR)
/// at 0x4D0/0x4D1. Follows the 8259A datasheet: ICW1–ICW4 initialisation, OCW1 mask, OCW2 EOI and rotation
/// commands, OCW3 read-register select, poll and special mask mode; auto-EOI, special fully nested mode,
/// spurious IRQ 7/15. The master's INT output drives <see cref="CpuSignals.Intr"/>; the CPU's interrupt
/// acknowledge is <see cref="Acknowledge"/>.
/// <para>Register: <c>io.Register(0x20, 2, pic)</c>, <c>io.Register(0xA0, 2, pic)</c>, <c>io.Register(0x4D0, 2, pic)</c>,
/// and set <c>signals.Controller = pic</c>.</para>
/// </summary>
public sealed class Pic8259Pair : IPortDevice, IInterruptController
{
    private readonly CpuSignals _signals;
    private readonly Chip _master;
    private readonly Chip _slave;
    private readonly Line[] _lines = new Line[16];

    public Pic8259Pair(CpuSignals signals)
    {
        ArgumentNullException.ThrowIfNull(signals);
        _signals = signals;
        // PIIX ELCR: IRQ 0, 1, 2, 8 and 13 are always edge-triggered (their ELCR bits are reserved as 0).
        _master = new Chip(isMaster: true, elcrMask: 0xF8);
        _slave = new Chip(isMaster: false, elcrMask: 0xDE);
        for (int i = 0; i < 16; i++) _lines[i] = new Line(this, i);
    }

    /// <summary>
    /// The input for ISA IRQ <paramref name="irq"/> (0–15). IRQ 2 is the cascade input on a PC/AT, so the
    /// ISA bus's IRQ 2 pin is wired to IRQ 9 (slave input 1), as on real boards.
    /// </summary>
    public IIrqLine GetIrqLine(int irq)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(irq, 0);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(irq, 15);
        return _lines[irq == 2 ? 9 : irq];
    }

    /// <summary>True while the master's INT output is asserted.</summary>
    public bool InterruptPending => _master.Output;

    /// <summary>
    /// Raised with the new level whenever the master's INT output changes (both edges), for a local APIC whose
    /// LINT0 follows the 8259 (ExtINT virtual wire). The output also drives <see cref="CpuSignals.Intr"/> of
    /// the signals given to the constructor.
    /// </summary>
    public event Action<bool>? OutputChanged;

    // Read-outs for tests, the monitor and the debugger.
    public byte MasterIrr => _master.Irr;
    public byte MasterIsr => _master.Isr;
    public byte MasterImr => _master.Imr;
    public byte SlaveIrr => _slave.Irr;
    public byte SlaveIsr => _slave.Isr;
    public byte SlaveImr => _slave.Imr;
    public byte MasterVectorBase => _master.VectorBase;
    public byte SlaveVectorBase => _slave.VectorBase;

    /// <summary>
    /// The CPU's INTA cycle (datasheet "Interrupt Sequence"): the master resolves its highest request; for the
    /// cascade input the slave supplies the vector. With nothing left to deliver (the request went away before
    /// the acknowledge) the chip answers with its IR7 vector without setting ISR: the spurious interrupt.
    /// </summary>
    public byte Acknowledge()
    {
        byte vector;
        int irq = _master.HighestRequest();
        if (irq < 0)
        {
            vector = (byte)(_master.VectorBase + 7);
        }
        else if (irq == 2 && _master.HasSlaveOnIr2)
        {
            int slaveIrq = _slave.HighestRequest();
            if (slaveIrq >= 0)
            {
                vector = (byte)(_slave.VectorBase + slaveIrq);
                _slave.Accept(slaveIrq);
            }
            else
            {
                // Spurious on the slave: IRQ 15's vector; the master still takes IR2 in service.
                vector = (byte)(_slave.VectorBase + 7);
            }
            _master.Accept(irq);
        }
        else
        {
            vector = (byte)(_master.VectorBase + irq);
            _master.Accept(irq);
        }
        Update();
        return vector;
    }

    public uint PortRead(ushort port, int size)
    {
        byte value = port switch
        {
            0x20 or 0x21 => _master.Read(port & 1),
            0xA0 or 0xA1 => _slave.Read(port & 1),
            0x4D0 => _master.Elcr,
            0x4D1 => _slave.Elcr,
            _ => 0xFF,
        };
        Update();
        return value;
    }

    public void PortWrite(ushort port, int size, uint value)
    {
        switch (port)
        {
            case 0x20: case 0x21: _master.Write(port & 1, (byte)value); break;
            case 0xA0: case 0xA1: _slave.Write(port & 1, (byte)value); break;
            case 0x4D0: _master.WriteElcr((byte)value); break;
            case 0x4D1: _slave.WriteElcr((byte)value); break;
        }
        Update();
    }

    private void SetInput(int irq, bool level)
    {
        if (irq < 8) _master.SetInput(irq, level);
        else _slave.SetInput(irq - 8, level);
        Update();
    }

    /// <summary>Propagates the slave's INT to master IR2 and the master's INT to the CPU.</summary>
    private void Update()
    {
        _master.SetInput(2, _slave.Output);
        bool output = _master.Output;
        if (output == ((_signals.Flags & CpuSignals.Intr) != 0)) return;
        // Raise (not just set) so a backend blocked in HLT or KVM_RUN is kicked.
        if (output) _signals.Raise(CpuSignals.Intr);
        else _signals.Clear(CpuSignals.Intr);
        OutputChanged?.Invoke(output);
    }

    private sealed class Line(Pic8259Pair pic, int irq) : IIrqLine
    {
        public void Set(bool level) => pic.SetInput(irq, level);
    }

    /// <summary>One 8259A.</summary>
    private sealed class Chip(bool isMaster, byte elcrMask)
    {
        public byte Irr, Isr, Imr, Elcr;
        public byte VectorBase;
        private byte _inputs;          // current level of each IR pin
        private byte _lowestPriority = 7;
        private int _initStep;         // 0: operational; 2, 3, 4: the next data-port write is that ICW
        private bool _icw4Needed, _single, _levelTriggered;
        private byte _icw3;
        private bool _autoEoi, _rotateOnAutoEoi, _specialFullyNested;
        private bool _readIsr, _pollPending, _specialMask;

        public bool HasSlaveOnIr2 => isMaster && !_single && (_icw3 & 0x04) != 0;

        private bool IsLevel(int ir) => _levelTriggered || (Elcr & (1 << ir)) != 0;

        public void SetInput(int ir, bool level)
        {
            byte bit = (byte)(1 << ir);
            bool was = (_inputs & bit) != 0;
            if (level) _inputs |= bit; else _inputs &= (byte)~bit;
            if (IsLevel(ir))
            {
                // Level mode: the request follows the pin; a request withdrawn before INTA is no request.
                if (level) Irr |= bit; else Irr &= (byte)~bit;
            }
            else if (level && !was)
            {
                // Edge mode: latched on the rising edge and kept until acknowledged.
                Irr |= bit;
            }
        }

        public void WriteElcr(byte value)
        {
            Elcr = (byte)(value & elcrMask);
            // A line switched to level mode now reports its pin's level.
            for (int ir = 0; ir < 8; ir++)
                if ((Elcr & (1 << ir)) != 0)
                    SetInput(ir, (_inputs & (1 << ir)) != 0);
        }

        /// <summary>Priority rank of an IR: 0 is highest; the level after <see cref="_lowestPriority"/> is highest.</summary>
        private int Rank(int ir) => (ir - _lowestPriority - 1) & 7;

        /// <summary>The highest-priority in-service level that blocks new requests, or -1.</summary>
        private int HighestInService()
        {
            int blocking = Isr;
            // Special mask mode: a masked level in service does not inhibit the others (datasheet, OCW3 SMM).
            if (_specialMask) blocking &= ~Imr;
            // Special fully nested mode: more requests from the slave get through while one of its levels is in service.
            if (_specialFullyNested && isMaster) blocking &= ~0x04;
            return HighestOf(blocking);
        }

        private int HighestOf(int bits)
        {
            if (bits == 0) return -1;
            for (int r = 0; r < 8; r++)
            {
                int ir = (_lowestPriority + 1 + r) & 7;
                if ((bits & (1 << ir)) != 0) return ir;
            }
            return -1;
        }

        /// <summary>The request to deliver now (unmasked, higher priority than what is in service), or -1.</summary>
        public int HighestRequest()
        {
            int ir = HighestOf(Irr & ~Imr);
            if (ir < 0) return -1;
            int inService = HighestInService();
            return inService >= 0 && Rank(inService) <= Rank(ir) ? -1 : ir;
        }

        public bool Output => _initStep == 0 && HighestRequest() >= 0;

        /// <summary>The INTA (or poll) of <paramref name="ir"/>: ISR set, an edge-triggered request consumed.</summary>
        public void Accept(int ir)
        {
            byte bit = (byte)(1 << ir);
            if (!IsLevel(ir)) Irr &= (byte)~bit;
            if (_autoEoi)
            {
                if (_rotateOnAutoEoi) _lowestPriority = (byte)ir;
            }
            else
            {
                Isr |= bit;
            }
        }

        public byte Read(int a0)
        {
            if (_pollPending)
            {
                // Poll command: this read is the interrupt acknowledge; bit 7 says whether there was one.
                _pollPending = false;
                int ir = HighestRequest();
                if (ir < 0) return 0;
                Accept(ir);
                return (byte)(0x80 | ir);
            }
            if (a0 == 1) return Imr;
            return _readIsr ? Isr : Irr;
        }

        public void Write(int a0, byte value)
        {
            if (a0 == 0)
            {
                if ((value & 0x10) != 0) Icw1(value);
                else if ((value & 0x08) != 0) Ocw3(value);
                else Ocw2(value);
                return;
            }
            switch (_initStep)
            {
                case 2:
                    // x86 mode: T7–T3 come from ICW2, the low three bits are the IR number.
                    VectorBase = (byte)(value & 0xF8);
                    _initStep = _single ? (_icw4Needed ? 4 : 0) : 3;
                    break;
                case 3:
                    _icw3 = value;
                    _initStep = _icw4Needed ? 4 : 0;
                    break;
                case 4:
                    // ICW4: bit 0 µPM (8086 mode), bit 1 AEOI, bits 2–3 buffered mode, bit 4 SFNM.
                    _autoEoi = (value & 0x02) != 0;
                    _specialFullyNested = (value & 0x10) != 0;
                    _initStep = 0;
                    break;
                default:
                    Imr = value;   // OCW1
                    break;
            }
        }

        /// <summary>ICW1 starts the initialisation sequence and resets the chip (datasheet, "Initialization Command Words").</summary>
        private void Icw1(byte value)
        {
            _levelTriggered = (value & 0x08) != 0;
            _single = (value & 0x02) != 0;
            _icw4Needed = (value & 0x01) != 0;
            _initStep = 2;
            Imr = 0;
            Isr = 0;
            _lowestPriority = 7;
            _specialMask = false;
            _readIsr = false;
            _pollPending = false;
            if (!_icw4Needed)
            {
                _autoEoi = false;
                _specialFullyNested = false;
            }
            _rotateOnAutoEoi = false;
            _icw3 = 0;
            // The edge-sense latches are reset: an input already high must go low and high again to request.
            Irr = 0;
            for (int ir = 0; ir < 8; ir++)
                if (IsLevel(ir) && (_inputs & (1 << ir)) != 0) Irr |= (byte)(1 << ir);
        }

        private void Ocw2(byte value)
        {
            int level = value & 7;
            switch (value >> 5)
            {
                case 0b001: // non-specific EOI
                {
                    int ir = HighestOf(Isr);
                    if (ir >= 0) Isr &= (byte)~(1 << ir);
                    break;
                }
                case 0b011: // specific EOI
                    Isr &= (byte)~(1 << level);
                    break;
                case 0b101: // rotate on non-specific EOI
                {
                    int ir = HighestOf(Isr);
                    if (ir >= 0)
                    {
                        Isr &= (byte)~(1 << ir);
                        _lowestPriority = (byte)ir;
                    }
                    break;
                }
                case 0b100: _rotateOnAutoEoi = true; break;
                case 0b000: _rotateOnAutoEoi = false; break;
                case 0b111: // rotate on specific EOI
                    Isr &= (byte)~(1 << level);
                    _lowestPriority = (byte)level;
                    break;
                case 0b110: // set priority: the given level becomes the lowest
                    _lowestPriority = (byte)level;
                    break;
                default: // 0b010: no operation
                    break;
            }
        }

        private void Ocw3(byte value)
        {
            if ((value & 0x40) != 0) _specialMask = (value & 0x20) != 0;
            if ((value & 0x04) != 0) _pollPending = true;
            if ((value & 0x02) != 0) _readIsr = (value & 0x01) != 0;
        }
    }
}
