using Iced.Intel;
using MyKvm.Core;
using MyKvm.Kvm.Boot;

namespace MyKvm.Kvm.Tests;

public class PagingTrampolineTests
{
    private static List<string> Disassemble(GuestRam ram, ulong address, int bitness, int max = 40)
    {
        var bytes = ram.GetSpan(address, 0x200).ToArray();
        var decoder = Iced.Intel.Decoder.Create(bitness, new ByteArrayCodeReader(bytes));
        decoder.IP = address;
        var formatter = new NasmFormatter();
        formatter.Options.HexPrefix = "0x";
        formatter.Options.HexSuffix = "";
        formatter.Options.UppercaseHex = false;
        formatter.Options.SpaceAfterOperandSeparator = true;
        formatter.Options.ShowBranchSize = false;
        formatter.Options.RipRelativeAddresses = true;
        var lines = new List<string>();
        while (lines.Count < max)
        {
            var insn = decoder.Decode();
            var output = new StringOutput();
            formatter.Format(insn, output);
            lines.Add(output.ToStringAndReset());
            if (insn.FlowControl is FlowControl.UnconditionalBranch or FlowControl.IndirectBranch) break;
        }
        return lines;
    }

    [Fact]
    public void ThirtyTwoBitPagingLoadsCr4Cr3Cr0AndJumpsToTheEntry()
    {
        using var ram = new GuestRam(8 << 20);
        var target = TestGuests.HigherHalf32(ram);
        var t = PagingTrampoline.Write(ram, target);

        Assert.Null(t.Patch);
        Assert.Equal(
        [
            "mov eax, 0x10",
            "mov cr4, eax",
            "mov eax, 0x10000",
            "mov cr3, eax",
            "mov eax, 0x80010011",
            "mov cr0, eax",
            "mov eax, 0x2badb002",
            "jmp 0xc0100000",
        ], Disassemble(ram, PagingTrampoline.Base, 32));

        var e = t.EntryState;
        Assert.Equal(PagingTrampoline.Base, e.Rip);
        Assert.False(e.PagingEnabled);
        Assert.Equal(target.Cr0 & ~VcpuState.Cr0PG, e.Cr0);
        Assert.Equal((0UL, 0UL, 0UL), (e.Cr3, e.Cr4, e.Efer));
        Assert.Equal(target.Rflags, e.Rflags);
        Assert.Equal((target.Rbx, target.Rcx, target.Rdx, target.Rsi, target.Rdi, target.Rbp, target.Rsp),
                     (e.Rbx, e.Rcx, e.Rdx, e.Rsi, e.Rdi, e.Rbp, e.Rsp));
        Assert.Equal(target.Cs.ToString(), e.Cs.ToString());
        Assert.Equal((target.GdtBase, target.GdtLimit, target.IdtBase, target.IdtLimit), (e.GdtBase, e.GdtLimit, e.IdtBase, e.IdtLimit));
        Assert.Contains("identity-mapped", t.Description);
    }

    [Fact]
    public void InterruptsStayOffUntilTheFinalJump()
    {
        using var ram = new GuestRam(8 << 20);
        var target = TestGuests.HigherHalf32(ram);
        target.Rflags |= VcpuState.FlagIF;
        var t = PagingTrampoline.Write(ram, target);
        Assert.False(t.EntryState.InterruptsEnabled);
        var code = Disassemble(ram, PagingTrampoline.Base, 32);
        Assert.Equal(["sti", "jmp 0xc0100000"], code[^2..]);
    }

    [Fact]
    public void PaeWithNxWritesEferFirst()
    {
        using var ram = new GuestRam(8 << 20);
        // PAE: PDPT at 0x11000 -> PD at 0x12000 with a 2 MiB identity page.
        ram.Write64(0x11000, 0x12000 | 1);
        ram.Write64(0x12000, 0x83);
        var target = VcpuState.Flat32(0x10_0000, 0x10, 0x18, PcMemoryLayout.BootGdtBase, 31);
        target.Cr3 = 0x11000;
        target.Cr4 = VcpuState.Cr4PAE;
        target.Efer = VcpuState.EferNXE;
        target.Cr0 |= VcpuState.Cr0PG;
        (target.Rax, target.Rcx, target.Rdx) = (0x2BAD_B002, 0x1111, 0x2222);
        PagingTrampoline.Write(ram, target);
        Assert.Equal(
        [
            "mov ecx, 0xc0000080",
            "mov eax, 0x800",
            "mov edx, 0",
            "wrmsr",
            "mov eax, 0x20",
            "mov cr4, eax",
            "mov eax, 0x11000",
            "mov cr3, eax",
            "mov eax, 0x80000011",
            "mov cr0, eax",
            "mov ecx, 0x1111",
            "mov edx, 0x2222",
            "mov eax, 0x2badb002",
            "jmp 0x00100000",
        ], Disassemble(ram, PagingTrampoline.Base, 32));
    }

    [Fact]
    public void LongModeGoesThroughAFarJumpAnd64BitCode()
    {
        using var ram = new GuestRam(8 << 20);
        var target = TestGuests.Long64(ram);
        var t = PagingTrampoline.Write(ram, target);
        var e = t.EntryState;

        var code32 = Disassemble(ram, PagingTrampoline.Base, 32);
        Assert.Equal(
        [
            "mov ecx, 0xc0000080",
            "mov eax, 0x101",
            "mov edx, 0",
            "wrmsr",
            "mov eax, 0x20",
            "mov cr4, eax",
            "mov eax, 0x20000",
            "mov cr3, eax",
            "mov eax, 0x80000031",
            "mov cr0, eax",
            "jmp 0x0010:0x00008200",
        ], code32);

        var code64 = Disassemble(ram, PagingTrampoline.Base + 0x200, 64);
        Assert.Equal("lgdt [rip+0xcf9]", code64[0]);     // 0x8207 + 0xcf9 = 0x8f00, the target GDTR
        Assert.Equal("mov rax, 0x1122334455667788", code64[1]);
        Assert.Contains("mov rsp, 0x80000", code64);
        Assert.Contains("mov rsi, 0x90000", code64);
        Assert.Contains("mov r8, 0x8888000000000008", code64);
        Assert.Contains("mov r15, 0xf15", code64);
        Assert.Equal(18, code64.Count); // lgdt, 16 registers, jmp
        Assert.Equal("jmp qword [rip+0xc63]", code64[^1]); // 0x82ad + 0xc63 = 0x8f10, the target RIP
        Assert.Equal(0x20_0000UL, ram.Read64(PagingTrampoline.Base + 0xF10));
        // The target GDTR for the LGDT, and the far jump's descriptor: a copy of the target CS in our own GDT.
        Assert.Equal((ushort)0x1F, ram.Read16(PagingTrampoline.Base + 0xF00));
        Assert.Equal(PcMemoryLayout.BootGdtBase, ram.Read64(PagingTrampoline.Base + 0xF02));
        Assert.Equal(0x00AF_9B00_0000_FFFFUL, ram.Read64(PagingTrampoline.Base + 0x400 + 0x10));
        Assert.Equal((PagingTrampoline.Base + 0x400, (ushort)0x17), (e.GdtBase, e.GdtLimit));
        Assert.False(e.Cs.Long);
        Assert.True(e.Cs.DefaultBig);
        Assert.Equal(0UL, e.Efer);
    }

    [Fact]
    public void DescriptorsAreEncodedFromTheSegmentCache()
    {
        Assert.Equal(0x00CF_9B00_0000_FFFFUL, PagingTrampoline.Descriptor(SegmentState.FlatCode32(8)));
        Assert.Equal(0x00AF_9B00_0000_FFFFUL, PagingTrampoline.Descriptor(SegmentState.Code64(8)));
        Assert.Equal(0x1200_9A34_5678_FFFFUL, PagingTrampoline.Descriptor(new SegmentState(8, 0x1234_5678, 0xFFFF, 0x9A)));
    }

    [Fact]
    public void AnUnmappedTrampolinePageGetsATemporaryIdentityPde()
    {
        using var ram = new GuestRam(8 << 20);
        var target = TestGuests.HigherHalf32(ram, identityLow: false);
        var t = PagingTrampoline.Write(ram, target);
        Assert.NotNull(t.Patch);
        Assert.Equal(TestGuests.PageDirectory, t.Patch!.Address);
        Assert.Equal((0u, 0x83u), (t.Patch.OriginalValue, t.Patch.PatchedValue));
        Assert.Equal(0x83u, ram.Read32(TestGuests.PageDirectory));
        Assert.Contains("added a 4 MiB identity PDE", t.Description);
    }

    [Fact]
    public void ATrampolinePageMappedElsewhereIsRefused()
    {
        using var ram = new GuestRam(8 << 20);
        var target = TestGuests.HigherHalf32(ram, identityLow: false);
        ram.Write32(TestGuests.PageDirectory, 0x0040_0083); // linear 0-4 MiB -> physical 4-8 MiB
        var e = Assert.Throws<KvmException>(() => PagingTrampoline.Write(ram, target));
        Assert.Equal(KvmErrorKind.BadBootState, e.Kind);
        Assert.Equal("cannot enter the boot state under KVM: the guest page tables (CR3=0x10000) maps it to 0x408000; entering paging under KVM needs the trampoline page 0x8000 identity-mapped", e.Message);
    }

    [Theory]
    [InlineData("nope")]
    [InlineData("lme-without-pae")]
    [InlineData("cs-base")]
    [InlineData("ldt-selector")]
    public void ImpossibleTargetsAreRefusedWithAReason(string what)
    {
        using var ram = new GuestRam(8 << 20);
        var target = what is "lme-without-pae" or "ldt-selector" ? TestGuests.Long64(ram) : TestGuests.HigherHalf32(ram);
        switch (what)
        {
            case "nope": target.Cr0 &= ~VcpuState.Cr0PG; break;
            case "lme-without-pae": target.Cr4 = 0; break;
            case "cs-base": target.Cs.Base = 0x1000; break;
            case "ldt-selector": target.Cs.Selector = 0x14; break;
        }
        var e = Assert.Throws<KvmException>(() => PagingTrampoline.Write(ram, target));
        Assert.Equal(KvmErrorKind.BadBootState, e.Kind);
        Assert.StartsWith("cannot enter the boot state under KVM: ", e.Message);
    }
}
