namespace Gapura.Providers.Kiro;

/// <summary>A built <c>generateAssistantResponse</c> body and what the rest of the turn needs to know about it.</summary>
/// <param name="Body">The UTF-8 JSON request body.</param>
/// <param name="ToolNameAliases">Kiro tool name → the client's name, for names that had to be shortened.
/// The response decoder maps tool calls back through it (<see cref="Gapura.Providers.Kiro.ToolNameAliases.Original"/>).</param>
/// <param name="TrimmedHistoryMessages">History messages dropped to fit <see cref="KiroOptions.MaxPayloadBytes"/>;
/// the caller tells the client (response header, log line) when this is not 0.</param>
/// <param name="ThinkingInjected">Whether the thinking prefix was added, so the decoder splits <c>&lt;thinking&gt;</c> text out.</param>
internal sealed record KiroRequest(
    ReadOnlyMemory<byte> Body,
    IReadOnlyDictionary<string, string> ToolNameAliases,
    int TrimmedHistoryMessages,
    bool ThinkingInjected);
