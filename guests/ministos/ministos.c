/* mini-stos: a kernel booted through the stos protocol (issue #5) that walks its boot_interface and checks
   every field: it prints the memory map, the command line and its module.param=value pairs, each module's ELF
   header and first symbol, and the initramfs file list, then checks the paging the loader set up (identity and
   high mapping, the frame table at the top of the address space) and exits through port 0xf4:
   0 if every check passed, 1 otherwise. Each failed check prints a line starting with "FAIL". */
#include "io.h"

#define KERNEL_BASE 0xC0000000u
#define MAPPED_END  (KERNEL_BASE + 0x400000u)

struct address_range { uint64_t base_addr; uint64_t length; uint32_t type; } __attribute__((packed));
struct boot_segments { uint32_t seg_nb; struct address_range segments[]; } __attribute__((packed));
struct boot_modules { uint32_t mod_nb; uint8_t **modules; };
struct boot_interface {
    struct boot_segments *segs;
    struct boot_modules *mods;
    void *archdata;
    void *first_useable_addr;
    char *commandline;
    void *initramfs;
};

/* Filled by entry.asm: eax, esp, ebp, eflags, cr0, cr3, cr4, cs, ds, ss as handed over. */
uint32_t entry_regs[10];
extern char _end[];

static int failures;
static volatile uint32_t mapping_probe = 0x5705A11;

#define CHECK(cond, ...) do { if (!(cond)) { failures++; kprintf("FAIL: " __VA_ARGS__); kprintf("\n"); } } while (0)

static int is_high(uint32_t p) { return p >= KERNEL_BASE && p < MAPPED_END; }

static void check_entry(const struct boot_interface *bi, uint32_t ret)
{
    uint32_t eax = entry_regs[0], esp = entry_regs[1], ebp = entry_regs[2], eflags = entry_regs[3];
    uint32_t cr0 = entry_regs[4], cr3 = entry_regs[5], cr4 = entry_regs[6];
    kprintf("entry: eax 0x%08x esp 0x%08x ebp 0x%x eflags 0x%x cr0 0x%08x cr3 0x%x cr4 0x%x cs 0x%x ds 0x%x ss 0x%x\n",
            eax, esp, ebp, eflags, cr0, cr3, cr4, entry_regs[7], entry_regs[8], entry_regs[9]);
    CHECK(eax == (uint32_t)bi, "eax 0x%x is not the boot_interface 0x%x", eax, (uint32_t)bi);
    CHECK(esp == 0xC03FFFF4, "esp at entry 0x%x, expected 0xC03FFFF4 (0xC03FFFFC, push, call)", esp);
    CHECK(*(uint32_t *)(esp + 4) == (uint32_t)bi, "the pushed argument is not the boot_interface");
    CHECK(ebp == 0, "ebp is 0x%x, not 0", ebp);
    CHECK(!(eflags & 0x200), "interrupts are enabled at entry");
    CHECK((cr0 & 0x80000001) == 0x80000001, "cr0 0x%x: paging or protection off", cr0);
    CHECK(cr4 & 0x10, "cr4.PSE is clear");
    CHECK(cr3 == 0x1000, "cr3 is 0x%x, not 0x1000", cr3);
    CHECK(is_high(ret), "return address 0x%x is not a kernel virtual address", ret);
    if (is_high(ret))
        CHECK(((const uint8_t *)ret)[0] == 0xFA && ((const uint8_t *)ret)[1] == 0xF4,
              "return address 0x%x does not point at cli; hlt", ret);
}

static void print_segments(const struct boot_interface *bi)
{
    const struct boot_segments *s = bi->segs;
    kprintf("segments %u\n", s->seg_nb);
    int has_low_reserved = 0, usable_above = 0;
    uint64_t prev_end = 0;
    for (uint32_t i = 0; i < s->seg_nb; i++) {
        const struct address_range *r = &s->segments[i];
        kprintf("segment 0x%016llx-0x%016llx type %u\n", r->base_addr, r->base_addr + r->length, r->type);
        CHECK(i == 0 || r->base_addr >= prev_end, "segment %u overlaps or is out of order", i);
        prev_end = r->base_addr + r->length;
        if (r->base_addr == 0 && r->length == 0x400000 && r->type == 2) has_low_reserved = 1;
        if (r->type == 1 && r->base_addr >= 0x400000) usable_above = 1;
        if (r->type == 1)
            CHECK(r->base_addr >= 0x400000, "usable segment at 0x%llx below 4 MiB", r->base_addr);
    }
    CHECK(has_low_reserved, "[0, 4 MiB) is not reserved in the segment list");
    CHECK(usable_above, "no usable memory above 4 MiB");
}

static int is_param_char(char c) { return c && c != ' '; }

static void print_cmdline(const char *cmdline)
{
    kprintf("cmdline \"%s\"\n", cmdline);
    const char *p = cmdline;
    while (*p) {
        while (*p == ' ') p++;
        if (!*p) break;
        const char *start = p, *dot = 0, *eq = 0;
        while (is_param_char(*p)) {
            if (*p == '=' && !eq) eq = p;
            if (*p == '.' && !dot && !eq) dot = p;
            p++;
        }
        int len = (int)(p - start);
        if (dot && eq && dot > start && eq > dot + 1) {
            kprintf("param module \"");
            for (const char *c = start; c < dot; c++) serial_putc(*c);
            kprintf("\" name \"");
            for (const char *c = dot + 1; c < eq; c++) serial_putc(*c);
            kprintf("\" value \"");
            for (const char *c = eq + 1; c < p; c++) serial_putc(*c);
            kprintf("\"\n");
        } else {
            kprintf("arg \"");
            for (int i = 0; i < len; i++) serial_putc(start[i]);
            kprintf("\"\n");
        }
    }
}

/* ELF32 structures (System V gABI). */
struct elf32_ehdr {
    uint8_t e_ident[16]; uint16_t e_type, e_machine; uint32_t e_version, e_entry, e_phoff, e_shoff, e_flags;
    uint16_t e_ehsize, e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx;
};
struct elf32_shdr {
    uint32_t sh_name, sh_type, sh_flags, sh_addr, sh_offset, sh_size, sh_link, sh_info, sh_addralign, sh_entsize;
};
struct elf32_sym { uint32_t st_name, st_value, st_size; uint8_t st_info, st_other; uint16_t st_shndx; };

/* The first named symbol that is not a file or section symbol. */
static const char *first_symbol(const uint8_t *elf)
{
    const struct elf32_ehdr *eh = (const struct elf32_ehdr *)elf;
    if (eh->e_ident[4] != 1 || eh->e_shentsize != sizeof(struct elf32_shdr)) return 0;
    const struct elf32_shdr *sh = (const struct elf32_shdr *)(elf + eh->e_shoff);
    for (int i = 0; i < eh->e_shnum; i++) {
        if (sh[i].sh_type != 2 /* SHT_SYMTAB */) continue;
        const struct elf32_sym *sym = (const struct elf32_sym *)(elf + sh[i].sh_offset);
        const char *str = (const char *)(elf + sh[sh[i].sh_link].sh_offset);
        uint32_t n = sh[i].sh_size / sizeof(struct elf32_sym);
        for (uint32_t k = 1; k < n; k++) {
            int type = sym[k].st_info & 0xF;
            if (sym[k].st_name && type != 3 /* STT_SECTION */ && type != 4 /* STT_FILE */)
                return str + sym[k].st_name;
        }
    }
    return 0;
}

static void print_modules(const struct boot_interface *bi)
{
    const struct boot_modules *m = bi->mods;
    kprintf("modules %u\n", m->mod_nb);
    uint32_t prev = 0;
    for (uint32_t i = 0; i < m->mod_nb; i++) {
        const uint8_t *elf = m->modules[i];
        CHECK(is_high((uint32_t)elf), "module %u pointer 0x%x is not a kernel virtual address", i, (uint32_t)elf);
        CHECK((uint32_t)elf > prev, "module %u is not after the previous one", i);
        prev = (uint32_t)elf;
        if (!is_high((uint32_t)elf)) continue;
        const struct elf32_ehdr *eh = (const struct elf32_ehdr *)elf;
        int magic = elf[0] == 0x7F && elf[1] == 'E' && elf[2] == 'L' && elf[3] == 'F';
        CHECK(magic, "module %u has no ELF magic", i);
        const char *sym = first_symbol(elf);
        kprintf("module %u: class %s machine %u type %u sections %u first symbol \"%s\"\n", i,
                eh->e_ident[4] == 1 ? "ELF32" : eh->e_ident[4] == 2 ? "ELF64" : "?", eh->e_machine, eh->e_type,
                eh->e_shnum, sym ? sym : "(none)");
    }
}

static uint32_t hex8(const char *s)
{
    uint32_t v = 0;
    for (int i = 0; i < 8; i++) {
        char c = s[i];
        v = v * 16 + (c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : 0);
    }
    return v;
}

/* cpio "newc": a 110-byte ASCII header ("070701" and 13 8-digit hex fields), the name, then the data, each
   padded to 4 bytes; the archive ends with the entry "TRAILER!!!". */
static void print_initramfs(const struct boot_interface *bi)
{
    if (!bi->initramfs) {
        kprintf("initramfs none\n");
        return;
    }
    const char *p = (const char *)bi->initramfs;
    kprintf("initramfs\n");
    for (int n = 0; n < 1000; n++) {
        if (memcmp(p, "070701", 6) != 0) {
            CHECK(0, "initramfs: bad cpio header at 0x%x", (uint32_t)p);
            return;
        }
        uint32_t mode = hex8(p + 14), filesize = hex8(p + 54), namesize = hex8(p + 94);
        const char *name = p + 110;
        if (strcmp(name, "TRAILER!!!") == 0) {
            kprintf("initramfs end\n");
            return;
        }
        const char *data = (const char *)(((uint32_t)name + namesize + 3) & ~3u);
        kprintf("initramfs file \"%s\" mode 0x%x size %u crc32 0x%08x\n", name, mode, filesize, crc32(data, filesize));
        p = (const char *)(((uint32_t)data + filesize + 3) & ~3u);
    }
}

static void check_layout(const struct boot_interface *bi)
{
    uint32_t b = (uint32_t)bi, segs = (uint32_t)bi->segs, mods = (uint32_t)bi->mods, cmd = (uint32_t)bi->commandline;
    uint32_t fua = (uint32_t)bi->first_useable_addr, initrd = (uint32_t)bi->initramfs;
    kprintf("boot_interface 0x%08x segs 0x%08x mods 0x%08x archdata 0x%x first_useable_addr 0x%08x commandline 0x%08x initramfs 0x%08x\n",
            b, segs, mods, (uint32_t)bi->archdata, fua, cmd, initrd);
    CHECK(b >= (uint32_t)_end, "boot_interface 0x%x overlaps the kernel (ends at 0x%x)", b, (uint32_t)_end);
    CHECK(is_high(b) && is_high(segs) && is_high(mods) && is_high(cmd) && is_high(fua),
          "a boot_interface pointer is not a kernel virtual address below 0xC0400000");
    CHECK(bi->archdata == 0, "archdata is not NULL");
    /* The bump order: boot_interface, boot_modules, module array, command line, initramfs, modules, segments. */
    CHECK(mods > b, "boot_modules is not after boot_interface");
    uint32_t array = (uint32_t)bi->mods->modules;
    CHECK(array > mods && array <= cmd, "the module array is not between boot_modules and the command line");
    uint32_t after_cmd = cmd + strlen(bi->commandline) + 1;
    if (initrd) {
        CHECK(is_high(initrd) && initrd >= after_cmd, "initramfs 0x%x is not after the command line", initrd);
        after_cmd = initrd;
    }
    for (uint32_t i = 0; i < bi->mods->mod_nb; i++)
        CHECK((uint32_t)bi->mods->modules[i] > after_cmd, "module %u is not after the command line/initramfs", i);
    CHECK(segs > after_cmd, "the segment list is not last");
    CHECK(fua == segs + 4 + 20 * bi->segs->seg_nb, "first_useable_addr 0x%x is not the end of the segment list 0x%x",
          fua, segs + 4 + 20 * bi->segs->seg_nb);
}

static void check_paging(const struct boot_interface *bi)
{
    /* The page directory is at physical 0x1000: readable through both mappings. */
    const volatile uint32_t *pd_low = (const volatile uint32_t *)0x1000;
    const volatile uint32_t *pd_high = (const volatile uint32_t *)(KERNEL_BASE + 0x1000);
    CHECK((pd_low[0] & 0xFFC00081) == 0x81, "PDE[0] 0x%x does not map physical 0 with a 4 MiB page", pd_low[0]);
    CHECK((pd_low[768] & 0xFFC00081) == 0x81, "PDE[768] 0x%x does not map physical 0 with a 4 MiB page", pd_low[768]);
    int same = 1;
    for (int i = 0; i < 1024; i++) if (pd_low[i] != pd_high[i]) same = 0;
    CHECK(same, "the page directory reads differently through the identity and the high mapping");

    /* A kernel variable through its high address and its identity alias, both ways. */
    volatile uint32_t *high = &mapping_probe;
    volatile uint32_t *low = (volatile uint32_t *)((uint32_t)&mapping_probe - KERNEL_BASE);
    int ok = *low == 0x5705A11;
    *low = 0xC0FFEE01;
    ok = ok && *high == 0xC0FFEE01;
    *high = 0x5705A11;
    ok = ok && *low == 0x5705A11;
    CHECK(ok, "identity and high mapping of the kernel disagree");
    kprintf("mapping identity and high: %s\n", ok ? "ok" : "BAD");

    /* The frame table: the last PDEs map physical 4 MiB on with 4 MiB pages. */
    int n = 0;
    while (n < 256 && (pd_low[1023 - n] & 0x81) == 0x81) n++;
    CHECK(n > 0, "no frame table mapping at the top of the address space");
    if (n == 0) return;
    uint32_t base = (uint32_t)(0x100000000ull - (uint64_t)n * 0x400000);
    int contiguous = 1;
    for (int i = 0; i < n; i++)
        if ((pd_low[1024 - n + i] & 0xFFC00000) != 0x400000u + (uint32_t)i * 0x400000u) contiguous = 0;
    CHECK(contiguous, "the frame table PDEs do not map physical 4 MiB upwards");
    volatile uint32_t *table = (volatile uint32_t *)base;
    int zero = 1;
    for (int i = 0; i < 1024; i++) if (table[i]) zero = 0;
    CHECK(zero, "the frame table is not zeroed");
    table[0] = 0xF7A3E5;
    CHECK(table[0] == 0xF7A3E5, "the frame table is not writable");
    table[0] = 0;
    int reserved = 0;
    for (uint32_t i = 0; i < bi->segs->seg_nb; i++) {
        const struct address_range *r = &bi->segs->segments[i];
        if (r->base_addr == 0x400000 && r->type == 2) reserved = 1;
    }
    CHECK(reserved, "the frame table at 4 MiB is not reserved in the segment list");
    kprintf("frame table at 0x%08x, %d PDE(s) from physical 0x400000: %s\n", base, n, contiguous && zero ? "ok" : "BAD");
}

void kernel_main(struct boot_interface *bi)
{
    uint32_t ret = (uint32_t)__builtin_return_address(0);
    serial_init();
    kprintf("ministos: boot_interface at 0x%08x\n", (uint32_t)bi);
    check_entry(bi, ret);
    check_layout(bi);
    print_segments(bi);
    print_cmdline(bi->commandline);
    print_modules(bi);
    print_initramfs(bi);
    check_paging(bi);
    if (failures)
        kprintf("ministos: %d check(s) failed\n", failures);
    else
        kprintf("ministos: all checks passed\n");
    guest_exit(failures ? 1 : 0);
}
