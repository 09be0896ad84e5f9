/* A small kprintf to COM1: %c %s %d %i %u %x %X %p %%, with l/ll, width, '0' and '-' flags. */
#include <stdarg.h>
#include "io.h"

static void put_padded(const char *s, int len, int width, int left, char pad)
{
    if (!left) for (int i = len; i < width; i++) serial_putc(pad);
    for (int i = 0; i < len; i++) serial_putc(s[i]);
    if (left) for (int i = len; i < width; i++) serial_putc(' ');
}

static int format_unsigned(char *buf, unsigned long long v, unsigned base, int upper)
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    char tmp[24];
    int n = 0;
    do { tmp[n++] = digits[v % base]; v /= base; } while (v);
    for (int i = 0; i < n; i++) buf[i] = tmp[n - 1 - i];
    return n;
}

int kprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    for (const char *p = fmt; *p; p++) {
        if (*p != '%') { serial_putc(*p); continue; }
        p++;
        int left = 0, width = 0, lng = 0;
        char pad = ' ';
        if (*p == '-') { left = 1; p++; }
        if (*p == '0') { pad = '0'; p++; }
        while (*p >= '0' && *p <= '9') width = width * 10 + (*p++ - '0');
        while (*p == 'l') { lng++; p++; }
        char buf[24];
        int n;
        switch (*p) {
        case 'c': buf[0] = (char)va_arg(ap, int); put_padded(buf, 1, width, left, ' '); break;
        case 's': { const char *s = va_arg(ap, const char *); if (!s) s = "(null)";
                    put_padded(s, (int)strlen(s), width, left, ' '); break; }
        case 'd': case 'i': {
            long long v = lng >= 2 ? va_arg(ap, long long) : lng ? va_arg(ap, long) : va_arg(ap, int);
            unsigned long long u = v < 0 ? -(unsigned long long)v : (unsigned long long)v;
            int neg = v < 0;
            if (neg) buf[0] = '-';
            n = format_unsigned(buf + neg, u, 10, 0) + neg;
            put_padded(buf, n, width, left, pad);
            break;
        }
        case 'u': case 'x': case 'X': {
            unsigned long long v = lng >= 2 ? va_arg(ap, unsigned long long)
                                 : lng ? va_arg(ap, unsigned long) : va_arg(ap, unsigned int);
            n = format_unsigned(buf, v, *p == 'u' ? 10 : 16, *p == 'X');
            put_padded(buf, n, width, left, pad);
            break;
        }
        case 'p': {
            unsigned long v = (unsigned long)va_arg(ap, void *);
            buf[0] = '0'; buf[1] = 'x';
            n = format_unsigned(buf + 2, v, 16, 0) + 2;
            put_padded(buf, n, width, left, ' ');
            break;
        }
        case '%': serial_putc('%'); break;
        default: serial_putc('%'); serial_putc(*p); break;
        }
    }
    va_end(ap);
    return 0;
}
