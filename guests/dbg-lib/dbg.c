#include "dbg.h"

struct gdt_entry { uint64_t raw; };

/* null, 0x08 flat code, 0x10 flat data (SDM Vol. 3A §3.4.5). */
static struct gdt_entry gdt[3] __attribute__((aligned(8))) = {
    { 0 },
    { 0x00CF9A000000FFFFull },
    { 0x00CF92000000FFFFull },
};

struct idt_gate idt[256] __attribute__((aligned(8)));

static struct { uint16_t limit; uint32_t base; } __attribute__((packed)) gdtr, idtr;

void gdt_init(void)
{
    gdtr.limit = sizeof(gdt) - 1;
    gdtr.base = (uint32_t)gdt;
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
        : : "m"(gdtr) : "eax", "memory");
}

void idt_set(int vector, void (*handler)(void), uint16_t selector, uint8_t type_attr)
{
    uint32_t a = (uint32_t)handler;
    idt[vector].offset_low = a & 0xFFFF;
    idt[vector].selector = selector;
    idt[vector].zero = 0;
    idt[vector].type_attr = type_attr;
    idt[vector].offset_high = a >> 16;
}

void idt_load(void)
{
    idtr.limit = sizeof(idt) - 1;
    idtr.base = (uint32_t)idt;
    __asm__ volatile("lidt %0" : : "m"(idtr));
}

void idt_init(uint16_t selector, uint8_t type_attr)
{
    for (int v = 0; v < 32; v++)
        idt_set(v, isr_stubs[v], selector, type_attr);
    idt_load();
}

static uint32_t page_dir[1024] __attribute__((aligned(4096)));
static uint32_t page_tables[2][1024] __attribute__((aligned(4096)));

void paging_init(void)
{
    for (int t = 0; t < 2; t++) {
        for (int i = 0; i < 1024; i++)
            page_tables[t][i] = ((uint32_t)(t * 1024 + i) << 12) | PTE_P | PTE_W;
        page_dir[t] = (uint32_t)page_tables[t] | PTE_P | PTE_W;
    }
}

uint32_t *pte_of(uint32_t linear)
{
    return &page_tables[linear >> 22][(linear >> 12) & 0x3FF];
}

void paging_enable(void)
{
    /* CR0.PG | CR0.WP: supervisor writes honour read-only pages (SDM Vol. 3A §4.6). */
    __asm__ volatile(
        "mov %0, %%cr3\n\t"
        "mov %%cr0, %%eax\n\t"
        "or $0x80010000, %%eax\n\t"
        "mov %%eax, %%cr0\n\t"
        : : "r"(page_dir) : "eax", "memory");
}

void fault_handler(struct fault_frame *f)
{
    kprintf("exception %u error 0x%x at %x:%x\n", f->vector, f->error, f->cs, f->eip);
    guest_exit(0x40 + f->vector);
}
