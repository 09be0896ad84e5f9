/* Shared runtime of the legacy-device guests: a flat GDT, an IDT with stubs for the 32 exceptions and
   the 16 PIC interrupts (vectors 0x20-0x2F), and 8259A helpers. */
#ifndef DEVLIB_H
#define DEVLIB_H
#include "io.h"

#define PIC1_CMD 0x20
#define PIC1_DATA 0x21
#define PIC2_CMD 0xA0
#define PIC2_DATA 0xA1
#define IRQ_BASE 0x20

struct frame {
    uint32_t edi, esi, ebp, esp0, ebx, edx, ecx, eax;
    uint32_t vector, error;
    uint32_t eip, cs, eflags;
};

typedef void (*irq_handler_t)(void);

/* GDT and IDT loaded, PICs remapped to 0x20/0x28 with every line masked but the cascade. */
void dev_init(void);
void irq_set_handler(int irq, irq_handler_t fn);
void irq_unmask(int irq);
void irq_mask(int irq);
/* The in-service registers, read through OCW3. */
uint8_t pic_read_isr(int slave);
/* Spurious IRQ 7 / IRQ 15 seen (no ISR bit at dispatch). */
extern volatile uint32_t spurious_irqs;

__attribute__((noreturn)) void fail(const char *what);

static inline void sti(void) { __asm__ volatile("sti" ::: "memory"); }
static inline void cli(void) { __asm__ volatile("cli" ::: "memory"); }
/* Enable interrupts and halt in one go: sti's one-instruction shadow means no interrupt is lost in between. */
static inline void wait_for_interrupt(void) { __asm__ volatile("sti; hlt" ::: "memory"); }
static inline void io_delay(void) { outb(0x80, 0); }

#endif
