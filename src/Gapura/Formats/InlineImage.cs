using System.Buffers.Text;
using Gapura.Conversations;

namespace Gapura.Formats;

/// <summary>
/// An inline image as every door receives it, checked before anything goes upstream: its media type is one every
/// upstream takes (PNG, JPEG, GIF, WebP — Anthropic's, OpenAI's and Kiro's common set) and its data is base64 that
/// decodes. A bad one is a 400 naming the field, rather than an upstream's puzzling error or a silently broken image.
/// </summary>
internal static class InlineImage
{
    public static readonly IReadOnlyList<string> MediaTypes = ["image/png", "image/jpeg", "image/gif", "image/webp"];

    /// <param name="mediaTypePath">The field the media type came from (for a data URL, the URL's own field).</param>
    public static ImageBlock Create(string mediaType, string data, string mediaTypePath, string dataPath)
    {
        var type = mediaType.Trim().ToLowerInvariant();
        if (type == "image/jpg") type = "image/jpeg"; // a common misspelling every upstream would refuse
        if (!MediaTypes.Contains(type))
            throw JsonFields.Error(mediaTypePath, $"image media type '{mediaType}' is not supported; use one of {string.Join(", ", MediaTypes)}");
        // Validated without decoding (no copy of a possibly large image); whitespace is allowed, as base64 decoders allow it.
        if (data.Length == 0 || !Base64.IsValid(data.AsSpan()))
            throw JsonFields.Error(dataPath, "image data is not valid base64");
        return new ImageBlock(type, data);
    }
}
