using MyKvm.Core;

namespace MyKvm.Kvm.Tests;

public class StateConversionTests
{
    [Theory]
    [InlineData((ushort)0xC09B)] // flat 32-bit code
    [InlineData((ushort)0xC093)] // flat 32-bit data
    [InlineData((ushort)0xA09B)] // 64-bit code
    [InlineData((ushort)0x008B)] // busy TSS
    [InlineData((ushort)0x0082)] // LDT
    [InlineData((ushort)0x00F3)] // DPL 3 data, 16-bit
    [InlineData((ushort)0x90FB)] // AVL, G, DPL 3 code
    public void SegmentAttributesSurviveTheRoundTrip(ushort attributes)
    {
        var s = new SegmentState(0x1B, 0x1234_5678, 0xFFFFF, attributes);
        var k = KvmStateConversion.ToKvm(s);
        Assert.Equal(0x1234_5678UL, k.Base);
        Assert.Equal(0xFFFFFu, k.Limit);
        Assert.Equal(attributes & 0xF, k.Type);
        Assert.Equal((attributes >> 7) & 1, k.Present);
        Assert.Equal((attributes >> 13) & 1, k.L);
        Assert.Equal((attributes >> 14) & 1, k.Db);
        Assert.Equal((attributes >> 15) & 1, k.G);
        Assert.Equal((attributes >> 5) & 3, k.Dpl);
        Assert.Equal(0, k.Unusable);
        var back = KvmStateConversion.FromKvm(k);
        Assert.Equal(s.ToString(), back.ToString());
    }

    [Fact]
    public void ANotPresentSegmentIsUnusable()
    {
        var k = KvmStateConversion.ToKvm(new SegmentState(0, 0, 0, 0));
        Assert.Equal(1, k.Unusable);
        Assert.Equal(0, k.Present);
        k.Present = 1; // as some KVM versions report an unusable segment
        Assert.False(KvmStateConversion.FromKvm(k).Present);
    }

    [Fact]
    public void RegistersAndSpecialRegistersSurviveTheRoundTrip()
    {
        var s = VcpuState.Flat32(0x10_0000, 0x10, 0x18, 0x7000, 31);
        s.Rax = 0x2BADB002; s.Rbx = 0x9500; s.R15 = 0xFFFF_0000_1111_2222; s.Rsp = 0x8_0000; s.Rflags = 0x246;
        s.Cr3 = 0x1000; s.Cr4 = VcpuState.Cr4PAE; s.Efer = VcpuState.EferLME | VcpuState.EferLMA; s.Cr2 = 0xDEAD;
        s.IdtBase = 0x5000; s.IdtLimit = 0x7FF; s.Fs = new SegmentState(0x18, 0x7777_0000, 0xFFFF_FFFF, 0xC093);
        s.SysenterEip = 0xC010_0000; s.Lstar = 0xFFFF_FFFF_8100_0000; s.KernelGsBase = 0x42;

        var regs = KvmStateConversion.ToKvmRegs(s);
        var sregs = KvmStateConversion.ToKvmSregs(s);
        Span<Interop.KvmMsrEntry> msrs = stackalloc Interop.KvmMsrEntry[KvmStateConversion.StateMsrs.Length];
        KvmStateConversion.WriteMsrs(s, msrs);

        var back = new VcpuState();
        KvmStateConversion.FromKvmRegs(regs, back);
        KvmStateConversion.FromKvmSregs(sregs, back);
        KvmStateConversion.ReadMsrs(msrs, back);

        Assert.Equal(RegisterDump.Format(s), RegisterDump.Format(back));
        Assert.Equal((s.SysenterEip, s.Lstar, s.KernelGsBase, s.ApicBase), (back.SysenterEip, back.Lstar, back.KernelGsBase, back.ApicBase));
        Assert.Equal(0x7777_0000UL, sregs.Fs.Base);
        Assert.Equal(0x7000UL, sregs.Gdt.Base);
        Assert.Equal((ushort)31, sregs.Gdt.Limit);
    }

    [Fact]
    public void TheRegisterDumpShowsRegistersAndControlRegisters()
    {
        var s = VcpuState.Flat32(0x10_000C, 0x10, 0x18, 0x7000, 31);
        s.Rax = 0x2BADB002;
        string dump = RegisterDump.Format(s);
        Assert.Contains("EAX=2badb002", dump);
        Assert.Contains("EIP=0010000c", dump);
        Assert.Contains("CR0=00000011", dump);
        Assert.Contains("CS=0010 base=0 limit=ffffffff attr=c09b", dump);
    }
}
