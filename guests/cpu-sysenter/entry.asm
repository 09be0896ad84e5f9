; SYSENTER entry and the ring-3 side. Convention: EAX = call number, EBX = argument; the user stub puts
; its ESP in ECX and its return address in EDX, which SYSEXIT restores (SDM Vol. 2 SYSENTER/SYSEXIT).
section .text
extern syscall_dispatch, user_main, gp_handler

global sysenter_entry
sysenter_entry:
    push ecx                ; user esp
    push edx                ; user eip
    push ebx
    push eax
    push esp                ; struct call *
    call syscall_dispatch   ; returns the result in eax
    add esp, 8              ; drop the pointer and the saved eax
    pop ebx
    pop edx
    pop ecx
    sysexit

; int sys(int num, int arg) from ring 3
global sys
sys:
    push ebx
    mov eax, [esp + 8]
    mov ebx, [esp + 12]
    mov ecx, esp
    mov edx, .back
    sysenter
.back:
    pop ebx
    ret

; The ring-3 entry point: SYSEXIT lands here with ESP = the user stack.
global user_start
user_start:
    mov ax, 0x23
    mov ds, ax
    mov es, ax
    call user_main
.spin:
    jmp .spin

; Reads CS and SS for the reports.
global read_cs, read_ss
read_cs:
    mov eax, cs
    ret
read_ss:
    mov eax, ss
    ret

; #GP from ring 3: report and skip the 2-byte instruction.
global gp_entry
gp_entry:
    pusha
    push esp
    call gp_handler
    add esp, 4
    popa
    add esp, 4              ; error code
    add dword [esp], 2      ; skip SYSENTER/SYSEXIT
    iret
