using MyKvm.Boot.X86;

namespace MyKvm.Boot.Tests.AcpiLinux;

public class AcpiAmlTests
{
    [Theory]
    [InlineData(0UL, new byte[] { 0x00 })]
    [InlineData(1UL, new byte[] { 0x01 })]
    [InlineData(5UL, new byte[] { 0x0A, 0x05 })]
    [InlineData(0x1234UL, new byte[] { 0x0B, 0x34, 0x12 })]
    [InlineData(0x12345678UL, new byte[] { 0x0C, 0x78, 0x56, 0x34, 0x12 })]
    [InlineData(0x1_0000_0000UL, new byte[] { 0x0E, 0, 0, 0, 0, 1, 0, 0, 0 })]
    public void IntegersUseTheShortestEncoding(ulong value, byte[] expected) => Assert.Equal(expected, Aml.Integer(value));

    [Theory]
    [InlineData("_S5", new byte[] { (byte)'_', (byte)'S', (byte)'5', (byte)'_' })]
    [InlineData("\\_SB", new byte[] { 0x5C, (byte)'_', (byte)'S', (byte)'B', (byte)'_' })]
    [InlineData("\\_SB.PCI0", new byte[] { 0x5C, 0x2E, (byte)'_', (byte)'S', (byte)'B', (byte)'_', (byte)'P', (byte)'C', (byte)'I', (byte)'0' })]
    [InlineData("^CPU", new byte[] { 0x5E, (byte)'C', (byte)'P', (byte)'U', (byte)'_' })]
    [InlineData("\\", new byte[] { 0x5C, 0x00 })]
    public void NameStrings(string path, byte[] expected) => Assert.Equal(expected, Aml.NameString(path));

    [Fact]
    public void ThreeSegmentNamesUseMultiNamePrefix()
    {
        var b = Aml.NameString("A.B.C");
        Assert.Equal(new byte[] { 0x2F, 3 }, b[..2]);
        Assert.Equal(2 + 12, b.Length);
    }

    [Theory]
    [InlineData("")]
    [InlineData("TOOLONG")]
    [InlineData("1ABC")]
    [InlineData("ab")]
    [InlineData("\\_SB..X")]
    public void BadNamesAreRejected(string path) => Assert.Throws<ArgumentException>(() => Aml.Name(path, Aml.Integer(0)));

    [Theory]
    [InlineData(0, new byte[] { 0x01 })]
    [InlineData(62, new byte[] { 0x3F })]             // 62 + 1 = 63, the most one byte holds
    [InlineData(63, new byte[] { 0x41, 0x04 })]       // 63 + 2 = 65 = 0x041
    [InlineData(0xFFD, new byte[] { 0x4F, 0xFF })]    // 0xFFD + 2 = 0xFFF, the most two bytes hold
    [InlineData(0xFFE, new byte[] { 0x81, 0x00, 0x01 })] // 0xFFE + 3 = 0x1001
    public void PkgLengthCountsItself(int bodyLength, byte[] prefix)
    {
        var encoded = Aml.WithPkgLength(new byte[bodyLength]);
        Assert.Equal(prefix, encoded[..prefix.Length]);
        Assert.Equal(bodyLength + prefix.Length, encoded.Length);
        // Decode it back as the reader does: the value is the length from the first PkgLength byte to the end.
        int follow = encoded[0] >> 6;
        int value = follow == 0 ? encoded[0] & 0x3F : encoded[0] & 0xF;
        for (int i = 0; i < follow; i++) value |= encoded[1 + i] << (4 + 8 * i);
        Assert.Equal(encoded.Length, value);
    }

    [Theory]
    [InlineData("PNP0A03", 0x030AD041u)]
    [InlineData("PNP0303", 0x0303D041u)]
    [InlineData("PNP0501", 0x0105D041u)]
    public void EisaIdsCompressAsAslDoes(string id, uint expected) => Assert.Equal(expected, Aml.EisaId(id));

    [Fact]
    public void S5PackageEncodesAsAsl()
    {
        // Name (_S5, Package () { 0x05, 0x05, Zero, Zero })
        Assert.Equal(new byte[] { 0x08, (byte)'_', (byte)'S', (byte)'5', (byte)'_', 0x12, 0x08, 0x04, 0x0A, 0x05, 0x0A, 0x05, 0x00, 0x00 },
            Aml.Name("_S5", Aml.Package(5, 5, 0, 0)));
    }

    [Fact]
    public void NestedScopesDecodeBack()
    {
        byte[] aml = Aml.Scope("\\_SB", Aml.Device("DEV0", Aml.Name("_HID", Aml.Integer(Aml.EisaId("PNP0303"))),
            Aml.Name("_STR", Aml.String("keyboard")), Aml.Name("LIST", Aml.Package(1, "two", 0x300, Aml.Package(4)))));
        var names = AmlReader.Read(aml);
        Assert.Equal("Device", names["\\_SB_.DEV0"]);
        Assert.Equal((ulong)0x0303D041, names["\\_SB_.DEV0._HID"]);
        Assert.Equal("keyboard", names["\\_SB_.DEV0._STR"]);
        var list = Assert.IsType<List<object>>(names["\\_SB_.DEV0.LIST"]);
        Assert.Equal(1UL, list[0]);
        Assert.Equal("two", list[1]);
        Assert.Equal(0x300UL, list[2]);
        Assert.Equal(new List<object> { 4UL }, list[3]);
    }

    [Fact]
    public void LongBodiesGetMultiBytePkgLengths()
    {
        var devices = Enumerable.Range(0, 40).Select(i => Aml.Device($"D{i:D3}", Aml.Name("_UID", Aml.Integer((ulong)i)))).ToArray();
        var names = AmlReader.Read(Aml.Scope("\\_SB", devices));
        Assert.Equal(39UL, names["\\_SB_.D039._UID"]);
    }

    [Fact]
    public void StringsMustBeAscii() => Assert.Throws<ArgumentException>(() => Aml.String("caf\u00e9"));
}
