/* The course's "my first kernel": clears the VGA text screen, writes the greeting at 0xB8000,
   prints it on COM1 and leaves through the debug-exit port with code 0. */
#include "io.h"

#define VGA ((volatile uint16_t *)0xB8000)

void kmain(uint32_t magic, uint32_t info)
{
    (void)info;
    static const char msg[] = "my first kernel";
    for (int i = 0; i < 80 * 25; i++)
        VGA[i] = 0x0720;            /* light grey on black, blank */
    for (int i = 0; msg[i]; i++)
        VGA[i] = 0x0F00 | (uint8_t)msg[i];   /* white on black */

    serial_init();
    kprintf("my first kernel\n");
    kprintf("multiboot magic %s\n", magic == 0x2BADB002 ? "ok" : "BAD");
    guest_exit(0);
}
