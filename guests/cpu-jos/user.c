/* The user environment: one program, many behaviours (JOS's hello, faultread, breakpoint, divzero, softint...). */
#include "jos.h"
#include <stddef.h>

void sys_cputs(const char *s);
void sys_exit(int code);
int sys_getenvid(void);
void sys_puthex(const char *prefix, uint32_t v);
int syscall(int num, uint32_t a1, uint32_t a2);

static const uint32_t ro_word = 0x1234;
static volatile uint32_t zero;
static volatile uint32_t unmapped = 0x40000000u;
static uint32_t table[64];

static uint32_t work(void)
{
    /* Some ring-3 integer work: a little LCG, a bubble sort and a checksum. */
    uint32_t x = 12345;
    for (int i = 0; i < 64; i++) { x = x * 1103515245u + 12345u; table[i] = x >> 7; }
    for (int i = 0; i < 64; i++)
        for (int j = 0; j + 1 < 64 - i; j++)
            if (table[j] > table[j + 1]) { uint32_t t = table[j]; table[j] = table[j + 1]; table[j + 1] = t; }
    uint32_t sum = 0;
    for (int i = 0; i < 64; i++) sum = (sum << 5 | sum >> 27) ^ table[i];
    return sum;
}

void umain(int test)
{
    switch (test)
    {
    case 0:
        sys_cputs("hello, world\n");
        sys_puthex("i am environment ", (uint32_t)sys_getenvid());
        break;
    case 1:   /* faultread: user read of an unmapped page */
        sys_puthex("read ", *(volatile uint32_t *)unmapped);
        break;
    case 2:   /* faultwrite: user write to a supervisor-only kernel page */
        *(volatile uint32_t *)0x100000 = 0;
        break;
    case 3:   /* breakpoint: the kernel reports it and resumes us */
        __asm__ volatile("int3");
        sys_cputs("back from the breakpoint\n");
        break;
    case 4:   /* divzero */
    {
        uint32_t q, d = zero;
        __asm__ volatile("divl %2" : "=a"(q) : "a"(1000u), "r"(d), "d"(0u));
        sys_puthex("1000/0 = ", q);
    }
        break;
    case 5:   /* softint: int 14 from ring 3 hits a DPL-0 gate: #GP(14*8+2) */
        __asm__ volatile("int $14");
        break;
    case 6:   /* badsegment: load the TSS selector into DS */
        __asm__ volatile("movw $0x28, %%ax; movw %%ax, %%ds" ::: "eax");
        break;
    case 7:   /* port I/O at CPL 3 with IOPL 0 and no I/O bitmap */
    {
        uint8_t v;
        __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"((uint16_t)0x3F8));
        sys_puthex("inb ", v);
        break;
    }
    case 8:   /* buggy system call: a kernel pointer */
        syscall(0, 0x100000, 16);
        sys_cputs("survived\n");
        break;
    case 9:
        sys_puthex("checksum ", work());
        break;
    case 10:  /* privileged instruction */
        __asm__ volatile("hlt");
        break;
    case 11:  /* write to our own read-only page */
        *(volatile uint32_t *)&ro_word = 1;
        break;
    case 12:  /* an unknown system call number, then exit with a code */
        sys_puthex("sys 99 -> ", (uint32_t)syscall(99, 0, 0));
        sys_exit(3);
        break;
    }
}
