/* Broken on purpose (for the fault explainer): the kernel maps its configuration page read-only, turns on
   CR0.WP and then writes to it, before any IDT is loaded (IDTR limit 0):
   #PF (P=1 W=1 U=0) -> #GP while delivering -> #DF -> #GP while delivering #DF -> triple fault. */
#include "dbg.h"

static struct config {
    uint32_t magic;
    uint32_t ticks_per_second;
    uint32_t padding[1022];
} config __attribute__((aligned(4096))) = { 0xC0FFEE, 100, { 0 } };

__attribute__((noinline)) static void set_tick_rate(uint32_t hz)
{
    config.ticks_per_second = hz;
}

void kmain(uint32_t magic, uint32_t info)
{
    (void)magic;
    (void)info;
    static const struct { uint16_t limit; uint32_t base; } __attribute__((packed)) no_idt = { 0, 0 };
    serial_init();
    gdt_init();
    __asm__ volatile("lidt %0" : : "m"(no_idt));
    paging_init();
    *pte_of((uint32_t)&config) &= ~PTE_W;   /* read-only */
    paging_enable();
    kprintf("dbg-rowrite: writing to a read-only page\n");
    set_tick_rate(1000);
    guest_exit(1);
}
