using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using MyKvm.Core;
using MyKvm.Devices.Legacy;

namespace MyKvm.Devices.Tests.Legacy;

/// <summary>
/// A small PC for the legacy-device guests: the real device classes (8259 pair, 8254 with port 0x61, RTC,
/// COM1, i8042, port 0x92, debug exit) on an <see cref="IoBus"/>, with the Unicorn CPU emulator (libunicorn2,
/// a Debian package) as the processor. It lets the guests' interrupt-driven paths run against our devices
/// independently of mykvm's own CPU. The harness plays the parts Unicorn lacks: it delivers external
/// interrupts (INTR, the INTA cycle, a 32-bit interrupt gate) between instruction slices, and it keeps a
/// virtual clock of <see cref="NsPerInstruction"/> per instruction that skips ahead while the CPU halts.
/// Only flat 32-bit protected mode without paging is modelled, which is what the guests use.
/// </summary>
internal sealed unsafe partial class UnicornPc : IDisposable
{
    private const string Lib = "libunicorn.so.2";
    private const int UcArchX86 = 4, UcMode32 = 4, UcProtAll = 7, UcHookInsn = 2, UcX86InsIn = 218, UcX86InsOut = 500;
    private const int RegEax = 19, RegEbx = 21, RegEip = 26, RegEflags = 25, RegEsp = 30, RegCs = 11, RegDs = 17, RegEs = 28,
        RegFs = 32, RegGs = 33, RegSs = 49, RegCr0 = 50, RegIdtr = 242, RegGdtr = 243;

    public const long NsPerInstruction = 10;
    private const ulong RamSize = 16 << 20;
    private const int Slice = 2000;

    [StructLayout(LayoutKind.Sequential)]
    private struct X86Mmr
    {
        public ushort Selector;
        public ulong Base;
        public uint Limit;
        public uint Flags;
    }

    [LibraryImport(Lib)] private static partial int uc_open(int arch, int mode, out nint uc);
    [LibraryImport(Lib)] private static partial int uc_close(nint uc);
    [LibraryImport(Lib)] private static partial int uc_mem_map_ptr(nint uc, ulong address, nuint size, uint perms, void* ptr);
    [LibraryImport(Lib)] private static partial int uc_reg_write(nint uc, int regid, void* value);
    [LibraryImport(Lib)] private static partial int uc_reg_read(nint uc, int regid, void* value);
    [LibraryImport(Lib)] private static partial int uc_emu_start(nint uc, ulong begin, ulong until, ulong timeoutUs, nuint count);
    [LibraryImport(Lib)] private static partial int uc_emu_stop(nint uc);
    // uc_hook_add is variadic; on SysV x86-64 the trailing instruction id travels like an eighth fixed argument.
    [LibraryImport(Lib)] private static partial int uc_hook_add(nint uc, out nint hh, int type, void* callback, nint userData, ulong begin, ulong end, int insn);
    [LibraryImport(Lib)] private static partial nint uc_strerror(int err);

    /// <summary>True when libunicorn can be loaded (tests are skipped with a message otherwise).</summary>
    public static bool Available => NativeLibrary.TryLoad(Lib, out _);

    private nint _uc;
    private GCHandle _self;
    private byte* _ram;
    private readonly StringBuilder _serial = new();
    private readonly Control _control = new();
    private long _instructions;
    private bool _halted;
    private Exception? _deviceFailure;

    public ManualClock Clock { get; } = new();
    public TimerQueue Timers { get; }
    public CpuSignals Signals { get; } = new();
    public IoBus Io { get; } = new();
    public Pic8259Pair Pic { get; }
    public Pit8254 Pit { get; }
    public CmosRtc Rtc { get; }
    public Uart16550 Com1 { get; }
    public I8042Controller Keyboard { get; }

    public UnicornPc(DateTime rtcStart)
    {
        Timers = new TimerQueue(Clock);
        Pic = new Pic8259Pair(Signals);
        Signals.Controller = Pic;
        Io.Register(0x20, 2, Pic);
        Io.Register(0xA0, 2, Pic);
        Io.Register(0x4D0, 2, Pic);
        Pit = new Pit8254(Pic.GetIrqLine(0), Timers);
        Io.Register(0x40, 4, Pit);
        Io.Register(0x61, 1, Pit.Port61);
        Rtc = new CmosRtc(Pic.GetIrqLine(8), Timers, RamSize, 0, rtcStart);
        Io.Register(0x70, 2, Rtc);
        Com1 = new Uart16550(Pic.GetIrqLine(4), b => _serial.Append((char)b), Timers);
        Io.Register(0x3F8, 8, Com1);
        Keyboard = new I8042Controller(Pic.GetIrqLine(1), Pic.GetIrqLine(12), _control);
        Io.Register(0x60, 1, Keyboard);
        Io.Register(0x64, 1, Keyboard);
        Io.Register(0x92, 1, new SystemControlPortA(Keyboard.A20, _control));
        Io.Register(0xF4, 4, new DebugExitDevice(_control));

        _ram = (byte*)NativeMemory.AlignedAlloc((nuint)RamSize, 4096);
        NativeMemory.Clear(_ram, (nuint)RamSize);
        Check(uc_open(UcArchX86, UcMode32, out _uc), "uc_open");
        _self = GCHandle.Alloc(this);
        Check(uc_mem_map_ptr(_uc, 0, (nuint)RamSize, UcProtAll, _ram), "uc_mem_map_ptr");
        Check(uc_hook_add(_uc, out _, UcHookInsn, (delegate* unmanaged[Cdecl]<nint, uint, int, nint, uint>)&OnIn, GCHandle.ToIntPtr(_self), 1, 0, UcX86InsIn), "hook in");
        Check(uc_hook_add(_uc, out _, UcHookInsn, (delegate* unmanaged[Cdecl]<nint, uint, int, uint, nint, void>)&OnOut, GCHandle.ToIntPtr(_self), 1, 0, UcX86InsOut), "hook out");
    }

    public string Serial => _serial.ToString().Replace("\r\n", "\n");
    /// <summary>The exit status QEMU would give: (code &lt;&lt; 1) | 1.</summary>
    public int? ExitStatus => _control.ExitStatus;
    public long Instructions => _instructions;
    public int InterruptsDelivered { get; private set; }

    /// <summary>Loads an ELF32 kernel's segments at their physical addresses and enters it as Multiboot would.</summary>
    public void LoadMultibootElf(string path)
    {
        byte[] elf = File.ReadAllBytes(path);
        uint entry = BitConverter.ToUInt32(elf, 0x18);
        uint phoff = BitConverter.ToUInt32(elf, 0x1C);
        int phentsize = BitConverter.ToUInt16(elf, 0x2A), phnum = BitConverter.ToUInt16(elf, 0x2C);
        for (int i = 0; i < phnum; i++)
        {
            int ph = (int)phoff + i * phentsize;
            if (BitConverter.ToUInt32(elf, ph) != 1) continue;   // PT_LOAD
            uint offset = BitConverter.ToUInt32(elf, ph + 4), paddr = BitConverter.ToUInt32(elf, ph + 12);
            uint filesz = BitConverter.ToUInt32(elf, ph + 16), memsz = BitConverter.ToUInt32(elf, ph + 20);
            if ((ulong)paddr + memsz > RamSize) throw new InvalidOperationException("segment outside the harness RAM");
            new ReadOnlySpan<byte>(elf, (int)offset, (int)filesz).CopyTo(new Span<byte>(_ram + paddr, (int)filesz));
        }
        // A flat GDT at 0x7000 (Multiboot leaves the GDT to the kernel; ours reload their own anyway).
        ulong* gdt = (ulong*)(_ram + 0x7000);
        gdt[1] = 0x00CF9A000000FFFF;
        gdt[2] = 0x00CF92000000FFFF;
        var gdtr = new X86Mmr { Base = 0x7000, Limit = 23 };
        Check(uc_reg_write(_uc, RegGdtr, &gdtr), "gdtr");
        WriteReg(RegCs, 0x08);
        foreach (int seg in new[] { RegDs, RegEs, RegFs, RegGs, RegSs }) WriteReg(seg, 0x10);
        WriteReg(RegCr0, VcpuState.Cr0PE | VcpuState.Cr0ET);
        WriteReg(RegEax, 0x2BADB002);
        WriteReg(RegEbx, 0);
        WriteReg(RegEflags, 0x2);
        WriteReg(RegEip, entry);
    }

    /// <summary>
    /// Runs until the guest writes the debug-exit port, halts with nothing left to wake it, or
    /// <paramref name="maxInstructions"/> pass. <paramref name="eachSlice"/> runs between slices (host input).
    /// </summary>
    public void Run(long maxInstructions = 200_000_000, Action<UnicornPc>? eachSlice = null)
    {
        while (ExitStatus is null && _instructions < maxInstructions)
        {
            Timers.RunDue(Clock.NowNs);
            eachSlice?.Invoke(this);
            if (ExitStatus is not null) break;
            bool interruptsOn = (ReadReg(RegEflags) & VcpuState.FlagIF) != 0;
            if ((Signals.Flags & CpuSignals.Intr) != 0 && interruptsOn)
            {
                if (InStiShadow())
                {
                    Step(1);
                    continue;
                }
                Deliver(Pic.Acknowledge());
                _halted = false;
            }
            else if (_halted)
            {
                long next = Timers.NextDeadline;
                if (next == long.MaxValue || !interruptsOn) return;   // nothing can wake the CPU
                if (next > Clock.NowNs) Clock.NowNs = next;
                continue;
            }
            long untilTimer = (Timers.NextDeadline - Clock.NowNs + NsPerInstruction - 1) / NsPerInstruction;
            Step((int)Math.Clamp(untilTimer, 1, Slice));
        }
    }

    private void Step(int count)
    {
        ulong eip = ReadReg(RegEip);
        int err = uc_emu_start(_uc, eip, 0, 0, (nuint)count);
        if (_deviceFailure is { } failure) throw new InvalidOperationException("a device threw during a port access", failure);
        _instructions += count;
        Clock.NowNs += count * NsPerInstruction;
        if (err != 0 && ExitStatus is null)
            throw new InvalidOperationException($"unicorn: {Marshal.PtrToStringAnsi(uc_strerror(err))} at eip 0x{ReadReg(RegEip):x}; serial so far:\n{Serial}");
        // Unicorn returns from HLT with EIP past it.
        ulong after = ReadReg(RegEip);
        _halted = ExitStatus is null && after > 0 && after < RamSize && _ram[after - 1] == 0xF4;
    }

    /// <summary>The instruction after STI runs before an interrupt is taken (SDM Vol. 3A §6.8.3): "sti; hlt" must not lose a wakeup.</summary>
    private bool InStiShadow()
    {
        ulong eip = ReadReg(RegEip);
        return !_halted && eip > 0 && eip < RamSize && _ram[eip - 1] == 0xFB;
    }

    /// <summary>Delivers an external interrupt through a 32-bit ring-0 interrupt gate (SDM Vol. 3A §6.12.1).</summary>
    private void Deliver(byte vector)
    {
        var idtr = new X86Mmr();
        Check(uc_reg_read(_uc, RegIdtr, &idtr), "idtr");
        if (vector * 8u + 7 > idtr.Limit) throw new InvalidOperationException($"vector 0x{vector:x} beyond the IDT limit");
        ulong gate = *(ulong*)(_ram + idtr.Base + vector * 8u);
        uint offset = (uint)(gate & 0xFFFF) | (uint)((gate >> 48) << 16);
        if (((gate >> 40) & 0x9F) != 0x8E) throw new InvalidOperationException($"vector 0x{vector:x} is not a present 32-bit interrupt gate");
        uint esp = (uint)ReadReg(RegEsp) - 12;
        uint eflags = (uint)ReadReg(RegEflags);
        *(uint*)(_ram + esp) = (uint)ReadReg(RegEip);
        *(uint*)(_ram + esp + 4) = (uint)ReadReg(RegCs);
        *(uint*)(_ram + esp + 8) = eflags;
        WriteReg(RegEsp, esp);
        WriteReg(RegEflags, eflags & ~(VcpuState.FlagIF | 0x100u));
        WriteReg(RegEip, offset);
        InterruptsDelivered++;
    }

    private ulong ReadReg(int reg)
    {
        ulong v = 0;
        uc_reg_read(_uc, reg, &v);
        return v;
    }

    private void WriteReg(int reg, ulong value)
    {
        ulong v = value;
        Check(uc_reg_write(_uc, reg, &v), $"reg {reg}");
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static uint OnIn(nint uc, uint port, int size, nint user)
    {
        var self = (UnicornPc)GCHandle.FromIntPtr(user).Target!;
        try
        {
            return self.Io.Read((ushort)port, size);
        }
        catch (Exception e)
        {
            // An exception must not unwind through native frames: park it and stop.
            self._deviceFailure ??= e;
            uc_emu_stop(uc);
            return 0;
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnOut(nint uc, uint port, int size, uint value, nint user)
    {
        var self = (UnicornPc)GCHandle.FromIntPtr(user).Target!;
        try
        {
            self.Io.Write((ushort)port, size, value);
        }
        catch (Exception e)
        {
            self._deviceFailure ??= e;
        }
        if (self.ExitStatus is not null || self._deviceFailure is not null) uc_emu_stop(uc);
    }

    private static void Check(int err, string what)
    {
        if (err != 0) throw new InvalidOperationException($"{what}: {Marshal.PtrToStringAnsi(uc_strerror(err))}");
    }

    public void Dispose()
    {
        if (_uc != 0)
        {
            uc_close(_uc);
            _uc = 0;
        }
        if (_self.IsAllocated) _self.Free();
        if (_ram != null)
        {
            NativeMemory.AlignedFree(_ram);
            _ram = null;
        }
    }

    private sealed class Control : IMachineControl
    {
        public int? ExitStatus { get; private set; }
        public void RequestExit(int exitCode, string reason) => ExitStatus ??= exitCode;
        public void RequestReset(string reason) => ExitStatus ??= -1;
    }
}
