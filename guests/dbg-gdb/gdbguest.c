/* The guest the gdb batch test drives: a kmain with locals, a function to step into and a global that is
   written once (the watchpoint). Built with -O0 so every local lives in memory where gdb's DWARF says. */
#include "io.h"

volatile uint32_t watched_counter;

__attribute__((noinline)) uint32_t square(uint32_t x)
{
    uint32_t result = x * x;
    return result;
}

void kmain(uint32_t magic, uint32_t info)
{
    uint32_t local_value = 0x1234;
    (void)info;
    serial_init();
    kprintf("dbg-gdb: magic %s\n", magic == 0x2BADB002 ? "ok" : "BAD");
    local_value = square(local_value & 0xFF);
    watched_counter = local_value + 1;
    kprintf("dbg-gdb: counter %u\n", watched_counter);
    guest_exit(watched_counter == 0x34 * 0x34 + 1 ? 0 : 1);
}
