using System.Text;
using System.Text.Json.Nodes;

namespace Gapura.Simulators.Kiro;

/// <summary>A request as the simulator received it, for assertions.</summary>
public sealed class RecordedRequest
{
    public RecordedRequest(string method, string path, string query, IReadOnlyDictionary<string, string> headers, byte[] body)
    {
        Method = method;
        Path = path;
        Query = query;
        Headers = headers;
        BodyBytes = body;
    }

    public string Method { get; }

    public string Path { get; }

    /// <summary>The query string including its leading <c>?</c>, or empty.</summary>
    public string Query { get; }

    /// <summary>Headers, case-insensitive; repeated headers joined with ", ".</summary>
    public IReadOnlyDictionary<string, string> Headers { get; }

    public byte[] BodyBytes { get; }

    public string Body => Encoding.UTF8.GetString(BodyBytes);

    /// <summary>The body parsed as JSON, or null when it is not JSON.</summary>
    public JsonNode? Json
    {
        get
        {
            try { return BodyBytes.Length == 0 ? null : JsonNode.Parse(BodyBytes); }
            catch (System.Text.Json.JsonException) { return null; }
        }
    }

    public string? Header(string name) => Headers.TryGetValue(name, out var value) ? value : null;

    public override string ToString() => $"{Method} {Path}{Query} ({BodyBytes.Length} B)";
}
