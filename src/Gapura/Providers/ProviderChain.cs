using System.Runtime.CompilerServices;
using Gapura.Conversations;
using Gapura.Routing;
using Gapura.Telemetry;

namespace Gapura.Providers;

/// <summary>
/// Calls the providers that can serve a request in order and falls back along them: a failure before the
/// first event reaches the client (connection error, timeout, 429, 5xx, spent quota, dead login) moves on to
/// the next candidate and cools the failed provider down for its Retry-After; once an event has been
/// yielded nothing is retried. Which provider answered goes into the response headers. Provider rests are kept with the
/// accounts' (<see cref="LoginCooldowns"/>), so every instance sees them.
/// </summary>
/// <param name="cooldowns">The gateway's shared rests; null (tools, tests) keeps them in this chain alone.</param>
internal sealed class ProviderChain(IEnumerable<IChatProvider> providers, ILogger<ProviderChain> log, TimeProvider time, LoginCooldowns? cooldowns = null)
{
    public const string ProviderHeader = "x-gapura-provider";
    public const string ModelHeader = "x-gapura-model";
    public const string LoginHeader = "x-gapura-login";

    private readonly Dictionary<string, IChatProvider> _byName = providers.ToDictionary(p => p.Name, StringComparer.OrdinalIgnoreCase);
    private readonly LoginCooldowns _cooldowns = cooldowns ?? new LoginCooldowns(time);

    public IChatProvider For(ResolvedModel model) => _byName.TryGetValue(model.Model.Provider, out var provider)
        ? provider
        : throw new GatewayException(ErrorKind.Internal, $"No provider '{model.Model.Provider}' is registered for model '{model.Model.Id}'.");

    /// <summary>The candidates in the order to try: cooling-down providers move behind the others (still tried last).</summary>
    public IReadOnlyList<ResolvedModel> Order(IReadOnlyList<ResolvedModel> candidates)
    {
        if (candidates.Count < 2 || !_cooldowns.AnyResting) return candidates;
        var resting = false;
        foreach (var c in candidates) resting |= _cooldowns.IsProviderResting(c.Model.Provider);
        return resting ? [.. candidates.OrderBy(c => _cooldowns.IsProviderResting(c.Model.Provider) ? 1 : 0)] : candidates;
    }

    public async IAsyncEnumerable<StreamEvent> StreamAsync(ChatRequest request, IReadOnlyList<ResolvedModel> candidates, ChatContext context,
        [EnumeratorCancellation] CancellationToken ct)
    {
        var ordered = Order(candidates);
        for (var i = 0; i < ordered.Count; i++)
        {
            var candidate = ordered[i];
            var provider = For(candidate);
            // Named before the first event too: a keep-alive may send the headers while this attempt is still silent.
            Describe(context, provider, candidate);
            // The attempt's span ends with this iteration: a fallback, a failure, or the end of the answer.
            var sent = ClampMaxTokens(request, candidate.Model);
            using var attempt = GapuraTracing.StartAttempt(provider.Name, candidate, sent.MaxTokens);
            var events = (request.OutputFormat is { } format && !provider.TakesOutputFormat(format)
                ? StructuredOutput.Answer(provider.StreamAsync(StructuredOutput.Constrain(sent, out var answerTool), candidate, context, ct), format, answerTool, ct)
                : provider.StreamAsync(sent, candidate, context, ct)).GetAsyncEnumerator(ct);
            bool hasFirst;
            try
            {
                hasFirst = await events.MoveNextAsync();
            }
            catch (Exception e) when (GapuraTracing.Failed(attempt, e)) { throw; /* never: the filter only marks the span */ }
            catch (GatewayException e) when (e.IsRetryable && i < ordered.Count - 1 && !ct.IsCancellationRequested)
            {
                await events.DisposeAsync();
                CoolDown(candidate.Model.Provider, e);
                context.RecordFailedAttempt(provider.Name, e.Kind);
                log.LogWarning("Falling back from {Provider} ({Model}) to {Next}: {Kind} {Status}: {Reason}",
                    provider.Name, candidate.Model.Id, ordered[i + 1].Model.Provider, e.Kind, e.Status, e.Message);
                // Headers the failed attempt set (its login, trimmed history…) do not describe the answer.
                context.ResponseHeaders.Clear();
                continue;
            }
            catch
            {
                await events.DisposeAsync();
                throw;
            }

            Describe(context, provider, candidate);
            try
            {
                if (!hasFirst) yield break;
                do
                {
                    if (attempt is not null && events.Current is MessageEnd end) GapuraTracing.AttemptUsage(attempt, end.Usage);
                    yield return events.Current;
                }
                while (await events.MoveNextAsync());
            }
            finally
            {
                await events.DisposeAsync();
            }
            yield break;
        }
    }

    /// <summary><c>x-gapura-provider: kiro/work</c> — the provider and, when it has one, the account label.</summary>
    public static void Describe(ChatContext context, IChatProvider provider, ResolvedModel model)
    {
        context.ResponseHeaders[ProviderHeader] = context.ResponseHeaders.TryGetValue(LoginHeader, out var login) ? $"{provider.Name}/{login}" : provider.Name;
        context.ResponseHeaders[ModelHeader] = model.Model.Id;
        context.ServedBy = provider.Name;
        context.ServedModel = model.Model.Id;
    }

    private void CoolDown(string provider, GatewayException e)
    {
        if (e.Kind is not (ErrorKind.RateLimited or ErrorKind.QuotaExceeded or ErrorKind.UpstreamLogin)) return;
        _cooldowns.CoolDownProvider(provider, e);
    }

    /// <summary>
    /// Upstreams reject or ignore max_tokens above the model's cap; clamp instead of letting the upstream
    /// fail, and fill it in when the client left it out (each candidate has its own cap).
    /// </summary>
    internal static ChatRequest ClampMaxTokens(ChatRequest request, ModelInfo model)
    {
        var cap = model.MaxOutputTokens;
        if (request.MaxTokens is { } asked && asked <= cap) return request;
        return request with { MaxTokens = cap };
    }
}
