; Exception entry stubs for the debugger's test guests: push a dummy error code where the CPU pushes none
; (SDM Vol. 3A §6.13), the vector, the general registers, and call fault_handler(frame).
extern fault_handler
global isr_stubs

%macro ISR_NOERR 1
isr%1:
    push dword 0
    push dword %1
    jmp isr_common
%endmacro
%macro ISR_ERR 1
isr%1:
    push dword %1
    jmp isr_common
%endmacro

section .text
%assign v 0
%rep 32
%if v == 8 || (v >= 10 && v <= 14) || v == 17 || v == 21
    ISR_ERR v
%else
    ISR_NOERR v
%endif
%assign v v+1
%endrep

isr_common:
    pusha
    push esp
    call fault_handler
    add esp, 4
    popa
    add esp, 8
    iret

section .rodata
align 4
isr_stubs:
%assign v 0
%rep 32
    dd isr%[v]
%assign v v+1
%endrep
