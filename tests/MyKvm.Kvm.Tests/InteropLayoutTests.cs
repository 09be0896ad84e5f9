using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using MyKvm.Kvm.Interop;

namespace MyKvm.Kvm.Tests;

/// <summary>
/// The ABI structs and ioctl numbers against the values of Linux's uapi headers (linux/kvm.h, asm/kvm.h on x86-64),
/// taken from a C program compiled against them (sizeof, offsetof, the KVM_* macros).
/// </summary>
public class InteropLayoutTests
{
    [Theory]
    [InlineData(typeof(KvmRegs), 144)]
    [InlineData(typeof(KvmSregs), 312)]
    [InlineData(typeof(KvmSegment), 24)]
    [InlineData(typeof(KvmDtable), 16)]
    [InlineData(typeof(KvmFpu), 416)]
    [InlineData(typeof(KvmMsrEntry), 16)]
    [InlineData(typeof(KvmMsrsHeader), 8)]
    [InlineData(typeof(KvmCpuidEntry2), 40)]
    [InlineData(typeof(KvmCpuid2Header), 8)]
    [InlineData(typeof(KvmUserspaceMemoryRegion), 32)]
    [InlineData(typeof(KvmRun), 2352)]
    [InlineData(typeof(KvmInterrupt), 4)]
    [InlineData(typeof(KvmIrqLevel), 8)]
    [InlineData(typeof(KvmPitConfig), 64)]
    [InlineData(typeof(KvmSignalMaskHeader), 4)]
    public void StructSizesMatchTheKernelHeaders(Type type, int size)
    {
        Assert.Equal(size, Marshal.SizeOf(type));
        var sizeOf = typeof(Unsafe).GetMethod(nameof(Unsafe.SizeOf))!.MakeGenericMethod(type);
        Assert.Equal(size, (int)sizeOf.Invoke(null, null)!);
    }

    [Theory]
    [InlineData(nameof(KvmRun.RequestInterruptWindow), 0)]
    [InlineData(nameof(KvmRun.ImmediateExit), 1)]
    [InlineData(nameof(KvmRun.ExitReason), 8)]
    [InlineData(nameof(KvmRun.ReadyForInterruptInjection), 12)]
    [InlineData(nameof(KvmRun.IfFlag), 13)]
    [InlineData(nameof(KvmRun.Flags), 14)]
    [InlineData(nameof(KvmRun.Cr8), 16)]
    [InlineData(nameof(KvmRun.ApicBase), 24)]
    [InlineData(nameof(KvmRun.Io), 32)]
    [InlineData(nameof(KvmRun.Mmio), 32)]
    [InlineData(nameof(KvmRun.FailEntry), 32)]
    [InlineData(nameof(KvmRun.Internal), 32)]
    [InlineData(nameof(KvmRun.KvmValidRegs), 288)]
    [InlineData(nameof(KvmRun.KvmDirtyRegs), 296)]
    public void KvmRunHeaderOffsets(string field, int offset) => Assert.Equal(offset, (int)Marshal.OffsetOf<KvmRun>(field));

    [Fact]
    public void KvmRunExitUnionMemberOffsets()
    {
        // kvm_run.io.{direction,size,port,count,data_offset} at 32,33,34,36,40
        Assert.Equal(0, (int)Marshal.OffsetOf<KvmRunIo>(nameof(KvmRunIo.Direction)));
        Assert.Equal(1, (int)Marshal.OffsetOf<KvmRunIo>(nameof(KvmRunIo.Size)));
        Assert.Equal(2, (int)Marshal.OffsetOf<KvmRunIo>(nameof(KvmRunIo.Port)));
        Assert.Equal(4, (int)Marshal.OffsetOf<KvmRunIo>(nameof(KvmRunIo.Count)));
        Assert.Equal(8, (int)Marshal.OffsetOf<KvmRunIo>(nameof(KvmRunIo.DataOffset)));
        // kvm_run.mmio.{phys_addr,data,len,is_write} at 32,40,48,52
        Assert.Equal(0, (int)Marshal.OffsetOf<KvmRunMmio>(nameof(KvmRunMmio.PhysAddr)));
        Assert.Equal(8, (int)Marshal.OffsetOf<KvmRunMmio>(nameof(KvmRunMmio.Data)));
        Assert.Equal(16, (int)Marshal.OffsetOf<KvmRunMmio>(nameof(KvmRunMmio.Len)));
        Assert.Equal(20, (int)Marshal.OffsetOf<KvmRunMmio>(nameof(KvmRunMmio.IsWrite)));
        // fail_entry.cpu at 40; internal.{ndata,data} at 36, 40
        Assert.Equal(8, (int)Marshal.OffsetOf<KvmRunFailEntry>(nameof(KvmRunFailEntry.Cpu)));
        Assert.Equal(4, (int)Marshal.OffsetOf<KvmRunInternal>(nameof(KvmRunInternal.Ndata)));
        Assert.Equal(8, (int)Marshal.OffsetOf<KvmRunInternal>(nameof(KvmRunInternal.Data)));
    }

    [Theory]
    [InlineData(nameof(KvmSregs.Cs), 0)]
    [InlineData(nameof(KvmSregs.Ss), 120)]
    [InlineData(nameof(KvmSregs.Tr), 144)]
    [InlineData(nameof(KvmSregs.Ldt), 168)]
    [InlineData(nameof(KvmSregs.Gdt), 192)]
    [InlineData(nameof(KvmSregs.Idt), 208)]
    [InlineData(nameof(KvmSregs.Cr0), 224)]
    [InlineData(nameof(KvmSregs.Cr3), 240)]
    [InlineData(nameof(KvmSregs.Efer), 264)]
    [InlineData(nameof(KvmSregs.ApicBase), 272)]
    [InlineData(nameof(KvmSregs.InterruptBitmap), 280)]
    public void KvmSregsOffsets(string field, int offset) => Assert.Equal(offset, (int)Marshal.OffsetOf<KvmSregs>(field));

    [Theory]
    [InlineData(nameof(KvmSegment.Limit), 8)]
    [InlineData(nameof(KvmSegment.Selector), 12)]
    [InlineData(nameof(KvmSegment.Type), 14)]
    [InlineData(nameof(KvmSegment.Present), 15)]
    [InlineData(nameof(KvmSegment.Dpl), 16)]
    [InlineData(nameof(KvmSegment.Db), 17)]
    [InlineData(nameof(KvmSegment.S), 18)]
    [InlineData(nameof(KvmSegment.L), 19)]
    [InlineData(nameof(KvmSegment.G), 20)]
    [InlineData(nameof(KvmSegment.Avl), 21)]
    [InlineData(nameof(KvmSegment.Unusable), 22)]
    public void KvmSegmentOffsets(string field, int offset) => Assert.Equal(offset, (int)Marshal.OffsetOf<KvmSegment>(field));

    [Fact]
    public void OtherFieldOffsets()
    {
        Assert.Equal(128, (int)Marshal.OffsetOf<KvmRegs>(nameof(KvmRegs.Rip)));
        Assert.Equal(136, (int)Marshal.OffsetOf<KvmRegs>(nameof(KvmRegs.Rflags)));
        Assert.Equal(128, (int)Marshal.OffsetOf<KvmFpu>(nameof(KvmFpu.Fcw)));
        Assert.Equal(134, (int)Marshal.OffsetOf<KvmFpu>(nameof(KvmFpu.LastOpcode)));
        Assert.Equal(152, (int)Marshal.OffsetOf<KvmFpu>(nameof(KvmFpu.Xmm)));
        Assert.Equal(408, (int)Marshal.OffsetOf<KvmFpu>(nameof(KvmFpu.Mxcsr)));
        Assert.Equal(8, (int)Marshal.OffsetOf<KvmDtable>(nameof(KvmDtable.Limit)));
        Assert.Equal(8, (int)Marshal.OffsetOf<KvmMsrEntry>(nameof(KvmMsrEntry.Data)));
        Assert.Equal(12, (int)Marshal.OffsetOf<KvmCpuidEntry2>(nameof(KvmCpuidEntry2.Eax)));
        Assert.Equal(24, (int)Marshal.OffsetOf<KvmCpuidEntry2>(nameof(KvmCpuidEntry2.Edx)));
        Assert.Equal(8, (int)Marshal.OffsetOf<KvmUserspaceMemoryRegion>(nameof(KvmUserspaceMemoryRegion.GuestPhysAddr)));
        Assert.Equal(24, (int)Marshal.OffsetOf<KvmUserspaceMemoryRegion>(nameof(KvmUserspaceMemoryRegion.UserspaceAddr)));
        Assert.Equal(4, (int)Marshal.OffsetOf<KvmIrqLevel>(nameof(KvmIrqLevel.Level)));
        Assert.Equal(64, Marshal.SizeOf<LibC.SigEvent>());
    }

    [Theory]
    [InlineData("GetApiVersion", 0xAE00u)]
    [InlineData("CreateVm", 0xAE01u)]
    [InlineData("GetMsrIndexList", 0xC004AE02u)]
    [InlineData("CheckExtension", 0xAE03u)]
    [InlineData("GetVcpuMmapSize", 0xAE04u)]
    [InlineData("GetSupportedCpuid", 0xC008AE05u)]
    [InlineData("CreateVcpu", 0xAE41u)]
    [InlineData("SetUserMemoryRegion", 0x4020AE46u)]
    [InlineData("SetTssAddr", 0xAE47u)]
    [InlineData("SetIdentityMapAddr", 0x4008AE48u)]
    [InlineData("CreateIrqchip", 0xAE60u)]
    [InlineData("IrqLine", 0x4008AE61u)]
    [InlineData("CreatePit2", 0x4040AE77u)]
    [InlineData("Run", 0xAE80u)]
    [InlineData("GetRegs", 0x8090AE81u)]
    [InlineData("SetRegs", 0x4090AE82u)]
    [InlineData("GetSregs", 0x8138AE83u)]
    [InlineData("SetSregs", 0x4138AE84u)]
    [InlineData("Interrupt", 0x4004AE86u)]
    [InlineData("GetMsrs", 0xC008AE88u)]
    [InlineData("SetMsrs", 0x4008AE89u)]
    [InlineData("SetSignalMask", 0x4004AE8Bu)]
    [InlineData("GetFpu", 0x81A0AE8Cu)]
    [InlineData("SetFpu", 0x41A0AE8Du)]
    [InlineData("SetCpuid2", 0x4008AE90u)]
    [InlineData("Nmi", 0xAE9Au)]
    public void IoctlNumbersMatchTheKernelHeaders(string name, uint expected)
    {
        uint actual = (uint)typeof(KvmIoctls).GetField(name)!.GetValue(null)!;
        Assert.Equal($"0x{expected:x}", $"0x{actual:x}");
    }

    [Fact]
    public void IoctlFormulaPacksDirectionSizeTypeAndNumber()
    {
        // _IOC(dir, type, nr, size) = dir<<30 | size<<16 | type<<8 | nr (asm-generic/ioctl.h)
        Assert.Equal(0x0000AE80u, Ioctl.IO(0xAE, 0x80));
        Assert.Equal(0x8090AE81u, Ioctl.IOR(0xAE, 0x81, 144));
        Assert.Equal(0x4008AE48u, Ioctl.IOW(0xAE, 0x48, sizeof(ulong)));
        Assert.Equal(0xC008AE05u, Ioctl.IOWR(0xAE, 0x05, 8));
        // Well-known non-KVM values: TCGETS is _IO('T', 1) on x86 = 0x5401, FIONREAD 0x541B; BLKGETSIZE64 = _IOR(0x12, 114, size_t).
        Assert.Equal(0x5401u, Ioctl.IO('T', 0x01));
        Assert.Equal(0x80081272u, Ioctl.IOR(0x12, 114, sizeof(ulong)));
        Assert.Throws<ArgumentOutOfRangeException>(() => Ioctl.IOW(0xAE, 1, 1 << 14));
    }

    [Fact]
    public void ExitReasonAndCapabilityValues()
    {
        Assert.Equal(2u, (uint)KvmExitReason.Io);
        Assert.Equal(5u, (uint)KvmExitReason.Hlt);
        Assert.Equal(6u, (uint)KvmExitReason.Mmio);
        Assert.Equal(7u, (uint)KvmExitReason.IrqWindowOpen);
        Assert.Equal(8u, (uint)KvmExitReason.Shutdown);
        Assert.Equal(9u, (uint)KvmExitReason.FailEntry);
        Assert.Equal(10u, (uint)KvmExitReason.Intr);
        Assert.Equal(17u, (uint)KvmExitReason.InternalError);
        Assert.Equal(24u, (uint)KvmExitReason.SystemEvent);
        Assert.Equal(37u, (uint)KvmCap.SetIdentityMapAddr);
        Assert.Equal(136u, (uint)KvmCap.ImmediateExit);
        Assert.Equal(33u, (uint)KvmCap.Pit2);
    }
}
