/* cpu-jos kernel: GDT with ring-3 segments and a TSS, an IDT, 4 MiB kernel pages plus 4 KiB user pages,
   an ELF loader for the embedded user program, int 0x30 system calls and trap reporting (JOS lab 3). */
#include "io.h"
#include "jos.h"

struct trapframe {
    uint32_t edi, esi, ebp, oesp, ebx, edx, ecx, eax;
    uint32_t gs, fs, es, ds;
    uint32_t trapno, err, eip, cs, eflags, esp, ss;
};

struct tss {
    uint32_t link, esp0, ss0, esp1, ss1, esp2, ss2, cr3, eip, eflags;
    uint32_t eax, ecx, edx, ebx, esp, ebp, esi, edi, es, cs, ss, ds, fs, gs, ldt;
    uint16_t trap, iomb;
} __attribute__((packed));

#define GD_KT 0x08
#define GD_KD 0x10
#define GD_UT 0x18
#define GD_UD 0x20
#define GD_TSS 0x28

static uint64_t gdt[6];
static struct tss ts;
static uint64_t idt[256];
static uint32_t pgdir[1024] __attribute__((aligned(4096)));
static uint8_t pages[48][4096] __attribute__((aligned(4096)));
static int npages;
static uint8_t kstack[8192] __attribute__((aligned(16)));
static int cur_test, env_id;

extern void env_pop_tf(struct trapframe *tf) __attribute__((noreturn));
extern const uint8_t user_elf_start[], user_elf_end[];
extern void trap_0(void), trap_1(void), trap_2(void), trap_3(void), trap_4(void), trap_5(void), trap_6(void),
    trap_7(void), trap_8(void), trap_10(void), trap_11(void), trap_12(void), trap_13(void), trap_14(void),
    trap_16(void), trap_17(void), trap_48(void);

static uint64_t seg(uint32_t base, uint32_t limit, uint32_t type, uint32_t dpl)
{
    /* G=1, D=1, S=1, P=1 (SDM Vol. 3A §3.4.5) */
    limit >>= 12;
    return (limit & 0xFFFF) | ((uint64_t)(base & 0xFFFFFF) << 16) | ((uint64_t)type << 40) | (1ULL << 44) |
           ((uint64_t)dpl << 45) | (1ULL << 47) | ((uint64_t)(limit >> 16) << 48) | (0xCULL << 52) |
           ((uint64_t)(base >> 24) << 56);
}

static void set_gate(int n, void (*fn)(void), int dpl, int trapgate)
{
    uint32_t off = (uint32_t)fn;
    idt[n] = (off & 0xFFFF) | ((uint64_t)GD_KT << 16) | ((uint64_t)(trapgate ? 0xF : 0xE) << 40) |
             ((uint64_t)dpl << 45) | (1ULL << 47) | ((uint64_t)(off >> 16) << 48);
}

static const char *trapname(int n)
{
    static const char *const names[] = {
        "Divide error", "Debug", "Non-Maskable Interrupt", "Breakpoint", "Overflow", "BOUND Range Exceeded",
        "Invalid Opcode", "Device Not Available", "Double Fault", "Coprocessor Segment Overrun", "Invalid TSS",
        "Segment Not Present", "Stack Fault", "General Protection", "Page Fault", "(unknown trap)",
        "x87 FPU Floating-Point Error", "Alignment Check"};
    if (n < 18) return names[n];
    if (n == T_SYSCALL) return "System call";
    return "(unknown trap)";
}

static void print_trapframe(const struct trapframe *tf)
{
    kprintf("  trap 0x%08x %s err 0x%08x\n", tf->trapno, trapname(tf->trapno), tf->err);
    kprintf("  eip 0x%08x cs 0x%04x flag 0x%08x esp 0x%08x ss 0x%04x\n", tf->eip, tf->cs,
            tf->eflags & ~0x8d5u, tf->esp, tf->ss);
    kprintf("  ds 0x%04x es 0x%04x ebx 0x%08x\n", tf->ds, tf->es, tf->ebx);
}

static void *page_alloc(void)
{
    if (npages >= 48) { kprintf("out of pages\n"); guest_exit(2); }
    uint8_t *p = pages[npages++];
    memset(p, 0, 4096);
    return p;
}

/* Maps one user page at va (4 KiB, user, writable as asked) to a fresh page; returns its kernel address. */
static uint8_t *map_user(uint32_t va, int writable)
{
    uint32_t *pde = &pgdir[va >> 22];
    if (!(*pde & 1)) *pde = (uint32_t)page_alloc() | 7;
    uint32_t *pt = (uint32_t *)(*pde & ~0xFFFu);
    uint32_t *pte = &pt[(va >> 12) & 0x3FF];
    if (!(*pte & 1)) *pte = (uint32_t)page_alloc() | 5 | (writable ? 2 : 0);
    else if (writable) *pte |= 2;
    return (uint8_t *)(*pte & ~0xFFFu) + (va & 0xFFF);
}

static int user_mem_ok(uint32_t va, uint32_t len)
{
    for (uint32_t a = va & ~0xFFFu; a < va + len; a += 4096) {
        uint32_t pde = pgdir[a >> 22];
        if ((pde & 5) != 5 || (pde & 0x80)) return 0;
        uint32_t pte = ((uint32_t *)(pde & ~0xFFFu))[(a >> 12) & 0x3FF];
        if ((pte & 5) != 5) return 0;
    }
    return va + len >= va;
}

struct elfhdr { uint32_t magic; uint8_t ident[12]; uint16_t type, machine; uint32_t version, entry, phoff, shoff, flags;
                uint16_t ehsize, phentsize, phnum, shentsize, shnum, shstrndx; };
struct proghdr { uint32_t type, offset, va, pa, filesz, memsz, flags, align; };

static void reset_user_space(void)
{
    /* Drop every user mapping; page tables and pages come back to the pool. */
    for (int i = 4; i < 1024; i++) pgdir[i] = 0;
    npages = 0;
    __asm__ volatile("mov %%cr3, %%eax; mov %%eax, %%cr3" ::: "eax", "memory");
}

static void run_test(int test) __attribute__((noreturn));
static void run_test(int test)
{
    static struct trapframe tf;
    cur_test = test;
    env_id = 0x1000 + test;
    reset_user_space();
    const struct elfhdr *eh = (const struct elfhdr *)user_elf_start;
    if (eh->magic != 0x464C457F) { kprintf("bad user ELF\n"); guest_exit(2); }
    const struct proghdr *ph = (const struct proghdr *)(user_elf_start + eh->phoff);
    for (int i = 0; i < eh->phnum; i++, ph++) {
        if (ph->type != 1) continue;
        for (uint32_t off = 0; off < ph->memsz; off++) {
            uint8_t *dst = map_user(ph->va + off, ph->flags & 2);
            *dst = off < ph->filesz ? user_elf_start[ph->offset + off] : 0;
        }
    }
    map_user(USTACKTOP - 4096, 1);
    memset(&tf, 0, sizeof tf);
    tf.ds = tf.es = tf.ss = GD_UD | 3;
    tf.cs = GD_UT | 3;
    tf.esp = USTACKTOP;
    tf.eip = eh->entry;
    tf.eflags = 0x002;
    tf.eax = (uint32_t)test;
    kprintf("[%08x] new env, test %d\n", env_id, test);
    env_pop_tf(&tf);
}

static void env_destroy(const char *why) __attribute__((noreturn));
static void env_destroy(const char *why)
{
    kprintf("[%08x] %s\n", env_id, why);
    if (cur_test + 1 < NTESTS) run_test(cur_test + 1);
    kprintf("all %d tests done\n", NTESTS);
    guest_exit(0);
}

void trap(struct trapframe *tf)
{
    if ((tf->cs & 3) != 3) {
        kprintf("kernel trap!\n");
        print_trapframe(tf);
        guest_exit(1);
    }
    switch (tf->trapno) {
    case T_SYSCALL:
        switch (tf->eax) {
        case SYS_CPUTS:
            if (!user_mem_ok(tf->edx, tf->ecx)) {
                kprintf("[%08x] user_mem_check assertion failure for va %08x\n", env_id, tf->edx);
                env_destroy("destroyed");
            }
            for (uint32_t i = 0; i < tf->ecx; i++) serial_putc(((const char *)tf->edx)[i]);
            tf->eax = 0;
            break;
        case SYS_EXIT:
            kprintf("[%08x] exiting with code %d\n", env_id, (int)tf->edx);
            env_destroy("exited");
        case SYS_GETENVID:
            tf->eax = (uint32_t)env_id;
            break;
        default:
            tf->eax = (uint32_t)-3;
            break;
        }
        env_pop_tf(tf);
    case 3:
        kprintf("[%08x] breakpoint\n", env_id);
        print_trapframe(tf);
        env_pop_tf(tf);
    case 14: {
        uint32_t cr2;
        __asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
        kprintf("[%08x] user fault va %08x ip %08x err %x\n", env_id, cr2, tf->eip, tf->err);
        env_destroy("destroyed");
    }
    default:
        kprintf("[%08x] unhandled trap\n", env_id);
        print_trapframe(tf);
        env_destroy("destroyed");
    }
}

void kmain(uint32_t magic, uint32_t info)
{
    (void)info;
    serial_init();
    kprintf("cpu-jos: booting (magic %s)\n", magic == 0x2BADB002 ? "ok" : "BAD");

    gdt[1] = seg(0, 0xFFFFFFFF, 0xA, 0);
    gdt[2] = seg(0, 0xFFFFFFFF, 0x2, 0);
    gdt[3] = seg(0, 0xFFFFFFFF, 0xA, 3);
    gdt[4] = seg(0, 0xFFFFFFFF, 0x2, 3);
    uint32_t tb = (uint32_t)&ts;
    gdt[5] = (uint64_t)(sizeof ts - 1) | ((uint64_t)(tb & 0xFFFFFF) << 16) | (0x89ULL << 40) | ((uint64_t)(tb >> 24) << 56);
    struct { uint16_t limit; uint32_t base; } __attribute__((packed)) gdtr = { sizeof gdt - 1, (uint32_t)gdt };
    __asm__ volatile("lgdt %0\n"
                     "ljmp $0x08, $1f\n1:\n"
                     "mov $0x10, %%ax; mov %%ax, %%ds; mov %%ax, %%es; mov %%ax, %%ss; mov %%ax, %%fs; mov %%ax, %%gs"
                     :: "m"(gdtr) : "eax", "memory");
    ts.esp0 = (uint32_t)(kstack + sizeof kstack);
    ts.ss0 = GD_KD;
    ts.iomb = sizeof ts;           /* no I/O bitmap: every port is denied at CPL 3 */
    __asm__ volatile("ltr %w0" :: "r"(GD_TSS));

    void (*handlers[])(void) = { trap_0, trap_1, trap_2, trap_3, trap_4, trap_5, trap_6, trap_7, trap_8, 0,
                                 trap_10, trap_11, trap_12, trap_13, trap_14, 0, trap_16, trap_17 };
    for (int i = 0; i < 18; i++)
        if (handlers[i]) set_gate(i, handlers[i], i == 3 ? 3 : 0, 0);
    set_gate(T_SYSCALL, trap_48, 3, 0);
    struct { uint16_t limit; uint32_t base; } __attribute__((packed)) idtr = { sizeof idt - 1, (uint32_t)idt };
    __asm__ volatile("lidt %0" :: "m"(idtr));

    /* Kernel: 0..16 MiB identity-mapped with supervisor-only 4 MiB pages. */
    for (int i = 0; i < 4; i++) pgdir[i] = (uint32_t)(i << 22) | 0x83;
    __asm__ volatile("mov %%cr4, %%eax; or $0x10, %%eax; mov %%eax, %%cr4\n"
                     "mov %0, %%cr3\n"
                     "mov %%cr0, %%eax; or $0x80010000, %%eax; mov %%eax, %%cr0"
                     :: "r"(pgdir) : "eax", "memory");
    kprintf("paging on, gdt/idt/tss loaded\n");
    run_test(0);
}
