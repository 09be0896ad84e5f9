/* mb2info: walks the Multiboot 2 boot information (Multiboot2 spec 2.0 §3.6) and prints every tag, one line each
   (the memory map and modules a line per entry), checking the structure on the way: 8-byte alignment of the
   information and of every tag, total_size matching the end tag, and, from the ELF sections tag, that the symbol
   table the loader put in memory names kmain at kmain's address. Exits 0 if the magic is right and the structure
   is consistent, 1 for a wrong magic, 2 for an inconsistent structure. */
#include "io.h"

#define MB2_BOOTLOADER_MAGIC 0x36D76289

struct tag { uint32_t type, size; };
struct elf32_shdr { uint32_t name, type, flags, addr, offset, size, link, info, addralign, entsize; };
struct elf32_sym { uint32_t name, value, size; uint8_t info, other; uint16_t shndx; };

void kmain(uint32_t magic, uint32_t mbi);

static int problems;

static void problem(const char *what)
{
    kprintf("PROBLEM %s\n", what);
    problems++;
}

static void put_fixed(const uint8_t *s, int n)
{
    serial_putc('"');
    for (int i = 0; i < n; i++) serial_putc((char)s[i]);
    serial_putc('"');
}

static uint8_t sum(const uint8_t *p, uint32_t n)
{
    uint8_t s = 0;
    while (n--) s += *p++;
    return s;
}

static void rsdp(const char *name, const uint8_t *r, uint32_t payload)
{
    kprintf("%s ", name);
    put_fixed(r, 8);
    kprintf(" oem ");
    put_fixed(r + 9, 6);
    kprintf(" revision %u rsdt 0x%08x checksum %s", r[15], *(const uint32_t *)(r + 16), sum(r, 20) == 0 ? "ok" : "BAD");
    if (r[15] >= 2 && payload >= 36) {
        uint32_t length = *(const uint32_t *)(r + 20);
        kprintf(" length %u xsdt 0x%016llx extended %s", length, *(const unsigned long long *)(r + 24),
                length <= payload && sum(r, length) == 0 ? "ok" : "BAD");
    }
    kprintf("\n");
}

static void elf_sections(const uint32_t *t)
{
    uint32_t num = t[2], entsize = t[3], shndx = t[4];
    const uint8_t *base = (const uint8_t *)&t[5];
    kprintf("elf_sections num %u entsize %u shndx %u\n", num, entsize, shndx);
    if (entsize < sizeof(struct elf32_shdr) || shndx >= num) {
        problem("elf_sections fields");
        return;
    }
    const struct elf32_shdr *names = (const struct elf32_shdr *)(base + shndx * entsize);
    for (uint32_t i = 0; i < num; i++) {
        const struct elf32_shdr *sh = (const struct elf32_shdr *)(base + i * entsize);
        if (sh->type != 2) continue;                     /* SHT_SYMTAB */
        const struct elf32_shdr *strtab = (const struct elf32_shdr *)(base + sh->link * entsize);
        const char *secname = names->addr ? (const char *)names->addr + sh->name : "?";
        uint32_t count = sh->size / sizeof(struct elf32_sym), found = 0;
        kprintf("symtab %s %s, %u symbols, strings %s\n", secname, sh->addr ? "loaded" : "MISSING", count,
                strtab->addr ? "loaded" : "MISSING");
        if (!sh->addr || !strtab->addr) {
            problem("symbol table not loaded");
            return;
        }
        const struct elf32_sym *syms = (const struct elf32_sym *)sh->addr;
        for (uint32_t s = 0; s < count; s++)
            if (syms[s].value == (uint32_t)kmain && strcmp((const char *)strtab->addr + syms[s].name, "kmain") == 0)
                found = 1;
        kprintf("symbol kmain %s\n", found ? "found at its address" : "NOT FOUND");
        if (!found) problem("kmain not in the symbol table");
    }
}

void kmain(uint32_t magic, uint32_t mbi)
{
    serial_init();
    kprintf("mb2info: magic 0x%08x %s\n", magic, magic == MB2_BOOTLOADER_MAGIC ? "ok" : "BAD");
    if (magic != MB2_BOOTLOADER_MAGIC) guest_exit(1);

    uint32_t total = *(const uint32_t *)mbi, reserved = *(const uint32_t *)(mbi + 4);
    kprintf("info %s total_size %u reserved %u\n", (mbi & 7) ? "UNALIGNED" : "8-aligned", total, reserved);
    if (mbi & 7) problem("information not 8-aligned");

    uint32_t p = mbi + 8, end = mbi + total, modules = 0;
    int ended = 0;
    while (!ended && p + 8 <= end) {
        const struct tag *t = (const struct tag *)p;
        const uint32_t *w = (const uint32_t *)p;
        const char *payload = (const char *)(p + 8);
        if (p & 7) problem("tag not 8-aligned");
        switch (t->type) {
        case 0:
            kprintf("end size %u\n", t->size);
            ended = 1;
            break;
        case 1:
            kprintf("cmdline \"%s\"\n", payload);
            break;
        case 2:
            kprintf("boot_loader_name \"%s\"\n", payload);
            break;
        case 3: {
            uint32_t start = w[2], stop = w[3];
            kprintf("module %u: start 0x%08x end 0x%08x %s size %u crc32 0x%08x string \"%s\"\n", modules++, start, stop,
                    (start & 0xFFF) ? "unaligned" : "page-aligned", stop - start, crc32((const void *)start, stop - start),
                    payload + 8);
            break;
        }
        case 4:
            kprintf("basic_meminfo mem_lower %u KiB mem_upper %u KiB\n", w[2], w[3]);
            break;
        case 6: {
            uint32_t entry_size = w[2];
            kprintf("mmap entry_size %u entry_version %u\n", entry_size, w[3]);
            if (entry_size < 24) { problem("mmap entry_size"); break; }
            for (uint32_t e = p + 16; e + entry_size <= p + t->size; e += entry_size) {
                const uint64_t *q = (const uint64_t *)e;
                kprintf("mmap 0x%016llx-0x%016llx type %u\n", q[0], q[0] + q[1], *(const uint32_t *)(e + 16));
            }
            break;
        }
        case 8: {
            const uint8_t *b = (const uint8_t *)p;
            kprintf("framebuffer addr 0x%llx pitch %u width %u height %u bpp %u type %u\n",
                    *(const unsigned long long *)(p + 8), w[4], w[5], w[6], b[28], b[29]);
            break;
        }
        case 9:
            elf_sections(w);
            break;
        case 14:
            rsdp("acpi_old_rsdp", (const uint8_t *)payload, t->size - 8);
            break;
        case 15:
            rsdp("acpi_new_rsdp", (const uint8_t *)payload, t->size - 8);
            break;
        case 21:
            kprintf("load_base_addr 0x%08x\n", w[2]);
            break;
        default:
            kprintf("tag %u size %u\n", t->type, t->size);
            break;
        }
        if (t->size < 8) { problem("tag size below 8"); break; }
        p += (t->size + 7) & ~7u;
    }
    if (!ended) problem("no end tag");
    if (p != end) problem("total_size does not end at the end tag");
    kprintf("mb2info: done, %s\n", problems ? "INCONSISTENT" : "consistent");
    guest_exit(problems ? 2 : 0);
}
