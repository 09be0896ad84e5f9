using MyKvm.Core;
using MyKvm.Devices.Legacy;

namespace MyKvm.Devices.Tests.Legacy;

public class Pic8259PairTests
{
    private readonly CpuSignals _signals = new();
    private readonly Pic8259Pair _pic;

    public Pic8259PairTests() => _pic = new Pic8259Pair(_signals);

    private bool Intr => (_signals.Flags & CpuSignals.Intr) != 0;
    private void Out(ushort port, int value) => _pic.PortWrite(port, 1, (uint)value);
    private byte In(ushort port) => (byte)_pic.PortRead(port, 1);

    /// <summary>The Linux/xv6 initialisation: vectors 0x20/0x28, cascade on IR2, 8086 mode, all unmasked.</summary>
    private void InitStandard(int icw4 = 0x01, int masterMask = 0, int slaveMask = 0)
    {
        Out(0x20, 0x11); Out(0x21, 0x20); Out(0x21, 0x04); Out(0x21, icw4);
        Out(0xA0, 0x11); Out(0xA1, 0x28); Out(0xA1, 0x02); Out(0xA1, icw4);
        Out(0x21, masterMask);
        Out(0xA1, slaveMask);
    }

    private void Eoi(bool slave = false)
    {
        if (slave) Out(0xA0, 0x20);
        Out(0x20, 0x20);
    }

    [Fact]
    public void EdgeTriggeredRequestIsDeliveredWithItsVector()
    {
        InitStandard();
        Assert.False(Intr);
        _pic.GetIrqLine(1).Pulse();
        Assert.True(Intr);
        Assert.True(_pic.InterruptPending);
        Assert.Equal(0x02, _pic.MasterIrr);
        Assert.Equal(0x21, _pic.Acknowledge());
        Assert.False(Intr);
        Assert.Equal(0x00, _pic.MasterIrr);
        Assert.Equal(0x02, _pic.MasterIsr);
        Eoi();
        Assert.Equal(0x00, _pic.MasterIsr);
    }

    [Fact]
    public void HeldHighEdgeLineRequestsOnlyOnce()
    {
        InitStandard();
        var line = _pic.GetIrqLine(3);
        line.Set(true);
        Assert.Equal(0x23, _pic.Acknowledge());
        Eoi();
        line.Set(true);     // still high: no new edge
        Assert.False(Intr);
        line.Set(false);
        line.Set(true);
        Assert.True(Intr);
    }

    [Fact]
    public void SlaveInterruptsCascadeThroughIr2()
    {
        InitStandard();
        _pic.GetIrqLine(12).Pulse();
        Assert.True(Intr);
        Assert.Equal(0x04, _pic.MasterIrr);
        Assert.Equal(0x2C, _pic.Acknowledge());
        Assert.Equal(0x10, _pic.SlaveIsr);
        Assert.Equal(0x04, _pic.MasterIsr);
        Eoi(slave: true);
        Assert.Equal(0, _pic.SlaveIsr);
        Assert.Equal(0, _pic.MasterIsr);
    }

    [Fact]
    public void Irq2PinIsRedirectedToIrq9()
    {
        InitStandard();
        _pic.GetIrqLine(2).Pulse();
        Assert.Equal(0x29, _pic.Acknowledge());
    }

    [Fact]
    public void MaskedRequestStaysInIrrUntilUnmasked()
    {
        InitStandard(masterMask: 0x01);
        _pic.GetIrqLine(0).Pulse();
        Assert.False(Intr);
        Assert.Equal(0x01, In(0x20));       // IRR is the default read
        Assert.Equal(0x01, In(0x21));       // IMR
        Out(0x21, 0x00);
        Assert.True(Intr);
        Assert.Equal(0x20, _pic.Acknowledge());
    }

    [Fact]
    public void FullyNestedPriorityBlocksLowerAndAdmitsHigher()
    {
        InitStandard();
        _pic.GetIrqLine(4).Pulse();
        Assert.Equal(0x24, _pic.Acknowledge());
        _pic.GetIrqLine(5).Pulse();
        Assert.False(Intr);                 // lower than IR4 in service
        _pic.GetIrqLine(1).Pulse();
        Assert.True(Intr);                  // higher: nests
        Assert.Equal(0x21, _pic.Acknowledge());
        Assert.Equal(0x12, _pic.MasterIsr);
        Eoi();                              // non-specific EOI ends the highest: IR1
        Assert.Equal(0x10, _pic.MasterIsr);
        Assert.False(Intr);
        Eoi();
        Assert.True(Intr);
        Assert.Equal(0x25, _pic.Acknowledge());
    }

    [Fact]
    public void IsrReadThroughOcw3()
    {
        InitStandard();
        _pic.GetIrqLine(6).Pulse();
        _pic.Acknowledge();
        Out(0x20, 0x0B);                    // OCW3: read ISR
        Assert.Equal(0x40, In(0x20));
        Out(0x20, 0x0A);                    // OCW3: read IRR
        Assert.Equal(0x00, In(0x20));
    }

    [Fact]
    public void SpuriousIrq7WhenLevelRequestWithdrawnBeforeAcknowledge()
    {
        InitStandard();
        Out(0x4D0, 0x20);                   // IRQ 5 level-triggered
        var line = _pic.GetIrqLine(5);
        line.Set(true);
        Assert.True(Intr);
        line.Set(false);
        Assert.False(Intr);
        Assert.Equal(0x27, _pic.Acknowledge());   // the CPU had already seen INTR
        Assert.Equal(0, _pic.MasterIsr);          // spurious: nothing in service
    }

    [Fact]
    public void SpuriousIrq15LeavesIr2InServiceOnTheMaster()
    {
        InitStandard();
        Out(0x4D1, 0x02);                   // IRQ 9 level-triggered
        var line = _pic.GetIrqLine(9);
        line.Set(true);
        Assert.True(Intr);
        line.Set(false);                    // master IR2 already latched the edge
        Assert.Equal(0x2F, _pic.Acknowledge());
        Assert.Equal(0x04, _pic.MasterIsr);
        Assert.Equal(0x00, _pic.SlaveIsr);
    }

    [Fact]
    public void LevelTriggeredRequestReassertsAfterEoiWhileHigh()
    {
        InitStandard();
        Out(0x4D1, 0x08);                   // IRQ 11 level
        Assert.Equal(0x08, In(0x4D1));
        var line = _pic.GetIrqLine(11);
        line.Set(true);
        Assert.Equal(0x2B, _pic.Acknowledge());
        Eoi(slave: true);
        Assert.True(Intr);                  // still high: requests again
        Assert.Equal(0x2B, _pic.Acknowledge());
        line.Set(false);
        Eoi(slave: true);
        Assert.False(Intr);
    }

    [Fact]
    public void ElcrReservedBitsReadAsZero()
    {
        Out(0x4D0, 0xFF);
        Out(0x4D1, 0xFF);
        Assert.Equal(0xF8, In(0x4D0));
        Assert.Equal(0xDE, In(0x4D1));
    }

    [Fact]
    public void Icw1LevelTriggerModeAppliesToAllInputs()
    {
        Out(0x20, 0x19); Out(0x21, 0x40); Out(0x21, 0x04); Out(0x21, 0x01);
        Out(0xA0, 0x11); Out(0xA1, 0x48); Out(0xA1, 0x02); Out(0xA1, 0x01);
        Out(0x21, 0); Out(0xA1, 0);
        var line = _pic.GetIrqLine(0);
        line.Set(true);
        Assert.Equal(0x40, _pic.Acknowledge());
        Eoi();
        Assert.True(Intr);
        line.Set(false);
        Assert.False(Intr);
    }

    [Fact]
    public void AutoEoiLeavesIsrClear()
    {
        InitStandard(icw4: 0x03);
        _pic.GetIrqLine(1).Pulse();
        Assert.Equal(0x21, _pic.Acknowledge());
        Assert.Equal(0, _pic.MasterIsr);
        _pic.GetIrqLine(3).Pulse();
        Assert.True(Intr);                  // nothing in service blocks it
    }

    [Fact]
    public void RotateInAutoEoiModeMakesServicedLevelLowest()
    {
        InitStandard(icw4: 0x03);
        Out(0x20, 0x80);                    // OCW2: rotate in AEOI mode (set)
        _pic.GetIrqLine(1).Pulse();
        Assert.Equal(0x21, _pic.Acknowledge());
        _pic.GetIrqLine(1).Pulse();
        _pic.GetIrqLine(6).Pulse();
        Assert.Equal(0x26, _pic.Acknowledge());   // IR1 is now lowest priority
        Assert.Equal(0x21, _pic.Acknowledge());
    }

    [Fact]
    public void RotateOnNonSpecificEoi()
    {
        InitStandard();
        _pic.GetIrqLine(0).Pulse();
        Assert.Equal(0x20, _pic.Acknowledge());
        Out(0x20, 0xA0);                    // rotate on non-specific EOI: IR0 becomes lowest
        Assert.Equal(0, _pic.MasterIsr);
        _pic.GetIrqLine(0).Pulse();
        _pic.GetIrqLine(7).Pulse();
        Assert.Equal(0x27, _pic.Acknowledge());
    }

    [Fact]
    public void SetPriorityAndSpecificEoi()
    {
        InitStandard();
        Out(0x20, 0xC4);                    // set priority: IR4 lowest, so IR5 highest
        _pic.GetIrqLine(3).Pulse();
        _pic.GetIrqLine(5).Pulse();
        Assert.Equal(0x25, _pic.Acknowledge());
        Assert.False(Intr);                 // IR3 ranks below IR5 now
        Out(0x20, 0x65);                    // specific EOI for IR5
        Assert.Equal(0x23, _pic.Acknowledge());
        Out(0x20, 0xE3);                    // rotate on specific EOI IR3
        Assert.Equal(0, _pic.MasterIsr);
        _pic.GetIrqLine(3).Pulse();
        _pic.GetIrqLine(4).Pulse();
        Assert.Equal(0x24, _pic.Acknowledge());
    }

    [Fact]
    public void SpecialMaskModeLetsLowerLevelsInterrupt()
    {
        InitStandard();
        _pic.GetIrqLine(2 + 1).Pulse();
        Assert.Equal(0x23, _pic.Acknowledge());
        _pic.GetIrqLine(6).Pulse();
        Assert.False(Intr);
        Out(0x21, 0x08);                    // mask IR3 (in service)
        Out(0x20, 0x68);                    // OCW3: set special mask mode
        Assert.True(Intr);
        Assert.Equal(0x26, _pic.Acknowledge());
        Out(0x20, 0x48);                    // reset special mask mode
        Assert.Equal(0x48, _pic.MasterIsr);
    }

    [Fact]
    public void PollCommandAcknowledgesOnRead()
    {
        InitStandard();
        _pic.GetIrqLine(5).Pulse();
        Out(0x20, 0x0C);                    // OCW3 poll
        Assert.Equal(0x85, In(0x20));
        Assert.Equal(0x20, _pic.MasterIsr);
        Assert.Equal(0, _pic.MasterIrr);
        Out(0x20, 0x0C);
        Assert.Equal(0x00, In(0x20));       // no request
        Assert.Equal(0x00, In(0x21));       // back to normal reads: IMR
    }

    [Fact]
    public void SpecialFullyNestedModeAdmitsFurtherSlaveRequests()
    {
        InitStandard(icw4: 0x11);
        _pic.GetIrqLine(14).Pulse();
        Assert.Equal(0x2E, _pic.Acknowledge());
        _pic.GetIrqLine(10).Pulse();        // higher on the slave, while IR2 is in service on the master
        Assert.True(Intr);
        Assert.Equal(0x2A, _pic.Acknowledge());
    }

    [Fact]
    public void WithoutSfnmSlaveRequestsWaitForMasterEoi()
    {
        InitStandard();
        _pic.GetIrqLine(14).Pulse();
        Assert.Equal(0x2E, _pic.Acknowledge());
        _pic.GetIrqLine(10).Pulse();
        Assert.False(Intr);
        Eoi(slave: true);
        Assert.True(Intr);
        Assert.Equal(0x2A, _pic.Acknowledge());
    }

    [Fact]
    public void Icw1ResetsMaskAndIsrAndNeedsAFreshEdge()
    {
        InitStandard(masterMask: 0xFF);
        var line = _pic.GetIrqLine(4);
        line.Set(true);
        Out(0x21, 0x00);
        _pic.Acknowledge();
        InitStandard();
        Assert.Equal(0, _pic.MasterIsr);
        Assert.Equal(0, _pic.MasterImr);
        Assert.False(Intr);                 // line still high, but no new edge
        line.Set(false);
        line.Set(true);
        Assert.Equal(0x24, _pic.Acknowledge());
    }

    [Fact]
    public void NoInterruptWhileInitialising()
    {
        InitStandard();
        Out(0x20, 0x11);
        _pic.GetIrqLine(1).Pulse();
        Assert.False(Intr);
        Out(0x21, 0x30); Out(0x21, 0x04); Out(0x21, 0x01);
        Assert.True(Intr);
        Assert.Equal(0x31, _pic.Acknowledge());
    }

    [Fact]
    public void SingleModeWithoutIcw4()
    {
        Out(0x20, 0x12);                    // single, no ICW4
        Out(0x21, 0x50);                    // ICW2; no ICW3
        Out(0x21, 0xFD);                    // OCW1 already
        Assert.Equal(0xFD, _pic.MasterImr);
        _pic.GetIrqLine(1).Pulse();
        Assert.Equal(0x51, _pic.Acknowledge());
    }

    [Fact]
    public void OutputChangedReportsBothEdges()
    {
        var levels = new List<bool>();
        _pic.OutputChanged += levels.Add;
        InitStandard();
        _pic.GetIrqLine(3).Pulse();
        _pic.GetIrqLine(4).Pulse();         // already high: no event
        _pic.Acknowledge();                 // IR3 in service blocks IR4
        Eoi();
        Assert.Equal(new[] { true, false, true }, levels);
    }

    [Fact]
    public void WithoutASlaveOnIr2TheMasterAnswersIr2Itself()
    {
        Out(0x20, 0x11); Out(0x21, 0x60); Out(0x21, 0x00); Out(0x21, 0x01);   // ICW3: no slave anywhere
        Out(0x21, 0x00);
        _pic.GetIrqLine(10).Pulse();         // the slave (not initialised) still drives IR2
        Out(0xA0, 0x11); Out(0xA1, 0x28); Out(0xA1, 0x02); Out(0xA1, 0x01); Out(0xA1, 0x00);
        _pic.GetIrqLine(10).Pulse();
        Assert.True(Intr);
        Assert.Equal(0x62, _pic.Acknowledge());
        Assert.Equal(0x04, _pic.SlaveIrr);   // the slave's request was never acknowledged
    }

    [Fact]
    public void KickedWhenIntrRises()
    {
        int kicks = 0;
        _signals.Kick = () => kicks++;
        InitStandard();
        _pic.GetIrqLine(0).Pulse();
        Assert.Equal(1, kicks);
        _pic.GetIrqLine(1).Pulse();         // INTR already up
        Assert.Equal(1, kicks);
    }
}
