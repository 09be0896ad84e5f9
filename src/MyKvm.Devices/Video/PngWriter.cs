using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace MyKvm.Devices.Video;

/// <summary>
/// A minimal PNG encoder (PNG specification, 2nd edition, W3C/ISO 15948): 8-bit truecolour (colour type 2),
/// one IDAT chunk compressed with zlib, filter type 0 on every scanline.
/// </summary>
public static class PngWriter
{
    private static readonly uint[] CrcTable = BuildCrcTable();

    /// <summary>Encodes <paramref name="rgb"/> (0xRRGGBB per pixel, row-major) as a PNG file.</summary>
    public static byte[] Encode(int width, int height, ReadOnlySpan<uint> rgb)
    {
        if (width <= 0 || height <= 0 || rgb.Length != width * height)
            throw new ArgumentException("pixel count does not match the image size");
        var raw = new byte[height * (1 + 3 * width)];
        int o = 0;
        for (int y = 0; y < height; y++)
        {
            raw[o++] = 0; // filter: none
            for (int x = 0; x < width; x++)
            {
                uint p = rgb[y * width + x];
                raw[o++] = (byte)(p >> 16);
                raw[o++] = (byte)(p >> 8);
                raw[o++] = (byte)p;
            }
        }
        using var compressed = new MemoryStream();
        using (var z = new ZLibStream(compressed, CompressionLevel.Optimal, leaveOpen: true))
            z.Write(raw);

        using var png = new MemoryStream();
        png.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        var ihdr = new byte[13];
        BinaryPrimitives.WriteUInt32BigEndian(ihdr, (uint)width);
        BinaryPrimitives.WriteUInt32BigEndian(ihdr.AsSpan(4), (uint)height);
        ihdr[8] = 8;  // bit depth
        ihdr[9] = 2;  // colour type: truecolour
        // compression 0 (deflate), filter method 0, no interlace
        WriteChunk(png, "IHDR", ihdr);
        WriteChunk(png, "IDAT", compressed.ToArray());
        WriteChunk(png, "IEND", []);
        return png.ToArray();
    }

    private static void WriteChunk(Stream s, string type, ReadOnlySpan<byte> data)
    {
        Span<byte> header = stackalloc byte[8];
        BinaryPrimitives.WriteUInt32BigEndian(header, (uint)data.Length);
        Encoding.ASCII.GetBytes(type, header[4..]);
        s.Write(header);
        s.Write(data);
        // The CRC covers the chunk type and data, not the length (§5.3).
        uint crc = Crc32(0xFFFF_FFFF, header[4..]);
        crc = Crc32(crc, data) ^ 0xFFFF_FFFF;
        Span<byte> tail = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(tail, crc);
        s.Write(tail);
    }

    /// <summary>The PNG/zlib CRC-32 (polynomial 0xEDB88320, reflected), continued from <paramref name="crc"/>.</summary>
    public static uint Crc32(uint crc, ReadOnlySpan<byte> data)
    {
        foreach (byte b in data)
            crc = CrcTable[(crc ^ b) & 0xFF] ^ (crc >> 8);
        return crc;
    }

    private static uint[] BuildCrcTable()
    {
        var t = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            uint c = n;
            for (int k = 0; k < 8; k++)
                c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1;
            t[n] = c;
        }
        return t;
    }
}
