using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace Gapura.Ledger;

/// <summary>A client application recognised from a request: its name, version, and the raw User-Agent when unrecognised.</summary>
internal readonly record struct ClientApp(string Name, string? Version, string? UserAgent);

/// <summary>
/// Tells which program sent a request, from what the programs themselves send (observed on this machine, see
/// <c>shared/protocols/clients.md</c>): Claude Code's <c>claude-cli/…</c> user agent, Codex's <c>originator</c>
/// header and <c>codex_…/</c> user agent, opencode's, the Vercel AI SDK's <c>ai-sdk/…</c> suffix, LangChain's, the
/// official SDKs' <c>X-Stainless-Lang</c> / <c>X-Stainless-Package-Version</c> headers (JS, Python, Go, Java…) or
/// their <c>Anthropic/…</c>, <c>OpenAI/…</c> user agents (.NET), and curl. Anything else is <c>other</c> with the
/// user agent kept, so a new client can be named later from the ledger.
/// </summary>
internal static class ClientApps
{
    public const string ClaudeCode = "claude-code";
    public const string CodexCli = "codex-cli";
    public const string OpenCode = "opencode";
    public const string VercelAiSdk = "vercel-ai-sdk";
    public const string LangChain = "langchain";
    public const string Curl = "curl";
    public const string Other = "other";

    /// <summary>Longest user agent kept for an unrecognised client.</summary>
    private const int MaxUserAgent = 256;

    public static ClientApp Recognize(IHeaderDictionary headers)
    {
        var ua = headers.UserAgent.ToString();
        if (After(ua, "claude-cli/") is { } claude) return new(ClaudeCode, FirstToken(claude), null);
        var originator = headers["originator"].ToString();
        if (originator.StartsWith("codex", StringComparison.OrdinalIgnoreCase) || ua.StartsWith("codex", StringComparison.OrdinalIgnoreCase))
            return new(CodexCli, VersionAfterFirstSlash(ua), null);
        if (After(ua, "opencode/") is { } opencode) return new(OpenCode, FirstToken(opencode), null);
        // The AI SDK and LangChain run on top of the official SDKs (or fetch), so they are looked for first.
        if (After(ua, "ai-sdk/") is { } aiSdk) return new(VercelAiSdk, LastVersion(aiSdk), null);
        if (After(ua, "langchain") is { } langchain) return new(LangChain, LastVersion(langchain.TrimStart('/', '-', '_')), null);
        var lang = headers["x-stainless-lang"].ToString();
        if (lang.Length > 0)
        {
            var vendor = ua.Contains("anthropic", StringComparison.OrdinalIgnoreCase) ? "anthropic" : "openai";
            var version = headers["x-stainless-package-version"].ToString();
            return new($"{vendor}-sdk-{Language(lang)}", version.Length > 0 ? version : null, null);
        }
        if (After(ua, "Anthropic/") is { } anthropic) return new($"anthropic-sdk-{SdkLanguage(anthropic)}", FirstToken(anthropic), null);
        if (After(ua, "OpenAI/") is { } openAi) return new($"openai-sdk-{SdkLanguage(openAi)}", FirstToken(openAi), null);
        if (After(ua, "curl/") is { } curl) return new(Curl, FirstToken(curl), null);
        return new(Other, null, ua.Length == 0 ? null : ua.Length > MaxUserAgent ? ua[..MaxUserAgent] : ua);
    }

    /// <summary>
    /// The client's own conversation id: Claude Code's <c>x-claude-code-session-id</c> header (or the
    /// <c>session_id</c> inside its <c>metadata.user_id</c>), Codex's <c>session-id</c> / <c>session_id</c> header.
    /// </summary>
    public static string? SessionId(IHeaderDictionary headers, JsonElement body)
    {
        foreach (var name in (ReadOnlySpan<string>)["x-claude-code-session-id", "session-id", "session_id", "x-session-id"])
            if (headers[name].ToString() is { Length: > 0 and <= 200 } id) return id;
        if (body.ValueKind == JsonValueKind.Object && body.TryGetProperty("metadata", out var metadata) && metadata.ValueKind == JsonValueKind.Object
            && metadata.TryGetProperty("user_id", out var user) && user.ValueKind == JsonValueKind.String)
            return SessionFromUserId(user.GetString()!);
        return null;
    }

    /// <summary>Claude Code's user_id: a JSON string holding <c>session_id</c> (newer), or <c>user_…_session_&lt;uuid&gt;</c> (older).</summary>
    internal static string? SessionFromUserId(string userId)
    {
        if (userId.StartsWith('{'))
        {
            try
            {
                using var doc = JsonDocument.Parse(userId);
                return doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("session_id", out var s)
                       && s.ValueKind == JsonValueKind.String && s.GetString() is { Length: > 0 and <= 200 } id ? id : null;
            }
            catch (JsonException) { return null; }
        }
        var at = userId.LastIndexOf("_session_", StringComparison.Ordinal);
        return at >= 0 && userId.Length - at - 9 is > 0 and <= 200 ? userId[(at + 9)..] : null;
    }

    private static string? After(string ua, string marker)
    {
        var at = ua.IndexOf(marker, StringComparison.OrdinalIgnoreCase);
        return at < 0 ? null : ua[(at + marker.Length)..];
    }

    private static string? FirstToken(string rest)
    {
        var end = rest.IndexOfAny([' ', ';', '(', ')']);
        var token = end < 0 ? rest : rest[..end];
        return token.Length is > 0 and <= 40 ? token : null;
    }

    private static string? VersionAfterFirstSlash(string ua)
    {
        var slash = ua.IndexOf('/');
        return slash < 0 ? null : FirstToken(ua[(slash + 1)..]);
    }

    /// <summary><c>openai/2.0.53 ai-sdk/provider-utils/3.0.12</c> → the last version-looking token.</summary>
    private static string? LastVersion(string rest)
    {
        foreach (var part in FirstToken(rest)?.Split('/').Reverse() ?? [])
            if (part.Length > 0 && char.IsAsciiDigit(part[0])) return part;
        return null;
    }

    /// <summary>The .NET SDKs say <c>OpenAI/2.15.0 (.NET 10.0…)</c>; the others send X-Stainless headers instead.</summary>
    private static string SdkLanguage(string rest) => rest.Contains(".NET", StringComparison.OrdinalIgnoreCase) ? "dotnet" : "other";

    private static string Language(string stainless) => stainless.ToLowerInvariant() switch
    {
        "js" or "javascript" or "typescript" or "node" => "js",
        "python" => "python",
        "go" or "golang" => "go",
        "java" or "kotlin" => "java",
        "ruby" => "ruby",
        "csharp" or "c#" or "dotnet" => "dotnet",
        var other => other.Length <= 20 && other.All(char.IsAsciiLetterOrDigit) ? other : "other",
    };
}
