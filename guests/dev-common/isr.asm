; Interrupt entry stubs for the legacy-device guests: vectors 0-47 push (error code, vector) into a common
; frame and call isr_dispatch(struct frame *).
bits 32
section .text
extern isr_dispatch
global isr_stub_table

%macro STUB_NOERR 1
isr_%1:
    push dword 0
    push dword %1
    jmp isr_common
%endmacro

%macro STUB_ERR 1
isr_%1:
    push dword %1
    jmp isr_common
%endmacro

%assign v 0
%rep 48
%if v == 8 || (v >= 10 && v <= 14) || v == 17 || v == 21
    STUB_ERR v
%else
    STUB_NOERR v
%endif
%assign v v + 1
%endrep

isr_common:
    pushad
    cld
    push esp
    call isr_dispatch
    add esp, 4
    popad
    add esp, 8
    iretd

section .rodata
align 4
isr_stub_table:
%assign v 0
%rep 48
    dd isr_ %+ v
%assign v v + 1
%endrep
