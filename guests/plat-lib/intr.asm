; Interrupt entry stubs for the plat-* guests: one per vector, each pushes a dummy error code where the CPU does not
; push one (Intel SDM Vol. 3A §6.13: vectors 8, 10-14, 17, 21 have one), then the vector, and joins a common path
; that saves the registers and calls plat_dispatch(struct plat_frame *).
section .text
extern plat_dispatch
global plat_stub_table
global plat_load_gdt

%macro STUB 1
stub_%1:
%if %1 = 8 || (%1 >= 10 && %1 <= 14) || %1 = 17 || %1 = 21
%else
    push dword 0
%endif
    push dword %1
    jmp plat_common
%endmacro

%assign v 0
%rep 256
STUB v
%assign v v+1
%endrep

plat_common:
    pushad
    push esp
    cld
    call plat_dispatch
    add esp, 4
    popad
    add esp, 8
    iretd

; void plat_load_gdt(void *gdtr): loads the GDT and reloads CS=0x08, data segments=0x10.
plat_load_gdt:
    mov eax, [esp + 4]
    lgdt [eax]
    jmp 0x08:.reload
.reload:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov fs, ax
    mov gs, ax
    mov ss, ax
    ret

section .rodata
align 4
plat_stub_table:
%assign v 0
%rep 256
    dd stub_ %+ v
%assign v v+1
%endrep
