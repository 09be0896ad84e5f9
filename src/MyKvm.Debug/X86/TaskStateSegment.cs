using System.Text;
using MyKvm.Debug.Memory;

namespace MyKvm.Debug.X86;

/// <summary>Reads and formats a 32-bit TSS (SDM Vol. 3A §8.2.1, Figure 8-2) or a 64-bit TSS (§8.7, Figure 8-11).</summary>
public static class TaskStateSegment
{
    public static string Format(LinearMemory mem, ulong tssBase, uint limit, bool longMode)
    {
        const int size = 0x68;
        var buf = new byte[size];
        int got = mem.Read(tssBase, buf);
        if (got < size) return $"TSS at 0x{tssBase:x}: only {got} of {size} bytes are mapped";
        var sb = new StringBuilder();
        sb.AppendLine($"TSS at 0x{tssBase:x}, limit 0x{limit:x} ({(longMode ? "64-bit" : "32-bit")})");
        if (limit < 0x67) sb.AppendLine($"  WARNING: limit 0x{limit:x} is below the minimum 0x67 for a {(longMode ? "64" : "32")}-bit TSS (task switches and stack switches raise #TS)");
        uint D(int o) => BitConverter.ToUInt32(buf, o);
        ulong Q(int o) => BitConverter.ToUInt64(buf, o);
        ushort W(int o) => BitConverter.ToUInt16(buf, o);
        if (longMode)
        {
            sb.AppendLine($"  RSP0 {Q(4):x16}  RSP1 {Q(12):x16}  RSP2 {Q(20):x16}");
            for (int i = 1; i <= 7; i++)
            {
                sb.Append($"  IST{i} {Q(0x24 + (i - 1) * 8):x16}");
                if (i % 3 == 0 || i == 7) sb.AppendLine();
            }
            sb.AppendLine($"  I/O map base 0x{W(0x66):x}");
        }
        else
        {
            sb.AppendLine($"  link {W(0):x4}  SS0:ESP0 {W(8):x4}:{D(4):x8}  SS1:ESP1 {W(16):x4}:{D(12):x8}  SS2:ESP2 {W(24):x4}:{D(20):x8}");
            sb.AppendLine($"  CR3 {D(0x1C):x8}  EIP {D(0x20):x8}  EFLAGS {D(0x24):x8}");
            sb.AppendLine($"  EAX {D(0x28):x8}  ECX {D(0x2C):x8}  EDX {D(0x30):x8}  EBX {D(0x34):x8}");
            sb.AppendLine($"  ESP {D(0x38):x8}  EBP {D(0x3C):x8}  ESI {D(0x40):x8}  EDI {D(0x44):x8}");
            sb.AppendLine($"  ES {W(0x48):x4}  CS {W(0x4C):x4}  SS {W(0x50):x4}  DS {W(0x54):x4}  FS {W(0x58):x4}  GS {W(0x5C):x4}  LDT {W(0x60):x4}");
            sb.AppendLine($"  T={(W(0x64) & 1)}  I/O map base 0x{W(0x66):x}");
        }
        return sb.ToString();
    }
}
