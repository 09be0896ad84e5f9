/* Port I/O and the exit convention shared by every guest. */
#ifndef GUEST_IO_H
#define GUEST_IO_H
#include <stdint.h>
#include <stddef.h>

static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port)); }
static inline void outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port) { uint8_t v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline uint16_t inw(uint16_t port) { uint16_t v; __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline uint32_t inl(uint16_t port) { uint32_t v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port)); return v; }

/* QEMU isa-debug-exit convention (iobase 0xf4): the VM exits with status (code << 1) | 1. */
static inline __attribute__((noreturn)) void guest_exit(uint32_t code)
{
    outl(0xf4, code);
    for (;;) __asm__ volatile("cli; hlt");
}

void serial_init(void);
void serial_putc(char c);
void serial_puts(const char *s);
int kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
uint32_t crc32(const void *data, size_t n);

#endif
