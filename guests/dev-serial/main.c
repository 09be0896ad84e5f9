/* dev-serial: the 16550A UART through IRQ 4. After register checks (scratch, loopback with the modem
   lines wired back), receive is interrupt-driven (received-data and character-timeout interrupts with
   the FIFO trigger at 8) and so is transmit: echoed bytes go into a ring that the THR-empty interrupt
   drains, the way Linux's 8250 driver works. Every byte typed comes back uppercased; '.' ends the run.
   Under QEMU, send the input after "ready" (e.g. (sleep 1; printf 'abc.') | qemu-system-i386 ...): QEMU
   pushes piped bytes into the receiver from power-on, and the FIFO reset at initialisation drops them. */
#include "devlib.h"

#define COM1 0x3F8
#define RBR 0
#define THR 0
#define IER 1
#define IIR 2
#define FCR 2
#define LCR 3
#define MCR 4
#define LSR 5
#define MSR 6
#define SCR 7

struct ring { volatile uint8_t buf[256]; volatile uint8_t head, tail; };
static struct ring rx, tx;
static int ring_empty(struct ring *r) { return r->head == r->tail; }
static void ring_push(struct ring *r, uint8_t c) { if ((uint8_t)(r->head + 1) != r->tail) r->buf[r->head++] = c; }
static uint8_t ring_pop(struct ring *r) { return r->buf[r->tail++]; }

static volatile uint32_t rx_irqs, tx_irqs, timeout_irqs;

static void uart_irq(void)
{
    for (;;) {
        uint8_t iir = inb(COM1 + IIR);
        if (iir & 1) break;
        switch (iir & 0x0E) {
        case 0x06:                                   /* line status: read LSR to clear */
            inb(COM1 + LSR);
            break;
        case 0x0C:                                   /* character timeout */
            timeout_irqs++;
            /* fall through */
        case 0x04:                                   /* received data available */
            rx_irqs++;
            while (inb(COM1 + LSR) & 0x01) ring_push(&rx, inb(COM1 + RBR));
            break;
        case 0x02:                                   /* THR empty: refill up to the FIFO size */
            tx_irqs++;
            if (ring_empty(&tx)) {
                outb(COM1 + IER, inb(COM1 + IER) & ~0x02);
                break;
            }
            for (int n = 0; n < 16 && !ring_empty(&tx); n++) outb(COM1 + THR, ring_pop(&tx));
            break;
        default:                                     /* modem status */
            inb(COM1 + MSR);
            break;
        }
    }
}

static uint8_t upper(uint8_t c) { return c >= 'a' && c <= 'z' ? (uint8_t)(c - 32) : c; }

void kmain(uint32_t magic, uint32_t info)
{
    (void)magic; (void)info;
    dev_init();
    /* A byte may already sit in the (FIFO-less) receiver; enabling the FIFO would discard it. */
    while (inb(COM1 + LSR) & 0x01) ring_push(&rx, inb(COM1 + RBR));
    outb(COM1 + IER, 0x00);
    outb(COM1 + LCR, 0x80);
    outb(COM1 + 0, 0x01);                            /* 115200 baud */
    outb(COM1 + 1, 0x00);
    outb(COM1 + LCR, 0x03);                          /* 8N1 */
    outb(COM1 + FCR, 0x87);                          /* FIFO on, RX trigger 8, RX FIFO cleared */
    outb(COM1 + MCR, 0x0B);                          /* DTR, RTS, OUT2 */
    kprintf("dev-serial: COM1 on IRQ 4\n");

    outb(COM1 + SCR, 0xA5);
    kprintf("scratch %02x\n", inb(COM1 + SCR));
    kprintf("IIR with FIFO %02x\n", inb(COM1 + IIR) & 0xC0);

    /* Loopback: what is sent is received, and RTS/DTR/OUT1/OUT2 read back as CTS/DSR/RI/DCD. */
    outb(COM1 + MCR, 0x1B);
    inb(COM1 + MSR);
    outb(COM1 + THR, 'Z');
    uint8_t lsr = inb(COM1 + LSR);
    uint8_t got = inb(COM1 + RBR);
    uint8_t msr = inb(COM1 + MSR);
    outb(COM1 + MCR, 0x0B);                          /* out of loopback before printing anything */
    kprintf("loopback: LSR %02x, received %c, MSR %02x\n", lsr & 0x61, got, msr & 0xF0);

    irq_set_handler(4, uart_irq);
    irq_unmask(4);
    outb(COM1 + IER, 0x05);                          /* received data, line status */
    kprintf("ready\n");

    uint32_t echoed = 0;
    int done = 0;
    while (!done) {
        cli();
        while (!ring_empty(&rx)) {
            uint8_t c = ring_pop(&rx);
            if (c == '\r') continue;
            ring_push(&tx, upper(c));
            echoed++;
            if (c == '.') { done = 1; break; }
        }
        if (!ring_empty(&tx)) outb(COM1 + IER, inb(COM1 + IER) | 0x02);   /* THRE interrupt fires at once */
        if (!done && ring_empty(&rx)) wait_for_interrupt();
    }
    /* Let the transmit ring drain through THRE interrupts. */
    while (!ring_empty(&tx) || (inb(COM1 + IER) & 0x02)) { wait_for_interrupt(); cli(); }
    while (!(inb(COM1 + LSR) & 0x40)) ;
    outb(COM1 + IER, 0x00);
    kprintf("\necho: %u bytes, interrupts for rx %s, tx %s\n", echoed, rx_irqs ? "yes" : "no", tx_irqs ? "yes" : "no");
    kprintf("dev-serial: ok\n");
    guest_exit(0);
}
