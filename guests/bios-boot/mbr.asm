; bios-boot: the master boot record. A BIOS loads it at 0000:7C00 with the boot drive in DL (BIOS Boot
; Specification 1.01, section 6.5.1). It says hello through INT 10h, loads stage 2 (STAGE2_SECTORS sectors from
; LBA 1) to 0000:8000 with the INT 13h extensions (AH=42h, EDD 3.0 "extended read") and jumps there with DL intact.
; Build: nasm -f bin -DSTAGE2_SECTORS=n mbr.asm
bits 16
org 0x7c00

%ifndef STAGE2_SECTORS
%error "STAGE2_SECTORS must be defined"
%endif

start:
    cli
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov sp, 0x7c00
    sti
    cld
    mov [boot_drive], dl
    mov si, msg_hello
    call puts
    mov al, [boot_drive]
    call hex8
    mov si, msg_crlf
    call puts

    mov ah, 0x41                ; INT 13h extensions installed?
    mov bx, 0x55aa
    mov dl, [boot_drive]
    int 0x13
    jc .no_ext
    cmp bx, 0xaa55
    jne .no_ext
    mov ah, 0x42                ; extended read of stage 2
    mov dl, [boot_drive]
    mov si, dap
    int 0x13
    jc .read_failed
    cmp word [0x8000 + 2], 'S2' ; stage 2 starts with a short jump, then its signature
    jne .bad_stage2
    mov dl, [boot_drive]
    jmp 0x0000:0x8000

.no_ext:
    mov si, msg_no_ext
    jmp fail
.read_failed:
    mov si, msg_read
    jmp fail
.bad_stage2:
    mov si, msg_sig
fail:
    call puts
    mov ah, 0x01                ; INT 16h: lets the serial console flush what it holds back
    int 0x16
    mov al, 1                   ; exit status 3 under QEMU's isa-debug-exit
    out 0xf4, al
.halt:
    cli
    hlt
    jmp .halt

; Teletype output (INT 10h AH=0Eh) of the NUL-terminated string at DS:SI.
puts:
    lodsb
    test al, al
    jz .done
    mov ah, 0x0e
    mov bx, 0x0007
    int 0x10
    jmp puts
.done:
    ret

; AL as two hex digits.
hex8:
    push ax
    shr al, 4
    call .nibble
    pop ax
.nibble:
    and al, 0x0f
    add al, '0'
    cmp al, '9'
    jbe .out
    add al, 'a' - '0' - 10
.out:
    mov ah, 0x0e
    mov bx, 0x0007
    int 0x10
    ret

msg_hello:  db "bios-boot: MBR at 0000:7c00, boot drive ", 0
msg_crlf:   db 13, 10, 0
msg_no_ext: db "bios-boot: FAILED: no INT 13h extensions", 13, 10, 0
msg_read:   db "bios-boot: FAILED: reading stage 2", 13, 10, 0
msg_sig:    db "bios-boot: FAILED: stage 2 signature", 13, 10, 0

boot_drive: db 0

align 4
dap:                            ; EDD disk address packet
    db 16, 0
    dw STAGE2_SECTORS
    dw 0x8000, 0x0000           ; offset, segment
    dq 1                        ; first LBA

    times 0x1be - ($ - $$) db 0
; One partition (type 0xDA, "non-FS data") over the pattern sectors, so the disk looks partitioned.
    db 0x00                     ; not active
    db 0, 33, 0                 ; CHS of LBA 32 with 63 sectors per track: C0 H0 S33
    db 0xda
    db 15, 63, 7                ; CHS of the last sector (LBA 8063 = C7 H15 S63)
    dd 32                       ; first LBA
    dd 8192 - 32 - 128          ; sectors (the last 128 stay outside any partition)
    times 510 - ($ - $$) db 0
    dw 0xaa55
