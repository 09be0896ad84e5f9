using System.CommandLine;
using System.CommandLine.Parsing;
using MyKvm.Boot;
using MyKvm.Core;
using MyKvm.Machine;

namespace MyKvm.Cli;

/// <summary>The <c>mykvm</c> command: options → <see cref="MachineConfig"/> → a run. Exit 2 on bad input.</summary>
public static class CommandLineInterface
{
    public const int ExitBadInput = 2;

    private const string Overview = """
        mykvm: a PC virtual machine for kernel developers. It loads a kernel the way a boot loader would and runs
        it on the software x86 CPU (or KVM), with the guest's serial port (COM1) on your terminal.

        Modes:
          mykvm --kernel FILE [ARGS...]   Boot a kernel: Multiboot 1 (ELF or a.out kludge), stos (ELF linked at
                                          0xC0000000), Linux bzImage, or a plain ELF. ARGS form its command line.
                                            mykvm --kernel guests/build/hello.elf
          mykvm -f FILE.boot [ARGS...]    Boot what a .boot file describes (stos protocol unless it says protocol=):
                                            commandline=init.mode=all
                                            kernel=kernel/stos
                                            initramfs=initramfs.img
                                            module=modules/8259A.ko      (one line per module)
                                          plus any option below as a key (memory=, accel=, serial=, display=,
                                          protocol=, timeout=, expect=, rtc=). Paths are relative to the file;
                                          options given on the command line win.
                                            mykvm -f stos.boot
          mykvm -m 128 --kernel K --initrd I --modules a.ko,b.ko init.mode=all
                                          The course's full form: memory, kernel, initramfs, modules, arguments.
          mykvm --help                    This text.

        Exit status: the guest's own through the debug-exit port 0xf4 ((value << 1) | 1, as QEMU's isa-debug-exit);
        0 when the guest halts with interrupts off or --expect matched; 1 when --expect timed out; 2 for bad input
        or a triple fault; 3 when the guest runs something mykvm does not implement; 69/77/70/78 when KVM is missing,
        not permitted, or fails; 124 on --timeout; 130 on Ctrl-C.
        """;

    public static int Run(string[] args, TextWriter? stdout = null, TextWriter? stderr = null)
    {
        stdout ??= Console.Out;
        stderr ??= Console.Error;
        var cli = new Options();
        var root = cli.CreateRoot();
        ParseResult parsed;
        try
        {
            parsed = root.Parse(args);
        }
        catch (Exception e)
        {
            stderr.WriteLine($"mykvm: {e.Message}");
            return ExitBadInput;
        }

        if (parsed.Errors.Count > 0)
        {
            stderr.WriteLine($"mykvm: {parsed.Errors[0].Message} (see mykvm --help)");
            return ExitBadInput;
        }
        if (parsed.Action is not null && parsed.CommandResult.Command == root && IsHelpOrVersion(parsed))
        {
            return parsed.Invoke(new InvocationConfiguration { Output = stdout, Error = stderr });
        }

        MachineConfig config;
        try
        {
            config = cli.ToConfig(parsed, args);
        }
        catch (ConfigException e)
        {
            stderr.WriteLine($"mykvm: {e.Message}");
            return ExitBadInput;
        }
        return Launch(config, stderr);
    }

    private static bool IsHelpOrVersion(ParseResult parsed) =>
        parsed.Tokens.Any(t => t.Type == TokenType.Option && (t.Value is "--help" or "-h" or "-?" or "--version"));

    /// <summary>Builds and runs the machine, turning every expected failure into one line on stderr.</summary>
    public static int Launch(MachineConfig config, TextWriter stderr)
    {
        Machine.Machine machine;
        try
        {
            machine = Machine.Machine.Create(config, stderr);
        }
        catch (Exception e) when (e is ConfigException or BootException)
        {
            stderr.WriteLine($"mykvm: {e.Message}");
            return ExitBadInput;
        }
        catch (OutOfMemoryException e)
        {
            stderr.WriteLine($"mykvm: {e.Message}");
            return ExitBadInput;
        }
        catch (Kvm.KvmException e)
        {
            // No /dev/kvm (69), no permission (77), a KVM that refuses the VM (70, 78): sysexits-style codes.
            stderr.WriteLine($"mykvm: {e.Message}");
            return e.ExitCode;
        }

        using (machine)
        {
            if (config.Verbose)
            {
                stderr.WriteLine($"mykvm: {machine.BackendReason}");
                stderr.WriteLine($"mykvm: {machine.Boot.Summary}");
                stderr.WriteLine($"mykvm: {config.MemoryMiB} MiB RAM, serial {config.Serial}, display {config.Display}");
            }
            ConsoleCancelEventHandler onCancel = (_, e) =>
            {
                e.Cancel = true;
                machine.Interrupt();
            };
            Console.CancelKeyPress += onCancel;
            try
            {
                var result = machine.Run();
                if (result.Message is not null && (config.Verbose || result.ExitCode != 0 && !result.ByGuest))
                    stderr.WriteLine($"mykvm: {result.Message}");
                return result.ExitCode;
            }
            finally
            {
                Console.CancelKeyPress -= onCancel;
            }
        }
    }

    private sealed class Options
    {
        public readonly Option<string?> File = new("--file", "-f")
        {
            Description = "Boot what a .boot file describes (ini: commandline=, kernel=, initramfs=, module=; see above). Example: -f stos.boot",
            HelpName = "FILE.boot",
        };
        public readonly Option<string?> Memory = new("--memory", "-m")
        {
            Description = "Guest RAM in MiB (or with a G suffix), default 128. Example: -m 256",
            HelpName = "MiB",
        };
        public readonly Option<string?> Kernel = new("--kernel", "-k")
        {
            Description = "The kernel image: Multiboot/stos/plain ELF, or a Linux bzImage. Example: --kernel kernel/stos",
            HelpName = "FILE",
        };
        public readonly Option<string?> Initrd = new("--initrd", "--initramfs")
        {
            Description = "An initramfs (cpio archive) or initrd for the kernel. Example: --initrd initramfs.img",
            HelpName = "FILE",
        };
        public readonly Option<string?> Modules = new("--modules")
        {
            Description = "Comma-separated modules to load with the kernel (Multiboot modules, stos .ko files). Example: --modules 8259A.ko,cpuvar.ko",
            HelpName = "A,B,...",
        };
        public readonly Option<string?> BootProtocolOption = new("--boot", "--protocol")
        {
            Description = "Boot protocol: auto (by the image's headers and link address), multiboot, stos, linux or elf. Example: --boot multiboot",
            HelpName = "PROTOCOL",
        };
        public readonly Option<string?> Accel = new("--accel")
        {
            Description = "CPU backend: soft (the software x86 CPU, default), kvm (/dev/kvm), or auto (KVM when it works here, else soft). Example: --accel auto",
            HelpName = "soft|kvm|auto",
        };
        public readonly Option<bool> KvmIrqchip = new("--kvm-irqchip")
        {
            Description = "With --accel kvm, use KVM's in-kernel PIC/PIT instead of mykvm's own (for comparison). Example: --accel kvm --kvm-irqchip",
        };
        public readonly Option<string?> Serial = new("--serial")
        {
            Description = "Where COM1 goes: stdio (default), file:PATH, or none. Example: --serial file:serial.log",
            HelpName = "stdio|file:PATH|none",
        };
        public readonly Option<string?> Display = new("--display")
        {
            Description = "The VGA text screen: none (default), term (drawn in the terminal), or png:PATH (a screenshot at exit). Example: --display png:screen.png",
            HelpName = "none|term|png:PATH",
        };
        public readonly Option<string?> Timeout = new("--timeout")
        {
            Description = "Stop the guest after this many seconds of wall time (exit 124). Example: --timeout 30",
            HelpName = "SECONDS",
        };
        public readonly Option<string?> Expect = new("--expect")
        {
            Description = "Exit 0 as soon as TEXT appears on the serial port; 1 if the guest stops or times out first (for kernel CI). Example: --expect \"All tests passed\" --timeout 60",
            HelpName = "TEXT",
        };
        public readonly Option<string?> Clock = new("--clock")
        {
            Description = "Guest time: virtual (from instructions executed: deterministic, idle time skipped; default on the software CPU) or realtime. Example: --clock realtime",
            HelpName = "virtual|realtime",
        };
        public readonly Option<string?> Rtc = new("--rtc")
        {
            Description = "Fixed date for the CMOS clock (UTC), for reproducible runs; default the host's clock. Example: --rtc 2024-01-31T12:00:00",
            HelpName = "DATE",
        };
        public readonly Option<string?> Trace = new("--trace")
        {
            Description = "Trace, like QEMU's -d, stamped with instruction counts: int, exc, pf (with the page walk), io, mmio, cpu (every instruction; bound it with cpu=FROM-TO or cpu=SYMBOL:COUNT). Example: --trace exc,pf,cpu=kmain:200",
            HelpName = "LIST",
        };
        public readonly Option<string?> TraceFile = new("--trace-file")
        {
            Description = "Write the trace to a file instead of stderr. Example: --trace int,exc --trace-file trace.log",
            HelpName = "PATH",
        };
        public readonly Option<string?> Gdb = new("--gdb")
        {
            Description = "Listen for gdb's remote protocol. Example: --gdb tcp::1234, then gdb -ex 'target remote :1234' kernel.elf",
            HelpName = "tcp::PORT",
        };
        public readonly Option<bool> GdbWait = new("--gdb-wait")
        {
            Description = "With --gdb, hold the CPU before its first instruction until gdb continues or steps. Example: --gdb tcp::1234 --gdb-wait",
        };
        public readonly Option<string?> Monitor = new("--monitor")
        {
            Description = "The monitor (info registers/gdt/idt/tss/mem/tlb, x, xp, disas, break, step, cont, screendump, quit) on standard input; on a terminal Ctrl-A c switches to it anyway. Example: --monitor stdio",
            HelpName = "stdio",
        };
        public readonly Option<bool> ExplainFaults = new("--explain-faults")
        {
            Description = "Explain every exception as it is delivered (a triple fault is always explained): instruction, error code, descriptor, page walk, backtrace. Example: --explain-faults",
        };
        public readonly Option<string[]> Disk = new("--disk", "--hda")
        {
            Description = "A raw disk image on the IDE controller (repeat for more: primary master, slave, secondary...). Example: --disk scratch.img",
            HelpName = "PATH",
            AllowMultipleArgumentsPerToken = false,
        };
        public readonly Option<string[]> Drive = new("--drive")
        {
            Description = "A disk, QEMU style: file=PATH[,index=0..3][,snapshot=on][,readonly=on]. Example: --drive file=disk.img,index=2,snapshot=on",
            HelpName = "SPEC",
        };
        public readonly Option<bool> Snapshot = new("--snapshot")
        {
            Description = "Keep disk writes in memory: the images are never modified. Example: --disk os.img --snapshot",
        };
        public readonly Option<bool> Verbose = new("--verbose", "-v")
        {
            Description = "Say which boot protocol and CPU backend were chosen and why, and how the run ended. Example: -v",
        };
        public readonly Argument<string[]> CommandLine = new("ARGS")
        {
            Arity = ArgumentArity.ZeroOrMore,
            Description = "The kernel command line (joined with spaces; overrides a .boot file's commandline=). Example: init.mode=all console=ttyS0",
        };

        public RootCommand CreateRoot()
        {
            var root = new RootCommand(Overview)
            {
                File, Memory, Kernel, Initrd, Modules, BootProtocolOption, Accel, KvmIrqchip, Serial, Display,
                Timeout, Expect, Clock, Rtc, Disk, Drive, Snapshot, Gdb, GdbWait, Monitor, ExplainFaults, Trace, TraceFile,
                Verbose, CommandLine,
            };
            return root;
        }

        public MachineConfig ToConfig(ParseResult p, string[] args)
        {
            var extra = p.GetValue(CommandLine) ?? [];
            int separator = Array.IndexOf(args, "--");
            foreach (var word in extra)
            {
                int at = Array.IndexOf(args, word);
                if (word.StartsWith('-') && word.Length > 1 && (separator < 0 || at < separator))
                    throw new ConfigException($"unknown option '{word}' (see mykvm --help; put kernel arguments that start with '-' after --)");
            }

            BootFile? file = p.GetValue(File) is { } f ? BootFile.Load(f) : null;

            string? kernel = p.GetValue(Kernel) is { } k ? Path.GetFullPath(k) : file?.Kernel;
            if (kernel is null)
                throw new ConfigException("no kernel: give --kernel FILE or -f FILE.boot (see mykvm --help)");
            string? initrd = p.GetValue(Initrd) is { } i ? Path.GetFullPath(i) : file?.Initramfs;
            IReadOnlyList<string> modules = p.GetValue(Modules) is { } m
                ? m.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(Path.GetFullPath).ToList()
                : file?.Modules ?? [];
            string commandLine = extra.Length > 0 ? string.Join(' ', extra) : file?.CommandLine ?? "";

            var protocol = p.GetValue(BootProtocolOption) is { } bp ? BootFile.ParseProtocol(bp, "--boot")
                : file?.Protocol ?? BootProtocol.Auto;
            int memory = p.GetValue(Memory) is { } mem ? BootFile.ParseMemory(mem, "-m") : file?.MemoryMiB ?? 128;
            var accel = p.GetValue(Accel) is { } a ? BootFile.ParseAccel(a, "--accel") : file?.Accel ?? Accelerator.Soft;
            var serial = p.GetValue(Serial) is { } s ? SerialTarget.Parse(s) : file?.Serial ?? SerialTarget.Stdio;
            var display = p.GetValue(Display) is { } d ? DisplayTarget.Parse(d) : file?.Display ?? DisplayTarget.None;
            double? timeout = p.GetValue(Timeout) is { } t ? BootFile.ParseSeconds(t, "--timeout") : file?.TimeoutSeconds;
            string? expect = p.GetValue(Expect) ?? file?.Expect;
            if (expect is { Length: 0 }) throw new ConfigException("--expect: the text must not be empty");
            DateTime? rtc = p.GetValue(Rtc) is { } r ? BootFile.ParseRtc(r, "--rtc") : file?.Rtc;
            var clock = p.GetValue(Clock) switch
            {
                null or "virtual" => ClockMode.Virtual,
                "realtime" => ClockMode.RealTime,
                var other => throw new ConfigException($"--clock: expected virtual or realtime, not '{other}'"),
            };
            string? gdb = p.GetValue(Gdb);
            if (gdb is not null && !System.Text.RegularExpressions.Regex.IsMatch(gdb, @"^(tcp:)?[\w.]*:\d{1,5}$"))
                throw new ConfigException($"--gdb: expected tcp::PORT (like tcp::1234), not '{gdb}'");
            if (p.GetValue(GdbWait) && gdb is null) throw new ConfigException("--gdb-wait needs --gdb tcp::PORT");
            bool monitorOnStdio = p.GetValue(Monitor) switch
            {
                null => false,
                "stdio" => true,
                var other => throw new ConfigException($"--monitor: only stdio is supported, not '{other}'"),
            };

            var drives = new List<DriveConfig>();
            bool snapshot = p.GetValue(Snapshot);
            foreach (var disk in p.GetValue(Disk) ?? [])
                drives.Add(new DriveConfig(Path.GetFullPath(disk), drives.Count, snapshot));
            foreach (var spec in p.GetValue(Drive) ?? [])
            {
                var drive = DriveConfig.Parse(spec, drives.Count);
                drives.Add(snapshot ? drive with { Snapshot = true } : drive);
            }
            if (drives.Count > 4) throw new ConfigException("at most 4 IDE disks (--disk/--drive)");

            return new MachineConfig
            {
                Drives = drives,
                MemoryMiB = memory,
                Boot = new BootRequest
                {
                    KernelPath = kernel,
                    InitrdPath = initrd,
                    ModulePaths = modules,
                    CommandLine = commandLine,
                    Protocol = protocol,
                    // The VGA adapter is always there; only an explicit --display none tells the kernel there is no text console.
                    VgaConsole = p.GetValue(Display) != "none",
                },
                Accel = accel,
                KvmIrqchip = p.GetValue(KvmIrqchip),
                Serial = serial,
                Display = display,
                TimeoutSeconds = timeout,
                Expect = expect,
                Clock = clock,
                Rtc = rtc,
                Verbose = p.GetValue(Verbose),
                MonitorOnStdio = monitorOnStdio,
                Debug = new Debug.DebugOptions
                {
                    Gdb = gdb,
                    GdbWait = p.GetValue(GdbWait),
                    ExplainFaults = p.GetValue(ExplainFaults),
                    Trace = p.GetValue(Trace),
                    TraceFile = p.GetValue(TraceFile) is { } tf ? Path.GetFullPath(tf) : null,
                },
            };
        }
    }
}
