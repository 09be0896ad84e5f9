/* Broken on purpose (for the fault explainer): unbounded recursion on a 16 KiB kernel stack whose lowest page is
   an unmapped guard page. The page fault's own frame is pushed onto the same exhausted stack, so:
   #PF -> #PF while delivering #PF -> #DF -> #PF while delivering #DF -> triple fault. */
#include "dbg.h"

static uint8_t stack[4 * 4096] __attribute__((aligned(4096)));
static volatile uint32_t depth_limit = 0xFFFFFFFF;   /* never reached: the stack runs out first */

__attribute__((noinline)) static uint32_t recurse(uint32_t depth)
{
    volatile uint32_t scratch[16];
    for (int i = 0; i < 16; i++)
        scratch[i] = depth + i;
    if (depth == depth_limit)
        return scratch[0];
    return recurse(depth + 1) + scratch[depth & 15];
}

static void on_new_stack(void)
{
    kprintf("dbg-stackoverflow: recursing into the guard page\n");
    kprintf("result %u\n", recurse(0));
    guest_exit(1);
}

void kmain(uint32_t magic, uint32_t info)
{
    (void)magic;
    (void)info;
    serial_init();
    gdt_init();
    idt_init(KERNEL_CS, GATE_INT32);
    paging_init();
    *pte_of((uint32_t)stack) = 0;   /* the guard page: the stack's lowest page is not mapped */
    paging_enable();
    __asm__ volatile("mov %0, %%esp\n\t"
                     "xor %%ebp, %%ebp\n\t"
                     "call *%1"
                     : : "r"(stack + sizeof(stack)), "r"(on_new_stack) : "memory");
    guest_exit(2);
}
