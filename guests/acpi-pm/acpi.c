/* acpi-pm: what an OS does with a PC's ACPI tables and PM hardware (ACPI 6.5 §5.2, §4.8), in 32-bit protected
   mode without paging:
     - finds the RSDP (the first KiB of the EBDA, then 0xE0000-0xFFFFF), follows the XSDT (revision 2) or the
       RSDT (revision 0), checks every checksum;
     - reads the FADT's PM blocks and SCI, the MADT's APICs and interrupt overrides, and the SLP_TYP of \_S5 from
       the DSDT's AML (a search for the name, as small kernels do);
     - measures the PM timer over 50 ms of PIT channel 2 (as Linux checks it), checks it is monotonic and that
       TMR_STS clears by writing 1;
     - powers off: SLP_TYP | SLP_EN to PM1a_CNT.
   Every line must read the same under mykvm and under QEMU (SeaBIOS's tables), so only what both machines share
   is printed: not OEM names, table revisions, table addresses or QEMU's extra PCI interrupt overrides.
   Ends with the machine powering off (status 0); a failure exits through the debug port with status 3 or more. */
#include "io.h"

struct sdt {
    char sig[4];
    uint32_t length;
    uint8_t revision, checksum;
    char oem[6], oem_table[8];
    uint32_t oem_revision;
    char creator[4];
    uint32_t creator_revision;
} __attribute__((packed));

struct rsdp {
    char sig[8];
    uint8_t checksum;
    char oem[6];
    uint8_t revision;
    uint32_t rsdt;
    uint32_t length;
    uint64_t xsdt;
    uint8_t ext_checksum, reserved[3];
} __attribute__((packed));

struct gas {
    uint8_t space, bit_width, bit_offset, access_size;
    uint64_t address;
} __attribute__((packed));

static int failures;

static uint8_t sum(const void *p, uint32_t n)
{
    const uint8_t *b = p;
    uint8_t s = 0;
    while (n--) s += *b++;
    return s;
}

static void check(int ok, const char *what)
{
    kprintf("acpi: %s: %s\n", what, ok ? "ok" : "FAIL");
    if (!ok) failures++;
}

static __attribute__((noreturn)) void fail(const char *why)
{
    kprintf("acpi: FAIL: %s\n", why);
    guest_exit(3);
}

static struct rsdp *search(uint32_t start, uint32_t len)
{
    for (uint32_t a = start; a + 20 <= start + len; a += 16) {
        struct rsdp *r = (struct rsdp *)a;
        if (memcmp(r->sig, "RSD PTR ", 8) == 0 && sum(r, 20) == 0)
            return r;
    }
    return 0;
}

static const struct sdt *tables[32];
static int ntables;

static const struct sdt *find(const char *sig)
{
    for (int i = 0; i < ntables; i++)
        if (memcmp(tables[i]->sig, sig, 4) == 0) return tables[i];
    return 0;
}

static int table_ok(const struct sdt *t) { return t->length >= sizeof(struct sdt) && sum(t, t->length) == 0; }

/* The DSDT's \_S5: NameOp (0x08), optional root prefix, "_S5_", PackageOp (0x12), PkgLength, NumElements, then the
   first element (PM1a's SLP_TYP) as ZeroOp, OneOp or BytePrefix n (ACPI 6.5 §20.2). Returns -1 if not found. */
static int s5_sleep_type(const struct sdt *dsdt)
{
    const uint8_t *aml = (const uint8_t *)dsdt, *end = aml + dsdt->length;
    for (const uint8_t *p = aml + sizeof(struct sdt); p + 4 < end; p++) {
        if (memcmp(p, "_S5_", 4) != 0) continue;
        if (!(p[-1] == 0x08 || (p[-1] == '\\' && p[-2] == 0x08))) continue;
        const uint8_t *q = p + 4;
        if (*q++ != 0x12) continue;
        q += (*q >> 6) + 1;          /* PkgLength: lead byte plus its follow bytes */
        q++;                         /* NumElements */
        if (*q == 0x00) return 0;
        if (*q == 0x01) return 1;
        if (*q == 0x0A) return q[1];
        return -1;
    }
    return -1;
}

/* PIT channel 2 in mode 0 gated through port 0x61 counts 50 ms; returns the PM timer ticks meanwhile, or 0 when the
   measurement was disturbed. Both ends are bracketed by PM timer reads: the count starts between the reads around
   the write of its high byte, and ends between the last poll that saw OUT low and the first that saw it high. A
   bracket wider than 0.1% (a host that descheduled the CPU, an SMI) spoils the measurement, as in Linux's
   pit_calibrate_tsc. (QEMU TCG on a loaded host also shows the PIT falling behind its PM timer now and then, with
   tight brackets; hence the retries below.) */
static uint32_t pm_ticks_in_50ms(uint16_t pm_tmr, uint32_t mask)
{
    const uint16_t count = 59659;    /* 1193182 Hz * 0.05 s */
    const uint32_t slack = 180;      /* 0.1% of 178977 */
    outb(0x61, (inb(0x61) & ~0x02) | 0x01);   /* gate 2 high, speaker off */
    outb(0x43, 0xB0);                         /* channel 2, lobyte/hibyte, mode 0, binary */
    outb(0x42, count & 0xFF);
    uint32_t start0 = inl(pm_tmr);
    outb(0x42, count >> 8);                   /* counting starts with the second byte */
    uint32_t start1 = inl(pm_tmr);
    uint32_t before = start1, after;
    for (;;) {
        int high = inb(0x61) & 0x20;
        after = inl(pm_tmr);
        if (high) break;
        before = after;
    }
    if (((start1 - start0) & mask) > slack || ((after - before) & mask) > slack) return 0;
    uint32_t start = start0 + ((start1 - start0) & mask) / 2, end = before + ((after - before) & mask) / 2;
    return (end - start) & mask;
}

void kmain(uint32_t magic, uint32_t info)
{
    (void)magic; (void)info;
    serial_init();
    kprintf("acpi-pm\n");

    uint32_t ebda = (uint32_t)(*(volatile uint16_t *)0x40E) << 4;
    struct rsdp *rsdp = ebda ? search(ebda, 1024) : 0;
    if (!rsdp) rsdp = search(0xE0000, 0x20000);
    if (!rsdp) fail("no RSDP in the EBDA or 0xE0000-0xFFFFF");
    check(((uint32_t)rsdp & 15) == 0 && (uint32_t)rsdp >= 0xE0000, "RSDP in the BIOS area, 16-byte aligned");

    if (rsdp->revision >= 2) {
        if (sum(rsdp, rsdp->length) != 0) fail("RSDP extended checksum");
        if (rsdp->xsdt >> 32) fail("XSDT above 4 GiB");
        const struct sdt *xsdt = (const struct sdt *)(uint32_t)rsdp->xsdt;
        if (memcmp(xsdt->sig, "XSDT", 4) != 0 || !table_ok(xsdt)) fail("XSDT");
        const uint64_t *e = (const uint64_t *)(xsdt + 1);
        for (uint32_t i = 0; i < (xsdt->length - sizeof(struct sdt)) / 8 && ntables < 32; i++)
            tables[ntables++] = (const struct sdt *)(uint32_t)e[i];
    } else {
        const struct sdt *rsdt = (const struct sdt *)rsdp->rsdt;
        if (memcmp(rsdt->sig, "RSDT", 4) != 0 || !table_ok(rsdt)) fail("RSDT");
        const uint32_t *e = (const uint32_t *)(rsdt + 1);
        for (uint32_t i = 0; i < (rsdt->length - sizeof(struct sdt)) / 4 && ntables < 32; i++)
            tables[ntables++] = (const struct sdt *)e[i];
    }
    int all_ok = 1;
    for (int i = 0; i < ntables; i++) all_ok &= table_ok(tables[i]);
    check(all_ok, "root table entries checksum");

    /* FADT (§5.2.9): 32-bit block addresses; the X_ forms must agree where the table has them. */
    const uint8_t *fadt = (const uint8_t *)find("FACP");
    if (!fadt) fail("no FADT");
    uint32_t flen = ((const struct sdt *)fadt)->length;
    uint16_t sci = *(const uint16_t *)(fadt + 46);
    uint32_t pm1a_evt = *(const uint32_t *)(fadt + 56), pm1a_cnt = *(const uint32_t *)(fadt + 64);
    uint32_t pm_tmr = *(const uint32_t *)(fadt + 76), flags = *(const uint32_t *)(fadt + 112);
    kprintf("fadt: sci %u, pm1a_evt 0x%x (len %u), pm1a_cnt 0x%x (len %u), pm_tmr 0x%x (len %u)\n",
            sci, pm1a_evt, fadt[88], pm1a_cnt, fadt[89], pm_tmr, fadt[91]);
    int x_agree = 1;   /* a revision 1 FADT (QEMU's) has no X_ fields */
    if (flen >= 220) {
        const struct gas *x_cnt = (const struct gas *)(fadt + 172), *x_tmr = (const struct gas *)(fadt + 208);
        x_agree = (x_cnt->address == 0 || x_cnt->address == pm1a_cnt) && (x_tmr->address == 0 || x_tmr->address == pm_tmr);
    }
    check(x_agree, "FADT X_ blocks agree");
    check((flags & (1u << 20)) == 0, "FADT not hardware-reduced");
    const struct sdt *dsdt = (const struct sdt *)*(const uint32_t *)(fadt + 40);
    check(memcmp(dsdt->sig, "DSDT", 4) == 0 && table_ok(dsdt), "DSDT checksum");
    const uint8_t *facs = (const uint8_t *)*(const uint32_t *)(fadt + 36);
    check(facs && ((uint32_t)facs & 63) == 0 && memcmp(facs, "FACS", 4) == 0, "FACS 64-byte aligned");

    /* MADT (§5.2.12). */
    const uint8_t *madt = (const uint8_t *)find("APIC");
    if (!madt) fail("no MADT");
    uint32_t mlen = ((const struct sdt *)madt)->length;
    int cpus = 0, ioapics = 0, nmi_lint1 = 0;
    uint32_t ioapic_addr = 0, gsi_base = ~0u, irq0_gsi = 0, irq9_gsi = 0;
    uint16_t irq9_flags = 0;
    for (const uint8_t *e = madt + 44; e + 2 <= madt + mlen && e[1] >= 2; e += e[1]) {
        switch (e[0]) {
        case 0: if (*(const uint32_t *)(e + 4) & 1) cpus++; break;
        case 1: ioapics++; ioapic_addr = *(const uint32_t *)(e + 4); gsi_base = *(const uint32_t *)(e + 8); break;
        case 2:
            if (e[2] == 0 && e[3] == 0) irq0_gsi = *(const uint32_t *)(e + 4);
            if (e[2] == 0 && e[3] == 9) { irq9_gsi = *(const uint32_t *)(e + 4); irq9_flags = *(const uint16_t *)(e + 8); }
            break;
        case 4: if (e[5] == 1) nmi_lint1 = 1; break;
        }
    }
    kprintf("madt: lapic 0x%x, %d cpu, %d ioapic at 0x%x gsi %u, irq0 -> gsi %u, irq9 -> gsi %u flags 0x%x, nmi on lint1 %d\n",
            *(const uint32_t *)(madt + 36), cpus, ioapics, ioapic_addr, gsi_base, irq0_gsi, irq9_gsi, irq9_flags, nmi_lint1);

    int slp_typ = s5_sleep_type(dsdt);
    kprintf("dsdt: \\_S5 SLP_TYP %d\n", slp_typ);
    if (slp_typ < 0) fail("no \\_S5 in the DSDT");

    /* PM timer (§4.8.3.3): 3.579545 MHz, 24 or 32 bits (FADT TMR_VAL_EXT). */
    uint32_t mask = (flags & (1u << 8)) ? 0xFFFFFFFFu : 0x00FFFFFFu;
    int monotonic = 1;
    uint32_t prev = inl(pm_tmr) & mask;
    for (int i = 0; i < 1000; i++) {
        uint32_t now = inl(pm_tmr) & mask;
        if (((now - prev) & mask) > mask / 2) monotonic = 0;
        prev = now;
    }
    check(monotonic, "PM timer monotonic");
    /* 3579545 * 0.05 = 178977; within 0.5% once in up to 20 tries (a busy host disturbs some; mykvm's virtual time
       none, every try is exact there). */
    int rate_ok = 0;
    uint32_t ticks = 0;
    for (int i = 0; i < 20 && !rate_ok; i++) {
        ticks = pm_ticks_in_50ms((uint16_t)pm_tmr, mask);
        rate_ok = ticks > 178082 && ticks < 179872;
    }
    if (!rate_ok) kprintf("  %u PM timer ticks in 50 ms in the last try (0: disturbed)\n", ticks);
    check(rate_ok, "PM timer counts 178977 ticks in 50 ms of the PIT");

    /* PM1 status: write 1 to clear (§4.8.3.1.1). Let TMR_STS be whatever it is, clear everything, check. */
    outw(pm1a_evt, 0xFFFF);
    check((inw(pm1a_evt) & 0x0521) == 0, "PM1 status clears by writing 1");
    /* ACPI mode (§16.3.1): with an SMI_CMD port the OS writes ACPI_ENABLE there and waits for SCI_EN (QEMU);
       without one the hardware is always in ACPI mode (mykvm). */
    uint32_t smi_cmd = *(const uint32_t *)(fadt + 48);
    if (!(inw(pm1a_cnt) & 1) && smi_cmd) {
        outb((uint16_t)smi_cmd, fadt[52]);
        for (int i = 0; i < 100000 && !(inw(pm1a_cnt) & 1); i++) { }
    }
    check((inw(pm1a_cnt) & 1) == 1, "SCI_EN set (ACPI mode)");

    if (failures) guest_exit(4);
    kprintf("acpi: powering off (S5)\n");
    outw(pm1a_cnt, (uint16_t)((slp_typ << 10) | (1 << 13)));
    for (volatile int i = 0; i < 10000000; i++) { }
    fail("still running after SLP_EN");
}
