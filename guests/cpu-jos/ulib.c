/* User-side library: system calls through int 0x30 (eax = number, edx/ecx = arguments). */
#include "jos.h"
#include <stddef.h>

int syscall(int num, uint32_t a1, uint32_t a2)
{
    int ret;
    __asm__ volatile("int %1" : "=a"(ret) : "i"(T_SYSCALL), "a"(num), "d"(a1), "c"(a2) : "cc", "memory");
    return ret;
}

size_t ustrlen(const char *s)
{
    size_t n = 0;
    while (s[n]) n++;
    return n;
}

void sys_cputs(const char *s) { syscall(SYS_CPUTS, (uint32_t)s, ustrlen(s)); }
void sys_exit(int code) { syscall(SYS_EXIT, (uint32_t)code, 0); for (;;) {} }
int sys_getenvid(void) { return syscall(SYS_GETENVID, 0, 0); }

static void puthex(char *p, uint32_t v)
{
    for (int i = 7; i >= 0; i--) { p[i] = "0123456789abcdef"[v & 15]; v >>= 4; }
}

void sys_puthex(const char *prefix, uint32_t v)
{
    char buf[64];
    size_t n = 0;
    while (prefix[n] && n < 40) { buf[n] = prefix[n]; n++; }
    puthex(buf + n, v);
    buf[n + 8] = '\n';
    buf[n + 9] = 0;
    sys_cputs(buf);
}

__attribute__((section(".text.start"), naked, noreturn)) void _start(void)
{
    /* eax = test number, set by the kernel in the trap frame. */
    __asm__ volatile("push %eax\n call umain\n push $0\n call sys_exit\n");
}
