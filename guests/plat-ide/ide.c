/* plat-ide: the primary IDE channel as a kernel driver sees it, on a 2 MiB scratch disk (build/plat-ide/scratch.img,
   made by mkscratch: byte i of sector s is (s*7 + i*13 + (s>>8)) & 0xff). Software reset and signature, IDENTIFY,
   READ SECTORS and WRITE SECTORS driven by IRQ 14 through the 8259, SET MULTIPLE + READ/WRITE MULTIPLE, CHS
   addressing with the IDENTIFY geometry, polled transfers with nIEN set, an out-of-range read, FLUSH CACHE.
   Lines starting "ide:" are verdicts that read the same under mykvm and QEMU; "  " lines are details that may differ
   (model string, geometry). The guest writes sectors 100-123: give it a fresh image or a snapshot disk. */
#include "plat.h"

#define DATA 0x1F0
#define ERROR 0x1F1
#define COUNT 0x1F2
#define LBA0 0x1F3
#define LBA1 0x1F4
#define LBA2 0x1F5
#define DEVICE 0x1F6
#define STATUS 0x1F7
#define CTL 0x3F6
#define BSY 0x80
#define DRDY 0x40
#define DRQ 0x08
#define ERR 0x01

static volatile int irqs;
static int failures;
static uint8_t buf[64 * 512];
static uint16_t ident[256];

static void verdict(int ok, const char *what)
{
    kprintf("ide: %s: %s\n", what, ok ? "ok" : "FAIL");
    if (!ok) failures++;
}

static void irq14(struct plat_frame *f)
{
    (void)f;
    irqs++;
    pic_eoi(14);
}

static uint8_t expected(uint32_t s, uint32_t i) { return (uint8_t)(s * 7 + i * 13 + (s >> 8)); }

/* After SRST is cleared: at least 2 ms before the first status read (ATA-6 §9.2), then until BSY clears and DRDY
   sets. QEMU finishes the reset asynchronously, so an early read can see a half-reset drive. */
static int wait_ready_after_reset(void)
{
    for (int i = 0; i < 2000; i++) io_delay();
    for (int i = 0; i < 1000000; i++) {
        /* Reset clears DEV to 0 on real drives (ATA-6 §9.2) but not in QEMU, which leaves SeaBIOS's last selection
           (and may finish its reset after our first select): select device 0 on every poll. */
        outb(DEVICE, 0xA0);
        uint8_t s = inb(CTL);
        if ((s & (BSY | DRDY)) == DRDY) return s;
        io_delay();
    }
    return -1;
}

static int wait_not_busy(void)
{
    for (int i = 0; i < 1000000; i++) {
        uint8_t s = inb(CTL);         /* alternate status: does not acknowledge the interrupt */
        if (!(s & BSY)) return s;
    }
    return -1;
}

/* Waits for IRQ 14 number n (counted by the handler), then acknowledges the device by reading Status. */
static int wait_irq(int n)
{
    for (int i = 0; i < 100000 && irqs < n; i++)
        wait_interrupt();
    cli();
    return irqs >= n ? inb(STATUS) : -1;
}

static void insw_block(void *dst, int words)
{
    __asm__ volatile("cld; rep insw" : "+D"(dst), "+c"(words) : "d"(DATA) : "memory");
}

static void outsw_block(const void *src, int words)
{
    __asm__ volatile("cld; rep outsw" : "+S"(src), "+c"(words) : "d"(DATA) : "memory");
}

static void lba28(uint32_t lba, uint8_t count, uint8_t cmd)
{
    outb(DEVICE, 0xE0 | ((lba >> 24) & 0x0F));
    outb(COUNT, count);
    outb(LBA0, lba);
    outb(LBA1, lba >> 8);
    outb(LBA2, lba >> 16);
    outb(STATUS, cmd);
}

/* Interrupt-driven PIO read: one interrupt per DRQ block of block_sectors. */
static int read_irq(uint32_t lba, int count, uint8_t cmd, int block_sectors, uint8_t *dst)
{
    int base = irqs;
    lba28(lba, count, cmd);
    for (int done = 0, blk = 0; done < count; blk++) {
        int s = wait_irq(base + blk + 1);
        if (s < 0 || (s & (ERR | DRQ)) != DRQ) return -1;
        int n = count - done < block_sectors ? count - done : block_sectors;
        insw_block(dst + done * 512, n * 256);
        done += n;
    }
    return (inb(CTL) & (BSY | DRQ | ERR)) == 0 ? irqs - base : -1;
}

/* Interrupt-driven PIO write: the first block goes without waiting for an interrupt, each later block and the
   completion come with one. */
static int write_irq(uint32_t lba, int count, uint8_t cmd, int block_sectors, const uint8_t *src)
{
    int base = irqs;
    lba28(lba, count, cmd);
    if (wait_not_busy() < 0 || !(inb(CTL) & DRQ)) return -1;
    for (int done = 0, blk = 0; done < count; blk++) {
        int n = count - done < block_sectors ? count - done : block_sectors;
        outsw_block(src + done * 512, n * 256);
        done += n;
        int s = wait_irq(base + blk + 1);
        if (s < 0 || (s & ERR)) return -1;
        if (done < count && !(s & DRQ)) return -1;
    }
    return irqs - base;
}

static int check_pattern(const uint8_t *data, uint32_t lba, int count)
{
    for (int s = 0; s < count; s++)
        for (int i = 0; i < 512; i++)
            if (data[s * 512 + i] != expected(lba + s, i)) return 0;
    return 1;
}

void kmain(uint32_t magic, uint32_t info)
{
    (void)magic; (void)info;
    serial_init();
    kprintf("plat-ide\n");
    plat_init();
    pic_remap(0x20, 0x28, (uint16_t)~((1 << 2) | (1 << 14)));   /* only the cascade and IRQ 14 */
    plat_set_handler(0x20 + 14, irq14);

    /* Software reset (ATA-6 §9.2): BSY while SRST is set, then the ATA signature. */
    outb(CTL, 0x06);                 /* SRST + nIEN */
    for (int i = 0; i < 10; i++) io_delay();
    outb(CTL, 0x02);
    int st = wait_ready_after_reset();
    kprintf("  status after reset 0x%x, signature %x %x %x %x\n", st, inb(COUNT), inb(LBA0), inb(LBA1), inb(LBA2));
    verdict(st >= 0 && (st & DRDY), "drive ready after software reset");
    verdict(inb(COUNT) == 1 && inb(LBA0) == 1 && inb(LBA1) == 0 && inb(LBA2) == 0, "ATA signature after reset");
    kprintf("  error register after reset 0x%x\n", inb(ERROR));
    outb(CTL, 0x00);                 /* interrupts on */
    sti();

    /* IDENTIFY DEVICE */
    outb(DEVICE, 0xA0);
    int base = irqs;
    outb(STATUS, 0xEC);
    st = wait_irq(base + 1);
    verdict(st >= 0 && (st & DRQ) && !(st & ERR), "IDENTIFY raises IRQ 14 with data ready");
    insw_block(ident, 256);
    uint32_t sectors = ident[60] | ((uint32_t)ident[61] << 16);
    char model[41];
    for (int i = 0; i < 20; i++) { model[2 * i] = ident[27 + i] >> 8; model[2 * i + 1] = ident[27 + i] & 0xFF; }
    model[40] = 0;
    for (int i = 39; i >= 0 && model[i] == ' '; i--) model[i] = 0;
    kprintf("  model \"%s\", CHS %u/%u/%u, max multiple %u\n", model, ident[54], ident[55], ident[56], ident[47] & 0xFF);
    kprintf("ide: capacity %u sectors\n", sectors);
    verdict(ident[49] & 0x200, "LBA supported");
    verdict((ident[47] & 0xFF) >= 8, "READ/WRITE MULTIPLE supported with blocks of 8 or more");
    verdict((inb(CTL) & (DRQ | BSY)) == 0, "DRQ clears after the IDENTIFY data");

    /* READ SECTORS 0-15, one interrupt per sector. */
    int n = read_irq(0, 16, 0x20, 1, buf);
    verdict(n == 16, "READ SECTORS: 16 sectors, 16 interrupts");
    verdict(check_pattern(buf, 0, 16), "READ SECTORS data matches the image");
    kprintf("ide: crc32 of sectors 0-15: 0x%x\n", crc32(buf, 16 * 512));

    /* WRITE SECTORS 100-107, then read back. */
    for (int i = 0; i < 8 * 512; i++) buf[i] = (uint8_t)(i * 31 + 5);
    uint32_t wcrc = crc32(buf, 8 * 512);
    n = write_irq(100, 8, 0x30, 1, buf);
    verdict(n == 8, "WRITE SECTORS: 8 sectors, 8 interrupts");
    memset(buf, 0, sizeof buf);
    n = read_irq(100, 8, 0x20, 1, buf);
    verdict(n == 8 && crc32(buf, 8 * 512) == wcrc, "written sectors read back");
    kprintf("ide: crc32 of written sectors: 0x%x\n", wcrc);

    /* SET MULTIPLE MODE 8, READ MULTIPLE 20 sectors = blocks of 8, 8, 4. */
    base = irqs;
    outb(COUNT, 8);
    outb(STATUS, 0xC6);
    st = wait_irq(base + 1);
    verdict(st >= 0 && !(st & ERR), "SET MULTIPLE MODE 8");
    n = read_irq(200, 20, 0xC4, 8, buf);
    verdict(n == 3 && check_pattern(buf, 200, 20), "READ MULTIPLE: 20 sectors in 3 blocks");
    for (int i = 0; i < 16 * 512; i++) buf[i] = (uint8_t)(i * 7 + 1);
    wcrc = crc32(buf, 16 * 512);
    n = write_irq(108, 16, 0xC5, 8, buf);
    verdict(n == 2, "WRITE MULTIPLE: 16 sectors in 2 blocks");
    memset(buf, 0, sizeof buf);
    n = read_irq(108, 16, 0x20, 1, buf);
    verdict(n == 16 && crc32(buf, 16 * 512) == wcrc, "WRITE MULTIPLE data reads back");

    /* CHS: cylinder 1, head 2, sector 5 with the current translation from IDENTIFY words 54-56. */
    uint32_t heads = ident[55], spt = ident[56];
    uint32_t chs_lba = (1 * heads + 2) * spt + 4;
    base = irqs;
    outb(DEVICE, 0xA0 | 2);
    outb(COUNT, 1);
    outb(LBA0, 5);
    outb(LBA1, 1);
    outb(LBA2, 0);
    outb(STATUS, 0x20);
    st = wait_irq(base + 1);
    if (st >= 0 && (st & DRQ)) insw_block(buf, 256);
    verdict(st >= 0 && (st & DRQ) && check_pattern(buf, chs_lba, 1), "CHS read of C/H/S 1/2/5 is the matching LBA sector");

    /* Polled read with nIEN: no interrupt, status shows the progress. */
    outb(CTL, 0x02);
    base = irqs;
    lba28(300, 2, 0x20);
    int ok = 1;
    for (int s = 0; s < 2; s++) {
        st = wait_not_busy();
        if (st < 0 || !(st & DRQ)) { ok = 0; break; }
        insw_block(buf + s * 512, 256);
    }
    inb(STATUS);
    verdict(ok && check_pattern(buf, 300, 2), "polled READ SECTORS with nIEN set");
    sti(); io_delay(); io_delay(); cli();
    verdict(irqs == base, "no interrupt while nIEN is set");
    outb(CTL, 0x00);
    sti();

    /* A read past the end of the disk fails with ERR. */
    base = irqs;
    lba28(sectors, 1, 0x20);
    st = wait_irq(base + 1);
    verdict(st >= 0 && (st & ERR) && !(st & DRQ), "read past the end of the disk fails with ERR");
    kprintf("  error register for the failed read 0x%x\n", inb(ERROR));

    /* FLUSH CACHE */
    base = irqs;
    outb(DEVICE, 0xE0);
    outb(STATUS, 0xE7);
    st = wait_irq(base + 1);
    verdict(st >= 0 && !(st & ERR), "FLUSH CACHE");

    kprintf("ide: %s\n", failures ? "FAILED" : "all checks passed");
    guest_exit(failures ? 1 : 0);
}
