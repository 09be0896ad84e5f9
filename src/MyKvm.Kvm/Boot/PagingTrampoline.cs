using System.Buffers.Binary;
using MyKvm.Core;

namespace MyKvm.Kvm.Boot;

/// <summary>
/// A page-directory entry the trampoline had to add to the guest's own page directory because the trampoline
/// page was not mapped at all. The vCPU puts <see cref="OriginalValue"/> back once the guest runs its own code.
/// </summary>
public sealed record PageTablePatch(ulong Address, uint OriginalValue, uint PatchedValue, ulong Cr3);

/// <summary>The flat, unpaged state to start the vCPU in, and what the trampoline changed in guest memory.</summary>
public sealed record TrampolineEntry(VcpuState EntryState, PageTablePatch? Patch, string Description);

/// <summary>
/// Enters a paged boot state from an unpaged one. Some KVM hosts cannot be started with CR0.PG=1 (and the
/// Linux 64-bit and stos protocols need paging from the first instruction), so the vCPU starts in flat 32-bit
/// protected mode at <see cref="PcMemoryLayout.TrampolineBase"/>, where this code:
/// <list type="number">
/// <item>writes EFER (WRMSR) when the target has any EFER bit, including LME for long mode;</item>
/// <item>loads CR4 (PSE/PAE/...), CR3 and CR0 (with PG) from the target state (SDM Vol. 3A §9.8.5 and §9.9.1:
/// PAE before PG, and a branch right after setting PG);</item>
/// <item>32-bit target: restores EAX (and ECX/EDX after a WRMSR), the only registers it used, and jumps near to the entry point;</item>
/// <item>64-bit target: far-jumps through its own one-entry GDT (a copy of the target CS descriptor, at the
/// target selector's index) into 64-bit code that loads the target GDTR, every general-purpose register,
/// and jumps to the 64-bit entry point through a memory operand.</item>
/// </list>
/// Interrupts stay off inside the trampoline (STI right before the final jump when the target has IF=1).
/// The trampoline page must be identity-mapped by the target's page tables, because the instruction after
/// MOV CR0 is fetched through them. When the page is not mapped at all (32-bit paging with CR4.PSE, empty
/// PDE 0), a 4 MiB identity PDE is added and reported as a <see cref="PageTablePatch"/> for the vCPU to undo.
/// </summary>
public static class PagingTrampoline
{
    public const ulong Base = PcMemoryLayout.TrampolineBase;
    public const int PageBytes = 0x1000;

    private const int Code64Offset = 0x200;
    private const int GdtOffset = 0x400;
    private const int MaxGdtEntries = (0x800 - GdtOffset) / 8;
    private const int TargetGdtrOffset = 0xF00;
    private const int TargetRipOffset = 0xF10;

    private const ulong FlagTF = 0x100, FlagRF = 0x1_0000, FlagVM = 0x2_0000;
    private const ulong Cr4Pcide = 1UL << 17;
    private const uint MsrEfer = 0xC000_0080;

    /// <summary>True when <paramref name="state"/> cannot be loaded directly into a KVM vCPU on every host.</summary>
    public static bool IsNeeded(VcpuState state) => state.PagingEnabled;

    /// <summary>
    /// Writes the trampoline for <paramref name="target"/> into <paramref name="ram"/> and returns the unpaged
    /// state that, once run, arrives at <paramref name="target"/>. Throws <see cref="KvmException"/>
    /// (<see cref="KvmErrorKind.BadBootState"/>) for a target it cannot reach.
    /// </summary>
    public static TrampolineEntry Write(GuestRam ram, VcpuState target)
    {
        ArgumentNullException.ThrowIfNull(ram);
        ArgumentNullException.ThrowIfNull(target);
        if (!target.PagingEnabled) throw Bad("the target state has paging off; it needs no trampoline");
        if ((target.Cr0 & VcpuState.Cr0PE) == 0) throw Bad("CR0.PG without CR0.PE");
        if (!ram.Contains(Base, PageBytes)) throw Bad($"the trampoline page 0x{Base:x} is not RAM");
        bool longMode = (target.Efer & VcpuState.EferLME) != 0;
        if (longMode && (target.Cr4 & VcpuState.Cr4PAE) == 0) throw Bad("long mode (EFER.LME) needs CR4.PAE");
        if (longMode && !target.Cs.Long) throw Bad("a long-mode target must start in a 64-bit code segment (CS.L=1)");
        if (!longMode && target.Cs.Long) throw Bad("CS.L=1 without EFER.LME");
        if (target.Cr3 > 0xFFFF_FFFF) throw Bad($"CR3=0x{target.Cr3:x} is above 4 GiB; the 32-bit trampoline cannot load it");
        if (!longMode && target.Cs.Base != 0) throw Bad($"a 32-bit target needs CS base 0 (it is 0x{target.Cs.Base:x})");
        if (!longMode && target.Rip > 0xFFFF_FFFF) throw Bad($"a 32-bit target needs EIP below 4 GiB (RIP=0x{target.Rip:x})");

        var patch = EnsureIdentityMapped(ram, target, out string mapping);

        var page = new byte[PageBytes];
        var code = new CodeWriter(page, 0);
        var entry = target.Clone();
        entry.Rip = Base;
        entry.Rflags = (target.Rflags & ~(VcpuState.FlagIF | FlagTF | FlagRF | FlagVM)) | 2;
        entry.Cr0 = target.Cr0 & ~VcpuState.Cr0PG;
        entry.Cr3 = 0;
        entry.Cr4 = 0;
        entry.Efer = 0;

        ulong efer = target.Efer & ~VcpuState.EferLMA;
        if (efer != 0)
        {
            code.MovR32Imm(Reg.Ecx, MsrEfer);
            code.MovR32Imm(Reg.Eax, (uint)efer);
            code.MovR32Imm(Reg.Edx, (uint)(efer >> 32));
            code.Wrmsr();
        }
        // CR4.PCIDE can only be set in IA-32e mode with CR3[11:0]=0 (SDM Vol. 3A §4.10.1): the 64-bit part sets it.
        code.MovR32Imm(Reg.Eax, (uint)(target.Cr4 & ~Cr4Pcide));
        code.MovCrEax(4);
        code.MovR32Imm(Reg.Eax, (uint)(longMode ? target.Cr3 & ~0xFFFUL : target.Cr3));
        code.MovCrEax(3);
        code.MovR32Imm(Reg.Eax, (uint)target.Cr0);
        code.MovCrEax(0);

        if (!longMode)
        {
            if (efer != 0)
            {
                code.MovR32Imm(Reg.Ecx, (uint)target.Rcx);
                code.MovR32Imm(Reg.Edx, (uint)target.Rdx);
            }
            code.MovR32Imm(Reg.Eax, (uint)target.Rax);
            if (target.InterruptsEnabled) code.Sti();
            code.JmpRel32((uint)target.Rip, Base);
        }
        else
        {
            int index = target.Cs.Selector >> 3;
            if ((target.Cs.Selector & 4) != 0) throw Bad($"the target CS selector 0x{target.Cs.Selector:x} points into an LDT");
            if (index == 0 || index >= MaxGdtEntries) throw Bad($"the target CS selector 0x{target.Cs.Selector:x} must index GDT entries 1..{MaxGdtEntries - 1}");
            BinaryPrimitives.WriteUInt64LittleEndian(page.AsSpan(GdtOffset + index * 8), Descriptor(target.Cs));
            entry.GdtBase = Base + GdtOffset;
            entry.GdtLimit = (ushort)((index + 1) * 8 - 1);
            // Until the far jump the CPU runs 32-bit code: a flat 32-bit CS cache under the target's selector, and
            // present data segments (a VM entry into 32-bit protected mode with an unusable SS is not portable).
            entry.Cs = SegmentState.FlatCode32(target.Cs.Selector);
            entry.Ds = Usable(entry.Ds);
            entry.Es = Usable(entry.Es);
            entry.Ss = Usable(entry.Ss);
            entry.Fs = Usable(entry.Fs);
            entry.Gs = Usable(entry.Gs);
            code.JmpFar((uint)(Base + Code64Offset), target.Cs.Selector);

            var code64 = new CodeWriter(page, Code64Offset);
            BinaryPrimitives.WriteUInt16LittleEndian(page.AsSpan(TargetGdtrOffset), target.GdtLimit);
            BinaryPrimitives.WriteUInt64LittleEndian(page.AsSpan(TargetGdtrOffset + 2), target.GdtBase);
            code64.LgdtRipRelative(TargetGdtrOffset);
            if ((target.Cr4 & Cr4Pcide) != 0 || (target.Cr3 & 0xFFF) != 0)
            {
                code64.MovR64Imm(Reg.Eax, target.Cr4);
                code64.MovCrRax(4);
                code64.MovR64Imm(Reg.Eax, target.Cr3);
                code64.MovCrRax(3);
            }
            ulong[] gprs = [target.Rax, target.Rcx, target.Rdx, target.Rbx, target.Rsp, target.Rbp, target.Rsi, target.Rdi,
                target.R8, target.R9, target.R10, target.R11, target.R12, target.R13, target.R14, target.R15];
            for (int r = 0; r < 16; r++) code64.MovR64Imm((Reg)r, gprs[r]);
            BinaryPrimitives.WriteUInt64LittleEndian(page.AsSpan(TargetRipOffset), target.Rip);
            if (target.InterruptsEnabled) code64.Sti();
            code64.JmpRipIndirect(TargetRipOffset);
        }

        ram.Write(Base, page);
        string mode = longMode ? "64-bit long mode" : (target.Cr4 & VcpuState.Cr4PAE) != 0 ? "32-bit PAE paging" : "32-bit paging";
        return new TrampolineEntry(entry, patch,
            $"paging trampoline at 0x{Base:x}: enters {mode} with CR3=0x{target.Cr3:x} at 0x{target.Rip:x} ({mapping})");
    }

    /// <summary>A present flat data segment in place of an unusable one, keeping the selector.</summary>
    private static SegmentState Usable(SegmentState s) => s.Present ? s : SegmentState.FlatData32(s.Selector);

    /// <summary>An 8-byte segment descriptor from a descriptor cache (SDM Vol. 3A §3.4.5, figure 3-8).</summary>
    internal static ulong Descriptor(SegmentState s)
    {
        uint limit = s.Granularity ? s.Limit >> 12 : s.Limit;
        ulong b = s.Base & 0xFFFF_FFFF;
        return (limit & 0xFFFFUL)
            | (b & 0xFF_FFFF) << 16
            | (ulong)(s.Attributes & 0xFF) << 40
            | (ulong)((limit >> 16) & 0xF) << 48
            | (ulong)((s.Attributes >> 12) & 0xF) << 52
            | (b >> 24) << 56;
    }

    private static PageTablePatch? EnsureIdentityMapped(GuestRam ram, VcpuState target, out string mapping)
    {
        ulong? phys = GuestPageWalker.Translate(ram, target, Base, out string? failure);
        if (phys == Base)
        {
            mapping = "the trampoline page is identity-mapped";
            return null;
        }
        bool pae = (target.Cr4 & VcpuState.Cr4PAE) != 0;
        bool pse = (target.Cr4 & VcpuState.Cr4PSE) != 0;
        if (phys is null && !pae && pse)
        {
            ulong pdeAddress = (target.Cr3 & 0xFFFF_F000) + (Base >> 22) * 4;
            uint original = ram.Read32(pdeAddress);
            if ((original & 1) == 0)
            {
                // A 4 MiB page at 0: present, writable, supervisor, PS (SDM Vol. 3A §4.3, table 4-4).
                const uint identity4M = 0x83;
                ram.Write32(pdeAddress, identity4M);
                mapping = $"added a 4 MiB identity PDE at 0x{pdeAddress:x} until the guest runs its own code";
                return new PageTablePatch(pdeAddress, original, identity4M, target.Cr3);
            }
        }
        string where = phys is { } p ? $"maps it to 0x{p:x}" : $"do not map it: {failure}";
        throw Bad($"the guest page tables (CR3=0x{target.Cr3:x}) {where}; entering paging under KVM needs the trampoline page 0x{Base:x} identity-mapped");
    }

    private static KvmException Bad(string why) => new(KvmErrorKind.BadBootState, $"cannot enter the boot state under KVM: {why}");

    private enum Reg { Eax = 0, Ecx = 1, Edx = 2, Ebx = 3, Esp = 4, Ebp = 5, Esi = 6, Edi = 7 }

    /// <summary>Emits the handful of instructions the trampoline uses, hand-encoded (SDM Vol. 2).</summary>
    private sealed class CodeWriter(byte[] page, int start)
    {
        private int _pos = start;

        private void Byte(int b) => page[_pos++] = (byte)b;
        private void U16(uint v) { BinaryPrimitives.WriteUInt16LittleEndian(page.AsSpan(_pos), (ushort)v); _pos += 2; }
        private void U32(uint v) { BinaryPrimitives.WriteUInt32LittleEndian(page.AsSpan(_pos), v); _pos += 4; }
        private void U64(ulong v) { BinaryPrimitives.WriteUInt64LittleEndian(page.AsSpan(_pos), v); _pos += 8; }

        /// <summary>B8+r id: MOV r32, imm32.</summary>
        public void MovR32Imm(Reg r, uint imm) { Byte(0xB8 + (int)r); U32(imm); }
        /// <summary>REX.W(+B) B8+r io: MOV r64, imm64 (registers 0–15).</summary>
        public void MovR64Imm(Reg r, ulong imm) { Byte(0x48 | ((int)r >> 3)); Byte(0xB8 + ((int)r & 7)); U64(imm); }
        /// <summary>0F 22 /r: MOV CRn, EAX (ModRM mod=11, reg=n, rm=EAX); in 64-bit mode the same bytes move RAX.</summary>
        public void MovCrEax(int cr) { Byte(0x0F); Byte(0x22); Byte(0xC0 | (cr << 3)); }
        public void MovCrRax(int cr) => MovCrEax(cr);
        public void Wrmsr() { Byte(0x0F); Byte(0x30); }
        public void Sti() => Byte(0xFB);
        /// <summary>E9 cd: JMP rel32, relative to the next instruction at linear <paramref name="pageBase"/>+offset.</summary>
        public void JmpRel32(uint target, ulong pageBase)
        {
            Byte(0xE9);
            uint next = (uint)(pageBase + (ulong)_pos + 4);
            U32(target - next);
        }
        /// <summary>EA cp: JMP ptr16:32 (32-bit code segment).</summary>
        public void JmpFar(uint offset, ushort selector) { Byte(0xEA); U32(offset); U16(selector); }
        /// <summary>0F 01 /2 with ModRM 00 010 101: LGDT [RIP+disp32] (10-byte operand in 64-bit mode).</summary>
        public void LgdtRipRelative(int operandOffset) { Byte(0x0F); Byte(0x01); Byte(0x15); U32((uint)(operandOffset - (_pos + 4))); }
        /// <summary>FF /4 with ModRM 00 100 101: JMP [RIP+disp32] (64-bit absolute indirect).</summary>
        public void JmpRipIndirect(int operandOffset) { Byte(0xFF); Byte(0x25); U32((uint)(operandOffset - (_pos + 4))); }
    }
}
