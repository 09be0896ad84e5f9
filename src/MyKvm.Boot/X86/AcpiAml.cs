using System.Text;

namespace MyKvm.Boot.X86;

/// <summary>
/// A small encoder for the ACPI Machine Language objects the DSDT needs (ACPI 6.5 §20.2, "AML Grammar
/// Definition"): names, integers, strings, packages, scopes and devices. Each method returns the encoded bytes
/// of one term, so a definition block reads like the ASL it stands for:
/// <code>Aml.Name("_S5", Aml.Package(0, 0, 0, 0))</code> is <c>Name (_S5, Package () { 0, 0, 0, 0 })</c>.
/// </summary>
public static class Aml
{
    // §20.2.5 opcodes.
    public const byte ZeroOp = 0x00, OneOp = 0x01, NameOp = 0x08, BytePrefix = 0x0A, WordPrefix = 0x0B,
        DWordPrefix = 0x0C, StringPrefix = 0x0D, QWordPrefix = 0x0E, ScopeOp = 0x10, BufferOp = 0x11, PackageOp = 0x12, EndTag = 0x79,
        DualNamePrefix = 0x2E, MultiNamePrefix = 0x2F, ExtOpPrefix = 0x5B, DeviceOp = 0x82, RootChar = 0x5C,
        ParentPrefixChar = 0x5E, OnesOp = 0xFF;

    /// <summary><c>Name (NAME, value)</c>.</summary>
    public static byte[] Name(string name, byte[] value) => [NameOp, .. NameString(RequireSegment(name)), .. value];

    /// <summary><c>Scope (NAME) { terms }</c>.</summary>
    public static byte[] Scope(string name, params byte[][] terms) =>
        [ScopeOp, .. WithPkgLength([.. NameString(name), .. Concat(terms)])];

    /// <summary><c>Device (NAME) { terms }</c>.</summary>
    public static byte[] Device(string name, params byte[][] terms) =>
        [ExtOpPrefix, DeviceOp, .. WithPkgLength([.. NameString(RequireSegment(name)), .. Concat(terms)])];

    /// <summary><c>Package () { elements }</c>; each element is an integer or a string (or pre-encoded bytes).</summary>
    public static byte[] Package(params object[] elements)
    {
        if (elements.Length > 255) throw new ArgumentException("a Package holds at most 255 elements (use VarPackage)", nameof(elements));
        var body = new List<byte> { (byte)elements.Length };
        foreach (var e in elements)
            body.AddRange(e switch
            {
                byte[] raw => raw,
                string s => String(s),
                IConvertible n => Integer(Convert.ToUInt64(n, System.Globalization.CultureInfo.InvariantCulture)),
                _ => throw new ArgumentException($"cannot encode a {e.GetType().Name} as a package element", nameof(elements)),
            });
        return [PackageOp, .. WithPkgLength([.. body])];
    }

    /// <summary><c>Buffer () { bytes }</c> (§20.2.5.4 DefBuffer).</summary>
    public static byte[] Buffer(byte[] bytes) => [BufferOp, .. WithPkgLength([.. Integer((ulong)bytes.Length), .. bytes])];

    /// <summary>
    /// <c>ResourceTemplate () { descriptors }</c>: a buffer of resource descriptors (§6.4) closed by an End Tag whose
    /// checksum byte is 0 ("treated as summing to zero", §6.4.2.9, as iasl writes it).
    /// </summary>
    public static byte[] ResourceTemplate(params byte[][] descriptors) => Buffer([.. Concat(descriptors), EndTag, 0]);

    /// <summary>I/O Port descriptor (§6.4.2.5): <c>IO (Decode16, min, max, alignment, length)</c>.</summary>
    public static byte[] IoPort(ushort min, ushort max, byte alignment, byte length) =>
        [0x47, 0x01, (byte)min, (byte)(min >> 8), (byte)max, (byte)(max >> 8), alignment, length];

    /// <summary>Address space resource types and the general flags of a bridge's window (§6.4.3.5.1).</summary>
    public const byte AddressSpaceMemory = 0, AddressSpaceIo = 1, AddressSpaceBusNumber = 2;
    /// <summary>ResourceProducer, PosDecode, MinFixed, MaxFixed.</summary>
    public const byte ProducerFixedWindow = 0x0C;

    /// <summary>
    /// Word Address Space descriptor (§6.4.3.5.3), a producer window with fixed bounds: <c>WordBusNumber</c> and
    /// <c>WordIO</c> in ASL. <paramref name="typeFlags"/> is 3 (EntireRange) for I/O, 0 for bus numbers.
    /// </summary>
    public static byte[] WordAddressSpace(byte resourceType, byte typeFlags, ushort min, ushort max)
    {
        var d = new byte[16];
        d[0] = 0x88; d[1] = 13; d[2] = 0;
        d[3] = resourceType; d[4] = ProducerFixedWindow; d[5] = typeFlags;
        BitConverter.TryWriteBytes(d.AsSpan(6), (ushort)0);               // granularity
        BitConverter.TryWriteBytes(d.AsSpan(8), min);
        BitConverter.TryWriteBytes(d.AsSpan(10), max);
        BitConverter.TryWriteBytes(d.AsSpan(12), (ushort)0);              // translation offset
        BitConverter.TryWriteBytes(d.AsSpan(14), (ushort)(max - min + 1));
        return d;
    }

    /// <summary>
    /// DWord Address Space descriptor (§6.4.3.5.2) for a memory window: <c>DWordMemory (ResourceProducer, PosDecode,
    /// MinFixed, MaxFixed, cacheable?, ReadWrite, ...)</c>. Type flags: bit 0 read-write, bits 2:1 1 = cacheable.
    /// </summary>
    public static byte[] DWordMemory(uint min, uint max, bool cacheable)
    {
        var d = new byte[26];
        d[0] = 0x87; d[1] = 23; d[2] = 0;
        d[3] = AddressSpaceMemory; d[4] = ProducerFixedWindow; d[5] = (byte)(0x01 | (cacheable ? 0x02 : 0));
        BitConverter.TryWriteBytes(d.AsSpan(6), 0u);                       // granularity
        BitConverter.TryWriteBytes(d.AsSpan(10), min);
        BitConverter.TryWriteBytes(d.AsSpan(14), max);
        BitConverter.TryWriteBytes(d.AsSpan(18), 0u);                      // translation offset
        BitConverter.TryWriteBytes(d.AsSpan(22), max - min + 1);
        return d;
    }

    /// <summary>The shortest ComputationalData for an integer (§20.2.3): Zero, One, Byte/Word/DWord/QWordConst.</summary>
    public static byte[] Integer(ulong value) => value switch
    {
        0 => [ZeroOp],
        1 => [OneOp],
        <= 0xFF => [BytePrefix, (byte)value],
        <= 0xFFFF => [WordPrefix, (byte)value, (byte)(value >> 8)],
        <= 0xFFFF_FFFF => [DWordPrefix, .. BitConverter.GetBytes((uint)value)],
        _ => [QWordPrefix, .. BitConverter.GetBytes(value)],
    };

    /// <summary>A String constant: ASCII characters 0x01–0x7F, NUL-terminated.</summary>
    public static byte[] String(string s)
    {
        if (s.Any(c => c is < '\x01' or > '\x7F')) throw new ArgumentException($"AML strings are ASCII without NUL: \"{s}\"", nameof(s));
        return [StringPrefix, .. Encoding.ASCII.GetBytes(s), 0];
    }

    /// <summary>
    /// The 32-bit compressed EISA ID of a PNP ID such as <c>PNP0A03</c> (ASL's <c>EISAID()</c>, §19.6.35):
    /// three letters of 5 bits each ('A' = 1) and four hex digits, stored big-endian.
    /// </summary>
    public static uint EisaId(string id)
    {
        if (id.Length != 7 || !id[..3].All(c => c is >= 'A' and <= 'Z') || !id[3..].All(Uri.IsHexDigit))
            throw new ArgumentException($"an EISA ID is three capitals and four hex digits: \"{id}\"", nameof(id));
        uint v = (uint)(id[0] - 0x40) << 26 | (uint)(id[1] - 0x40) << 21 | (uint)(id[2] - 0x40) << 16
                 | Convert.ToUInt32(id[3..], 16);
        // The value is defined as big-endian bytes; an AML integer is little-endian, so swap.
        return System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(v);
    }

    /// <summary>
    /// A NameString (§20.2.2): optional root (<c>\</c>) or parent (<c>^</c>) prefixes, then dot-separated
    /// segments of up to four characters, padded with '_' (<c>\_SB.CPU0</c>).
    /// </summary>
    public static byte[] NameString(string path)
    {
        var bytes = new List<byte>();
        int i = 0;
        if (path.StartsWith('\\')) { bytes.Add(RootChar); i = 1; }
        else while (i < path.Length && path[i] == '^') { bytes.Add(ParentPrefixChar); i++; }
        string rest = path[i..];
        var segments = rest.Length == 0 ? [] : rest.Split('.');
        foreach (var seg in segments)
            if (seg.Length is 0 or > 4 || !(seg[0] is '_' or (>= 'A' and <= 'Z')) || !seg.All(c => c is '_' or (>= 'A' and <= 'Z') or (>= '0' and <= '9')))
                throw new ArgumentException($"bad AML name segment \"{seg}\" in \"{path}\"", nameof(path));
        switch (segments.Length)
        {
            case 0: bytes.Add(0); break; // NullName
            case 1: break;
            case 2: bytes.Add(DualNamePrefix); break;
            default:
                if (segments.Length > 255) throw new ArgumentException("too many name segments", nameof(path));
                bytes.Add(MultiNamePrefix);
                bytes.Add((byte)segments.Length);
                break;
        }
        foreach (var seg in segments) bytes.AddRange(Encoding.ASCII.GetBytes(seg.PadRight(4, '_')));
        return [.. bytes];
    }

    /// <summary>
    /// Prefixes <paramref name="body"/> with its PkgLength (§20.2.4), which counts itself: one byte holds up to 63,
    /// otherwise the lead byte's bits 7–6 give how many bytes follow, its bits 3–0 the low nibble.
    /// </summary>
    public static byte[] WithPkgLength(byte[] body)
    {
        int n = body.Length;
        if (n + 1 <= 0x3F) return [(byte)(n + 1), .. body];
        int extra = n + 2 <= 0xFFF ? 1 : n + 3 <= 0xF_FFFF ? 2 : n + 4 <= 0xFFF_FFFF ? 3
            : throw new ArgumentException("AML package too long", nameof(body));
        int total = n + 1 + extra;
        var prefix = new byte[1 + extra];
        prefix[0] = (byte)((extra << 6) | (total & 0xF));
        for (int b = 1; b <= extra; b++) prefix[b] = (byte)(total >> (4 + 8 * (b - 1)));
        return [.. prefix, .. body];
    }

    /// <summary>A Name or Device names an object, so the path cannot be the root or empty.</summary>
    private static string RequireSegment(string path) =>
        path.TrimStart('\\', '^').Length > 0 ? path : throw new ArgumentException($"\"{path}\" names no object", nameof(path));

    private static byte[] Concat(byte[][] parts) => [.. parts.SelectMany(p => p)];
}
