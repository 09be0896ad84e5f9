#include "plat.h"

extern const uint32_t plat_stub_table[256];
extern void plat_load_gdt(void *gdtr);

static uint64_t gdt[3] __attribute__((aligned(8))) = {
    0,
    0x00CF9A000000FFFFull,   /* 0x08: flat 32-bit code */
    0x00CF92000000FFFFull,   /* 0x10: flat 32-bit data */
};
static uint64_t idt[256] __attribute__((aligned(8)));
static plat_handler handlers[256];

struct __attribute__((packed)) table_reg { uint16_t limit; uint32_t base; };

void plat_set_handler(int vector, plat_handler h) { handlers[vector] = h; }

void plat_dispatch(struct plat_frame *f)
{
    if (handlers[f->vector]) {
        handlers[f->vector](f);
        return;
    }
    if (f->vector < 32) {
        kprintf("unexpected exception %u error 0x%x at eip 0x%x\n", f->vector, f->error, f->eip);
        guest_exit(0x7e);
    }
    kprintf("unexpected interrupt vector 0x%x\n", f->vector);
    guest_exit(0x7d);
}

void plat_init(void)
{
    struct table_reg gdtr = { sizeof gdt - 1, (uint32_t)gdt };
    plat_load_gdt(&gdtr);
    for (int v = 0; v < 256; v++) {
        uint32_t a = plat_stub_table[v];
        /* 32-bit interrupt gate, DPL 0, present, selector 0x08 (SDM Vol. 3A §6.11, figure 6-2) */
        idt[v] = (a & 0xFFFF) | (0x08u << 16) | ((uint64_t)0x8E00 << 32) | ((uint64_t)(a & 0xFFFF0000) << 32);
    }
    struct table_reg idtr = { sizeof idt - 1, (uint32_t)idt };
    __asm__ volatile("lidt %0" : : "m"(idtr));
}

/* 8259A initialisation: ICW1 edge/cascade/ICW4, ICW2 vector base, ICW3 wiring, ICW4 8086 mode; then OCW1 masks. */
void pic_remap(uint8_t master_base, uint8_t slave_base, uint16_t mask)
{
    outb(0x20, 0x11); io_delay();
    outb(0xA0, 0x11); io_delay();
    outb(0x21, master_base); io_delay();
    outb(0xA1, slave_base); io_delay();
    outb(0x21, 0x04); io_delay();
    outb(0xA1, 0x02); io_delay();
    outb(0x21, 0x01); io_delay();
    outb(0xA1, 0x01); io_delay();
    outb(0x21, (uint8_t)mask);
    outb(0xA1, (uint8_t)(mask >> 8));
}

void pic_eoi(int irq)
{
    if (irq >= 8) outb(0xA0, 0x20);
    outb(0x20, 0x20);
}
