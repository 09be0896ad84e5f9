; Trap entry points: push a dummy error code where the CPU does not, the vector, then the segment
; registers and general registers (JOS's struct Trapframe layout), and call trap(tf).
section .text
extern trap

%macro TRAP_NOERR 1
global trap_%1
trap_%1:
    push dword 0
    push dword %1
    jmp alltraps
%endmacro
%macro TRAP_ERR 1
global trap_%1
trap_%1:
    push dword %1
    jmp alltraps
%endmacro

TRAP_NOERR 0
TRAP_NOERR 1
TRAP_NOERR 2
TRAP_NOERR 3
TRAP_NOERR 4
TRAP_NOERR 5
TRAP_NOERR 6
TRAP_NOERR 7
TRAP_ERR 8
TRAP_ERR 10
TRAP_ERR 11
TRAP_ERR 12
TRAP_ERR 13
TRAP_ERR 14
TRAP_NOERR 16
TRAP_ERR 17
TRAP_NOERR 48

alltraps:
    push ds
    push es
    push fs
    push gs
    pusha
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    push esp
    call trap
.hang:
    hlt
    jmp .hang

; void env_pop_tf(struct trapframe *tf) __attribute__((noreturn));
global env_pop_tf
env_pop_tf:
    mov esp, [esp + 4]
    popa
    pop gs
    pop fs
    pop es
    pop ds
    add esp, 8              ; trapno and error code
    iret
