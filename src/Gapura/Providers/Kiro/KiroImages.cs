using Gapura.Conversations;

namespace Gapura.Providers.Kiro;

/// <summary>An image as Kiro takes it: a format word and the base64 bytes.</summary>
internal sealed record KiroImage(string Format, string Base64);

/// <summary>
/// Converts canonical images to Kiro's shape. Kiro takes only inline bytes in four formats, at most
/// <see cref="MaxPerMessage"/> per message and <see cref="MaxBytes"/> each. Anything outside that is a
/// 400 naming the limit: dropping an image silently would let the model answer about a picture it never saw.
/// </summary>
internal static class KiroImages
{
    public const int MaxPerMessage = 10;
    public const int MaxBytes = 10 * 1024 * 1024;

    public static KiroImage Convert(ImageBlock image)
    {
        var data = image.Data.AsSpan().Trim();
        var mediaType = image.MediaType;

        if (data.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || data.StartsWith("https://", StringComparison.OrdinalIgnoreCase))
            throw GatewayException.BadRequest("Kiro accepts only inline (base64) images; an image given by URL cannot be sent. Inline the image data instead.");

        // The canonical model says "no data-URL prefix", but accepting one costs nothing and spares a confusing 400.
        if (data.StartsWith("data:", StringComparison.OrdinalIgnoreCase))
        {
            var comma = data.IndexOf(',');
            var header = comma < 0 ? data : data[..comma];
            if (comma < 0 || !header.EndsWith(";base64", StringComparison.OrdinalIgnoreCase))
                throw GatewayException.BadRequest("An image data URL must be base64-encoded (data:<media type>;base64,<data>).");
            mediaType = header["data:".Length..^";base64".Length].ToString();
            data = data[(comma + 1)..];
        }

        var format = mediaType.Trim().ToLowerInvariant() switch
        {
            "image/png" => "png",
            "image/jpeg" or "image/jpg" => "jpeg",
            "image/gif" => "gif",
            "image/webp" => "webp",
            _ => throw GatewayException.BadRequest(
                $"Image media type '{mediaType}' is not supported by Kiro; use image/gif, image/jpeg, image/png or image/webp."),
        };

        var bytes = DecodedLength(data);
        if (bytes > MaxBytes)
            throw GatewayException.BadRequest(
                $"An image is {bytes:N0} bytes; Kiro accepts at most {MaxBytes:N0} bytes (10 MB) per image.");

        return new KiroImage(format, data.Length == image.Data.Length ? image.Data : data.ToString());
    }

    public static void CheckCount(int count)
    {
        if (count > MaxPerMessage)
            throw GatewayException.BadRequest(
                $"A message carries {count} images; Kiro accepts at most {MaxPerMessage} images per message.");
    }

    private static long DecodedLength(ReadOnlySpan<char> base64)
    {
        var padding = base64.EndsWith("==") ? 2 : base64.EndsWith("=") ? 1 : 0;
        return Math.Max(0, base64.Length / 4L * 3 + base64.Length % 4 * 3 / 4 - padding);
    }
}
