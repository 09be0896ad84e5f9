/* The benchmark as a Multiboot kernel: runs the workload, prints the checksum on COM1, exits via 0xf4. */
#include "io.h"
#include "bench_core.h"

void kmain(uint32_t magic, uint32_t info)
{
    (void)magic; (void)info;
    serial_init();
    uint32_t c = bench_run(BENCH_ROUNDS);
    kprintf("bench: %u rounds, checksum %08x\n", BENCH_ROUNDS, c);
    guest_exit(0);
}
