using System.Buffers.Binary;

namespace MyKvm.Debug.Symbols;

public enum SymbolKind { Function, Object, Label }

public sealed record Symbol(string Name, ulong Address, ulong Size, SymbolKind Kind, bool Global);

/// <summary>
/// Address → name lookups from an ELF <c>.symtab</c> (ELF32 and ELF64), so every address the debugger prints can be
/// shown as <c>kmain+0x1c</c>, plus file:line from DWARF <c>.debug_line</c> when the ELF has it.
/// </summary>
public sealed class SymbolTable
{
    private readonly Symbol[] _byAddress;
    private readonly Dictionary<string, Symbol> _byName = new(StringComparer.Ordinal);
    private readonly (ulong Start, ulong End)[] _sections;

    public static SymbolTable Empty { get; } = new([], [], null);

    public IReadOnlyList<Symbol> Symbols => _byAddress;
    public LineTable? Lines { get; }
    public string? SourcePath { get; set; }

    public SymbolTable(IEnumerable<Symbol> symbols, IEnumerable<(ulong Start, ulong End)> allocatedSections, LineTable? lines)
    {
        // Among symbols at one address prefer functions, then globals, then the shorter name (nasm's local labels).
        _byAddress = symbols
            .OrderBy(s => s.Address)
            .ThenBy(s => s.Kind == SymbolKind.Function ? 0 : s.Kind == SymbolKind.Object ? 1 : 2)
            .ThenBy(s => s.Global ? 0 : 1)
            .ThenBy(s => s.Name.Length)
            .ToArray();
        foreach (var s in _byAddress)
            if (!_byName.TryGetValue(s.Name, out var existing) || (!existing.Global && s.Global))
                _byName[s.Name] = s;
        _sections = allocatedSections.OrderBy(r => r.Start).ToArray();
        Lines = lines;
    }

    /// <summary>Loads the symbol table and line table of an ELF file.</summary>
    public static SymbolTable Load(string path)
    {
        var table = FromElf(ElfFile.Load(path));
        table.SourcePath = path;
        return table;
    }

    public static SymbolTable FromElf(ElfFile elf)
    {
        var symbols = new List<Symbol>();
        var symtab = elf.Sections.FirstOrDefault(s => s.Type == ElfSection.SymTab);
        if (symtab is not null && symtab.Link < elf.Sections.Count)
        {
            var strtab = elf.Sections[(int)symtab.Link];
            var data = elf.SectionData(symtab);
            int size = elf.Is64 ? 24 : 16;
            for (int o = size; o + size <= data.Length; o += size)
            {
                var e = data.Slice(o, size);
                uint name = BinaryPrimitives.ReadUInt32LittleEndian(e);
                byte info;
                ushort shndx;
                ulong value, symSize;
                if (elf.Is64)
                {
                    info = e[4];
                    shndx = BinaryPrimitives.ReadUInt16LittleEndian(e[6..]);
                    value = BinaryPrimitives.ReadUInt64LittleEndian(e[8..]);
                    symSize = BinaryPrimitives.ReadUInt64LittleEndian(e[16..]);
                }
                else
                {
                    value = BinaryPrimitives.ReadUInt32LittleEndian(e[4..]);
                    symSize = BinaryPrimitives.ReadUInt32LittleEndian(e[8..]);
                    info = e[12];
                    shndx = BinaryPrimitives.ReadUInt16LittleEndian(e[14..]);
                }
                int type = info & 0xF, bind = info >> 4;
                // Undefined, absolute and common symbols name no address in the image; section/file symbols are not names.
                if (shndx == 0 || shndx >= 0xFF00 || type is 3 or 4) continue;
                var kind = type switch { 2 => SymbolKind.Function, 1 => SymbolKind.Object, 0 => SymbolKind.Label, _ => (SymbolKind?)null };
                if (kind is null) continue;
                string n = elf.ReadString(strtab, name);
                if (n.Length == 0 || n.StartsWith("$")) continue;
                symbols.Add(new Symbol(n, value, symSize, kind.Value, bind != 0));
            }
        }
        var sections = elf.Sections.Where(s => (s.Flags & ElfSection.Alloc) != 0 && s.Size != 0).Select(s => (s.Address, s.Address + s.Size));
        LineTable? lines = null;
        try
        {
            lines = LineTable.FromElf(elf);
        }
        catch (FormatException)
        {
            // A damaged .debug_line costs the line numbers, not the symbols.
        }
        return new SymbolTable(symbols, sections, lines);
    }

    public bool TryGetAddress(string name, out ulong address)
    {
        if (Find(name) is { } s)
        {
            address = s.Address;
            return true;
        }
        address = 0;
        return false;
    }

    /// <summary>
    /// The symbol named <paramref name="name"/>, or else gcc's clone of it (<c>name.constprop.0</c>, <c>name.isra.0</c>,
    /// <c>name.part.0</c>), so users can say the name they wrote.
    /// </summary>
    public Symbol? Find(string name) =>
        _byName.GetValueOrDefault(name) ?? _byAddress.FirstOrDefault(s => s.Name.StartsWith(name + ".", StringComparison.Ordinal) && s.Kind == SymbolKind.Function);

    /// <summary>The symbol covering <paramref name="address"/>: sized symbols by their size, others up to the next symbol in the same section.</summary>
    public bool TryLookup(ulong address, out Symbol symbol, out ulong offset)
    {
        symbol = null!;
        offset = 0;
        int lo = 0, hi = _byAddress.Length - 1, found = -1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_byAddress[mid].Address <= address) { found = mid; lo = mid + 1; }
            else hi = mid - 1;
        }
        if (found < 0) return false;
        // Back up to the preferred symbol among those at the same address (sorted first).
        ulong at = _byAddress[found].Address;
        while (found > 0 && _byAddress[found - 1].Address == at) found--;
        // A sized symbol that ends before the address does not cover it, unless nothing sized does (labels in asm).
        for (int i = found; i >= 0 && i > found - 8; i--)
        {
            var s = _byAddress[i];
            if (s.Size != 0 ? address < s.Address + s.Size : SameSection(s.Address, address))
            {
                symbol = s;
                offset = address - s.Address;
                return true;
            }
            if (s.Size == 0) break;
        }
        return false;
    }

    private bool SameSection(ulong a, ulong b)
    {
        foreach (var (start, end) in _sections)
            if (a >= start && a < end) return b >= start && b < end;
        return false;
    }

    /// <summary>"kmain+0x1c", "kmain", or null when no symbol covers the address.</summary>
    public string? Describe(ulong address)
    {
        if (!TryLookup(address, out var s, out var off)) return null;
        return off == 0 ? s.Name : $"{s.Name}+0x{off:x}";
    }

    /// <summary>"0x00100123 &lt;kmain+0x1c&gt;" (width: hex digits for the address).</summary>
    public string Format(ulong address, int width = 8)
    {
        string hex = "0x" + address.ToString("x" + width);
        return Describe(address) is { } d ? $"{hex} <{d}>" : hex;
    }

    /// <summary>"hello.c:17" for an address, if the line table covers it.</summary>
    public string? SourceLine(ulong address) => Lines?.Lookup(address) is { } row ? $"{row.File}:{row.Line}" : null;
}
