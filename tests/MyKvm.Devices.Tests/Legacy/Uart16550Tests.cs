using MyKvm.Devices.Legacy;

namespace MyKvm.Devices.Tests.Legacy;

public class Uart16550Tests
{
    private const ushort Base = 0x3F8;
    private readonly RecordingIrqLine _irq = new();
    private readonly List<byte> _out = [];

    private Uart16550 NewUart(TestTime? time = null) => new(_irq, _out.Add, time?.Timers);

    private static byte In(Uart16550 u, int reg) => (byte)u.PortRead((ushort)(Base + reg), 1);
    private static void Out(Uart16550 u, int reg, int value) => u.PortWrite((ushort)(Base + reg), 1, (uint)value);

    [Fact]
    public void ResetStateMatchesTheDatasheet()
    {
        var u = NewUart();
        Assert.Equal(0x00, In(u, 1));          // IER
        Assert.Equal(0x01, In(u, 2));          // IIR: no interrupt, FIFOs off
        Assert.Equal(0x00, In(u, 3));          // LCR
        Assert.Equal(0x00, In(u, 4));          // MCR
        Assert.Equal(0x60, In(u, 5));          // LSR: THRE | TEMT
        Assert.Equal(0xB0, In(u, 6));          // MSR: DCD, DSR, CTS from the host side
        Assert.False(_irq.Level);
    }

    [Fact]
    public void TransmitGoesToOutputAtOnce()
    {
        var u = NewUart();
        foreach (char c in "hi\n") Out(u, 0, c);
        Assert.Equal("hi\n"u8.ToArray(), _out);
        Assert.Equal(0x60, In(u, 5) & 0x60);
    }

    [Fact]
    public void DivisorLatchSharesOffsetsZeroAndOne()
    {
        var u = NewUart();
        Out(u, 1, 0x05);            // IER
        Out(u, 3, 0x83);            // DLAB, 8N1
        Out(u, 0, 0x0C);
        Out(u, 1, 0x00);
        Assert.Equal(0x0C, In(u, 0));
        Assert.Equal(0x00, In(u, 1));
        Assert.Equal(9600, u.BaudRate);
        Out(u, 3, 0x03);
        Assert.Equal(0x05, In(u, 1));   // IER kept its value
        Assert.Empty(_out);             // the divisor writes did not transmit
    }

    [Fact]
    public void ScratchAndIerUpperBits()
    {
        var u = NewUart();
        Out(u, 7, 0xA5);
        Assert.Equal(0xA5, In(u, 7));
        Out(u, 1, 0xFF);
        Assert.Equal(0x0F, In(u, 1));   // only 4 IER bits exist on a 16550
    }

    [Fact]
    public void ReceiveWithoutFifoHoldsOneByteAndKeepsTheRestQueued()
    {
        var u = NewUart();
        u.ReceiveInput("abc"u8);
        Assert.Equal(2, u.PendingInput);
        Assert.Equal(0x61, In(u, 5));
        Assert.Equal((byte)'a', In(u, 0));
        Assert.Equal((byte)'b', In(u, 0));
        Assert.Equal((byte)'c', In(u, 0));
        Assert.Equal(0x60, In(u, 5));   // no DR, no overrun: host input never overruns
        Assert.Equal((byte)'c', In(u, 0));   // reading an empty RBR returns the last byte
    }

    [Fact]
    public void RxDataInterruptWithoutFifo()
    {
        var u = NewUart();
        Out(u, 1, Uart16550.IerRxData);
        Assert.False(_irq.Level);
        u.ReceiveInput("x"u8);
        Assert.True(_irq.Level);
        Assert.Equal(0x04, In(u, 2));
        Assert.Equal((byte)'x', In(u, 0));
        Assert.False(_irq.Level);
        Assert.Equal(0x01, In(u, 2));
    }

    [Fact]
    public void FifoTriggerLevelGatesRxDataInterrupt()
    {
        var time = new TestTime();
        var u = NewUart(time);
        Out(u, 2, 0x81);                  // FIFO on, trigger 8
        Out(u, 1, Uart16550.IerRxData);
        Assert.Equal(0xC1, In(u, 2));
        long charNs = u.CharacterTimeNs();
        u.ReceiveInput("12345678"u8);
        time.Advance(7 * charNs - 1);
        Assert.False(_irq.Level);          // 7 < 8 and no timeout yet
        time.Advance(charNs);
        Assert.True(_irq.Level);
        Assert.Equal(0xC4, In(u, 2));
        In(u, 0);                          // 7 left: below the trigger level
        Assert.False(_irq.Level);
    }

    [Fact]
    public void CharacterTimeoutFiresAfterFourCharacterTimes()
    {
        var time = new TestTime();
        var u = NewUart(time);
        Out(u, 3, 0x80); Out(u, 0, 1); Out(u, 1, 0); Out(u, 3, 0x03);   // 115200 8N1: 10 bits a character
        Out(u, 2, 0xC1);                  // FIFO on, trigger 14
        Out(u, 1, Uart16550.IerRxData);
        long charNs = 10L * 16 * 1_000_000_000 / Uart16550.InputClockHz;
        Assert.Equal(charNs, u.CharacterTimeNs());
        u.ReceiveInput("ab"u8);
        time.Advance(charNs);              // 'b' arrives a character time after 'a'
        Assert.False(_irq.Level);
        time.Advance(4 * charNs - 100);
        Assert.False(_irq.Level);
        time.Advance(200);
        Assert.True(_irq.Level);
        Assert.Equal(0xCC, In(u, 2));     // character timeout
        Assert.Equal((byte)'a', In(u, 0));
        Assert.False(_irq.Level);          // the read cleared the timeout and restarted it
        time.Advance(4 * charNs + 100);
        Assert.True(_irq.Level);
        Assert.Equal((byte)'b', In(u, 0));
        time.Advance(10 * charNs);
        Assert.False(_irq.Level);          // FIFO empty: no more timeouts
    }

    [Fact]
    public void HostInputArrivesAtTheBaudRate()
    {
        var time = new TestTime();
        var u = NewUart(time);
        Out(u, 3, 0x80); Out(u, 0, 12); Out(u, 1, 0); Out(u, 3, 0x03);   // 9600 8N1
        long charNs = u.CharacterTimeNs();
        Assert.InRange(charNs, 1_040_000, 1_042_000);
        u.ReceiveInput("xyz"u8);
        time.Advance(0);
        Assert.Equal(1, In(u, 5) & 1);     // the first byte needs no wait
        Assert.Equal((byte)'x', In(u, 0));
        Assert.Equal(0, In(u, 5) & 1);     // the second is still on the line
        time.Advance(charNs);
        Assert.Equal((byte)'y', In(u, 0));
        time.Advance(charNs);
        Assert.Equal((byte)'z', In(u, 0));
        Assert.Equal(0, u.PendingInput);
    }

    [Fact]
    public void PacedInputWaitsForRoomInsteadOfOverrunning()
    {
        var time = new TestTime();
        var u = NewUart(time);              // 16450 mode: a one-byte receiver
        u.ReceiveInput("pq"u8);
        time.Advance(10 * u.CharacterTimeNs());
        Assert.Equal(0, In(u, 5) & Uart16550.LsrOverrun);
        Assert.Equal((byte)'p', In(u, 0));
        time.Advance(u.CharacterTimeNs());
        Assert.Equal((byte)'q', In(u, 0));
    }

    [Fact]
    public void WithoutTimersTheTimeoutIsImmediate()
    {
        var u = NewUart();
        Out(u, 2, 0xC7);
        Out(u, 1, Uart16550.IerRxData);
        u.ReceiveInput("z"u8);
        Assert.True(_irq.Level);
        Assert.Equal(0xCC, In(u, 2));
    }

    [Fact]
    public void FifoHoldsSixteenAndRefillsFromHostQueue()
    {
        var u = NewUart();
        Out(u, 2, 0x07);
        var data = Enumerable.Range(0, 40).Select(i => (byte)i).ToArray();
        u.ReceiveInput(data);
        Assert.Equal(24, u.PendingInput);
        var got = new List<byte>();
        while ((In(u, 5) & 1) != 0) got.Add(In(u, 0));
        Assert.Equal(data, got);
        Assert.Equal(0, In(u, 5) & Uart16550.LsrOverrun);
    }

    [Fact]
    public void FcrClearsReceiveFifoAndEnableToggleClearsToo()
    {
        var u = NewUart();
        Out(u, 2, 0x01);
        Out(u, 4, Uart16550.McrLoop);      // loopback: nothing refills from the host
        Out(u, 0, 'a'); Out(u, 0, 'b');
        Assert.Equal(1, In(u, 5) & 1);
        Out(u, 2, 0x03);                   // clear RX
        Assert.Equal(0, In(u, 5) & 1);
        Out(u, 0, 'c');
        Out(u, 2, 0x00);                   // FIFO off: cleared as well
        Assert.Equal(0, In(u, 5) & 1);
        Assert.Equal(0x01, In(u, 2));
    }

    [Fact]
    public void EnablingThrInterruptWithEmptyThrInterruptsAndIirReadClearsIt()
    {
        var u = NewUart();
        Out(u, 1, Uart16550.IerThrEmpty);
        Assert.True(_irq.Level);
        Assert.Equal(0x02, In(u, 2));
        Assert.False(_irq.Level);
        Assert.Equal(0x01, In(u, 2));      // read once: gone
        // Linux's UART_BUG_THRE probe: IER=0 then IER=THRI again must re-raise it.
        Out(u, 1, 0);
        Out(u, 1, Uart16550.IerThrEmpty);
        Assert.Equal(0x02, In(u, 2));
    }

    [Fact]
    public void ThrWriteClearsThenReRaisesThreWithAFreshEdge()
    {
        var u = NewUart();
        Out(u, 1, Uart16550.IerThrEmpty);
        int edges = _irq.RisingEdges;
        Out(u, 0, 'x');
        Assert.Equal("x"u8.ToArray(), _out);
        Assert.True(_irq.Level);
        Assert.Equal(edges + 1, _irq.RisingEdges);   // the line dropped during the write and rose again
        Out(u, 1, 0);
        Assert.False(_irq.Level);
    }

    [Fact]
    public void InterruptPriorities()
    {
        var u = NewUart();
        Out(u, 4, Uart16550.McrLoop);
        Out(u, 1, 0x0F);
        // Pending now: THRE (ETBEI just enabled) and modem status (entering loopback dropped CTS/DSR/DCD).
        Assert.Equal(0x02, In(u, 2) & 0x0F);   // THRE beats modem status
        Assert.Equal(0x00, In(u, 2) & 0x0F);   // THRE cleared by that read: modem status now
        In(u, 6);
        Assert.Equal(0x01, In(u, 2) & 0x0F);
        Out(u, 0, 'q');                          // loopback: received, and THRE again
        Assert.Equal(0x04, In(u, 2) & 0x0F);    // received data beats THRE
        Out(u, 0, 'r');                          // 16450 mode: overrun
        Assert.Equal(0x06, In(u, 2) & 0x0F);    // line status beats everything
        byte lsr = In(u, 5);
        Assert.Equal(Uart16550.LsrOverrun, lsr & Uart16550.LsrOverrun);
        Assert.Equal(0, In(u, 5) & Uart16550.LsrOverrun);   // cleared by the read
        Assert.Equal(0x04, In(u, 2) & 0x0F);
        Assert.Equal((byte)'r', In(u, 0));      // 16450 overrun overwrote the holding register
        Assert.Equal(0x02, In(u, 2) & 0x0F);
        Assert.Equal(0x01, In(u, 2) & 0x0F);
        Assert.Empty(_out);                      // loopback never reaches the host
    }

    [Fact]
    public void FifoOverrunDropsTheNewCharacter()
    {
        var u = NewUart();
        Out(u, 2, 0x01);
        Out(u, 4, Uart16550.McrLoop);
        for (int i = 0; i < 17; i++) Out(u, 0, 'A' + i);
        Assert.Equal(Uart16550.LsrOverrun, In(u, 5) & Uart16550.LsrOverrun);
        var got = new List<byte>();
        while ((In(u, 5) & 1) != 0) got.Add(In(u, 0));
        Assert.Equal(16, got.Count);
        Assert.Equal((byte)'P', got[^1]);
    }

    [Fact]
    public void LoopbackWiresModemControlToModemStatus()
    {
        var u = NewUart();
        // Linux's autoconfig check: MCR = LOOP | OUT2 | RTS must read back MSR upper nibble 0x90.
        Out(u, 4, Uart16550.McrLoop | 0x0A);
        Assert.Equal(0x90, In(u, 6) & 0xF0);
        Out(u, 4, Uart16550.McrLoop | Uart16550.McrDtr | Uart16550.McrOut1);
        byte msr = In(u, 6);
        Assert.Equal(Uart16550.MsrDsr | Uart16550.MsrRi, msr & 0xF0);
        Assert.Equal(Uart16550.MsrDeltaCts | Uart16550.MsrDeltaDsr | Uart16550.MsrDeltaDcd, msr & 0x0F);
        Assert.Equal(0, In(u, 6) & 0x0F);        // deltas clear on read
        Out(u, 4, Uart16550.McrLoop);             // OUT1 (RI) goes inactive: trailing edge
        Assert.Equal(Uart16550.MsrTrailingRi | Uart16550.MsrDeltaDsr, In(u, 6) & 0x0F);
        Out(u, 4, 0);
        Assert.Equal(0xB0, In(u, 6) & 0xF0);
    }

    [Fact]
    public void ModemStatusInterrupt()
    {
        var u = NewUart();
        Out(u, 1, Uart16550.IerModemStatus);
        Assert.False(_irq.Level);
        Out(u, 4, Uart16550.McrLoop | Uart16550.McrRts);
        Assert.True(_irq.Level);
        Assert.Equal(0x00, In(u, 2));
        In(u, 6);
        Assert.False(_irq.Level);
    }

    [Fact]
    public void HostInputWaitsDuringLoopback()
    {
        var u = NewUart();
        Out(u, 4, Uart16550.McrLoop);
        u.ReceiveInput("h"u8);
        Assert.Equal(0, In(u, 5) & 1);
        Out(u, 4, 0);
        Assert.Equal(1, In(u, 5) & 1);
        Assert.Equal((byte)'h', In(u, 0));
    }

    [Fact]
    public void BreakInLoopbackAndFromHost()
    {
        var u = NewUart();
        Out(u, 1, Uart16550.IerLineStatus);
        Out(u, 4, Uart16550.McrLoop);
        Out(u, 3, 0x43);                         // set break
        Assert.True(_irq.Level);
        Assert.Equal(0x06, In(u, 2));
        byte lsr = In(u, 5);
        Assert.Equal(Uart16550.LsrBreak | Uart16550.LsrFraming | Uart16550.LsrDataReady,
            lsr & (Uart16550.LsrBreak | Uart16550.LsrFraming | Uart16550.LsrDataReady));
        Assert.False(_irq.Level);
        Assert.Equal(0, In(u, 0));
        Out(u, 3, 0x03);
        Out(u, 4, 0);
        u.ReceiveBreak();
        Assert.Equal(Uart16550.LsrBreak, In(u, 5) & Uart16550.LsrBreak);
    }

    [Fact]
    public void FifoErrorBitReportsErrorsDeeperInTheFifo()
    {
        var u = NewUart();
        Out(u, 2, 0x01);
        u.ReceiveInput("a"u8);
        u.ReceiveBreak();
        byte lsr = In(u, 5);
        Assert.Equal(Uart16550.LsrFifoError, lsr & Uart16550.LsrFifoError);
        Assert.Equal(0, lsr & Uart16550.LsrBreak);   // the top character is fine
        Assert.Equal((byte)'a', In(u, 0));
        Assert.Equal(Uart16550.LsrBreak, In(u, 5) & Uart16550.LsrBreak);   // now at the top
        Assert.Equal(0, In(u, 5) & (Uart16550.LsrBreak | Uart16550.LsrFifoError));
    }

    [Fact]
    public void PortIndexUsesLowThreeBits()
    {
        var u = NewUart();
        u.PortWrite(0x2FF, 1, 0x5A);   // COM2's scratch register with the same device
        Assert.Equal(0x5Au, u.PortRead(0x2FF, 1));
        Assert.Equal(0x5Au, u.PortRead(0x3FF, 1));
    }
}
