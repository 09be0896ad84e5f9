using MyKvm.Boot.X86;
using MyKvm.Core;
using MyKvm.TestSupport;

namespace MyKvm.Boot.Tests.AcpiLinux;

/// <summary>A fact that needs ACPICA's iasl (Debian package acpica-tools, installed by scripts/setup.sh).</summary>
public sealed class IaslFactAttribute : FactAttribute
{
    public IaslFactAttribute()
    {
        if (!TestEnvironment.HasCommand("iasl")) Skip = "needs iasl (apt-get install acpica-tools)";
    }
}

/// <summary>
/// The tables checked by ACPICA itself, the code Linux runs: iasl -d disassembles each binary table (verifying
/// its checksum and layout), and the disassembled DSDT compiles back to the same AML.
/// </summary>
public sealed class AcpiIaslTests : IDisposable
{
    private readonly GuestRam _ram = new(2 * 1024 * 1024);
    private readonly string _dir = Directory.CreateTempSubdirectory("mykvm-acpi-").FullName;

    public void Dispose()
    {
        _ram.Dispose();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    /// <summary>Writes the tables to guest RAM and dumps each one but the RSDP (as acpidump -b would) to DIR/SIG.dat.</summary>
    private Dictionary<string, string> Dump(AcpiOptions? options = null)
    {
        AcpiTables.Write(_ram, options);
        var r = new AcpiTableReader(_ram);
        var files = new Dictionary<string, string>();
        foreach (var t in r.Tables.Values.Append(r.Rsdt).Append(r.Xsdt).Append(r.Dsdt!).Append(r.Facs!))
        {
            string path = Path.Combine(_dir, t.Signature.ToLowerInvariant() + ".dat");
            File.WriteAllBytes(path, t.Bytes);
            files[t.Signature] = path;
        }
        return files;   // iasl -d does not take a bare RSDP; AcpiTableReader checks it
    }

    private string Disassemble(string datFile)
    {
        var run = TestEnvironment.Run("iasl", ["-d", datFile], workingDirectory: _dir);
        string all = run.Stdout + run.Stderr;
        Assert.True(run.ExitCode == 0, $"iasl -d {Path.GetFileName(datFile)} failed:\n{all}");
        Assert.DoesNotContain("Error", all);
        Assert.DoesNotContain("Warning", all);
        Assert.DoesNotContain("Invalid", all);
        string dsl = Path.ChangeExtension(datFile, ".dsl");
        string text = File.ReadAllText(dsl);
        // iasl flags what it does not accept inside the disassembly too.
        Assert.DoesNotContain("**** ", text);
        return text;
    }

    [IaslFact]
    public void EveryTableDisassemblesCleanly()
    {
        foreach (var (sig, file) in Dump())
        {
            string text = Disassemble(file);
            Assert.Contains($"\"{sig}\"", text);
        }
    }

    [IaslFact]
    public void FadtFieldsAsAcpicaReadsThem()
    {
        string text = Disassemble(Dump()["FACP"]);
        Assert.Matches(@"SCI Interrupt : 0009", text);
        Assert.Matches(@"PM1A Event Block Address : 00000600", text);
        Assert.Matches(@"PM1A Control Block Address : 00000604", text);
        Assert.Matches(@"PM Timer Block Address : 00000608", text);
        Assert.Matches(@"Reset Register Supported \(V2\) : 1", text);
        Assert.Matches(@"Hardware Reduced \(V5\) : 0", text);
        Assert.Matches(@"8042 Present on ports 60/64 \(V2\) : 1", text);
        Assert.Matches(@"32-bit PM Timer \(V1\) : 1", text);
        Assert.Matches(@"Value to cause reset : 06", text);
    }

    [IaslFact]
    public void MadtAsAcpicaReadsIt()
    {
        string text = Disassemble(Dump(new AcpiOptions { CpuCount = 2 })["APIC"]);
        Assert.Equal(2, System.Text.RegularExpressions.Regex.Matches(text, @"Subtable Type : 00 \[Processor Local APIC\]").Count);
        Assert.Contains("Subtable Type : 01 [I/O APIC]", text);
        Assert.Equal(2, System.Text.RegularExpressions.Regex.Matches(text, @"Subtable Type : 02 \[Interrupt Source Override\]").Count);
        Assert.Contains("Subtable Type : 04 [Local APIC NMI]", text);
    }

    [IaslFact]
    public void DsdtRoundTripsThroughTheCompiler()
    {
        var files = Dump(new AcpiOptions { PciInterrupts = [new MpPciInterrupt(1, 0, 16), new MpPciInterrupt(1, 1, 17)] });
        string asl = Disassemble(files["DSDT"]);
        Assert.Contains("Name (_S5, Package (0x04)", asl);
        Assert.Contains("Device (CP00)", asl);
        Assert.Contains("Name (_HID, \"ACPI0007\"", asl);
        Assert.Contains("Device (PCI0)", asl);
        Assert.Contains("Name (_HID, EisaId (\"PNP0A03\")", asl);
        Assert.Contains("WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode,", asl);
        Assert.Contains("DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable, ReadWrite,", asl);

        string dsl = Path.ChangeExtension(files["DSDT"], ".dsl");
        string output = Path.Combine(_dir, "recompiled");
        var run = TestEnvironment.Run("iasl", ["-p", output, dsl], workingDirectory: _dir);
        Assert.True(run.ExitCode == 0, $"iasl could not compile the disassembled DSDT:\n{run.Stdout}{run.Stderr}");
        Assert.Contains("0 Errors", run.Stdout + run.Stderr);
        byte[] ours = File.ReadAllBytes(files["DSDT"]);
        byte[] theirs = File.ReadAllBytes(output + ".aml");
        // The header names a different compiler and so has another checksum; the AML itself must be identical.
        Assert.Equal(Convert.ToHexString(ours.AsSpan(AcpiTables.HeaderLength)), Convert.ToHexString(theirs.AsSpan(AcpiTables.HeaderLength)));
    }
}
