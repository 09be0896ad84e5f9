/* cpu-sysenter: fast system calls. The kernel enters ring 3 with SYSEXIT; the user program calls back with
   SYSENTER; #GP cases (SYSEXIT at CPL 3, SYSENTER with IA32_SYSENTER_CS = 0) go through the IDT. */
#include "io.h"

struct call { uint32_t num, arg, eip, esp; };
struct gpframe { uint32_t edi, esi, ebp, esp, ebx, edx, ecx, eax, err, eip, cs, eflags, uesp, uss; };

static uint64_t gdt[6];
static uint64_t idt[32];
static struct { uint32_t link, esp0, ss0, rest[22]; uint16_t trap, iomb; } __attribute__((packed)) tss;
static uint8_t kstack[4096] __attribute__((aligned(16)));
static uint8_t kstack2[4096] __attribute__((aligned(16)));
static uint8_t ustack[4096] __attribute__((aligned(16)));

extern void sysenter_entry(void), user_start(void), gp_entry(void);
extern int sys(int num, int arg);
extern uint32_t read_cs(void), read_ss(void);

static void wrmsr(uint32_t msr, uint64_t v) { __asm__ volatile("wrmsr" :: "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32))); }
static uint64_t rdmsr(uint32_t msr)
{
    uint32_t lo, hi;
    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return ((uint64_t)hi << 32) | lo;
}

static uint64_t seg(uint32_t type, uint32_t dpl)
{
    return 0xFFFFull | (0xFull << 48) | (0xCull << 52) | ((uint64_t)type << 40) | (1ull << 44) | ((uint64_t)dpl << 45) | (1ull << 47);
}

uint32_t syscall_dispatch(struct call *c)
{
    uint32_t fl;
    __asm__ volatile("pushf; pop %0" : "=r"(fl));
    switch (c->num) {
    case 0:
        kprintf("kernel: %s", (const char *)c->arg);
        return 0;
    case 1:
        kprintf("kernel: cs %04x ss %04x if %d, user eip %08x esp %08x\n", read_cs(), read_ss(), (int)((fl >> 9) & 1),
                c->eip == (uint32_t)0 ? 0 : 1, c->esp == 0 ? 0 : 1);
        return read_cs();
    case 2:
        return c->arg * 3 + 1;
    case 3:
        wrmsr(0x174, c->arg);
        return (uint32_t)rdmsr(0x174);
    case 4:
        kprintf("kernel: exit %u\n", c->arg);
        guest_exit(c->arg);
    }
    return 0xFFFFFFFF;
}

void gp_handler(struct gpframe *f)
{
    uint8_t *ip = (uint8_t *)f->eip;
    kprintf("kernel: #GP err %x from cs %04x at %02x %02x\n", f->err, f->cs, ip[0], ip[1]);
    if (ip[1] == 0x34) wrmsr(0x174, 0x08);   /* SYSENTER faulted because the MSR was 0: restore it */
}

void user_main(void)
{
    sys(0, (int)"hello from ring 3 via sysenter\n");
    uint32_t kcs = (uint32_t)sys(1, 0);
    kprintf("user: kernel cs was %04x, now cs %04x ss %04x\n", kcs, read_cs(), read_ss());
    uint32_t sum = 0;
    for (int i = 0; i < 1000; i++) sum += (uint32_t)sys(2, i);
    kprintf("user: 1000 calls, sum %u\n", sum);
    __asm__ volatile("sysexit");               /* CPL 3: #GP(0) */
    kprintf("user: sysexit at cpl 3 was refused\n");
    kprintf("user: still works: %d\n", sys(2, 10));
    sys(4, 0);
}

void kmain(uint32_t magic, uint32_t info)
{
    (void)magic; (void)info;
    serial_init();
    uint32_t a, b, c, d;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1));
    kprintf("cpu-sysenter: cpuid sep %d\n", (int)((d >> 11) & 1));
    gdt[1] = seg(0xA, 0); gdt[2] = seg(0x2, 0); gdt[3] = seg(0xA, 3); gdt[4] = seg(0x2, 3);
    uint32_t tb = (uint32_t)&tss;
    gdt[5] = (uint64_t)(sizeof tss - 1) | ((uint64_t)(tb & 0xFFFFFF) << 16) | (0x89ull << 40) | ((uint64_t)(tb >> 24) << 56);
    struct { uint16_t l; uint32_t b; } __attribute__((packed)) gdtr = { sizeof gdt - 1, (uint32_t)gdt }, idtr = { sizeof idt - 1, (uint32_t)idt };
    __asm__ volatile("lgdt %0\n ljmp $0x08, $1f\n1:\n mov $0x10, %%ax; mov %%ax, %%ds; mov %%ax, %%es; mov %%ax, %%ss"
                     :: "m"(gdtr) : "eax", "memory");
    tss.esp0 = (uint32_t)(kstack2 + sizeof kstack2);
    tss.ss0 = 0x10;
    tss.iomb = sizeof tss;
    __asm__ volatile("ltr %w0" :: "r"(0x28));
    uint32_t off = (uint32_t)gp_entry;
    idt[13] = (off & 0xFFFF) | (0x08ull << 16) | (0x8Eull << 40) | ((uint64_t)(off >> 16) << 48);
    __asm__ volatile("lidt %0" :: "m"(idtr));

    wrmsr(0x174, 0x08);
    wrmsr(0x175, (uint32_t)(kstack + sizeof kstack));
    wrmsr(0x176, (uint32_t)sysenter_entry);
    kprintf("msrs: cs %x esp ok %d eip ok %d\n", (uint32_t)rdmsr(0x174),
            rdmsr(0x175) == (uint32_t)(kstack + sizeof kstack), rdmsr(0x176) == (uint32_t)sysenter_entry);
    /* SYSENTER with IA32_SYSENTER_CS = 0 is #GP(0); the handler restores the MSR and skips it. */
    wrmsr(0x174, 0);
    __asm__ volatile("sysenter" ::: "memory");
    kprintf("kernel: sysenter with cs 0 was refused, msr now %x\n", (uint32_t)rdmsr(0x174));
    /* To ring 3: SYSEXIT with EDX = EIP, ECX = ESP. IOPL 3 (SYSEXIT keeps EFLAGS) lets ring 3 print on COM1. */
    __asm__ volatile("pushf; orl $0x3000, (%%esp); popf" ::: "memory", "cc");
    __asm__ volatile("mov $0x23, %%ax; mov %%ax, %%ds; mov %%ax, %%es; sysexit"
                     :: "d"(user_start), "c"(ustack + sizeof ustack) : "eax", "memory");
}
