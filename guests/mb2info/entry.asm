; mb2info entry: a Multiboot 2 header (Multiboot2 spec 2.0 §3.1) and a stack, then kmain(magic, mbi).
; Returning from kmain exits with code 0x7f.
MB2_MAGIC  equ 0xE85250D6
MB2_ARCH   equ 0                          ; i386 protected mode
MB2_LENGTH equ header_end - header_start

section .multiboot progbits alloc noexec nowrite align=8
header_start:
    dd MB2_MAGIC
    dd MB2_ARCH
    dd MB2_LENGTH
    dd 0x100000000 - (MB2_MAGIC + MB2_ARCH + MB2_LENGTH)

    ; Information request, required: cmdline, loader name, modules, basic meminfo, mmap, ELF sections, load base.
    align 8, db 0
info_request:
    dw 1, 0
    dd info_request_end - info_request
    dd 1, 2, 3, 4, 6, 9, 21
info_request_end:

    ; Console flags: EGA text supported, no console required.
    align 8, db 0
    dw 4, 0
    dd 12
    dd 2

    ; Framebuffer, optional, no preferred mode: the loader answers with what it has.
    align 8, db 0
    dw 5, 1
    dd 20
    dd 0, 0, 0

    ; Modules page-aligned.
    align 8, db 0
    dw 6, 0
    dd 8

    ; End.
    align 8, db 0
    dw 0, 0
    dd 8
header_end:

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
    push ebx                        ; boot information
    push eax                        ; magic
    call kmain
    mov dx, 0xf4
    mov eax, 0x7f
    out dx, eax
.hang:
    cli
    hlt
    jmp .hang
