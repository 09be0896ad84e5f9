/* Shared runtime of the plat-* guests: our own GDT (Multiboot leaves GDTR undefined), an IDT whose 256 stubs call
   plat_dispatch(), handlers per vector, 8259 remapping and small MSR/CPUID helpers. */
#ifndef PLAT_H
#define PLAT_H
#include "io.h"

struct plat_frame {
    uint32_t edi, esi, ebp, esp, ebx, edx, ecx, eax;
    uint32_t vector, error, eip, cs, eflags;
};

typedef void (*plat_handler)(struct plat_frame *f);

void plat_init(void);                         /* GDT, IDT; exceptions print and exit(0x7e) */
void plat_set_handler(int vector, plat_handler h);
void pic_remap(uint8_t master_base, uint8_t slave_base, uint16_t mask); /* mask bit n = IRQ n masked */
void pic_eoi(int irq);

static inline void sti(void) { __asm__ volatile("sti" ::: "memory"); }
static inline void cli(void) { __asm__ volatile("cli" ::: "memory"); }
static inline void hlt(void) { __asm__ volatile("hlt" ::: "memory"); }
/* sti; hlt: waits for the next interrupt without the race of a separate sti. */
static inline void wait_interrupt(void) { __asm__ volatile("sti; hlt" ::: "memory"); }

static inline uint64_t rdmsr(uint32_t msr)
{
    uint32_t lo, hi;
    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return ((uint64_t)hi << 32) | lo;
}
static inline void wrmsr(uint32_t msr, uint64_t v)
{
    __asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}
static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}
static inline void cpuid(uint32_t leaf, uint32_t *a, uint32_t *b, uint32_t *c, uint32_t *d)
{
    __asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(0));
}
static inline void io_delay(void) { outb(0x80, 0); }

#endif
