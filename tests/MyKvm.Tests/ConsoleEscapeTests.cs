using MyKvm.Machine;

namespace MyKvm.Tests;

public class ConsoleEscapeTests
{
    [Fact]
    public void CtrlAxQuitsAndCtrlACtrlASendsCtrlA()
    {
        int quits = 0;
        string said = "";
        var escape = new ConsoleEscape(() => quits++, s => said += s);
        Assert.Equal("ab"u8.ToArray(), escape.Filter("ab"u8));
        Assert.Equal(new byte[] { 0x01, (byte)'c' }, escape.Filter(new byte[] { 0x01, 0x01, (byte)'c' }));
        Assert.Equal(0, quits);
        // the escape may be split across reads
        Assert.Empty(escape.Filter(new byte[] { 0x01 }));
        Assert.Empty(escape.Filter("h"u8));
        Assert.Contains("Ctrl-A x", said);
        Assert.Equal("z"u8.ToArray(), escape.Filter(new byte[] { 0x01, (byte)'x', (byte)'z' }));
        Assert.Equal(1, quits);
    }
}
