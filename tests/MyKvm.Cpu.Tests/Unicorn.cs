using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace MyKvm.Cpu.Tests;

/// <summary>
/// The Unicorn engine (QEMU's CPU as a library; Debian libunicorn2) as a reference CPU for differential tests,
/// called through P/Invoke. 32-bit mode: flat segments, no paging.
/// </summary>
internal sealed unsafe partial class Unicorn : IDisposable
{
    private const string Lib = "libunicorn.so.2";
    private const int UC_ARCH_X86 = 4, UC_MODE_32 = 1 << 2, UC_PROT_ALL = 7, UC_HOOK_INTR = 1;

    // uc_x86_reg values (unicorn/x86.h)
    public const int EAX = 19, EBP = 20, EBX = 21, ECX = 22, EDI = 23, EDX = 24, EFLAGS = 25, EIP = 26, ESI = 29, ESP = 30;
    /// <summary>Register ids in the x86 encoding order EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI.</summary>
    public static readonly int[] Gpr = [EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI];

    [LibraryImport(Lib)] private static partial int uc_open(int arch, int mode, out nint uc);
    [LibraryImport(Lib)] private static partial int uc_close(nint uc);
    [LibraryImport(Lib)] private static partial int uc_mem_map(nint uc, ulong address, nuint size, uint perms);
    [LibraryImport(Lib)] private static partial int uc_mem_write(nint uc, ulong address, byte* bytes, nuint size);
    [LibraryImport(Lib)] private static partial int uc_mem_read(nint uc, ulong address, byte* bytes, nuint size);
    [LibraryImport(Lib)] private static partial int uc_reg_write(nint uc, int regid, void* value);
    [LibraryImport(Lib)] private static partial int uc_reg_read(nint uc, int regid, void* value);
    [LibraryImport(Lib)] private static partial int uc_emu_start(nint uc, ulong begin, ulong until, ulong timeout, nuint count);
    [LibraryImport(Lib)] private static partial int uc_emu_stop(nint uc);
    [LibraryImport(Lib)] private static partial int uc_hook_add(nint uc, out nint hh, int type, void* callback, void* userData, ulong begin, ulong end);

    private nint _uc;
    private GCHandle _self;
    /// <summary>The vector of the first interrupt/exception raised during the last <see cref="Run"/>, or -1.</summary>
    public int Interrupt { get; private set; } = -1;

    public static bool Available
    {
        get
        {
            try { return NativeLibrary.TryLoad(Lib, out _); }
            catch { return false; }
        }
    }

    public Unicorn()
    {
        Check(uc_open(UC_ARCH_X86, UC_MODE_32, out _uc), "uc_open");
        _self = GCHandle.Alloc(this);
        Check(uc_hook_add(_uc, out _, UC_HOOK_INTR, (delegate* unmanaged<nint, uint, void*, void>)&OnInterrupt,
            (void*)GCHandle.ToIntPtr(_self), 1, 0), "uc_hook_add");
    }

    [UnmanagedCallersOnly]
    private static void OnInterrupt(nint uc, uint intno, void* user)
    {
        var self = (Unicorn)GCHandle.FromIntPtr((nint)user).Target!;
        if (self.Interrupt < 0) self.Interrupt = (int)intno;
        uc_emu_stop(uc);
    }

    private static void Check(int err, string what)
    {
        if (err != 0) throw new InvalidOperationException($"{what} failed: unicorn error {err}");
    }

    public void Map(ulong address, ulong size) => Check(uc_mem_map(_uc, address, (nuint)size, UC_PROT_ALL), "uc_mem_map");

    public void Write(ulong address, ReadOnlySpan<byte> data)
    {
        fixed (byte* p = data) Check(uc_mem_write(_uc, address, p, (nuint)data.Length), "uc_mem_write");
    }

    public void Read(ulong address, Span<byte> data)
    {
        fixed (byte* p = data) Check(uc_mem_read(_uc, address, p, (nuint)data.Length), "uc_mem_read");
    }

    public uint Reg(int id)
    {
        ulong v = 0;
        Check(uc_reg_read(_uc, id, &v), "uc_reg_read");
        return (uint)v;
    }

    public void SetReg(int id, uint value)
    {
        ulong v = value;
        Check(uc_reg_write(_uc, id, &v), "uc_reg_write");
    }

    /// <summary>Runs from <paramref name="begin"/> until <paramref name="until"/>, an interrupt, or <paramref name="maxInsns"/>.</summary>
    public int Run(ulong begin, ulong until, int maxInsns)
    {
        Interrupt = -1;
        return uc_emu_start(_uc, begin, until, 0, (nuint)maxInsns);
    }

    public void Dispose()
    {
        if (_uc != 0) { uc_close(_uc); _uc = 0; }
        if (_self.IsAllocated) _self.Free();
    }
}
