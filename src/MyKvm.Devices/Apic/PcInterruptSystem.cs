using MyKvm.Core;
using MyKvm.Devices.Legacy;

namespace MyKvm.Devices.Apic;

/// <summary>
/// The PC's interrupt hardware wired as one unit: the 8259 pair, and (unless <c>withApic</c> is false) the local
/// APIC as the CPU's interrupt controller with the 8259 behind LINT0, the I/O APIC, and the 16 ISA IRQ lines going
/// to both the 8259 and the I/O APIC (IRQ 0 on pin 2, see <see cref="IsaInterruptRouting"/>).
/// <para>
/// The 8259 gets a private <see cref="CpuSignals"/> object; its INT output reaches the local APIC's LINT0 through
/// <see cref="Pic8259Pair.OutputChanged"/> (both edges), and the local APIC alone drives the vCPU's INTR.
/// </para>
/// <code>
/// var irqs = new PcInterruptSystem(signals, timers);
/// irqs.RegisterOn(io, mmio);                       // 0x20, 0xA0, 0x4D0; LAPIC 0xFEE00000, IOAPIC 0xFEC00000
/// var pit = new Pit8254(irqs.IsaIrq(0), timers);   // devices take their ISA IRQ line from here
/// MpTables.Write(ram, new MpTableOptions { IoApicId = irqs.IoApic!.Id });
/// </code>
/// </summary>
public sealed class PcInterruptSystem
{
    private readonly IIrqLine[] _isa = new IIrqLine[16];

    /// <param name="signals">The vCPU's signals: its controller becomes the LAPIC (or the 8259 without APIC).</param>
    /// <param name="timers">The machine's timer queue (LAPIC timer).</param>
    /// <param name="withApic">False builds a pre-APIC PC: the 8259 alone drives INTR.</param>
    /// <param name="ioApicId">The I/O APIC's ID; the MP table must say the same (<c>MpTableOptions.IoApicId</c>).</param>
    public PcInterruptSystem(CpuSignals signals, TimerQueue timers, bool withApic = true, byte ioApicId = 1)
    {
        if (!withApic)
        {
            Pic = new Pic8259Pair(signals);
            signals.Controller = Pic;
            for (int irq = 0; irq < 16; irq++) _isa[irq] = Pic.GetIrqLine(irq);
            return;
        }
        Pic = new Pic8259Pair(new CpuSignals());
        ApicBus = new ApicBus();
        LocalApic = new LocalApic(signals, timers, ApicBus, Pic);
        var lint0 = LocalApic.Lint0;
        Pic.OutputChanged += level => lint0.Set(level);
        IoApic = new IoApic(ApicBus, ioApicId);
        var routed = IsaInterruptRouting.Create(Pic.GetIrqLine, IoApic);
        for (int irq = 0; irq < 16; irq++) _isa[irq] = routed[irq];
    }

    public Pic8259Pair Pic { get; }
    public ApicBus? ApicBus { get; }
    public LocalApic? LocalApic { get; }
    public IoApic? IoApic { get; }

    /// <summary>The line a device on ISA IRQ <paramref name="irq"/> (0–15) drives.</summary>
    public IIrqLine IsaIrq(int irq) => _isa[irq];

    /// <summary>The I/O APIC input for a PCI interrupt (pins 16–23 are free for PCI INTA#–INTD#), or null without APIC.</summary>
    public IIrqLine? IoApicPin(int pin) => IoApic?.GetPin(pin);

    public void RegisterOn(IoBus io, MmioBus mmio)
    {
        io.Register(0x20, 2, Pic);
        io.Register(0xA0, 2, Pic);
        io.Register(0x4D0, 2, Pic);
        if (LocalApic is not null) mmio.Register(LocalApic.DefaultBase, LocalApic.MmioSize, LocalApic);
        if (IoApic is not null) mmio.Register(PcMemoryLayout.IoApicBase, IoApic.MmioSize, IoApic);
    }
}
