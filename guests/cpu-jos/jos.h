/* Shared between the cpu-jos kernel and its user program. */
#ifndef CPU_JOS_H
#define CPU_JOS_H
#include <stdint.h>

#define T_SYSCALL   0x30
#define SYS_CPUTS   0
#define SYS_EXIT    1
#define SYS_GETENVID 2

#define UTEXT       0x20000000u
#define USTACKTOP   0x30000000u
#define NTESTS      13

#endif
