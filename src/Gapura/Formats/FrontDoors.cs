namespace Gapura.Formats;

/// <summary>Names of the client-facing API dialects: the keys front doors are registered under, and what a passthrough provider is asked about.</summary>
public static class FrontDoors
{
    public const string OpenAiChat = "openai-chat";
    public const string AnthropicMessages = "anthropic-messages";
    public const string OpenAiResponses = "openai-responses";
}
