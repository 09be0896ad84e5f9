; bios-boot stage 2: checks the BIOS services a boot loader relies on and prints one "bios:" verdict line per
; check through INT 10h teletype output (the VGA screen, and COM1 when the BIOS runs a serial console). The lines
; carry the values the BIOS returned, so a run can be compared with QEMU + the same SeaBIOS. Exit through the
; isa-debug-exit port 0xf4: 0 (status 1) when every check passed, 1 (status 3) otherwise.
;
; The disk (built by mkdisk.c) has 8192 sectors; from LBA PATTERN_FIRST on, sector s holds s as a little-endian
; dword followed by bytes (s*7 + i*13 + (s >> 8)) & 0xff for i = 4..511.
bits 16
org 0x8000

PATTERN_FIRST  equ 32
DISK_SECTORS   equ 8192
BUF_SEG        equ 0x1000           ; 64 KiB scratch buffer at 0x10000
WRITE_LBA      equ 300

start:
    jmp short main
    db "S2"                         ; signature the MBR checks

main:
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov [drive], dl
    mov si, s_stage2
    call puts
    mov al, [drive]
    call hex8
    call crlf

    call check_ext
    call check_geometry
    call check_edd_params
    call check_chs_read
    call check_lba_read
    call check_write
    call check_past_end
    call check_base_memory
    call check_ext_memory
    call check_e801
    call check_e820
    call check_a20
    call check_timer
    call check_keyboard
    call check_video

    cmp byte [failures], 0
    jne .failed
    mov si, s_passed
    call puts
    xor al, al
    jmp finish
.failed:
    mov si, s_failed
    call puts
    mov al, 1
finish:
    push ax
    mov si, s_trailer               ; the serial console holds back the last few characters it was given
    call puts
    mov ah, 0x86                    ; 20 ms, so the last characters leave the UART before the exit
    xor cx, cx
    mov dx, 20000
    int 0x15
    mov ah, 0x01                    ; INT 16h check: the serial console flushes what it holds back
    int 0x16
    pop ax
    out 0xf4, al
.halt:
    cli
    hlt
    jmp .halt

; ---- checks -------------------------------------------------------------------------------------

check_ext:                          ; INT 13h AH=41h: EDD version and API subset bitmap
    mov ah, 0x41
    mov bx, 0x55aa
    mov dl, [drive]
    int 0x13
    jc .bad
    cmp bx, 0xaa55
    jne .bad
    push cx
    push ax
    mov si, s_ext
    call puts
    pop ax
    mov al, ah
    call hex8
    mov si, s_ext2
    call puts
    pop ax
    call hex16
    call crlf
    ret
.bad:
    mov si, s_ext_bad
    jmp fail_line

check_geometry:                     ; INT 13h AH=08h: CHS geometry as the BIOS translates it
    mov ah, 0x08
    mov dl, [drive]
    xor di, di
    int 0x13
    jc .bad
    mov [heads], dh
    inc byte [heads]
    mov al, cl
    and al, 0x3f
    mov [spt], al
    mov al, cl                      ; max cylinder: CH low 8 bits, CL bits 6-7 the high 2
    shr al, 6
    mov ah, al
    mov al, ch
    inc ax
    mov [cyls], ax
    push dx
    mov si, s_geo
    call puts
    mov ax, [cyls]
    call dec16
    mov si, s_geo_h
    call puts
    xor ah, ah
    mov al, [heads]
    call dec16
    mov si, s_geo_s
    call puts
    xor ah, ah
    mov al, [spt]
    call dec16
    mov si, s_geo_d
    call puts
    pop dx
    xor ah, ah
    mov al, dl
    call dec16
    call crlf
    ret
.bad:
    mov si, s_geo_bad
    jmp fail_line

check_edd_params:                   ; INT 13h AH=48h: total sectors and sector size
    mov word [edd_buf], 0x1e
    mov ah, 0x48
    mov dl, [drive]
    mov si, edd_buf
    int 0x13
    jc .bad
    mov si, s_edd
    call puts
    mov eax, [edd_buf + 16]
    call dec32
    mov si, s_edd2
    call puts
    mov ax, [edd_buf + 24]
    call dec16
    mov si, s_edd3
    call puts
    cmp dword [edd_buf + 16], DISK_SECTORS
    jne .wrong
    cmp dword [edd_buf + 20], 0
    jne .wrong
    ret
.wrong:
    inc byte [failures]
    ret
.bad:
    mov si, s_edd_bad
    jmp fail_line

check_chs_read:                     ; INT 13h AH=02h of LBA 40, addressed through the geometry above
    mov ax, 40
    xor dx, dx
    movzx cx, byte [spt]
    div cx                          ; ax = track, dx = sector - 1
    inc dx
    mov bl, dl                      ; sector
    xor dx, dx
    movzx cx, byte [heads]
    div cx                          ; ax = cylinder, dx = head
    mov ch, al
    mov cl, ah
    shl cl, 6
    or cl, bl
    mov dh, dl
    mov dl, [drive]
    push es
    mov bx, BUF_SEG
    mov es, bx
    xor bx, bx
    mov ax, 0x0201
    int 0x13
    pop es
    jc .bad
    mov eax, 40
    mov cx, 1
    call verify
    jc .bad
    mov si, s_chs_ok
    call puts
    ret
.bad:
    mov si, s_chs_bad
    jmp fail_line

check_lba_read:                     ; INT 13h AH=42h of 24 sectors at LBA 100
    mov word [dap + 2], 24
    mov word [dap + 4], 0
    mov word [dap + 6], BUF_SEG
    mov dword [dap + 8], 100
    mov ah, 0x42
    mov dl, [drive]
    mov si, dap
    int 0x13
    jc .bad
    mov eax, 100
    mov cx, 24
    call verify
    jc .bad
    mov si, s_lba_ok
    call puts
    ret
.bad:
    mov si, s_lba_bad
    jmp fail_line

check_write:                        ; INT 13h AH=43h of one sector, then read it back
    push es
    mov ax, BUF_SEG
    mov es, ax
    xor di, di
    mov cx, 512
    mov al, 0x5a
.fill:
    stosb
    inc al
    loop .fill
    pop es
    mov word [dap + 2], 1
    mov word [dap + 4], 0
    mov word [dap + 6], BUF_SEG
    mov dword [dap + 8], WRITE_LBA
    mov ax, 0x4300
    mov dl, [drive]
    mov si, dap
    int 0x13
    jc .bad
    push es                         ; clobber the buffer, read back into it
    mov ax, BUF_SEG
    mov es, ax
    xor di, di
    mov cx, 256
    xor ax, ax
    rep stosw
    pop es
    mov word [dap + 2], 1
    mov ah, 0x42
    mov dl, [drive]
    mov si, dap
    int 0x13
    jc .bad
    push ds
    mov ax, BUF_SEG
    mov ds, ax
    xor si, si
    mov cx, 512
    mov bl, 0x5a
.cmp:
    lodsb
    cmp al, bl
    jne .mismatch
    inc bl
    loop .cmp
    pop ds
    mov si, s_write_ok
    call puts
    ret
.mismatch:
    pop ds
.bad:
    mov si, s_write_bad
    jmp fail_line

check_past_end:                     ; INT 13h AH=42h beyond the last sector must fail
    mov word [dap + 2], 1
    mov word [dap + 4], 0
    mov word [dap + 6], BUF_SEG
    mov dword [dap + 8], DISK_SECTORS
    mov ah, 0x42
    mov dl, [drive]
    mov si, dap
    int 0x13
    jnc .bad
    push ax
    mov si, s_end
    call puts
    pop ax
    mov al, ah
    call hex8
    call crlf
    ret
.bad:
    mov si, s_end_bad
    jmp fail_line

check_base_memory:                  ; INT 12h
    int 0x12
    push ax
    mov si, s_base
    call puts
    pop ax
    call dec16
    mov si, s_kib
    call puts
    ret

check_ext_memory:                   ; INT 15h AH=88h
    mov ah, 0x88
    int 0x15
    jc .bad
    push ax
    mov si, s_ext_mem
    call puts
    pop ax
    call dec16
    mov si, s_kib
    call puts
    ret
.bad:
    mov si, s_ext_mem_bad
    jmp fail_line

check_e801:                         ; INT 15h AX=E801h
    mov ax, 0xe801
    xor bx, bx
    xor cx, cx
    xor dx, dx
    int 0x15
    jc .bad
    push dx
    push cx
    push bx
    push ax
    mov si, s_e801
    call puts
    pop ax
    call hex16
    mov si, s_e801_bx
    call puts
    pop ax
    call hex16
    mov si, s_e801_cx
    call puts
    pop ax
    call hex16
    mov si, s_e801_dx
    call puts
    pop ax
    call hex16
    call crlf
    ret
.bad:
    mov si, s_e801_bad
    jmp fail_line

check_e820:                         ; INT 15h EAX=E820h: the whole map, one line per entry
    xor ebx, ebx
    mov byte [e820_count], 0
.next:
    mov eax, 0xe820
    mov edx, 0x534d4150             ; 'SMAP'
    mov ecx, 20
    mov di, e820_buf
    int 0x15
    jc .end
    cmp eax, 0x534d4150
    jne .bad
    push ebx
    mov si, s_e820
    call puts
    mov al, [e820_count]
    xor ah, ah
    call dec16
    mov si, s_colon
    call puts
    mov eax, [e820_buf + 4]
    call hex32
    mov eax, [e820_buf]
    call hex32
    mov al, ' '
    call putc
    mov eax, [e820_buf + 12]
    call hex32
    mov eax, [e820_buf + 8]
    call hex32
    mov si, s_type
    call puts
    mov eax, [e820_buf + 16]
    call dec32
    call crlf
    pop ebx
    inc byte [e820_count]
    cmp byte [e820_count], 32
    jae .bad
    test ebx, ebx
    jnz .next
.end:
    cmp byte [e820_count], 0
    je .bad
    ret
.bad:
    mov si, s_e820_bad
    jmp fail_line

check_a20:                          ; INT 15h AX=2402h: A20 gate status
    mov ax, 0x2402
    int 0x15
    jc .bad
    push ax
    mov si, s_a20
    call puts
    pop ax
    call hex8
    call crlf
    ret
.bad:
    mov si, s_a20_bad
    jmp fail_line

check_timer:                        ; BIOS tick count (IRQ 0) advances across INT 15h AH=86h (200 ms)
    cli
    mov eax, [0x46c]
    sti
    mov [ticks], eax
    mov ah, 0x86
    mov cx, 0x0003                  ; 200000 us = 0x00030d40
    mov dx, 0x0d40
    int 0x15
    jc .bad
    cli
    mov eax, [0x46c]
    sti
    sub eax, [ticks]
    cmp eax, 2                      ; 18.2 Hz: 3 or 4 ticks in 200 ms
    jb .bad
    cmp eax, 10
    ja .bad
    mov si, s_timer_ok
    call puts
    ret
.bad:
    mov si, s_timer_bad
    jmp fail_line

check_keyboard:                     ; INT 16h AH=01h: nothing typed
    mov ah, 0x01
    int 0x16
    jnz .bad
    mov si, s_kbd_ok
    call puts
    ret
.bad:
    mov si, s_kbd_bad
    jmp fail_line

check_video:                        ; INT 10h AH=0Fh: current mode and columns
    mov ah, 0x0f
    int 0x10
    push ax
    mov si, s_video
    call puts
    pop ax
    push ax
    call hex8
    mov si, s_video2
    call puts
    pop ax
    mov al, ah
    xor ah, ah
    call dec16
    mov si, s_video3
    call puts
    ret

; ---- helpers ------------------------------------------------------------------------------------

; Prints the failure line at SI and counts it.
fail_line:
    call puts
    inc byte [failures]
    ret

; Checks CX pattern sectors starting at LBA EAX in the buffer at BUF_SEG:0. CF set on a mismatch.
verify:
    push ds
    push bx
    push dx
    mov bx, BUF_SEG
    mov ds, bx
    xor si, si
.sector:
    cmp [si], eax                   ; the LBA stamp
    jne .bad
    mov bx, 4                       ; byte index i
.byte:
    mov dl, al                      ; expected = s*7 + i*13 + (s >> 8)
    imul dx, dx, 7
    push ax
    mov ax, bx
    imul ax, ax, 13
    add dl, al
    pop ax
    add dl, ah
    cmp [si + bx], dl
    jne .bad
    inc bx
    cmp bx, 512
    jb .byte
    add si, 512
    inc eax
    loop .sector
    pop dx
    pop bx
    pop ds
    clc
    ret
.bad:
    pop dx
    pop bx
    pop ds
    stc
    ret

putc:                               ; AL through INT 10h teletype
    pusha
    mov ah, 0x0e
    mov bx, 0x0007
    int 0x10
    popa
    ret

puts:                               ; NUL-terminated string at DS:SI
    push ax
.loop:
    lodsb
    test al, al
    jz .done
    call putc
    jmp .loop
.done:
    pop ax
    ret

crlf:
    push si
    mov si, s_crlf
    call puts
    pop si
    ret

hex32:                              ; EAX as 8 hex digits
    push eax
    shr eax, 16
    call hex16
    pop eax
hex16:                              ; AX as 4 hex digits
    push ax
    mov al, ah
    call hex8
    pop ax
hex8:                               ; AL as 2 hex digits
    push ax
    shr al, 4
    call hex4
    pop ax
hex4:
    push ax
    and al, 0x0f
    add al, '0'
    cmp al, '9'
    jbe .out
    add al, 'a' - '0' - 10
.out:
    call putc
    pop ax
    ret

dec16:                              ; AX in decimal
    push eax
    movzx eax, ax
    call dec32
    pop eax
    ret

dec32:                              ; EAX in decimal
    pushad
    mov ebx, 10
    xor cx, cx
.div:
    xor edx, edx
    div ebx
    push dx
    inc cx
    test eax, eax
    jnz .div
.out:
    pop ax
    add al, '0'
    call putc
    loop .out
    popad
    ret

; ---- data ---------------------------------------------------------------------------------------

s_stage2:     db "bios: stage 2 at 0000:8000, boot drive ", 0
s_ext:        db "bios: int13 extensions version ", 0
s_ext2:       db ", api bitmap ", 0
s_ext_bad:    db "bios: FAILED: int13 extensions", 13, 10, 0
s_geo:        db "bios: geometry ", 0
s_geo_h:      db " cylinders, ", 0
s_geo_s:      db " heads, ", 0
s_geo_d:      db " sectors per track, drives ", 0
s_geo_bad:    db "bios: FAILED: int13 get drive parameters", 13, 10, 0
s_edd:        db "bios: edd: ", 0
s_edd2:       db " sectors of ", 0
s_edd3:       db " bytes", 13, 10, 0
s_edd_bad:    db "bios: FAILED: int13 extended drive parameters", 13, 10, 0
s_chs_ok:     db "bios: chs read of lba 40: ok", 13, 10, 0
s_chs_bad:    db "bios: FAILED: chs read of lba 40", 13, 10, 0
s_lba_ok:     db "bios: lba read of 24 sectors at lba 100: ok", 13, 10, 0
s_lba_bad:    db "bios: FAILED: lba read of 24 sectors at lba 100", 13, 10, 0
s_write_ok:   db "bios: lba write and read back of lba 300: ok", 13, 10, 0
s_write_bad:  db "bios: FAILED: lba write and read back of lba 300", 13, 10, 0
s_end:        db "bios: read past the last sector fails with status ", 0
s_end_bad:    db "bios: FAILED: read past the last sector succeeded", 13, 10, 0
s_base:       db "bios: int12 base memory ", 0
s_ext_mem:    db "bios: int15/88 extended memory ", 0
s_ext_mem_bad: db "bios: FAILED: int15/88", 13, 10, 0
s_kib:        db " KiB", 13, 10, 0
s_e801:       db "bios: int15/e801 ax=", 0
s_e801_bx:    db " bx=", 0
s_e801_cx:    db " cx=", 0
s_e801_dx:    db " dx=", 0
s_e801_bad:   db "bios: FAILED: int15/e801", 13, 10, 0
s_e820:       db "bios: e820 ", 0
s_colon:      db ": ", 0
s_type:       db " type ", 0
s_e820_bad:   db "bios: FAILED: int15/e820", 13, 10, 0
s_a20:        db "bios: int15/2402 a20 state ", 0
s_a20_bad:    db "bios: FAILED: int15/2402", 13, 10, 0
s_timer_ok:   db "bios: timer ticks during a 200 ms int15/86 wait: ok", 13, 10, 0
s_timer_bad:  db "bios: FAILED: timer ticks during a 200 ms int15/86 wait", 13, 10, 0
s_kbd_ok:     db "bios: int16/01 keyboard buffer empty: ok", 13, 10, 0
s_kbd_bad:    db "bios: FAILED: int16/01 reports a key", 13, 10, 0
s_video:      db "bios: int10/0f video mode ", 0
s_video2:     db ", ", 0
s_video3:     db " columns", 13, 10, 0
s_passed:     db "bios: all checks passed", 13, 10, 0
s_failed:     db "bios: some checks FAILED", 13, 10, 0
s_crlf:       db 13, 10, 0
s_trailer:    db "bios-boot: end", 13, 10, 0

drive:      db 0
failures:   db 0
heads:      db 0
spt:        db 0
cyls:       dw 0
e820_count: db 0
ticks:      dd 0
align 4
dap:        db 16, 0
            dw 0, 0, 0
            dq 0
edd_buf:    times 0x42 db 0
e820_buf:   times 24 db 0
