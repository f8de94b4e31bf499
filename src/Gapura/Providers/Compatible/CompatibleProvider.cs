using Gapura.Providers.Accounts;
using Gapura.Providers.OpenAi;

namespace Gapura.Providers.Compatible;

/// <summary>
/// An OpenAI-compatible server (Ollama, vLLM, LM Studio, a company proxy) configured under
/// <c>Providers:Compatible:&lt;name&gt;</c>; its routing name is that name. All the wire work is the shared
/// <see cref="ChatCompletionsProvider"/>: only the account differs. Users may connect their own key for the
/// server (a company proxy that bills per user); it goes as the bearer to the same address.
/// </summary>
internal sealed class CompatibleProvider(ChatCompletionsClient client, ProviderAccounts accounts, ILogger log)
    : ChatCompletionsProvider(client, accounts, log);
