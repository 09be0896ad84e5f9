namespace MyKvm.Kvm.Tests;

/// <summary>The kick and slice-timer plumbing, without a vCPU (it works the same on hosts without KVM).</summary>
public class VcpuThreadSignalTests
{
    private static T OnFreshThread<T>(Func<T> body)
    {
        T result = default!;
        Exception? failure = null;
        var t = new Thread(() =>
        {
            try { result = body(); }
            catch (Exception e) { failure = e; }
        });
        t.Start();
        t.Join();
        if (failure is not null) throw new Xunit.Sdk.XunitException(failure.ToString());
        return result;
    }

    [Fact]
    public void TheSliceTimerLeavesTheSignalPendingOnTheVcpuThread()
    {
        int pending = OnFreshThread(() =>
        {
            using var signal = new VcpuThreadSignal();
            signal.Enter(-1);
            signal.ArmSlice(1_000_000); // 1 ms
            Thread.Sleep(50);
            int n = signal.Drain();
            signal.Leave();
            return n;
        });
        Assert.Equal(1, pending);
    }

    [Fact]
    public void LeaveDisarmsTheTimerAndDrains()
    {
        int pending = OnFreshThread(() =>
        {
            using var signal = new VcpuThreadSignal();
            signal.Enter(-1);
            signal.ArmSlice(20_000_000); // 20 ms
            signal.Leave();
            Thread.Sleep(60);
            return signal.Drain();
        });
        Assert.Equal(0, pending);
    }

    [Fact]
    public void AKickFromAnotherThreadReachesOnlyARunningVcpuThread()
    {
        var (whileRunning, afterLeave) = OnFreshThread(() =>
        {
            using var signal = new VcpuThreadSignal();
            signal.Enter(-1);
            var kicker = new Thread(signal.Kick);
            kicker.Start();
            kicker.Join();
            int n = signal.Drain();
            signal.Leave();
            kicker = new Thread(signal.Kick);
            kicker.Start();
            kicker.Join();
            return (n, signal.Drain());
        });
        Assert.Equal(1, whileRunning);
        Assert.Equal(0, afterLeave);
    }
}
