; mini-stos entry (stos protocol, issue #5). The loader enters e_entry as if it had done
;   mov esp, 0xC03FFFFC; push boot_interface; call e_entry
; with paging on. Record the registers exactly as handed over, then continue in kernel_main with the stack
; untouched, so kernel_main(struct boot_interface *) sees the loader's return address and argument.
section .text.entry progbits alloc exec nowrite align=16
global _start
extern kernel_main
extern entry_regs
_start:
    mov [entry_regs + 0], eax
    mov [entry_regs + 4], esp
    mov [entry_regs + 8], ebp
    pushfd
    pop dword [entry_regs + 12]
    mov eax, cr0
    mov [entry_regs + 16], eax
    mov eax, cr3
    mov [entry_regs + 20], eax
    mov eax, cr4
    mov [entry_regs + 24], eax
    xor eax, eax
    mov ax, cs
    mov [entry_regs + 28], eax
    mov ax, ds
    mov [entry_regs + 32], eax
    mov ax, ss
    mov [entry_regs + 36], eax
    mov eax, [entry_regs + 0]
    jmp kernel_main
