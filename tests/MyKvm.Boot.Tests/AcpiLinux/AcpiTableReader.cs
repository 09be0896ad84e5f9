using System.Buffers.Binary;
using System.Text;
using MyKvm.Core;

namespace MyKvm.Boot.Tests.AcpiLinux;

/// <summary>
/// Reads ACPI tables out of guest RAM the way an OS does, independently of the writer: finds the RSDP by scanning
/// (ACPI 6.5 §5.2.5.1), follows the XSDT, checks every checksum, and decodes the fields the tests look at.
/// </summary>
internal sealed class AcpiTableReader
{
    public sealed record Table(string Signature, ulong Address, byte[] Bytes)
    {
        public byte Revision => Bytes[8];
        public string OemId => Encoding.ASCII.GetString(Bytes, 10, 6);
        public string OemTableId => Encoding.ASCII.GetString(Bytes, 16, 8);
        public ushort U16(int offset) => BinaryPrimitives.ReadUInt16LittleEndian(Bytes.AsSpan(offset));
        public uint U32(int offset) => BinaryPrimitives.ReadUInt32LittleEndian(Bytes.AsSpan(offset));
        public ulong U64(int offset) => BinaryPrimitives.ReadUInt64LittleEndian(Bytes.AsSpan(offset));
        public ReadOnlySpan<byte> Body => Bytes.AsSpan(36);
    }

    /// <summary>A Generic Address Structure.</summary>
    public readonly record struct Gas(byte Space, byte BitWidth, byte BitOffset, byte AccessSize, ulong Address);

    public AcpiTableReader(GuestRam ram, ulong? rsdp = null)
    {
        Ram = ram;
        RsdpAddress = rsdp ?? FindRsdp(ram) ?? throw new InvalidOperationException("no RSDP in 0xE0000–0xFFFFF");
        Rsdp = ram.GetSpan(RsdpAddress, 36).ToArray();
        Assert.Equal("RSD PTR ", Encoding.ASCII.GetString(Rsdp, 0, 8));
        Assert.Equal(0, Sum(Rsdp.AsSpan(0, 20)));
        Assert.Equal(36u, BinaryPrimitives.ReadUInt32LittleEndian(Rsdp.AsSpan(20)));
        Assert.Equal(0, Sum(Rsdp));
        Rsdt = ReadTable(BinaryPrimitives.ReadUInt32LittleEndian(Rsdp.AsSpan(16)), "RSDT");
        Xsdt = ReadTable(BinaryPrimitives.ReadUInt64LittleEndian(Rsdp.AsSpan(24)), "XSDT");
        for (int i = 0; i < Xsdt.Body.Length / 8; i++)
        {
            var t = ReadTable(Xsdt.U64(36 + 8 * i), null);
            Tables[t.Signature] = t;
        }
        if (Tables.TryGetValue("FACP", out var fadt))
        {
            Dsdt = ReadTable(fadt.U64(140), "DSDT");
            Assert.Equal(fadt.U32(40), (uint)Dsdt.Address);
            ulong facs = fadt.U64(132) != 0 ? fadt.U64(132) : fadt.U32(36);
            var facsBytes = ram.GetSpan(facs, 64).ToArray();
            Facs = new Table("FACS", facs, facsBytes);
        }
    }

    public GuestRam Ram { get; }
    public ulong RsdpAddress { get; }
    public byte[] Rsdp { get; }
    public Table Rsdt { get; }
    public Table Xsdt { get; }
    public Table? Dsdt { get; }
    public Table? Facs { get; }
    public Dictionary<string, Table> Tables { get; } = [];

    public Table Fadt => Tables["FACP"];
    public Table Madt => Tables["APIC"];

    public static Gas ReadGas(Table t, int offset) =>
        new(t.Bytes[offset], t.Bytes[offset + 1], t.Bytes[offset + 2], t.Bytes[offset + 3], t.U64(offset + 4));

    /// <summary>The 32-bit table pointers of the RSDT.</summary>
    public IEnumerable<uint> RsdtEntries => Enumerable.Range(0, Rsdt.Body.Length / 4).Select(i => Rsdt.U32(36 + 4 * i));

    /// <summary>Scans the BIOS area on 16-byte boundaries for a signature with a valid ACPI 1.0 checksum.</summary>
    public static ulong? FindRsdp(GuestRam ram)
    {
        for (ulong a = 0xE0000; a < 0x100000; a += 16)
            if (Encoding.ASCII.GetString(ram.GetSpan(a, 8)) == "RSD PTR " && Sum(ram.GetSpan(a, 20)) == 0)
                return a;
        return null;
    }

    private Table ReadTable(ulong address, string? signature)
    {
        uint length = Ram.Read32(address + 4);
        Assert.InRange(length, 36u, 0x10000u);
        var bytes = Ram.GetSpan(address, (int)length).ToArray();
        var t = new Table(Encoding.ASCII.GetString(bytes, 0, 4), address, bytes);
        if (signature is not null) Assert.Equal(signature, t.Signature);
        Assert.True(Sum(bytes) == 0, $"{t.Signature} at 0x{address:x}: checksum does not sum to zero");
        return t;
    }

    /// <summary>MADT entries as (type, bytes).</summary>
    public List<(byte Type, byte[] Bytes)> MadtEntries()
    {
        var list = new List<(byte, byte[])>();
        var body = Madt.Bytes.AsSpan(44);
        while (body.Length > 0)
        {
            int len = body[1];
            Assert.True(len >= 2 && len <= body.Length, "MADT entry length");
            list.Add((body[0], body[..len].ToArray()));
            body = body[len..];
        }
        return list;
    }

    public static int Sum(ReadOnlySpan<byte> data)
    {
        int s = 0;
        foreach (byte b in data) s += b;
        return s & 0xFF;
    }
}

/// <summary>
/// Decodes the subset of AML the DSDT uses (Name, Scope, Device, Package, integers, strings; ACPI 6.5 §20.2) into a
/// map of absolute names to values, written apart from the encoder so a shared misunderstanding shows up.
/// Values: <see cref="ulong"/>, <see cref="string"/>, <c>byte[]</c> (a buffer), <c>List&lt;object&gt;</c>, or "Device" for a device.
/// </summary>
internal static class AmlReader
{
    public static Dictionary<string, object> Read(ReadOnlySpan<byte> aml)
    {
        var names = new Dictionary<string, object>();
        int pos = 0;
        TermList(aml, ref pos, aml.Length, "\\", names);
        Assert.Equal(aml.Length, pos);
        return names;
    }

    private static void TermList(ReadOnlySpan<byte> a, ref int pos, int end, string scope, Dictionary<string, object> names)
    {
        while (pos < end)
        {
            byte op = a[pos++];
            switch (op)
            {
                case 0x08: // NameOp
                {
                    string name = Resolve(scope, NameString(a, ref pos));
                    names[name] = DataObject(a, ref pos);
                    break;
                }
                case 0x10: // ScopeOp
                {
                    int start = pos;
                    int len = PkgLength(a, ref pos);
                    string name = Resolve(scope, NameString(a, ref pos));
                    TermList(a, ref pos, start + len, name, names);
                    break;
                }
                case 0x5B when a[pos] == 0x82: // DeviceOp
                {
                    pos++;
                    int start = pos;
                    int len = PkgLength(a, ref pos);
                    string name = Resolve(scope, NameString(a, ref pos));
                    names[name] = "Device";
                    TermList(a, ref pos, start + len, name, names);
                    break;
                }
                default:
                    throw new InvalidDataException($"unexpected AML opcode 0x{op:x2} at {pos - 1}");
            }
        }
        Assert.Equal(end, pos);
    }

    private static object DataObject(ReadOnlySpan<byte> a, ref int pos)
    {
        byte op = a[pos++];
        switch (op)
        {
            case 0x00: return 0UL;
            case 0x01: return 1UL;
            case 0xFF: return ulong.MaxValue;
            case 0x0A: return (ulong)a[pos++];
            case 0x0B: pos += 2; return (ulong)BinaryPrimitives.ReadUInt16LittleEndian(a[(pos - 2)..]);
            case 0x0C: pos += 4; return (ulong)BinaryPrimitives.ReadUInt32LittleEndian(a[(pos - 4)..]);
            case 0x0E: pos += 8; return BinaryPrimitives.ReadUInt64LittleEndian(a[(pos - 8)..]);
            case 0x0D:
            {
                int nul = a[pos..].IndexOf((byte)0);
                string s = Encoding.ASCII.GetString(a.Slice(pos, nul));
                pos += nul + 1;
                return s;
            }
            case 0x11: // BufferOp: PkgLength, BufferSize, bytes
            {
                int start = pos;
                int len = PkgLength(a, ref pos);
                ulong size = (ulong)DataObject(a, ref pos);
                byte[] bytes = a[pos..(start + len)].ToArray();
                Assert.Equal(size, (ulong)bytes.Length);
                pos = start + len;
                return bytes;
            }
            case 0x12:
            {
                int start = pos;
                int len = PkgLength(a, ref pos);
                int count = a[pos++];
                var items = new List<object>();
                while (pos < start + len) items.Add(DataObject(a, ref pos));
                Assert.Equal(start + len, pos);
                // NumElements may exceed the initialisers (the rest are uninitialised), never the reverse.
                Assert.True(items.Count <= count);
                return items;
            }
            default:
                throw new InvalidDataException($"unexpected AML data opcode 0x{op:x2} at {pos - 1}");
        }
    }

    /// <summary>PkgLength: the value counts its own bytes; returns it (the end is the start of the PkgLength plus it).</summary>
    private static int PkgLength(ReadOnlySpan<byte> a, ref int pos)
    {
        byte lead = a[pos++];
        int follow = lead >> 6;
        if (follow == 0) return lead & 0x3F;
        int value = lead & 0x0F;
        for (int i = 0; i < follow; i++) value |= a[pos++] << (4 + 8 * i);
        return value;
    }

    private static string NameString(ReadOnlySpan<byte> a, ref int pos)
    {
        var sb = new StringBuilder();
        while (a[pos] is (byte)'\\' or (byte)'^') sb.Append((char)a[pos++]);
        int segs;
        if (a[pos] == 0x2E) { pos++; segs = 2; }
        else if (a[pos] == 0x2F) { pos++; segs = a[pos++]; }
        else if (a[pos] == 0x00) { pos++; segs = 0; }
        else segs = 1;
        for (int i = 0; i < segs; i++)
        {
            if (i > 0) sb.Append('.');
            sb.Append(Encoding.ASCII.GetString(a.Slice(pos, 4)));
            pos += 4;
        }
        return sb.ToString();
    }

    private static string Resolve(string scope, string name)
    {
        if (name.StartsWith('\\')) return name;
        string s = scope;
        while (name.StartsWith('^'))
        {
            s = s.Contains('.') ? s[..s.LastIndexOf('.')] : "\\";
            name = name[1..];
        }
        return s == "\\" ? "\\" + name : s + "." + name;
    }
}

/// <summary>A resource descriptor from a _CRS buffer (ACPI 6.5 §6.4): its item name and body.</summary>
internal readonly record struct ResourceDescriptor(byte Tag, byte[] Body)
{
    public ushort U16(int offset) => BinaryPrimitives.ReadUInt16LittleEndian(Body.AsSpan(offset));
    public uint U32(int offset) => BinaryPrimitives.ReadUInt32LittleEndian(Body.AsSpan(offset));

    /// <summary>Splits a resource template into descriptors, checking it ends with an End Tag and nothing after.</summary>
    public static List<ResourceDescriptor> Parse(byte[] template)
    {
        var list = new List<ResourceDescriptor>();
        int pos = 0;
        while (true)
        {
            byte b = template[pos];
            if ((b & 0x80) == 0)
            {
                // Small item: bits 6:3 name, 2:0 length.
                byte name = (byte)((b >> 3) & 0xF);
                int len = b & 7;
                if (name == 0xF)
                {
                    Assert.Equal(1, len);
                    Assert.Equal(template.Length, pos + 2);            // the End Tag is last
                    return list;
                }
                list.Add(new ResourceDescriptor(name, template[(pos + 1)..(pos + 1 + len)]));
                pos += 1 + len;
            }
            else
            {
                int len = BinaryPrimitives.ReadUInt16LittleEndian(template.AsSpan(pos + 1));
                list.Add(new ResourceDescriptor(b, template[(pos + 3)..(pos + 3 + len)]));
                pos += 3 + len;
            }
        }
    }
}
