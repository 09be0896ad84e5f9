/* Broken on purpose (for the fault explainer): the IDT gates are written without the present bit
   (type_attr 0x0E instead of 0x8E), so the first exception, a divide error, cannot be delivered:
   #DE -> #NP while delivering -> #DF -> #NP while delivering #DF -> triple fault. */
#include "dbg.h"

static volatile int divisor;

__attribute__((noinline)) static int average(int total, int count)
{
    return total / count;
}

void kmain(uint32_t magic, uint32_t info)
{
    (void)magic;
    (void)info;
    serial_init();
    gdt_init();
    idt_init(KERNEL_CS, 0x0E);   /* the bug: P=0 in every gate */
    kprintf("dbg-badidt: dividing by zero with a not-present IDT\n");
    kprintf("average %d\n", average(10, divisor));
    guest_exit(1);
}
