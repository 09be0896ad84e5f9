/* dev-rtc: the MC146818 RTC/CMOS through IRQ 8 on the slave 8259. Checks the BIOS-style CMOS contents
   (base memory, valid-RAM bit), reads a consistent time (waiting out update-in-progress), then
   takes the periodic interrupt at 1024 Hz, an update-ended interrupt and an alarm interrupt,
   acknowledging each by reading register C. Prints nothing that depends on the date or on how fast the host
   runs the guest, and the same under QEMU and mykvm. */
#include "devlib.h"

static uint8_t cmos_read(uint8_t index)
{
    outb(0x70, index);
    return inb(0x71);
}

static void cmos_write(uint8_t index, uint8_t value)
{
    outb(0x70, index);
    outb(0x71, value);
}

static volatile uint32_t irqs, irq_limit;
static volatile uint8_t last_c, first_c;
static volatile uint8_t seconds_at_irq[4];

/* Counts up to irq_limit interrupts of the phase under test; later ones are acknowledged and ignored. Under QEMU
   the RTC runs on host time, and a host that stalls the guest for a periodic interval (976 us) between the last
   wanted interrupt and the write that switches the source off lets one more through. */
static void rtc_irq(void)
{
    uint8_t c = cmos_read(0x0C);            /* reading C acknowledges: IRQ 8 drops */
    if (irqs >= irq_limit) return;
    if (irqs == 0) first_c = c;
    if (irqs < 4) seconds_at_irq[irqs] = cmos_read(0x00);
    last_c = c;
    irqs++;
}

static int binary_mode(void) { return cmos_read(0x0B) & 0x04; }
static uint8_t from_reg(uint8_t v) { return binary_mode() ? v : (uint8_t)((v >> 4) * 10 + (v & 0xF)); }
static uint8_t to_reg(uint8_t v) { return binary_mode() ? v : (uint8_t)((v / 10) << 4 | (v % 10)); }

static int bcd_ok(uint8_t v) { return (v & 0xF) < 10 && (v >> 4) < 10; }

/* Interrupts off: rtc_irq would move the index register under our feet. */
static void wait_irqs(uint32_t n)
{
    while (irqs < n) { wait_for_interrupt(); cli(); }
}

static uint8_t slave_irr(void)
{
    outb(PIC2_CMD, 0x0A);                    /* OCW3: read IRR (devlib's default) */
    return inb(PIC2_CMD);
}

/* Starts a phase that counts `limit` interrupts. The source of the previous phase is off, but an interrupt it
   raised before that may still be latched in the slave PIC (an edge stays in the IRR): take it first, so that
   it is not counted for this phase. */
static void next_phase(uint32_t limit)
{
    cmos_read(0x0C);
    irq_limit = 0;
    for (int i = 0; slave_irr() & 0x01; i++) {
        if (i == 1000) fail("IRQ 8 stays requested");
        sti();
        io_delay();                          /* taken after sti's one-instruction shadow */
        cli();
    }
    irqs = 0;
    irq_limit = limit;
}

void kmain(uint32_t magic, uint32_t info)
{
    (void)magic; (void)info;
    serial_init();
    dev_init();
    kprintf("dev-rtc: CMOS and RTC on IRQ 8\n");

    kprintf("base memory %u KiB\n", cmos_read(0x15) | cmos_read(0x16) << 8);
    /* (The 0x2E checksum is not printed: QEMU leaves it zero.) */
    kprintf("register D %02x\n", cmos_read(0x0D));

    /* A consistent time: wait while UIP is set, then read (Linux's mc146818_get_time does the same). */
    while (cmos_read(0x0A) & 0x80) ;
    uint8_t sec = cmos_read(0x00), min = cmos_read(0x02), hour = cmos_read(0x04) & 0x7F;
    uint8_t day = cmos_read(0x07), mon = cmos_read(0x08), year = cmos_read(0x09);
    int ok = 1;
    if (!binary_mode()) ok = bcd_ok(sec) && bcd_ok(min) && bcd_ok(hour) && bcd_ok(day) && bcd_ok(mon) && bcd_ok(year);
    ok = ok && from_reg(sec) < 60 && from_reg(min) < 60 && from_reg(hour) < 24 &&
         from_reg(day) >= 1 && from_reg(day) <= 31 && from_reg(mon) >= 1 && from_reg(mon) <= 12;
    kprintf("time registers %s\n", ok ? "valid" : "INVALID");

    irq_set_handler(8, rtc_irq);
    irq_unmask(8);

    /* Periodic interrupt: rate 6 is 1024 Hz. */
    next_phase(256);
    cmos_write(0x0A, (cmos_read(0x0A) & 0xF0) | 0x06);
    cmos_write(0x0B, cmos_read(0x0B) | 0x40);
    wait_irqs(256);
    cmos_write(0x0B, cmos_read(0x0B) & ~0x40);
    kprintf("periodic: %u interrupts, register C %02x\n", irqs, first_c & 0xC0);

    /* Update-ended interrupt: at the next update, after the time registers moved on. With UIP clear the
       update is at least 244 us away, far more than the few port writes before UIE is on. */
    next_phase(1);
    while (cmos_read(0x0A) & 0x80) ;
    uint8_t s0 = from_reg(cmos_read(0x00));
    cmos_read(0x0C);
    cmos_write(0x0B, cmos_read(0x0B) | 0x10);
    wait_irqs(1);
    cmos_write(0x0B, cmos_read(0x0B) & ~0x10);
    uint8_t s1 = from_reg(seconds_at_irq[0]);
    kprintf("update-ended: seconds advanced by %u, register C %02x\n", (s1 + 60 - s0) % 60, last_c & 0x90);

    /* Alarm at the next second; hours and minutes "don't care". */
    next_phase(1);
    while (cmos_read(0x0A) & 0x80) ;
    uint8_t target = (uint8_t)((from_reg(cmos_read(0x00)) + 1) % 60);
    cmos_write(0x01, to_reg(target));
    cmos_write(0x03, 0xC0);
    cmos_write(0x05, 0xC0);
    cmos_read(0x0C);
    cmos_write(0x0B, cmos_read(0x0B) | 0x20);
    wait_irqs(1);
    cmos_write(0x0B, cmos_read(0x0B) & ~0x20);
    kprintf("alarm: fired at the set second %s, register C %02x\n",
            from_reg(seconds_at_irq[0]) == target ? "yes" : "NO", last_c & 0xA0);

    kprintf("dev-rtc: ok\n");
    guest_exit(0);
}
