using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using MyKvm.Core;

namespace MyKvm.Boot.Tests.Support;

/// <summary>
/// A reference CPU for the loaders' tests: runs a guest from the state a loader produced, on the Unicorn CPU
/// emulator (libunicorn2, a Debian package), with just enough machine for our test guests: COM1 output (LSR
/// always reports THRE) and the 0xf4 debug-exit port. It lets the boot tests check the whole hand-over (GDT,
/// paging, stack, registers) independently of mykvm's own CPU.
/// Unicorn 2.0 identity-maps virtual to physical addresses whatever CR0.PG says (unicorn-engine/unicorn#1953),
/// so paging is modelled by aliasing: every 4 MiB page the initial page directory maps is also mapped, at its
/// virtual address, onto the same host memory. That is exact for guests that keep the loader's mapping.
/// </summary>
internal sealed unsafe partial class UnicornMachine : IDisposable
{
    private const string Lib = "libunicorn.so.2";
    private const int UcArchX86 = 4, UcMode32 = 4, UcMode64 = 8, UcProtAll = 7, UcHookInsn = 2, UcX86InsIn = 218, UcX86InsOut = 500;
    private const int RegEax = 19, RegEbx = 21, RegEcx = 22, RegEdx = 24, RegEsi = 29, RegEdi = 23, RegEsp = 30, RegEbp = 20,
        RegEip = 26, RegEflags = 25, RegCs = 11, RegDs = 17, RegEs = 28, RegFs = 32, RegGs = 33, RegSs = 49,
        RegCr0 = 50, RegCr3 = 53, RegCr4 = 54, RegGdtr = 243, RegMsr = 248,
        RegRax = 35, RegRbx = 37, RegRcx = 38, RegRdx = 40, RegRsi = 43, RegRdi = 39, RegRsp = 44, RegRbp = 36, RegRip = 41, RegRflags = 253;
    private const uint MsrEfer = 0xC000_0080;

    [StructLayout(LayoutKind.Sequential)]
    private struct X86Msr
    {
        public uint Id;
        public ulong Value;
    }

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
    // uc_hook_add is variadic; on the SysV x86-64 ABI the trailing int (the instruction id) is passed exactly
    // like a fixed eighth argument.
    [LibraryImport(Lib)] private static partial int uc_hook_add(nint uc, out nint hh, int type, void* callback, nint userData, ulong begin, ulong end, int insn);
    [LibraryImport(Lib)] private static partial nint uc_strerror(int err);

    private nint _uc;
    private GCHandle _self;
    private readonly StringBuilder _serial = new();

    private readonly GuestRam _ram;

    private readonly bool _longMode;

    /// <summary>A 32-bit machine, or with <paramref name="longMode"/> one that starts in 64-bit long mode.</summary>
    public UnicornMachine(GuestRam ram, bool longMode = false)
    {
        _ram = ram;
        _longMode = longMode;
        Check(uc_open(UcArchX86, longMode ? UcMode64 : UcMode32, out _uc), "uc_open");
        _self = GCHandle.Alloc(this);
        // The whole low RAM, VGA hole included (nothing in our guests touches it but the hello kernel's VGA text).
        Check(uc_mem_map_ptr(_uc, 0, (nuint)ram.LowSize, UcProtAll, ram.HostBase), "uc_mem_map_ptr");
        Check(uc_hook_add(_uc, out _, UcHookInsn, (delegate* unmanaged[Cdecl]<nint, uint, int, nint, uint>)&OnIn, GCHandle.ToIntPtr(_self), 1, 0, UcX86InsIn), "hook in");
        Check(uc_hook_add(_uc, out _, UcHookInsn, (delegate* unmanaged[Cdecl]<nint, uint, int, uint, nint, void>)&OnOut, GCHandle.ToIntPtr(_self), 1, 0, UcX86InsOut), "hook out");
    }

    /// <summary>The value the guest wrote to port 0xf4 (QEMU would exit with (value << 1) | 1).</summary>
    public int? ExitCode { get; private set; }
    public string Serial => _serial.ToString().Replace("\r\n", "\n");

    /// <summary>Stop as soon as the serial output contains this (for guests that never exit).</summary>
    public string? StopAtSerial { get; set; }

    /// <summary>True if the run ended because <see cref="StopAtSerial"/> appeared.</summary>
    public bool StoppedAtSerial { get; private set; }

    /// <summary>Loads <paramref name="s"/> (32-bit protected mode, paging on or off) and runs until the guest exits or <paramref name="maxInstructions"/>.</summary>
    public void Run(VcpuState s, ulong maxInstructions = 50_000_000)
    {
        if (_longMode)
        {
            Run64(s, maxInstructions);
            return;
        }
        if (s.PagingEnabled) AliasLargePages(s);
        var gdtr = new X86Mmr { Base = s.GdtBase, Limit = s.GdtLimit };
        Check(uc_reg_write(_uc, RegGdtr, &gdtr), "gdtr");
        // Segment registers are loaded from the GDT, paging off, before CR3/CR4/CR0 turn paging on.
        WriteReg(RegCs, s.Cs.Selector);
        WriteReg(RegDs, s.Ds.Selector);
        WriteReg(RegEs, s.Es.Selector);
        WriteReg(RegFs, s.Fs.Selector);
        WriteReg(RegGs, s.Gs.Selector);
        WriteReg(RegSs, s.Ss.Selector);
        WriteReg(RegCr4, s.Cr4);
        WriteReg(RegCr3, s.Cr3);
        WriteReg(RegCr0, s.Cr0);
        WriteReg(RegEax, s.Rax);
        WriteReg(RegEbx, s.Rbx);
        WriteReg(RegEcx, s.Rcx);
        WriteReg(RegEdx, s.Rdx);
        WriteReg(RegEsi, s.Rsi);
        WriteReg(RegEdi, s.Rdi);
        WriteReg(RegEsp, s.Rsp);
        WriteReg(RegEbp, s.Rbp);
        WriteReg(RegEflags, s.Rflags);
        int err = uc_emu_start(_uc, s.Rip, 0, 20_000_000, (nuint)maxInstructions);
        if (err != 0 && ExitCode is null)
            throw new InvalidOperationException($"unicorn stopped with {Marshal.PtrToStringAnsi(uc_strerror(err))} at eip 0x{ReadReg(RegEip):x}; serial so far:\n{Serial}");
    }

    /// <summary>
    /// Long mode: Unicorn's 64-bit mode starts with a 64-bit CS already; the loader's GDTR, EFER, CR4, CR3 and CR0
    /// go in, and the selectors (Unicorn keeps the 64-bit hidden state). The loader's page tables identity-map
    /// what the guest touches, so Unicorn's disregard of paging does not matter.
    /// </summary>
    private void Run64(VcpuState s, ulong maxInstructions)
    {
        var gdtr = new X86Mmr { Base = s.GdtBase, Limit = s.GdtLimit };
        Check(uc_reg_write(_uc, RegGdtr, &gdtr), "gdtr");
        var efer = new X86Msr { Id = MsrEfer, Value = s.Efer };
        Check(uc_reg_write(_uc, RegMsr, &efer), "efer");
        WriteReg(RegCr4, s.Cr4);
        WriteReg(RegCr3, s.Cr3);
        WriteReg(RegCr0, s.Cr0);
        WriteReg(RegCs, s.Cs.Selector);
        WriteReg(RegDs, s.Ds.Selector);
        WriteReg(RegEs, s.Es.Selector);
        WriteReg(RegSs, s.Ss.Selector);
        WriteReg(RegRax, s.Rax);
        WriteReg(RegRbx, s.Rbx);
        WriteReg(RegRcx, s.Rcx);
        WriteReg(RegRdx, s.Rdx);
        WriteReg(RegRsi, s.Rsi);
        WriteReg(RegRdi, s.Rdi);
        WriteReg(RegRsp, s.Rsp);
        WriteReg(RegRbp, s.Rbp);
        WriteReg(RegRflags, s.Rflags);
        int err = uc_emu_start(_uc, s.Rip, 0, 120_000_000, (nuint)maxInstructions);
        if (err != 0 && ExitCode is null && !StoppedAtSerial)
            throw new InvalidOperationException($"unicorn stopped with {Marshal.PtrToStringAnsi(uc_strerror(err))} at rip 0x{ReadReg(RegRip):x}; serial so far:\n{Serial}");
    }

    private void AliasLargePages(VcpuState s)
    {
        if ((s.Cr4 & VcpuState.Cr4PSE) == 0 || (s.Cr4 & VcpuState.Cr4PAE) != 0)
            throw new NotSupportedException("the Unicorn harness models only 32-bit paging with 4 MiB pages");
        for (uint i = 0; i < 1024; i++)
        {
            uint pde = _ram.Read32(s.Cr3 + i * 4);
            if ((pde & 1) == 0) continue;
            if ((pde & 0x80) == 0)
                throw new NotSupportedException($"PDE[{i}] points at a page table; the Unicorn harness models only 4 MiB pages");
            ulong virt = (ulong)i << 22, phys = pde & 0xFFC0_0000;
            if (virt == phys && virt < _ram.LowSize) continue;   // the identity part is the RAM mapping itself
            if (virt < _ram.LowSize)
                throw new NotSupportedException($"PDE[{i}] maps 0x{virt:x} over guest RAM; the Unicorn harness cannot alias it");
            if (phys >= _ram.LowSize) continue;
            ulong size = Math.Min(4UL << 20, _ram.LowSize - phys);
            Check(uc_mem_map_ptr(_uc, virt, (nuint)size, UcProtAll, _ram.HostBase + phys), $"alias 0x{virt:x}");
        }
    }

    public ulong ReadReg(int reg)
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
        // COM1 line status: transmitter empty and idle, so polled output never waits.
        return port == 0x3FD ? 0x60u : 0u;
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnOut(nint uc, uint port, int size, uint value, nint user)
    {
        var self = (UnicornMachine)GCHandle.FromIntPtr(user).Target!;
        if (port == 0x3F8 && (self.ReadLcr() & 0x80) == 0)
        {
            self._serial.Append((char)(value & 0xFF));
            if (self.StopAtSerial is { } stop && (value & 0xFF) == stop[^1] && self._serial.ToString().Contains(stop))
            {
                self.StoppedAtSerial = true;
                uc_emu_stop(uc);
            }
        }
        else if (port == 0x3FB)
            self._lcr = (byte)value;
        else if (port == 0xF4)
        {
            self.ExitCode = (int)value;
            uc_emu_stop(uc);
        }
    }

    private byte _lcr;
    private byte ReadLcr() => _lcr;

    private static void Check(int err, string what)
    {
        if (err != 0)
            throw new InvalidOperationException($"{what}: {Marshal.PtrToStringAnsi(uc_strerror(err))}");
    }

    public void Dispose()
    {
        if (_uc != 0)
        {
            uc_close(_uc);
            _uc = 0;
        }
        if (_self.IsAllocated) _self.Free();
    }
}
