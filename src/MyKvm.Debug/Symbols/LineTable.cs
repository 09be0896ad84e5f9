using System.Text;

namespace MyKvm.Debug.Symbols;

/// <summary>One row of the DWARF line-number matrix: the first address of a run of code from one source line.</summary>
public readonly record struct LineRow(ulong Address, string File, int Line, bool EndSequence);

/// <summary>
/// Address → file:line from DWARF <c>.debug_line</c> (DWARF 2–5, §6.2 of the DWARF 5 standard), as JOS's
/// <c>backtrace</c> prints. Only the rows are kept; columns, discriminators and ISA are decoded and dropped.
/// </summary>
public sealed class LineTable
{
    private readonly LineRow[] _rows;

    public LineTable(IEnumerable<LineRow> rows) =>
        _rows = rows.OrderBy(r => r.Address).ThenBy(r => r.EndSequence ? 0 : 1).ToArray();

    public IReadOnlyList<LineRow> Rows => _rows;

    public static LineTable? FromElf(ElfFile elf)
    {
        var section = elf.SectionData(".debug_line");
        if (section.IsEmpty) return null;
        var lineStr = elf.SectionData(".debug_line_str").ToArray();
        var str = elf.SectionData(".debug_str").ToArray();
        var rows = new List<LineRow>();
        var reader = new DwarfReader(section.ToArray());
        while (reader.Position < reader.Length)
            ParseUnit(reader, lineStr, str, rows, elf.Is64 ? 8 : 4);
        return new LineTable(rows);
    }

    /// <summary>The row covering <paramref name="address"/>: the last row at or before it, inside a sequence.</summary>
    public LineRow? Lookup(ulong address)
    {
        int lo = 0, hi = _rows.Length - 1, found = -1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_rows[mid].Address <= address) { found = mid; lo = mid + 1; }
            else hi = mid - 1;
        }
        if (found < 0) return null;
        // Several rows can share an address (an end of sequence and the next start): take the last non-end one.
        var row = _rows[found];
        if (row.EndSequence) return null;
        return row;
    }

    private static void ParseUnit(DwarfReader r, byte[] lineStr, byte[] str, List<LineRow> rows, int defaultAddressSize)
    {
        ulong unitLength = r.U32();
        bool dwarf64 = false;
        if (unitLength == 0xFFFF_FFFF)
        {
            unitLength = r.U64();
            dwarf64 = true;
        }
        long unitEnd = r.Position + (long)unitLength;
        if (unitEnd > r.Length || unitEnd < r.Position) throw new FormatException(".debug_line unit runs past the section");
        int version = r.U16();
        if (version is < 2 or > 5)
        {
            r.Position = unitEnd; // a version we do not know: skip the unit
            return;
        }
        int addressSize = defaultAddressSize;
        if (version >= 5)
        {
            addressSize = r.U8();
            r.U8(); // segment_selector_size
        }
        ulong headerLength = dwarf64 ? r.U64() : r.U32();
        long programStart = r.Position + (long)headerLength;
        int minInstLength = r.U8();
        if (version >= 4) r.U8(); // maximum_operations_per_instruction (VLIW only)
        bool defaultIsStmt = r.U8() != 0;
        int lineBase = (sbyte)r.U8();
        int lineRange = r.U8();
        int opcodeBase = r.U8();
        if (lineRange == 0) throw new FormatException(".debug_line: line_range is 0");
        var stdLengths = new int[Math.Max(opcodeBase, 1)];
        for (int i = 1; i < opcodeBase; i++) stdLengths[i] = r.U8();

        var dirs = new List<string>();
        var files = new List<(string Name, int Dir)>();
        if (version >= 5)
        {
            foreach (var entry in ReadEntries(r, lineStr, str, dwarf64)) dirs.Add(entry.Path);
            foreach (var entry in ReadEntries(r, lineStr, str, dwarf64)) files.Add((entry.Path, entry.Dir));
        }
        else
        {
            dirs.Add(""); // index 0: the compilation directory
            while (true)
            {
                string d = r.CString();
                if (d.Length == 0) break;
                dirs.Add(d);
            }
            files.Add(("", 0)); // file numbers start at 1 before DWARF 5
            while (true)
            {
                string f = r.CString();
                if (f.Length == 0) break;
                int dir = (int)r.Uleb();
                r.Uleb();
                r.Uleb();
                files.Add((f, dir));
            }
        }
        r.Position = programStart;

        string FileName(ulong index)
        {
            if (index >= (ulong)files.Count) return $"file{index}";
            var (name, _) = files[(int)index];
            // Keep the name short: the file as the compiler saw it (usually relative to the build folder).
            return name;
        }

        // The state machine (DWARF 5 §6.2.2).
        ulong address = 0;
        ulong file = 1;
        int line = 1;
        bool isStmt = defaultIsStmt;
        void Emit(bool end) => rows.Add(new LineRow(address, FileName(file), line, end));
        void Reset()
        {
            address = 0;
            file = 1;
            line = 1;
            isStmt = defaultIsStmt;
        }

        while (r.Position < unitEnd)
        {
            int op = r.U8();
            if (op >= opcodeBase)
            {
                int adjusted = op - opcodeBase;
                address += (ulong)(adjusted / lineRange * minInstLength);
                line += lineBase + adjusted % lineRange;
                Emit(false);
                continue;
            }
            switch (op)
            {
                case 0:
                {
                    ulong len = r.Uleb();
                    long end = r.Position + (long)len;
                    if (len == 0) break;
                    int sub = r.U8();
                    switch (sub)
                    {
                        case 1: // DW_LNE_end_sequence
                            Emit(true);
                            Reset();
                            break;
                        case 2: // DW_LNE_set_address
                            address = addressSize == 8 ? r.U64() : addressSize == 4 ? r.U32() : r.U16();
                            break;
                        case 3: // DW_LNE_define_file (DWARF 2-4)
                            string f = r.CString();
                            int dir = (int)r.Uleb();
                            files.Add((f, dir));
                            break;
                    }
                    r.Position = end;
                    break;
                }
                case 1: Emit(false); break;                                    // DW_LNS_copy
                case 2: address += r.Uleb() * (ulong)minInstLength; break;     // DW_LNS_advance_pc
                case 3: line += (int)r.Sleb(); break;                          // DW_LNS_advance_line
                case 4: file = r.Uleb(); break;                                // DW_LNS_set_file
                case 5: r.Uleb(); break;                                       // DW_LNS_set_column
                case 6: isStmt = !isStmt; break;                               // DW_LNS_negate_stmt
                case 7: break;                                                 // DW_LNS_set_basic_block
                case 8: address += (ulong)((255 - opcodeBase) / lineRange * minInstLength); break; // DW_LNS_const_add_pc
                case 9: address += r.U16(); break;                             // DW_LNS_fixed_advance_pc
                case 10: case 11: break;                                       // prologue_end, epilogue_begin
                case 12: r.Uleb(); break;                                      // DW_LNS_set_isa
                default:
                    for (int i = 0; i < stdLengths[op]; i++) r.Uleb();
                    break;
            }
        }
        r.Position = unitEnd;
    }

    /// <summary>DWARF 5 directory/file entry lists: a format description, then the entries (§6.2.4.1).</summary>
    private static List<(string Path, int Dir)> ReadEntries(DwarfReader r, byte[] lineStr, byte[] str, bool dwarf64)
    {
        int formatCount = r.U8();
        var format = new (ulong Content, ulong Form)[formatCount];
        for (int i = 0; i < formatCount; i++) format[i] = (r.Uleb(), r.Uleb());
        ulong count = r.Uleb();
        var result = new List<(string, int)>();
        for (ulong n = 0; n < count; n++)
        {
            string path = "";
            int dir = 0;
            foreach (var (content, form) in format)
            {
                ulong value = 0;
                string? text = null;
                switch (form)
                {
                    case 0x08: text = r.CString(); break;                                          // DW_FORM_string
                    case 0x1F: text = CStringAt(lineStr, dwarf64 ? r.U64() : r.U32()); break;      // DW_FORM_line_strp
                    case 0x0E: text = CStringAt(str, dwarf64 ? r.U64() : r.U32()); break;          // DW_FORM_strp
                    case 0x0F: value = r.Uleb(); break;                                            // DW_FORM_udata
                    case 0x0B: value = r.U8(); break;                                              // DW_FORM_data1
                    case 0x05: value = r.U16(); break;                                             // DW_FORM_data2
                    case 0x06: value = r.U32(); break;                                             // DW_FORM_data4
                    case 0x07: value = r.U64(); break;                                             // DW_FORM_data8
                    case 0x1E: r.Skip(16); break;                                                  // DW_FORM_data16 (MD5)
                    case 0x09: r.Skip((long)r.Uleb()); break;                                      // DW_FORM_block
                    default: throw new FormatException($".debug_line: unsupported form 0x{form:x} in a file entry");
                }
                if (content == 1 && text is not null) path = text;   // DW_LNCT_path
                else if (content == 2) dir = (int)value;             // DW_LNCT_directory_index
            }
            result.Add((path, dir));
        }
        return result;
    }

    private static string CStringAt(byte[] data, ulong offset)
    {
        if (offset >= (ulong)data.Length) return "";
        int end = Array.IndexOf(data, (byte)0, (int)offset);
        return Encoding.UTF8.GetString(data, (int)offset, (end < 0 ? data.Length : end) - (int)offset);
    }
}

/// <summary>A bounds-checked little-endian reader with LEB128.</summary>
internal sealed class DwarfReader(byte[] data)
{
    public long Position { get; set; }
    public long Length => data.Length;

    private void Need(long n)
    {
        if (Position < 0 || Position + n > data.Length) throw new FormatException("DWARF data runs past the end of its section");
    }

    public byte U8() { Need(1); return data[Position++]; }
    public ushort U16() { Need(2); var v = BitConverter.ToUInt16(data, (int)Position); Position += 2; return v; }
    public uint U32() { Need(4); var v = BitConverter.ToUInt32(data, (int)Position); Position += 4; return v; }
    public ulong U64() { Need(8); var v = BitConverter.ToUInt64(data, (int)Position); Position += 8; return v; }
    public void Skip(long n) { Need(n); Position += n; }

    public ulong Uleb()
    {
        ulong result = 0;
        int shift = 0;
        while (true)
        {
            byte b = U8();
            if (shift < 64) result |= (ulong)(b & 0x7F) << shift;
            shift += 7;
            if ((b & 0x80) == 0) return result;
        }
    }

    public long Sleb()
    {
        long result = 0;
        int shift = 0;
        byte b;
        do
        {
            b = U8();
            if (shift < 64) result |= (long)(b & 0x7F) << shift;
            shift += 7;
        } while ((b & 0x80) != 0);
        if (shift < 64 && (b & 0x40) != 0) result |= -1L << shift;
        return result;
    }

    public string CString()
    {
        long start = Position;
        while (true)
        {
            if (U8() == 0) break;
        }
        return Encoding.UTF8.GetString(data, (int)start, (int)(Position - start - 1));
    }
}
