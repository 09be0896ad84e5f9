/* mbinfo: prints what a Multiboot 1 loader handed over (Multiboot spec 0.6.96 §3.3) so the output under mykvm
   can be compared line by line with QEMU's -kernel: magic, flags, mem_lower/upper, the memory map, the command
   line, the boot loader name, and each module's range, size, CRC32 and string. Exits 0 if the magic is right. */
#include "io.h"

struct mb_info {
    uint32_t flags, mem_lower, mem_upper, boot_device, cmdline, mods_count, mods_addr;
    uint32_t syms[4];
    uint32_t mmap_length, mmap_addr, drives_length, drives_addr, config_table, boot_loader_name;
} __attribute__((packed));

struct mb_module { uint32_t mod_start, mod_end, string, reserved; } __attribute__((packed));
struct mb_mmap { uint32_t size; uint64_t base_addr, length; uint32_t type; } __attribute__((packed));

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
    kprintf("mbinfo: done\n");
    guest_exit(magic == 0x2BADB002 ? 0 : 1);
}
