/* dev-kbd: the i8042 keyboard controller and a PS/2 keyboard through IRQ 1. With interrupts off it runs
   the controller self-tests, sets the command byte (keyboard interrupt, set 2 -> set 1 translation),
   resets the keyboard and checks its echo, identify and LED commands; then it takes scan codes in the
   IRQ 1 handler, turns set 1 make/break codes into characters (with Shift) and prints the typed line
   when Enter is pressed, echoing it on the VGA text screen as it is typed. Under QEMU, type through the
   monitor's sendkey after "ready". */
#include "devlib.h"

#define KBC_DATA 0x60
#define KBC_STATUS 0x64

static int kbc_wait_read(void)
{
    for (uint32_t i = 0; i < 10000000u; i++)
        if (inb(KBC_STATUS) & 0x01) return inb(KBC_DATA);
    return -1;
}

static void kbc_wait_write(void)
{
    for (uint32_t i = 0; i < 10000000u && (inb(KBC_STATUS) & 0x02); i++) ;
}

static void kbc_command(uint8_t c) { kbc_wait_write(); outb(KBC_STATUS, c); }
static void kbc_data(uint8_t d) { kbc_wait_write(); outb(KBC_DATA, d); }
static void kbc_flush(void) { while (inb(KBC_STATUS) & 0x01) { inb(KBC_DATA); io_delay(); } }

/* Sends a keyboard command and prints the bytes that come back (n of them). */
static void kbd_command(const char *name, const uint8_t *bytes, int count, int replies)
{
    for (int i = 0; i < count; i++) kbc_data(bytes[i]);
    kprintf("%s:", name);
    for (int i = 0; i < replies; i++) {
        int r = kbc_wait_read();
        if (r < 0) kprintf(" (none)"); else kprintf(" %02x", r);
    }
    kprintf("\n");
}

/* The typed line is echoed on the VGA text screen as it is typed (row 2, after a prompt), with the hardware
   cursor after it, so a user sees the keys arrive; the serial output stays the same under QEMU and mykvm. */
#define VGA ((volatile uint16_t *)0xB8000)
#define VGA_COLUMNS 80
#define ECHO_ROW 2
#define PROMPT "> "

static void vga_cursor(int row, int column)
{
    uint16_t pos = (uint16_t)(row * VGA_COLUMNS + column);
    outb(0x3D4, 0x0E);                       /* CRTC cursor location high, then low */
    outb(0x3D5, pos >> 8);
    outb(0x3D4, 0x0F);
    outb(0x3D5, pos & 0xFF);
}

static void vga_write(int row, int column, const char *text, uint8_t attribute)
{
    for (int i = 0; text[i] && column + i < VGA_COLUMNS; i++)
        VGA[row * VGA_COLUMNS + column + i] = (uint16_t)(attribute << 8 | (uint8_t)text[i]);
}

static void vga_start(void)
{
    for (int i = 0; i < VGA_COLUMNS * 25; i++) VGA[i] = 0x0720;
    for (int i = 0; i < VGA_COLUMNS; i++) VGA[i] = 0x1F20;     /* a white-on-blue title bar */
    vga_write(0, 1, "dev-kbd: type a line, Enter ends it", 0x1F);
    vga_write(ECHO_ROW, 0, PROMPT, 0x0E);
    vga_cursor(ECHO_ROW, sizeof PROMPT - 1);
}

/* Shows line[0..len) after the prompt, blanking the cell a backspace freed. */
static void vga_echo(const char *line, int len)
{
    int column = sizeof PROMPT - 1;
    for (int i = 0; i < len && column + i < VGA_COLUMNS - 1; i++)
        VGA[ECHO_ROW * VGA_COLUMNS + column + i] = (uint16_t)(0x0F00 | (uint8_t)line[i]);
    if (column + len < VGA_COLUMNS) VGA[ECHO_ROW * VGA_COLUMNS + column + len] = 0x0720;
    vga_cursor(ECHO_ROW, column + len < VGA_COLUMNS - 1 ? column + len : VGA_COLUMNS - 1);
}

static volatile uint8_t codes[256];
static volatile uint8_t code_head, code_tail;

static void kbd_irq(void)
{
    codes[code_head++] = inb(KBC_DATA);
}

/* US layout, set 1 make codes 0x00-0x39. */
static const char plain[] = "\0\0331234567890-=\b\tqwertyuiop[]\n\0asdfghjkl;'`\0\\zxcvbnm,./\0*\0 ";
static const char shifted[] = "\0\033!@#$%^&*()_+\b\tQWERTYUIOP{}\n\0ASDFGHJKL:\"~\0|ZXCVBNM<>?\0*\0 ";

void kmain(uint32_t magic, uint32_t info)
{
    (void)magic; (void)info;
    serial_init();
    dev_init();
    kprintf("dev-kbd: i8042 and PS/2 keyboard on IRQ 1\n");

    kbc_command(0xAD);                               /* keyboard interface off while we set up */
    kbc_flush();
    kbc_command(0xAA);
    kprintf("controller self-test %02x\n", kbc_wait_read());
    kbc_command(0xAB);
    kprintf("keyboard interface test %02x\n", kbc_wait_read());
    kbc_command(0x20);
    int ctr = kbc_wait_read();
    ctr = (ctr | 0x41) & ~0x12;                      /* IRQ 1 on, translation on, keyboard enabled, IRQ 12 off */
    kbc_command(0x60);
    kbc_data((uint8_t)ctr);
    kbc_command(0x20);
    kprintf("command byte: interrupt %s, translation %s\n",
            (kbc_wait_read() & 0x41) == 0x41 ? "on" : "off", ctr & 0x40 ? "on" : "off");
    kbc_command(0xAE);

    static const uint8_t reset[] = { 0xFF }, echo[] = { 0xEE }, ident[] = { 0xF2 }, leds[] = { 0xED, 0x02 },
        enable[] = { 0xF4 };
    kbd_command("reset", reset, 1, 2);
    kbd_command("echo", echo, 1, 1);
    kbd_command("identify", ident, 1, 3);
    /* The LED command is two bytes, each acknowledged. */
    kbc_data(leds[0]);
    int a1 = kbc_wait_read();
    kbc_data(leds[1]);
    int a2 = kbc_wait_read();
    kprintf("set LEDs: %02x %02x\n", a1, a2);
    kbd_command("enable scanning", enable, 1, 1);
    kbc_flush();

    irq_set_handler(1, kbd_irq);
    irq_unmask(1);
    vga_start();
    kprintf("ready\n");

    char line[128];
    int len = 0, shift = 0, extended = 0, done = 0;
    uint32_t scancodes = 0;
    while (!done) {
        cli();
        while (code_tail != code_head && !done) {
            uint8_t c = codes[code_tail++];
            scancodes++;
            if (c == 0xE0) { extended = 1; continue; }
            int release = c & 0x80, make = c & 0x7F;
            if (make == 0x2A || make == 0x36) { if (!extended) shift = !release; extended = 0; continue; }
            if (release || extended || make >= (int)sizeof plain) { extended = 0; continue; }
            char ch = shift ? shifted[make] : plain[make];
            if (ch == '\n') { done = 1; break; }
            if (ch == '\b') { if (len) len--; vga_echo(line, len); continue; }
            if (ch && len < (int)sizeof line - 1) line[len++] = ch;
            vga_echo(line, len);
        }
        if (!done) wait_for_interrupt();
    }
    line[len] = 0;
    vga_write(ECHO_ROW + 2, 0, "line done", 0x0A);
    kprintf("line: %s\n", line);
    /* (The scan-code count is not printed: when releases arrive depends on the host's key injection.) */
    if (scancodes == 0) fail("no scan codes");
    kprintf("dev-kbd: ok\n");
    guest_exit(0);
}
