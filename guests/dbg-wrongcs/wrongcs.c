/* Broken on purpose (for the fault explainer): every IDT gate names selector 0x10, the data segment, as its code
   segment. The first exception (ud2, #UD) cannot be delivered:
   #UD -> #GP(0x10) while delivering -> #DF -> #GP while delivering #DF -> triple fault. */
#include "dbg.h"

__attribute__((noinline)) static void check_invariant(int ok)
{
    if (!ok)
        __asm__ volatile("ud2");
}

void kmain(uint32_t magic, uint32_t info)
{
    (void)magic;
    (void)info;
    serial_init();
    gdt_init();
    idt_init(KERNEL_DS, GATE_INT32);   /* the bug: KERNEL_DS where KERNEL_CS belongs */
    kprintf("dbg-wrongcs: raising #UD through gates with a data selector\n");
    check_invariant(0);
    guest_exit(1);
}
