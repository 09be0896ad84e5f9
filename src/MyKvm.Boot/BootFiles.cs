namespace MyKvm.Boot;

/// <summary>Reads the files a boot request names, turning every I/O failure into a one-line <see cref="BootException"/>.</summary>
internal static class BootFiles
{
    /// <summary>Files above this size are refused: guest RAM is handed out through int-sized spans.</summary>
    public const long MaxFileSize = int.MaxValue;

    public static byte[] ReadAll(string path, string what)
    {
        if (string.IsNullOrEmpty(path))
            throw new BootException($"{what}: no file name given");
        try
        {
            if (Directory.Exists(path))
                throw new BootException($"{path}: is a directory, not a {what} file");
            if (!File.Exists(path))
                throw new BootException($"{path}: {what} file not found");
            var info = new FileInfo(path);
            if (info.Length > MaxFileSize)
                throw new BootException($"{path}: {what} file is too large ({info.Length} bytes)");
            return File.ReadAllBytes(path);
        }
        catch (BootException)
        {
            throw;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
        {
            throw new BootException($"{path}: cannot read {what} file: {OneLine(e.Message)}", e);
        }
    }

    internal static string OneLine(string s) => s.ReplaceLineEndings(" ").Trim();
}
