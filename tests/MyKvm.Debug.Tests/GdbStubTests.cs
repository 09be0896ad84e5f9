using System.Net.Sockets;
using System.Text;
using MyKvm.Debug.Gdb;
using MyKvm.TestSupport;

namespace MyKvm.Debug.Tests;

/// <summary>A minimal RSP client for driving the stub in tests.</summary>
internal sealed class RspClient : IDisposable
{
    private readonly TcpClient _tcp;
    private readonly NetworkStream _stream;

    public RspClient(int port)
    {
        _tcp = new TcpClient("127.0.0.1", port);
        _stream = _tcp.GetStream();
        _stream.ReadTimeout = 10_000;
    }

    public bool NoAck { get; set; }

    public void SendRaw(string s) => _stream.Write(Encoding.Latin1.GetBytes(s));

    public string Command(string payload)
    {
        SendRaw(RspConnection.Frame(payload));
        if (!NoAck) Assert.Equal('+', ReadByte());
        return ReadPacket();
    }

    public char ReadByte()
    {
        int b = _stream.ReadByte();
        if (b < 0) throw new IOException("connection closed");
        return (char)b;
    }

    public string ReadPacket()
    {
        char c;
        while ((c = ReadByte()) != '$') { }
        var sb = new StringBuilder();
        while ((c = ReadByte()) != '#') sb.Append(c);
        string cs = $"{ReadByte()}{ReadByte()}";
        int sum = sb.ToString().Sum(ch => ch) & 0xFF;
        Assert.Equal(sum.ToString("x2"), cs);
        if (!NoAck) SendRaw("+");
        return RspConnection.Unescape(sb.ToString());
    }

    public void Dispose() => _tcp.Dispose();
}

public class GdbStubTests
{
    [Theory]
    [InlineData("OK", "$OK#9a")]
    [InlineData("a#b", "$a}\u0003b#43")]
    public void FramingEscapesAndChecksums(string payload, string framed)
    {
        Assert.Equal(framed, RspConnection.Frame(payload));
        Assert.Equal(payload, RspConnection.Unescape(framed[1..^3]));
    }

    [Fact]
    public void RunLengthEncodingIsExpanded() => Assert.Equal("0000", RspConnection.Unescape("0* ")); // ' ' = 32: 32 - 29 = 3 more

    [Fact]
    public void ServesRegistersMemoryBreakpointsAndStops()
    {
        using var m = new FakeMachine(VcpuDebuggerTests.Program);
        m.Start();
        using var server = GdbServer.Start("tcp::0", m.Debugger, cmd => $"you said {cmd}");
        using var c = new RspClient(server.Port);
        Assert.Contains("qXfer:features:read+", c.Command("qSupported:multiprocess+;swbreak+;hwbreak+"));
        Assert.Equal("OK", c.Command("QStartNoAckMode"));
        c.NoAck = true;
        Assert.StartsWith("T02", c.Command("?"));
        string xml = c.Command("qXfer:features:read:target.xml:0,fff");
        Assert.StartsWith("l<?xml", xml);
        Assert.Contains("<architecture>i386</architecture>", xml);
        Assert.Contains("org.gnu.gdb.i386.core", xml);

        string regs = c.Command("g");
        var layout = TargetDescription.I386;
        Assert.Equal(layout.Registers.Sum(r => r.Bits / 4), regs.Length);
        Assert.Equal("00001000", regs.Substring(8 * 8, 8)); // eip = 0x100000, little-endian
        Assert.Equal("00001000", c.Command("p8"));

        Assert.Equal("9040a3002000", c.Command("m100000,6"));
        Assert.Equal("E14", c.Command("mfff00000,4"));
        Assert.Equal("OK", c.Command("M3000,2:beef"));
        Assert.Equal(0xEFBEu, m.Ram.Read16(0x3000));
        Assert.Equal("OK", c.Command("X3002,2:#$")); // binary; the framing escapes both
        Assert.Equal((byte)'#', m.Ram.Read8(0x3002));

        Assert.Equal("OK", c.Command("P0=2a000000"));
        Assert.Equal(42UL, m.Debugger.GetRegisters().Rax);

        Assert.Equal("OK", c.Command("Z0,100007,1"));
        Assert.StartsWith("T05swbreak:", c.Command("vCont;c"));
        Assert.Equal("07001000", c.Command("p8"));
        Assert.Equal("OK", c.Command("z0,100007,1"));
        Assert.StartsWith("T05", c.Command("vCont;s:1;c"));
        Assert.Equal("08001000", c.Command("p8"));

        Assert.Equal(Convert.ToHexStringLower(Encoding.UTF8.GetBytes("you said info registers\n")),
            c.Command("qRcmd," + Convert.ToHexStringLower(Encoding.UTF8.GetBytes("info registers"))));

        // Ctrl-C while the guest spins.
        c.SendRaw(RspConnection.Frame("c"));
        Thread.Sleep(100);
        c.SendRaw("\x03");
        Assert.StartsWith("T02", c.ReadPacket());
    }

    [Fact]
    public void WatchpointAndExitAreReported()
    {
        // nop; inc eax; mov [0x2000], eax; hlt
        using var m = new FakeMachine([0x90, 0x40, 0xA3, 0x00, 0x20, 0x00, 0x00, 0xF4]);
        m.Start();
        using var server = GdbServer.Start("tcp::0", m.Debugger);
        using var c = new RspClient(server.Port);
        c.Command("qSupported");
        Assert.Equal("OK", c.Command("Z2,2000,4"));
        Assert.Equal("T05watch:2000;thread:01;", c.Command("c"));
        Assert.Equal("W00", c.Command("c"));
    }

    /// <summary>The real gdb (Debian's) against the stub and the fake CPU: attach, registers, memory, break, step, watch, exit.</summary>
    [Fact]
    public void RealGdbDrivesTheStub()
    {
        if (!TestEnvironment.HasCommand("gdb")) return;
        using var m = new FakeMachine([0x90, 0x40, 0xA3, 0x00, 0x20, 0x00, 0x00, 0x90, 0xF4]);
        m.Start();
        using var server = GdbServer.Start("tcp::0", m.Debugger);
        var r = TestEnvironment.Run("gdb", [
            "-nx", "-batch",
            "-ex", "set confirm off",
            "-ex", $"target remote 127.0.0.1:{server.Port}",
            "-ex", "info registers eip eax",
            "-ex", "x/2xb 0x100000",
            "-ex", "break *0x100002",
            "-ex", "continue",
            "-ex", "print $eax",
            "-ex", "stepi",
            "-ex", "print/x $pc",
            "-ex", "watch *(int*)0x2000",
            "-ex", "set var $eax = 7",
            "-ex", "jump *0x100002",
            "-ex", "print *(int*)0x2000",
            "-ex", "info registers cr0",
            "-ex", "continue",
        ], timeout: TimeSpan.FromSeconds(60));
        string output = r.Stdout + r.Stderr;
        Assert.False(r.TimedOut, output);
        Assert.Matches(@"eip\s+0x100000", output);
        Assert.Contains("0x100000:\t0x90\t0x40", output);
        Assert.Contains("Breakpoint 1, 0x00100002 in ??", output);
        Assert.Contains("$1 = 1", output);
        Assert.Contains("$2 = 0x100007", output);
        Assert.Contains("Hardware watchpoint 2: *(int*)0x2000", output);
        Assert.Contains("New value = 7", output);
        Assert.Contains("$3 = 7", output);
        Assert.Matches(@"cr0\s+0x11", output);
        Assert.Contains("exited normally", output);
    }
}

public class LongModeDescriptionTests
{
    [Fact]
    public void LongModeGetsTheX8664DescriptionAndRealGdbAcceptsIt()
    {
        using var m = new FakeMachine([0x90, 0x90, 0xF4]);
        var s = m.Cpu.GetState();
        s.Efer |= MyKvm.Core.VcpuState.EferLME | MyKvm.Core.VcpuState.EferLMA;
        s.Cr0 |= MyKvm.Core.VcpuState.Cr0PG;
        s.Cr4 |= MyKvm.Core.VcpuState.Cr4PAE;
        s.Cs = MyKvm.Core.SegmentState.Code64(0x08);
        s.R15 = 0x1122_3344_5566_7788;
        m.Cpu.SetState(s);
        // Identity-map the first 2 MiB with a 4-level table so gdb's memory reads work.
        m.Ram.Write64(0x10000, 0x11000 | 3);
        m.Ram.Write64(0x11000, 0x12000 | 3);
        m.Ram.Write64(0x12000, 0x83);
        s.Cr3 = 0x10000;
        m.Cpu.SetState(s);
        var d = TargetDescription.For(s);
        Assert.True(d.Is64);
        Assert.Contains("<architecture>i386:x86-64</architecture>", d.ToXml());
        m.Start();
        using var server = GdbServer.Start("tcp::0", m.Debugger);
        if (!TestEnvironment.HasCommand("gdb")) return;
        var r = TestEnvironment.Run("gdb", [
            "-nx", "-batch", "-ex", $"target remote 127.0.0.1:{server.Port}",
            "-ex", "show architecture", "-ex", "info registers rip r15 cr0 efer", "-ex", "x/2i $pc", "-ex", "stepi", "-ex", "print $pc",
        ], timeout: TimeSpan.FromSeconds(60));
        string output = r.Stdout + r.Stderr;
        Assert.Contains("i386:x86-64", output);
        Assert.Matches(@"rip +0x100000", output);
        Assert.Matches(@"r15 +0x1122334455667788", output);
        Assert.Matches(@"efer +0x500", output);
        Assert.Contains("0x100000:\tnop", output);
        Assert.Contains("$1 = (void (*)()) 0x100001", output);
    }
}
