using Gapura.Providers.Accounts;

namespace Gapura.Providers.OpenAi;

/// <summary>
/// OpenAI itself (<c>Providers:OpenAI</c>), routing name <c>openai</c>. An account is an API key (the
/// configured endpoint, chat completions or Responses per <c>Providers:OpenAI:Api</c>) or a ChatGPT sign-in,
/// whose calls go to the ChatGPT Codex backend, which speaks only Responses.
/// </summary>
internal sealed class OpenAiProvider(ChatCompletionsClient client, ProviderAccounts accounts, string chatGptBaseUrl, ILogger log)
    : ChatCompletionsProvider(client, accounts, log)
{
    public const string ProviderName = "openai";

    protected internal override OpenAiEndpoint EndpointFor(AccountSecret secret) => secret.Kind == AccountSecret.OAuthKind
        ? OpenAiEndpoint.ChatGptCodex(chatGptBaseUrl, secret.AccessToken ?? "", secret.AccountId ?? "")
        : base.EndpointFor(secret);

    protected override OpenAiApi ApiOf(IUpstreamAccount account)
        => AccountKinds.Of(account) == AccountSecret.OAuthKind ? OpenAiApi.Responses : base.ApiOf(account);
}
