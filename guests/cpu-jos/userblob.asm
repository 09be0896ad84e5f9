; The user program's ELF image, embedded in the kernel (JOS links user binaries into the kernel the same way).
section .rodata
align 4
global user_elf_start, user_elf_end
user_elf_start:
    incbin USER_ELF
user_elf_end:
