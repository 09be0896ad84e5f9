/* dev-pit: the 8254 PIT through the 8259 PIC. Channel 0 ticks at 100 Hz on IRQ 0 (mode 2) while the CPU
   halts between interrupts; the in-service register is checked from inside the handler; the counter is
   read with latch and read-back commands; channel 2 runs a mode 0 one-shot polled through port 0x61 bit 5
   (the way Linux calibrates its TSC); channel 0 in mode 0 interrupts exactly once. The output does not depend
   on how fast the host runs the guest (QEMU's PIT runs on host time). */
#include "devlib.h"

#define PIT_HZ 1193182u

static volatile uint32_t ticks;
static volatile uint8_t isr_in_handler = 0xFF;

static void timer_irq(void)
{
    if (ticks == 0) isr_in_handler = pic_read_isr(0);
    ticks++;
}

static uint16_t pit_latch(int ch)
{
    outb(0x43, (uint8_t)(ch << 6));          /* counter latch command */
    uint8_t lo = inb(0x40 + ch);
    uint8_t hi = inb(0x40 + ch);
    return (uint16_t)(lo | hi << 8);
}

static void pit_program(int ch, int mode, uint16_t count)
{
    outb(0x43, (uint8_t)(ch << 6 | 0x30 | mode << 1));   /* LSB then MSB, binary */
    outb(0x40 + ch, count & 0xFF);
    outb(0x40 + ch, count >> 8);
}

/* Channel 2 one-shot of `count` clocks, polled on port 0x61 bit 5; returns 0 if OUT never rose. OUT must read
   low right after the count is written (mode 0); under QEMU the PIT follows the host clock, so a host that
   stalls the guest for longer than the count between the write and that read finds OUT already high: such an
   attempt proves nothing either way and is repeated. */
static int channel2_wait(uint16_t count)
{
    outb(0x61, (inb(0x61) & ~0x02) | 0x01);  /* gate on, speaker off */
    for (int attempt = 0; attempt < 5; attempt++) {
        pit_program(2, 0, count);
        if (inb(0x61) & 0x20) continue;
        for (uint32_t i = 0; i < 200000000u; i++)
            if (inb(0x61) & 0x20) return 1;
        return 0;
    }
    return 0;
}

/* The master PIC's interrupt request register (OCW3 read IRR, the mode devlib leaves it in). */
static uint8_t pic_read_irr(void)
{
    outb(PIC1_CMD, 0x0A);
    return inb(PIC1_CMD);
}

void kmain(uint32_t magic, uint32_t info)
{
    (void)magic; (void)info;
    serial_init();
    dev_init();
    kprintf("dev-pit: channel 0 at 100 Hz on IRQ 0\n");

    pit_program(0, 2, PIT_HZ / 100);
    irq_set_handler(0, timer_irq);
    irq_unmask(0);
    uint32_t printed = 0;
    while (printed < 50) {
        wait_for_interrupt();
        uint32_t t = ticks;
        while (printed + 10 <= t) {
            printed += 10;
            kprintf("tick %u\n", printed);
        }
    }
    cli();
    kprintf("ISR during IRQ 0: %02x\n", isr_in_handler);

    /* The counter runs: two latched reads some time apart differ and stay within the divisor. */
    uint16_t a = pit_latch(0);
    for (int i = 0; i < 2000; i++) io_delay();
    uint16_t b = pit_latch(0);
    if (a == b || a == 0 || b == 0 || a > PIT_HZ / 100 || b > PIT_HZ / 100) fail("channel 0 counter");
    kprintf("channel 0 counter counts\n");

    /* Read-back: status of channel 0 (mode 2, LSB/MSB, binary, count loaded). */
    outb(0x43, 0xE2);
    kprintf("channel 0 status %02x\n", inb(0x40) & 0x7F);

    if (!channel2_wait(PIT_HZ / 1000)) fail("channel 2 OUT did not rise");
    kprintf("channel 2 one-shot: OUT low, then high\n");

    /* Channel 0 in mode 0 interrupts once at terminal count, then stays quiet. The 100 Hz ticks went on while
       interrupts were off above, and an edge stays latched in the IRR even while the line is masked (8259A
       datasheet): under QEMU, whose PIT follows the host clock, a host that stalls this section past 10 ms leaves
       a tick there that would count as a second mode 0 interrupt. So first stop the ticks for good (mode 1
       waits for a gate trigger that channel 0, its gate tied high, never gets; QEMU, which ignores the gate,
       raises OUT at once and lowers it at the end of the count, a rising edge only now), then take whatever
       is latched, then start the one-shot. */
    irq_mask(0);
    pit_program(0, 1, 0xFFFF);
    irq_unmask(0);
    for (int i = 0; pic_read_irr() & 0x01; i++) {
        if (i == 1000) fail("IRQ 0 stays requested");
        sti();
        io_delay();                          /* the pending tick is taken after sti's one-instruction shadow */
        cli();
    }
    irq_mask(0);
    ticks = 0;
    pit_program(0, 0, PIT_HZ / 1000);
    irq_unmask(0);
    while (ticks == 0) wait_for_interrupt();
    sti();
    if (!channel2_wait(PIT_HZ / 200)) fail("channel 2 OUT did not rise");  /* 5 ms of quiet */
    cli();
    kprintf("mode 0 on IRQ 0: %u interrupt\n", ticks);
    outb(0x43, 0xE2);
    kprintf("channel 0 status after terminal count %02x\n", inb(0x40));

    kprintf("dev-pit: ok\n");
    guest_exit(0);
}
