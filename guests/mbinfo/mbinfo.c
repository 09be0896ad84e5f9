/* mbinfo: prints what a Multiboot 1 loader handed over (Multiboot spec 0.6.96 §3.3) so the output under mykvm
   can be compared line by line with QEMU's -kernel: magic, flags, mem_lower/upper, the memory map, the command
   line, the boot loader name, and each module's range, size, CRC32 and string. With info flag 5 (ELF section
   headers, GRUB and mykvm; not QEMU) it also looks kmain up in the symbol table the loader put in memory.
   Exits 0 if the magic is right (and, with flag 5, kmain is found). */
#include "io.h"

struct mb_info {
    uint32_t flags, mem_lower, mem_upper, boot_device, cmdline, mods_count, mods_addr;
    uint32_t syms[4];
    uint32_t mmap_length, mmap_addr, drives_length, drives_addr, config_table, boot_loader_name;
} __attribute__((packed));

struct mb_module { uint32_t mod_start, mod_end, string, reserved; } __attribute__((packed));
struct mb_mmap { uint32_t size; uint64_t base_addr, length; uint32_t type; } __attribute__((packed));
struct elf32_shdr { uint32_t name, type, flags, addr, offset, size, link, info, addralign, entsize; };
struct elf32_sym { uint32_t name, value, size; uint8_t info, other; uint16_t shndx; };

void kmain(uint32_t magic, uint32_t info);

/* Flag 5: num, size, addr, shndx (§3.3). Returns 1 if kmain is in .symtab at its own address. */
static int elf_sections(const uint32_t *syms)
{
    uint32_t num = syms[0], size = syms[1], addr = syms[2], shndx = syms[3];
    kprintf("elf_sec num %u size %u addr %s shndx %u\n", num, size, addr ? "set" : "NULL", shndx);
    if (!addr || size < sizeof(struct elf32_shdr) || shndx >= num) return 0;
    const struct elf32_shdr *names = (const struct elf32_shdr *)(addr + shndx * size);
    int found = 0;
    for (uint32_t i = 0; i < num; i++) {
        const struct elf32_shdr *sh = (const struct elf32_shdr *)(addr + i * size);
        if (sh->type != 2 || !sh->addr) continue;        /* SHT_SYMTAB, loaded */
        const struct elf32_shdr *strtab = (const struct elf32_shdr *)(addr + sh->link * size);
        if (!strtab->addr) continue;
        const struct elf32_sym *s = (const struct elf32_sym *)sh->addr;
        for (uint32_t k = 0; k < sh->size / sizeof(*s); k++)
            if (s[k].value == (uint32_t)kmain && strcmp((const char *)strtab->addr + s[k].name, "kmain") == 0)
                found = 1;
        kprintf("elf_sec symtab %s: kmain %s\n", names->addr ? (const char *)names->addr + sh->name : "?",
                found ? "found at its address" : "NOT FOUND");
    }
    return found;
}

/* A read the compiler cannot see through: GCC flags constant addresses below 4 KiB as null-pointer accesses. */
static inline uint16_t peek16(uint32_t address)
{
    uint16_t v;
    __asm__ volatile("movw (%1), %0" : "=r"(v) : "r"(address));
    return v;
}

void kmain(uint32_t magic, uint32_t info)
{
    serial_init();
    const struct mb_info *mbi = (const struct mb_info *)info;
    kprintf("mbinfo: magic 0x%08x %s\n", magic, magic == 0x2BADB002 ? "ok" : "BAD");
    kprintf("flags 0x%08x\n", mbi->flags);
    /* The BIOS data area: EBDA segment and base memory size in KiB. */
    kprintf("bda ebda 0x%04x base %u KiB\n", peek16(0x40E), peek16(0x413));
    if (mbi->flags & (1 << 0))
        kprintf("mem_lower %u KiB mem_upper %u KiB\n", mbi->mem_lower, mbi->mem_upper);
    if (mbi->flags & (1 << 2))
        kprintf("cmdline \"%s\"\n", (const char *)mbi->cmdline);
    if (mbi->flags & (1 << 9))
        kprintf("boot_loader_name \"%s\"\n", (const char *)mbi->boot_loader_name);
    if (mbi->flags & (1 << 6)) {
        kprintf("mmap_length %u\n", mbi->mmap_length);
        uint32_t p = mbi->mmap_addr;
        while (p < mbi->mmap_addr + mbi->mmap_length) {
            const struct mb_mmap *e = (const struct mb_mmap *)p;
            kprintf("mmap 0x%016llx-0x%016llx type %u\n", e->base_addr, e->base_addr + e->length, e->type);
            p += e->size + 4;
        }
    }
    if (mbi->flags & (1 << 3)) {
        kprintf("mods_count %u\n", mbi->mods_count);
        const struct mb_module *m = (const struct mb_module *)mbi->mods_addr;
        for (uint32_t i = 0; i < mbi->mods_count; i++) {
            uint32_t size = m[i].mod_end - m[i].mod_start;
            kprintf("module %u: start 0x%08x end 0x%08x %s size %u crc32 0x%08x string \"%s\"\n", i,
                    m[i].mod_start, m[i].mod_end, (m[i].mod_start & 0xFFF) ? "unaligned" : "page-aligned", size,
                    crc32((const void *)m[i].mod_start, size), (const char *)m[i].string);
        }
    }
    int symbols_ok = 1;
    if (mbi->flags & (1 << 5))
        symbols_ok = elf_sections((const uint32_t *)(info + 28));   /* the syms union: num, size, addr, shndx */
    kprintf("mbinfo: done\n");
    guest_exit(magic == 0x2BADB002 && symbols_ok ? 0 : 1);
}
