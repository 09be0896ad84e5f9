using System.Text;
using MyKvm.Machine;

namespace MyKvm.Tests;

public class SerialSinkTests
{
    [Theory]
    [InlineData("hello world", "world", true)]
    [InlineData("aaab", "aab", true)]          // a mismatch must not skip a possible start
    [InlineData("abababc", "ababc", true)]
    [InlineData("ababab", "ababc", false)]
    public void ExpectMatchesAcrossPartialPrefixes(string output, string expect, bool match)
    {
        using var sink = new SerialSink(null, false, expect);
        int fired = 0;
        sink.ExpectMatched += () => fired++;
        foreach (var b in Encoding.ASCII.GetBytes(output)) sink.Write(b);
        Assert.Equal(match, sink.ExpectSeen);
        Assert.Equal(match ? 1 : 0, fired);
        Assert.Equal(output, sink.Captured);
    }

    [Fact]
    public void FlushWritesBufferedOutputToTheTarget()
    {
        var target = new MemoryStream();
        using var sink = new SerialSink(target, false, null);
        foreach (var b in "abc"u8) sink.Write(b);
        Assert.Equal(0, target.Length);
        sink.Flush();
        Assert.Equal("abc", Encoding.ASCII.GetString(target.ToArray()));
    }
}
