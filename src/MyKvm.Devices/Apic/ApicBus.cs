using MyKvm.Core;

namespace MyKvm.Devices.Apic;

/// <summary>APIC delivery modes (Intel SDM Vol. 3A §10.6.1, ICR bits 10:8; §10.5.1 for LVT entries).</summary>
public enum ApicDeliveryMode : byte
{
    Fixed = 0,
    LowestPriority = 1,
    Smi = 2,
    Nmi = 4,
    Init = 5,
    StartUp = 6,
    ExtInt = 7,
}

/// <summary>An interrupt message on the APIC bus (from an I/O APIC redirection entry or a local APIC's ICR).</summary>
public readonly record struct ApicMessage(
    byte Vector,
    ApicDeliveryMode Mode,
    bool LogicalDestination,
    byte Destination,
    bool LevelTriggered,
    bool Assert = true);

/// <summary>
/// The system bus as the APICs see it: local APICs accept messages addressed to them, I/O APICs hear EOI
/// broadcasts (SDM Vol. 3A §10.8.5: an EOI for a level-triggered vector is broadcast to all I/O APICs).
/// </summary>
public sealed class ApicBus
{
    private readonly List<LocalApic> _locals = [];
    private readonly List<IoApic> _ioApics = [];

    public IReadOnlyList<LocalApic> LocalApics => _locals;

    /// <summary>Messages that reached no local APIC (IPIs to CPUs that do not exist yet), newest last, at most 64.</summary>
    public List<ApicMessage> Undelivered { get; } = [];

    internal void Attach(LocalApic apic) => _locals.Add(apic);
    internal void Attach(IoApic apic) => _ioApics.Add(apic);

    /// <summary>Delivers to every local APIC the destination selects (one of them for lowest priority). Returns how many accepted.</summary>
    public int Deliver(in ApicMessage message)
    {
        int accepted = 0;
        foreach (var apic in _locals)
        {
            if (!apic.IsDestination(message.Destination, message.LogicalDestination)) continue;
            apic.Accept(message);
            accepted++;
            // Lowest priority picks one target; with every CPU at equal priority the first will do (§10.6.2.4).
            if (message.Mode == ApicDeliveryMode.LowestPriority) break;
        }
        if (accepted == 0) RecordUndelivered(message);
        return accepted;
    }

    internal void RecordUndelivered(in ApicMessage message)
    {
        if (Undelivered.Count == 64) Undelivered.RemoveAt(0);
        Undelivered.Add(message);
    }

    internal void BroadcastEoi(byte vector)
    {
        foreach (var io in _ioApics)
            io.EndOfInterrupt(vector);
    }
}

/// <summary>An IRQ line that drives several controller inputs at once (an ISA IRQ goes to both the 8259 and the I/O APIC).</summary>
public sealed class FanOutIrqLine(params IIrqLine[] targets) : IIrqLine
{
    public void Set(bool level)
    {
        foreach (var t in targets) t.Set(level);
    }
}

/// <summary>
/// How the 16 ISA IRQs reach the interrupt controllers on a PC with an I/O APIC: each goes to its 8259 input and
/// to an I/O APIC pin — the same pin number, except IRQ 0 (the PIT) on pin 2, as QEMU and most boards wire it and as
/// the MP table's I/O interrupt entries say (<c>MpTables</c>). ISA IRQ 2 is IRQ 9 on an AT, so it goes to pin 9.
/// </summary>
public static class IsaInterruptRouting
{
    public static int IoApicPin(int isaIrq) => isaIrq switch { 0 => 2, 2 => 9, _ => isaIrq };

    /// <param name="picInput">The 8259 input for an ISA IRQ (e.g. <c>pic.GetIrqLine</c>).</param>
    public static IIrqLine[] Create(Func<int, IIrqLine> picInput, IoApic ioApic)
    {
        var lines = new IIrqLine[16];
        for (int irq = 0; irq < 16; irq++)
            lines[irq] = new FanOutIrqLine(picInput(irq), ioApic.GetPin(IoApicPin(irq)));
        return lines;
    }
}
