/* GDT, IDT, PIC remapping and interrupt dispatch for the legacy-device guests (Intel SDM Vol. 3A ch. 6;
   8259A datasheet for ICW1-ICW4 and OCW2/OCW3). */
#include "devlib.h"

extern const uint32_t isr_stub_table[48];

static uint64_t gdt[3] = {
    0,
    0x00CF9A000000FFFFull,   /* 0x08: flat 32-bit code */
    0x00CF92000000FFFFull,   /* 0x10: flat 32-bit data */
};

static uint64_t idt[48];
static irq_handler_t handlers[16];
volatile uint32_t spurious_irqs;

struct __attribute__((packed)) table_ptr { uint16_t limit; uint32_t base; };

static void load_gdt(void)
{
    struct table_ptr p = { sizeof gdt - 1, (uint32_t)gdt };
    __asm__ volatile(
        "lgdt %0\n\t"
        "ljmp $0x08, $1f\n"
        "1:\n\t"
        "mov $0x10, %%ax\n\t"
        "mov %%ax, %%ds\n\t"
        "mov %%ax, %%es\n\t"
        "mov %%ax, %%fs\n\t"
        "mov %%ax, %%gs\n\t"
        "mov %%ax, %%ss\n\t"
        : : "m"(p) : "eax", "memory");
}

static void load_idt(void)
{
    for (int v = 0; v < 48; v++) {
        uint32_t off = isr_stub_table[v];
        /* 32-bit interrupt gate, present, DPL 0, selector 0x08 */
        idt[v] = (off & 0xFFFF) | (0x08ull << 16) | (0x8E00ull << 32) | ((uint64_t)(off >> 16) << 48);
    }
    struct table_ptr p = { sizeof idt - 1, (uint32_t)idt };
    __asm__ volatile("lidt %0" : : "m"(p) : "memory");
}

static void pic_remap(void)
{
    outb(PIC1_CMD, 0x11);  io_delay();   /* ICW1: edge, cascade, ICW4 follows */
    outb(PIC2_CMD, 0x11);  io_delay();
    outb(PIC1_DATA, IRQ_BASE); io_delay();       /* ICW2: vector base */
    outb(PIC2_DATA, IRQ_BASE + 8); io_delay();
    outb(PIC1_DATA, 0x04); io_delay();   /* ICW3: slave on IR2 */
    outb(PIC2_DATA, 0x02); io_delay();   /* ICW3: slave identity 2 */
    outb(PIC1_DATA, 0x01); io_delay();   /* ICW4: 8086 mode, normal EOI */
    outb(PIC2_DATA, 0x01); io_delay();
    outb(PIC1_DATA, 0xFB);               /* everything masked except the cascade */
    outb(PIC2_DATA, 0xFF);
}

void dev_init(void)
{
    cli();
    load_gdt();
    load_idt();
    pic_remap();
}

void irq_set_handler(int irq, irq_handler_t fn) { handlers[irq] = fn; }

void irq_unmask(int irq)
{
    uint16_t port = irq < 8 ? PIC1_DATA : PIC2_DATA;
    outb(port, inb(port) & ~(1 << (irq & 7)));
}

void irq_mask(int irq)
{
    uint16_t port = irq < 8 ? PIC1_DATA : PIC2_DATA;
    outb(port, inb(port) | (1 << (irq & 7)));
}

uint8_t pic_read_isr(int slave)
{
    uint16_t cmd = slave ? PIC2_CMD : PIC1_CMD;
    outb(cmd, 0x0B);             /* OCW3: read ISR */
    uint8_t isr = inb(cmd);
    outb(cmd, 0x0A);             /* back to IRR */
    return isr;
}

void fail(const char *what)
{
    kprintf("FAIL: %s\n", what);
    guest_exit(1);
}

void isr_dispatch(struct frame *f)
{
    if (f->vector < 32) {
        kprintf("FAIL: exception %u (error %x) at eip %x\n", f->vector, f->error, f->eip);
        guest_exit(2);
    }
    int irq = (int)f->vector - IRQ_BASE;
    /* A spurious IRQ 7/15 has no ISR bit; it gets no EOI on its own chip (8259A datasheet). */
    if (irq == 7 && !(pic_read_isr(0) & 0x80)) { spurious_irqs++; return; }
    if (irq == 15 && !(pic_read_isr(1) & 0x80)) { spurious_irqs++; outb(PIC1_CMD, 0x20); return; }
    if (handlers[irq]) handlers[irq]();
    if (irq >= 8) outb(PIC2_CMD, 0x20);
    outb(PIC1_CMD, 0x20);
}
