/* Shared helpers for the debugger's test guests (guests/dbg-*): a GDT of our own, IDT gates, exception stubs
   that report on serial, and 32-bit paging with 4 KiB pages. The "broken" guests use them to break one thing each. */
#ifndef DBG_H
#define DBG_H
#include "io.h"

#define KERNEL_CS 0x08
#define KERNEL_DS 0x10

/* Gate type/attribute bytes (SDM Vol. 3A Figure 6-2): P=1, DPL 0, 32-bit interrupt gate. */
#define GATE_INT32 0x8E
#define GATE_TRAP32 0x8F

struct idt_gate {
    uint16_t offset_low;
    uint16_t selector;
    uint8_t zero;
    uint8_t type_attr;
    uint16_t offset_high;
} __attribute__((packed));

extern struct idt_gate idt[256];
extern void (*const isr_stubs[32])(void);

void gdt_init(void);
void idt_set(int vector, void (*handler)(void), uint16_t selector, uint8_t type_attr);
/* Installs the 32 exception stubs with the given selector and type, then loads the IDT. */
void idt_init(uint16_t selector, uint8_t type_attr);
void idt_load(void);

/* Paging: identity-maps the first 8 MiB with 4 KiB pages (kernel, read/write). */
#define PTE_P 1u
#define PTE_W 2u
#define PTE_U 4u
void paging_init(void);
void paging_enable(void);
uint32_t *pte_of(uint32_t linear);

/* Called by the exception stubs: prints the vector and exits with 0x40 + vector. */
struct fault_frame {
    uint32_t edi, esi, ebp, esp, ebx, edx, ecx, eax;
    uint32_t vector, error;
    uint32_t eip, cs, eflags;
};
void fault_handler(struct fault_frame *f);

#endif
