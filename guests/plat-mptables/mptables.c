/* plat-mptables: finds the Intel MultiProcessor Specification 1.4 tables the way a kernel does (MP spec §4:
   the first KiB of the EBDA from BDA word 0x40E, the last KiB of base memory from BDA word 0x413, then the BIOS
   ROM 0xF0000-0xFFFFF), checks every checksum and the structure, and dumps the entries.
   Lines starting "mp:" are the verdicts and must read the same under mykvm and QEMU; lines starting "  " are the
   dump, whose content differs between the two. Known differences of QEMU's (SeaBIOS's) tables from mykvm's:
   the floating pointer is in the BIOS ROM area (mykvm: in the EBDA), OEM "BOCHSCPU" (mykvm: "MYKVM"),
   the I/O APIC has ID 0 (mykvm: 1, after the CPUs), ISA IRQs 5, 9, 10, 11 are left out because SeaBIOS gives
   them to PCI and two PCI-bus entries route PCI devices instead (mykvm: every ISA IRQ but the cascade, no PCI
   entries), and its ExtINT entry names local APIC 0 (mykvm: 0xff, all). */
#include "io.h"

#define BDA_EBDA_SEG  0x40E
#define BDA_BASE_KB   0x413

struct mp_fp {
    char sig[4];
    uint32_t physaddr;
    uint8_t length, revision, checksum, feature1, feature2, feature3[3];
} __attribute__((packed));

struct mp_conf {
    char sig[4];
    uint16_t length;
    uint8_t revision, checksum;
    char oem[8], product[12];
    uint32_t oem_table;
    uint16_t oem_size, entries;
    uint32_t lapic;
    uint16_t ext_length;
    uint8_t ext_checksum, reserved;
} __attribute__((packed));

static uint8_t sum(const void *p, uint32_t n)
{
    const uint8_t *b = p;
    uint8_t s = 0;
    while (n--) s += *b++;
    return s;
}

static struct mp_fp *search(uint32_t start, uint32_t len)
{
    for (uint32_t a = start; a + 16 <= start + len; a += 16) {
        struct mp_fp *fp = (struct mp_fp *)a;
        if (memcmp(fp->sig, "_MP_", 4) == 0 && sum(fp, 16) == 0)
            return fp;
    }
    return 0;
}

static const char *where(uint32_t a, uint32_t ebda, uint32_t basemem)
{
    if (ebda && a >= ebda && a < ebda + 1024) return "ebda";
    if (a >= basemem - 1024 && a < basemem) return "base-memory";
    if (a >= 0xF0000 && a < 0x100000) return "bios-rom";
    return "elsewhere";
}

static void str(const char *s, int n)
{
    for (int i = 0; i < n; i++) kprintf("%c", s[i] >= 32 && s[i] < 127 ? s[i] : '.');
}

static int failures;

static void verdict(int ok, const char *what)
{
    kprintf("mp: %s: %s\n", what, ok ? "ok" : "FAIL");
    if (!ok) failures++;
}

void kmain(uint32_t magic, uint32_t info)
{
    (void)magic; (void)info;
    serial_init();
    kprintf("plat-mptables\n");

    uint32_t ebda = (uint32_t)(*(volatile uint16_t *)BDA_EBDA_SEG) << 4;
    uint32_t basemem = (uint32_t)(*(volatile uint16_t *)BDA_BASE_KB) * 1024;
    struct mp_fp *fp = 0;
    if (ebda) fp = search(ebda, 1024);
    if (!fp) fp = search(basemem - 1024, 1024);
    if (!fp) fp = search(0xF0000, 0x10000);
    verdict(fp != 0, "floating pointer found with a valid checksum");
    if (!fp) guest_exit(1);
    kprintf("  floating pointer at 0x%x (%s), table at 0x%x, ebda 0x%x\n", (uint32_t)fp,
            where((uint32_t)fp, ebda, basemem), fp->physaddr, ebda);
    verdict(fp->length == 1, "floating pointer length is 16 bytes");
    verdict(fp->revision == 1 || fp->revision == 4, "floating pointer revision 1.1 or 1.4");
    verdict(fp->feature1 == 0 && fp->physaddr != 0, "configuration table present (no default config)");
    kprintf("  imcr %s\n", (fp->feature2 & 0x80) ? "present (PIC mode)" : "absent (virtual wire)");

    struct mp_conf *c = (struct mp_conf *)fp->physaddr;
    verdict(memcmp(c->sig, "PCMP", 4) == 0, "configuration table signature PCMP");
    verdict(sum(c, c->length) == 0, "configuration table checksum");
    verdict(c->revision == 1 || c->revision == 4, "configuration table revision 1.1 or 1.4");
    verdict(c->ext_length == 0 || (uint8_t)(sum((uint8_t *)c + c->length, c->ext_length) + c->ext_checksum) == 0,
            "extended table checksum");
    kprintf("  oem \""); str(c->oem, 8); kprintf("\" product \""); str(c->product, 12);
    kprintf("\" length %u entries %u ext %u\n", c->length, c->entries, c->ext_length);
    verdict(c->lapic == 0xFEE00000, "local APIC at 0xfee00000");

    int cpus = 0, bsp = 0, ioapics = 0, isa_bus = -1, sorted = 1, last_type = 0, lints_ok = 0;
    int irq0_pin = -1, ioapic_id = -1, bad_entry = 0;
    uint32_t isa_irqs = 0;
    uint32_t ioapic_addr = 0;
    uint8_t *p = (uint8_t *)(c + 1), *end = (uint8_t *)c + c->length;
    for (int i = 0; i < c->entries; i++) {
        if (p >= end) { bad_entry = 1; break; }
        if (*p < last_type) sorted = 0;
        last_type = *p;
        switch (*p) {
        case 0:
            kprintf("  cpu apic %u ver 0x%x flags 0x%x sig 0x%x features 0x%x\n", p[1], p[2], p[3],
                    *(uint32_t *)(p + 4), *(uint32_t *)(p + 8));
            if (p[3] & 1) cpus++;
            if (p[3] & 2) bsp++;
            p += 20;
            break;
        case 1:
            kprintf("  bus %u \"", p[1]); str((char *)p + 2, 6); kprintf("\"\n");
            if (memcmp(p + 2, "ISA   ", 6) == 0) isa_bus = p[1];
            p += 8;
            break;
        case 2:
            kprintf("  ioapic id %u ver 0x%x flags 0x%x at 0x%x\n", p[1], p[2], p[3], *(uint32_t *)(p + 4));
            if (p[3] & 1) { ioapics++; ioapic_id = p[1]; ioapic_addr = *(uint32_t *)(p + 4); }
            p += 8;
            break;
        case 3:
            kprintf("  ioint type %u flags 0x%x bus %u irq %u -> ioapic %u pin %u\n", p[1], *(uint16_t *)(p + 2),
                    p[4], p[5], p[6], p[7]);
            if (p[1] == 0 && p[4] == isa_bus && p[5] == 0) irq0_pin = p[7];
            if (p[1] == 0 && p[4] == isa_bus && p[5] < 16) isa_irqs |= 1u << p[5];
            p += 8;
            break;
        case 4:
            kprintf("  lint type %u flags 0x%x bus %u irq %u -> apic 0x%x lint%u\n", p[1], *(uint16_t *)(p + 2),
                    p[4], p[5], p[6], p[7]);
            if (p[1] == 3 && p[7] == 0) lints_ok |= 1;   /* ExtINT on LINT0 */
            if (p[1] == 1 && p[7] == 1) lints_ok |= 2;   /* NMI on LINT1 */
            p += 8;
            break;
        default:
            kprintf("  unknown entry type %u\n", *p);
            bad_entry = 1;
            i = c->entries;
            break;
        }
    }
    verdict(!bad_entry && p == end, "entries fill the base table exactly");
    verdict(sorted, "entries sorted by type");
    verdict(cpus >= 1 && bsp == 1, "enabled processors with exactly one bootstrap processor");
    verdict(isa_bus >= 0, "an ISA bus");
    verdict(ioapics == 1 && ioapic_addr == 0xFEC00000, "one I/O APIC at 0xfec00000");
    uint32_t id_reg;
    {
        volatile uint32_t *io = (volatile uint32_t *)0xFEC00000;
        io[0] = 0;
        id_reg = (io[4] >> 24) & 0xF;
    }
    verdict((int)id_reg == ioapic_id, "I/O APIC ID register matches the table");
    /* SeaBIOS leaves out the IRQs it gives to PCI (5, 9, 10, 11); the legacy devices' IRQs are always there. */
    kprintf("  isa irqs routed: 0x%x\n", isa_irqs);
    verdict((isa_irqs & 0xF11B) == 0xF11B, "ISA IRQ entries for the PIT, keyboard, COM1/2, RTC, mouse, FPU, IDE");
    verdict(irq0_pin == 2, "ISA IRQ 0 on I/O APIC pin 2");
    verdict(lints_ok == 3, "ExtINT on LINT0 and NMI on LINT1");
    kprintf("mp: %s\n", failures ? "FAILED" : "all checks passed");
    guest_exit(failures ? 1 : 0);
}
