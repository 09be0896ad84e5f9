using System.Runtime.CompilerServices;

namespace MyKvm.Cpu;

/// <summary>
/// Operand size as a type: handlers are written once, generic over <see cref="ISz"/>, and the .NET JIT
/// specialises each instantiation (struct type arguments), so masks and widths fold to constants.
/// Values travel as <c>ulong</c>, always masked to the operand size.
/// </summary>
internal unsafe interface ISz
{
    static abstract int Bytes { get; }
    static abstract int Bits { get; }
    static abstract ulong Mask { get; }
    static abstract ulong Load(void* p);
    /// <summary>Stores exactly <see cref="Bytes"/> bytes (memory operands, 8/16-bit registers).</summary>
    static abstract void Store(void* p, ulong v);
    /// <summary>Register write: 32-bit writes zero the upper half of the 64-bit register (long-mode rule, harmless before).</summary>
    static abstract void StoreReg(void* p, ulong v);
    static abstract long Sext(ulong v);
}

internal unsafe struct B8 : ISz
{
    public static int Bytes => 1;
    public static int Bits => 8;
    public static ulong Mask => 0xFF;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ulong Load(void* p) => *(byte*)p;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(void* p, ulong v) => *(byte*)p = (byte)v;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void StoreReg(void* p, ulong v) => *(byte*)p = (byte)v;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static long Sext(ulong v) => (sbyte)v;
}

internal unsafe struct B16 : ISz
{
    public static int Bytes => 2;
    public static int Bits => 16;
    public static ulong Mask => 0xFFFF;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ulong Load(void* p) => Unsafe.ReadUnaligned<ushort>(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(void* p, ulong v) => Unsafe.WriteUnaligned(p, (ushort)v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void StoreReg(void* p, ulong v) => *(ushort*)p = (ushort)v;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static long Sext(ulong v) => (short)v;
}

internal unsafe struct B32 : ISz
{
    public static int Bytes => 4;
    public static int Bits => 32;
    public static ulong Mask => 0xFFFF_FFFF;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ulong Load(void* p) => Unsafe.ReadUnaligned<uint>(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(void* p, ulong v) => Unsafe.WriteUnaligned(p, (uint)v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void StoreReg(void* p, ulong v) => *(ulong*)p = (uint)v;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static long Sext(ulong v) => (int)v;
}

internal unsafe struct B64 : ISz
{
    public static int Bytes => 8;
    public static int Bits => 64;
    public static ulong Mask => ulong.MaxValue;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ulong Load(void* p) => Unsafe.ReadUnaligned<ulong>(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(void* p, ulong v) => Unsafe.WriteUnaligned(p, v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void StoreReg(void* p, ulong v) => *(ulong*)p = v;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static long Sext(ulong v) => (long)v;
}
