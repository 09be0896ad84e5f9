using System.Text;
using MyKvm.Boot;
using MyKvm.Machine;
using MyKvm.TestSupport;

namespace MyKvm.Tests.Terminal;

/// <summary>
/// dev-kbd on the whole machine (software CPU) with <c>--display term</c>: host bytes become PS/2 key presses through
/// the terminal key decoder, the i8042 and IRQ 1, and the guest's echo on the VGA screen is in the picture left at
/// the end. In-process, with the terminal output captured and the keys typed once the terminal shows the prompt.
/// </summary>
public class TermDisplayRunTests
{
    /// <summary>The terminal: what mykvm draws, kept, and watched for a text (drawn on the vCPU thread, read by the test's).</summary>
    private sealed class WatchedTerminal : Stream
    {
        private readonly MemoryStream _data = new();
        private readonly object _lock = new();

        public string Text
        {
            get { lock (_lock) return Encoding.UTF8.GetString(_data.ToArray()); }
        }

        public bool WaitFor(string text, TimeSpan timeout)
        {
            var deadline = DateTime.UtcNow + timeout;
            while (!Text.Contains(text))
            {
                if (DateTime.UtcNow > deadline) return false;
                Thread.Sleep(20);
            }
            return true;
        }

        public override void Write(byte[] buffer, int offset, int count)
        {
            lock (_lock) _data.Write(buffer, offset, count);
        }

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }

    /// <summary>Host input typed once the terminal shows a text (as a user would wait for the prompt).</summary>
    private sealed class TypedWhenShown(WatchedTerminal terminal, string text, byte[] keys) : Stream
    {
        private bool _typed;

        public override int Read(byte[] buffer, int offset, int count)
        {
            if (_typed || !terminal.WaitFor(text, TimeSpan.FromSeconds(60))) return 0;   // then end of input
            _typed = true;
            keys.CopyTo(buffer, offset);
            return keys.Length;
        }

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    [Fact]
    public void KeysTypedOnTheTerminalReachTheGuestThroughTheKeyboardAndItsEchoStaysOnScreen()
    {
        // Shift for the capital and '!', Backspace (DEL from a terminal) erasing a typo, Enter as CR.
        var terminal = new WatchedTerminal();
        var config = new MachineConfig
        {
            Boot = new BootRequest { KernelPath = TestEnvironment.Guest("dev-kbd.elf") },
            Display = DisplayTarget.Parse("term"),
            TimeoutSeconds = 60,
            // COM1 on stdio goes to the console's serial pane, so "ready" shows on the terminal.
            SerialInput = new TypedWhenShown(terminal, "ready", Encoding.ASCII.GetBytes("hi Thx\u007fere!\r")),
        };
        MachineResult result;
        string serial;
        using (var machine = Machine.Machine.Create(config))
        {
            machine.TerminalOutput = terminal;
            machine.TerminalSize = (80, 30);
            result = machine.Run();
            serial = TestEnvironment.Normalize(machine.Serial.Captured);
        }
        Assert.Equal(1, result.ExitCode);
        Assert.EndsWith("ready\nline: hi There!\ndev-kbd: ok\n", serial);

        // The picture left in the terminal at the end: the guest's screen and the last lines of COM1 (the pane has
        // 30 - 25 - 1 = 4 rows), without the status line.
        string output = terminal.Text;
        const string leave = "\e[0m\e[?7h\e[?25h\e[?1049l";
        Assert.StartsWith("\e[?1049h", output);
        int end = output.LastIndexOf(leave, StringComparison.Ordinal);
        Assert.True(end > 0, "the alternate screen is left at the end");
        Assert.Equal("""
             dev-kbd: type a line, Enter ends it

            > hi There!

            line done
            ── COM1 ────────────────────────────────────────────────────────────────────────
            ready
            line: hi There!
            dev-kbd: ok

            """, TrimLines(ConsoleLayoutTests.Strip(output[(end + leave.Length)..])));
    }

    private static string TrimLines(string text) => string.Join('\n', text.Split('\n').Select(l => l.TrimEnd()));
}
