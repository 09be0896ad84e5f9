; bios-optrom: a minimal ISA option ROM (IBM PC option ROM format: 55 AA, size in 512-byte blocks, init entry at
; offset 3 called far by the BIOS during POST, checksum byte making all bytes sum to 0 mod 256 — fixed by romsum.c).
; Its init prints where it runs and what DS/stack it was given through INT 10h, then returns to the BIOS.
; QEMU passes it with -option-rom (fw_cfg genroms/NAME); mykvm through FirmwareConfigOptions.OptionRoms.
bits 16
org 0

    db 0x55, 0xaa
    db ROM_BLOCKS                   ; size in 512-byte blocks
    jmp init                        ; offset 3: the BIOS does a far call here
    times 0x18 - ($ - $$) db 0
    dw 0                            ; no PCI data structure: an ISA ROM
    dw 0                            ; no PnP expansion header

init:
    pushf
    pusha
    push ds
    push cs
    pop ds
    mov si, msg
    call puts
    mov ax, cs
    call hex16
    mov si, msg2
    call puts
    pop ds
    popa
    popf
    retf

puts:
    lodsb
    test al, al
    jz .done
    call putc
    jmp puts
.done:
    ret

putc:
    push bx
    mov ah, 0x0e
    mov bx, 0x0007
    int 0x10
    pop bx
    ret

hex16:
    mov cx, 4
.digit:
    rol ax, 4
    push ax
    and al, 0x0f
    add al, '0'
    cmp al, '9'
    jbe .out
    add al, 'a' - '0' - 10
.out:
    call putc
    pop ax
    loop .digit
    ret

msg:  db "bios-optrom: option ROM init called at ", 0
msg2: db ":0003", 13, 10, 0

ROM_BLOCKS equ 1
    times 512 - 1 - ($ - $$) db 0
    db 0                            ; checksum, set by romsum
