using System.Buffers.Binary;
using System.Text;

namespace MyKvm.Boot.Integration;

/// <summary>
/// What mini-stos must print for a given set of boot files, computed here from the files themselves: the command
/// line and its module.param=value pairs, each module's ELF header and first symbol, the initramfs's cpio listing
/// with CRC32s, and the stos segment list for the memory size.
/// </summary>
internal static class MinistosReport
{
    /// <summary>The lines of the report this test checks, in order.</summary>
    public static List<string> Expected(int memoryMiB, string commandLine, IReadOnlyList<string> modules, string? initramfs)
    {
        var lines = new List<string>();
        ulong ram = (ulong)memoryMiB << 20;
        ulong frameTable = (ram / 4096 * 16 + 0xFFF) & ~0xFFFUL;
        lines.Add("segments 6");
        lines.Add(Segment(0, 0x400000, 2));
        lines.Add(Segment(0x400000, 0x400000 + frameTable, 2));
        lines.Add(Segment(0x400000 + frameTable, ram, 1));
        lines.Add(Segment(0xFEC00000, 0xFEC01000, 2));
        lines.Add(Segment(0xFEE00000, 0xFEE01000, 2));
        lines.Add(Segment(0xFFFC0000, 0x100000000, 2));

        lines.Add($"cmdline \"{commandLine}\"");
        foreach (var word in commandLine.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = word.IndexOf('='), dot = word.IndexOf('.');
            if (eq > 0 && dot > 0 && dot < eq - 1)
                lines.Add($"param module \"{word[..dot]}\" name \"{word[(dot + 1)..eq]}\" value \"{word[(eq + 1)..]}\"");
            else
                lines.Add($"arg \"{word}\"");
        }

        lines.Add($"modules {modules.Count}");
        for (int i = 0; i < modules.Count; i++)
        {
            byte[] f = File.ReadAllBytes(modules[i]);
            string cls = f[4] == 1 ? "ELF32" : f[4] == 2 ? "ELF64" : "?";
            lines.Add($"module {i}: class {cls} machine {U16(f, 18)} type {U16(f, 16)} sections {U16(f, 48)} first symbol \"{FirstSymbol(f) ?? "(none)"}\"");
        }

        if (initramfs is null)
            lines.Add("initramfs none");
        else
        {
            lines.Add("initramfs");
            foreach (var (name, mode, data) in Cpio(File.ReadAllBytes(initramfs)))
                lines.Add($"initramfs file \"{name}\" mode 0x{mode:x} size {data.Length} crc32 0x{Crc32(data):x8}");
            lines.Add("initramfs end");
        }
        lines.Add("ministos: all checks passed");
        return lines;
    }

    /// <summary>The serial lines that <see cref="Expected"/> describes, in the order printed.</summary>
    public static List<string> Select(string serial) =>
        serial.Replace("\r\n", "\n").Split('\n')
            .Where(l => l.StartsWith("segment") || l.StartsWith("cmdline ") || l.StartsWith("param ") || l.StartsWith("arg ")
                || l.StartsWith("modules ") || l.StartsWith("module ") || l.StartsWith("initramfs") || l.StartsWith("ministos: all")
                || l.StartsWith("ministos: ") && l.Contains("failed"))
            .ToList();

    private static string Segment(ulong start, ulong end, int type) => $"segment 0x{start:x16}-0x{end:x16} type {type}";

    /// <summary>The first named symbol that is not a file or section symbol (ELF32 only, as the guest reads it).</summary>
    private static string? FirstSymbol(byte[] f)
    {
        if (f[4] != 1) return null;
        int shoff = (int)U32(f, 32), shnum = U16(f, 48);
        for (int i = 0; i < shnum; i++)
        {
            int sh = shoff + i * 40;
            if (U32(f, sh + 4) != 2) continue;
            int symOff = (int)U32(f, sh + 16), symSize = (int)U32(f, sh + 20), link = (int)U32(f, sh + 24);
            int strOff = (int)U32(f, shoff + link * 40 + 16);
            for (int k = 1; k < symSize / 16; k++)
            {
                int s = symOff + k * 16;
                uint name = U32(f, s);
                int type = f[s + 12] & 0xF;
                if (name != 0 && type != 3 && type != 4)
                {
                    int start = strOff + (int)name, end = Array.IndexOf(f, (byte)0, start);
                    return Encoding.ASCII.GetString(f, start, end - start);
                }
            }
        }
        return null;
    }

    private static IEnumerable<(string Name, uint Mode, byte[] Data)> Cpio(byte[] a)
    {
        int p = 0;
        while (true)
        {
            string h = Encoding.ASCII.GetString(a, p, 110);
            if (!h.StartsWith("070701")) throw new InvalidDataException($"bad cpio header at {p}");
            uint Field(int i) => Convert.ToUInt32(h.Substring(6 + 8 * i, 8), 16);
            uint mode = Field(1), size = Field(6), nameSize = Field(11);
            string name = Encoding.ASCII.GetString(a, p + 110, (int)nameSize - 1);
            if (name == "TRAILER!!!") yield break;
            int data = (p + 110 + (int)nameSize + 3) & ~3;
            yield return (name, mode, a[data..(data + (int)size)]);
            p = (data + (int)size + 3) & ~3;
        }
    }

    public static uint Crc32(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xEDB88320u & (uint)-(int)(crc & 1));
        }
        return ~crc;
    }

    private static ushort U16(byte[] f, int o) => BinaryPrimitives.ReadUInt16LittleEndian(f.AsSpan(o));
    private static uint U32(byte[] f, int o) => BinaryPrimitives.ReadUInt32LittleEndian(f.AsSpan(o));
}
