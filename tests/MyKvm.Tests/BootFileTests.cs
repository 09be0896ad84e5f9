using MyKvm.Boot;
using MyKvm.Machine;

namespace MyKvm.Tests;

public class BootFileTests
{
    [Fact]
    public void ParsesTheCourseFormatWithPathsRelativeToTheFile()
    {
        var f = BootFile.Parse("""
            commandline=init.mode=all
            kernel=/kernel/stos
            initramfs=initramfs.img
            module=modules/8259A.ko
            module=modules/cpuvar.ko
            """, "stos.boot", "/work/course");
        Assert.Equal("init.mode=all", f.CommandLine);
        Assert.Equal("/kernel/stos", f.Kernel);
        Assert.Equal("/work/course/initramfs.img", f.Initramfs);
        Assert.Equal(["/work/course/modules/8259A.ko", "/work/course/modules/cpuvar.ko"], f.Modules);
        Assert.Equal(BootProtocol.Stos, f.Protocol);
    }

    [Fact]
    public void AcceptsMykvmKeysCommentsAndCrlf()
    {
        var f = BootFile.Parse("# a comment\r\n; another\r\n\r\nkernel=k\r\nprotocol=multiboot\r\nmemory=1G\r\naccel=auto\r\nserial=file:out.log\r\ntimeout=2.5\r\nexpect=PASS\r\nrtc=2024-01-31T12:00:00\r\n",
            "x.boot", "/d");
        Assert.Equal(BootProtocol.Multiboot, f.Protocol);
        Assert.Equal(1024, f.MemoryMiB);
        Assert.Equal(Accelerator.Auto, f.Accel);
        Assert.Equal(SerialKind.File, f.Serial!.Kind);
        Assert.Equal(2.5, f.TimeoutSeconds);
        Assert.Equal("PASS", f.Expect);
        Assert.Equal(new DateTime(2024, 1, 31, 12, 0, 0, DateTimeKind.Utc), f.Rtc);
    }

    [Theory]
    [InlineData("kernel=", "needs a path")]
    [InlineData("protocol=uefi", "protocol")]
    [InlineData("memory=1", "too little")]
    [InlineData("timeout=soon", "timeout")]
    public void RejectsBadValues(string line, string fragment)
    {
        var e = Assert.Throws<ConfigException>(() => BootFile.Parse(line, "b.boot", "/"));
        Assert.Contains("b.boot:1", e.Message);
        Assert.Contains(fragment, e.Message);
    }
}
