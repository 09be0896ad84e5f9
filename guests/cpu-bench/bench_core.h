#ifndef BENCH_CORE_H
#define BENCH_CORE_H
#include <stdint.h>
/* Runs the integer workload `rounds` times; returns a checksum that depends on every step. */
uint32_t bench_run(uint32_t rounds);
#define BENCH_ROUNDS 400
#endif
