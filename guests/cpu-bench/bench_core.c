/* The benchmark workload: pure computation, no I/O, no libc, so the same object runs as a guest kernel
   and natively. Each part is a different shape of integer code a kernel or C program spends time in. */
#include "bench_core.h"
#include <stddef.h>

#define N 16384
static uint32_t a[N], b[N];
static uint8_t buf[65536];
static uint32_t crc_table[256];

static uint32_t lcg(uint32_t *s) { *s = *s * 1664525u + 1013904223u; return *s; }

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

static uint32_t crc(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    while (n--) c = crc_table[(c ^ *p++) & 0xFF] ^ (c >> 8);
    return ~c;
}

static void quicksort(uint32_t *v, int lo, int hi)
{
    while (lo < hi) {
        uint32_t pivot = v[(lo + hi) / 2];
        int i = lo, j = hi;
        while (i <= j) {
            while (v[i] < pivot) i++;
            while (v[j] > pivot) j--;
            if (i <= j) { uint32_t t = v[i]; v[i] = v[j]; v[j] = t; i++; j--; }
        }
        if (j - lo < hi - i) { quicksort(v, lo, j); lo = i; }
        else { quicksort(v, i, hi); hi = j; }
    }
}

static uint32_t arith(uint32_t seed)
{
    uint32_t x = seed, acc = 0;
    for (int i = 1; i < 20000; i++) {
        x = x * 2654435761u + (uint32_t)i;
        acc += (x >> 7) ^ (x << 3);
        acc ^= x / (uint32_t)(i | 1);
        acc += (uint32_t)((int32_t)x % 97);
        acc = (acc << 5) | (acc >> 27);
    }
    return acc;
}

static uint32_t branches(uint32_t seed)
{
    uint32_t steps = 0;
    for (uint32_t n = 1 + (seed & 255); n < 3000 + (seed & 255); n++) {
        uint32_t v = n;
        while (v != 1) { v = (v & 1) ? 3 * v + 1 : v / 2; steps++; }
    }
    return steps;
}

static uint32_t memory(uint32_t seed)
{
    uint32_t s = seed, sum = 0;
    for (int i = 0; i < N; i++) b[i] = lcg(&s);
    for (int stride = 1; stride < 64; stride *= 3)
        for (int i = 0; i < N; i++) sum += b[(i * stride) & (N - 1)];
    for (int i = 0; i < (int)sizeof buf; i++) buf[i] = (uint8_t)(b[i & (N - 1)] >> (i & 24));
    return sum;
}

uint32_t bench_run(uint32_t rounds)
{
    uint32_t check = 0, s = 12345;
    crc_init();
    for (uint32_t r = 0; r < rounds; r++) {
        check ^= arith(check + r);
        check += branches(check);
        check ^= memory(check);
        check += crc(buf, sizeof buf);
        for (int i = 0; i < 4096; i++) a[i] = lcg(&s) ^ check;
        quicksort(a, 0, 4095);
        for (int i = 1; i < 4096; i++) if (a[i - 1] > a[i]) check ^= 0xDEAD;
        check = check * 31 + a[r & 4095];
    }
    return check;
}
