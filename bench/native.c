/* Native host harness for the benchmark: the same bench_core.c, built 32-bit with the guest's flags. */
#include <stdio.h>
#include <stdint.h>
#include <time.h>
#include "bench_core.h"

int main(void)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
    uint32_t c = bench_run(BENCH_ROUNDS);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
    printf("bench: %u rounds, checksum %08x\n", BENCH_ROUNDS, c);
    fprintf(stderr, "native_seconds %.6f\n", (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
    return 0;
}
