namespace Gapura.Formats;

/// <summary>RFC 2397 data URLs carrying base64 images (<c>data:image/png;base64,…</c>).</summary>
internal static class DataUrl
{
    public static bool TryParse(string url, out string mediaType, out string data)
    {
        mediaType = data = "";
        if (!url.StartsWith("data:", StringComparison.OrdinalIgnoreCase)) return false;
        var comma = url.IndexOf(',');
        if (comma < 0) return false;
        var header = url.AsSpan(5, comma - 5);
        // Parameters (charset=…) may sit between the media type and ";base64"; only base64 is accepted.
        if (!header.EndsWith(";base64", StringComparison.OrdinalIgnoreCase)) return false;
        var semicolon = header.IndexOf(';');
        var type = header[..semicolon].Trim();
        if (type.IsEmpty || comma == url.Length - 1) return false;
        mediaType = type.ToString().ToLowerInvariant();
        data = url[(comma + 1)..];
        return true;
    }
}
