; Ring-0 exception entry: error code (or 0), vector, pusha; fault(frame) may change the saved EIP.
section .text
extern fault

%macro EXC 2
global exc_%1
exc_%1:
%if %2 == 0
    push dword 0
%endif
    push dword %1
    pusha
    push esp
    call fault
    add esp, 4
    popa
    add esp, 8
    iret
%endmacro

EXC 0, 0
EXC 6, 0
EXC 13, 1
EXC 14, 1
