; Multiboot 1 entry shared by the 32-bit test guests (Multiboot spec 0.6.96 §3.1).
; Sets up a stack and calls kmain(magic, info); returning from kmain exits with code 0x7f.
MB_MAGIC    equ 0x1BADB002
MB_FLAGS    equ 0x00000003          ; bit 0: page-align modules, bit 1: memory info
MB_CHECKSUM equ -(MB_MAGIC + MB_FLAGS)

section .multiboot progbits alloc noexec nowrite align=4
    dd MB_MAGIC
    dd MB_FLAGS
    dd MB_CHECKSUM

section .bss
align 16
stack_bottom:
    resb 16384
stack_top:

section .text
global _start
extern kmain
_start:
    mov esp, stack_top
    xor ebp, ebp
    push ebx                        ; multiboot_info*
    push eax                        ; magic
    call kmain
    mov dx, 0xf4
    mov eax, 0x7f
    out dx, eax
.hang:
    cli
    hlt
    jmp .hang
