using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace Gapura.Tests.Matrix;

/// <summary>
/// Every front door × every provider × every shared conversation, streamed and not, through one real gateway.
/// Each case checks both sides: what the upstream simulator received is the faithful translation of what the
/// client sent, and what the client got back is the faithful translation of what the upstream answered.
/// Streamed and whole answers are held to the same expectations, so they agree with each other.
/// </summary>
public sealed class ConversionMatrixTests(MatrixFixture matrix) : IClassFixture<MatrixFixture>
{
    private const string Sep = " × ";

    public static IEnumerable<object[]> Cases()
    {
        foreach (var door in FrontDoorDialect.All)
            foreach (var provider in MatrixProvider.Create())
                foreach (var conversation in MatrixConversations.All)
                    foreach (var stream in (bool[])[false, true])
                        yield return [string.Join(Sep, door.Name + "-door", provider.Name, conversation.Name, stream ? "stream" : "whole")];
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Conversation_converts_both_ways(string @case)
    {
        var names = @case.Split(Sep);
        var door = FrontDoorDialect.All.Single(d => d.Name + "-door" == names[0]);
        var provider = matrix.Provider(names[1]);
        var conversation = MatrixConversations.All.Single(c => c.Name == names[2]).SignedBy(provider);
        var stream = names[3] == "stream";

        provider.Script(conversation.Reply);
        using var request = new HttpRequestMessage(HttpMethod.Post, door.Path)
        {
            Content = new StringContent(door.Render(conversation, provider.Model, stream).ToJsonString(), Encoding.UTF8, "application/json"),
        };
        if (door == FrontDoorDialect.Anthropic) request.Headers.TryAddWithoutValidation("anthropic-version", "2023-06-01");
        using var response = await matrix.Http.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {body}");
        Assert.Equal(stream ? "text/event-stream" : "application/json", response.Content.Headers.ContentType?.MediaType);
        Assert.StartsWith(provider.Name, response.Headers.GetValues("x-gapura-provider").Single());

        AssertUpstreamSide(door, provider, conversation, provider.Read(provider.ReceivedBody()));
        var answer = door.Read(body, stream, provider.PassesThrough(door) ? provider.ChatReasoningField : MatrixProvider.GatewayReasoningField);
        AssertClientSide(door, provider, conversation, answer);

        // The ledger charged exactly what the client was told, to the provider that answered.
        var record = await matrix.Gateway.UsageRecordOfAsync(response);
        Assert.Equal((Gapura.Ledger.UsageStatus.Ok, provider.Name, stream, LedgerName(door)), (record.Status, record.Provider, record.Stream, record.FrontDoor));
        Assert.Equal((answer.InputTokens, answer.OutputTokens), (record.InputTokens, record.OutputTokens));

        // The whole answer and the streamed one of the same case say the same (checked by whichever runs second).
        var twin = matrix.Answers.GetOrAdd(string.Join(Sep, names[..3]), answer);
        if (!ReferenceEquals(twin, answer))
        {
            Assert.Equal(twin.Text, answer.Text);
            Assert.Equal(twin.Reasoning, answer.Reasoning);
            Assert.Equal(twin.Calls, answer.Calls, (a, b) => a.Id == b.Id && a.Name == b.Name && JsonNode.DeepEquals(JsonNode.Parse(a.Arguments), JsonNode.Parse(b.Arguments)));
            Assert.Equal((twin.Stop, twin.InputTokens, twin.OutputTokens, twin.Signature), (answer.Stop, answer.InputTokens, answer.OutputTokens, answer.Signature));
        }
    }

    internal static string LedgerName(FrontDoorDialect door)
        => door == FrontDoorDialect.Anthropic ? Gapura.Formats.FrontDoors.AnthropicMessages
            : door == FrontDoorDialect.Responses ? Gapura.Formats.FrontDoors.OpenAiResponses
            : Gapura.Formats.FrontDoors.OpenAiChat;

    private static void AssertUpstreamSide(FrontDoorDialect door, MatrixProvider provider, Conversation c, UpstreamView up)
    {
        // Turns in order, one upstream message per conversation turn.
        Assert.Equal(c.Turns.Select(t => t.User), up.Messages.Select(m => m.User));

        if (c.System is { } system)
        {
            var where = provider.SystemInFirstUserMessage ? up.Messages[0].Text : up.System;
            Assert.Contains(system, where ?? "");
        }

        for (var i = 0; i < c.Turns.Length; i++)
        {
            var sent = up.Messages[i];
            foreach (var part in c.Turns[i].Parts)
            {
                switch (part)
                {
                    case TextPart t:
                        Assert.Contains(t.Text, sent.Text);
                        break;
                    case ThinkingPart thought:
                        // Signed where the door can carry the signature and the upstream's reasoning has one; on the
                        // passthrough path exactly as the client sent it.
                        var signature = door.CarriesThinkingSignature ? thought.Signature : null;
                        var resent = sent.Parts.OfType<ThinkingPart>().ToList();
                        if (provider.PassesThrough(door))
                            Assert.Equal(thought.Text, Assert.Single(resent).Text);
                        else if (provider.ResendsThinking && (signature is not null || !provider.NeedsThinkingSignature))
                            Assert.Equal(new ThinkingPart(thought.Text, signature), Assert.Single(resent));
                        else
                        {
                            // Documented: not resent (no field for it, or unsigned where a signature is required), and not leaked as text.
                            Assert.Empty(resent);
                            Assert.DoesNotContain(thought.Text, sent.Text);
                        }
                        break;
                    case ImagePart image:
                        Assert.Contains(image, sent.Parts.OfType<ImagePart>());
                        break;
                    case CallPart call:
                        var forwarded = Assert.Single(sent.Parts.OfType<CallPart>(), k => k.Id == call.Id);
                        Assert.Equal(call.Name, forwarded.Name);
                        AssertSameJson(call.Arguments, forwarded.Arguments);
                        break;
                    case ResultPart result:
                        var answered = Assert.Single(sent.Parts.OfType<ResultPart>(), r => r.CallId == result.CallId);
                        // The result answers a call of the assistant turn just before it.
                        Assert.Contains(up.Messages[i - 1].Parts.OfType<CallPart>(), k => k.Id == answered.CallId);
                        Assert.Contains(result.Text, answered.Text);
                        // The flag arrives where the door can say it and the upstream can carry it; OpenAI's doors send only content.
                        Assert.Equal(provider.HasToolErrorFlag ? door.CarriesErrorFlag && result.IsError == true : null, answered.IsError);
                        break;
                }
            }
        }

        if (c.Tools) Assert.Equal(MatrixConversations.ToolDefinitions.Select(t => t.Name), up.ToolNames);
        Assert.Equal(c.Thinking, up.ThinkingRequested);
        if (c.Thinking)
        {
            // Passed on as the door said it where the upstream speaks the same way; converted otherwise — a budget
            // below max_tokens from an effort word, an effort word from a budget.
            Assert.True(up.ThinkingBudget is not null ^ up.ReasoningEffort is not null, $"budget {up.ThinkingBudget}, effort {up.ReasoningEffort}");
            if (up.ThinkingBudget is { } budget)
            {
                Assert.InRange(budget, 1, c.MaxTokens - 1);
                if (door.ThinkingBudget is { } asked) Assert.Equal(asked, budget);
            }
            if (up.ReasoningEffort is { } effort)
            {
                Assert.Contains(effort, (string[])["minimal", "low", "medium", "high"]);
                if (door.ReasoningEffort is { } said) Assert.Equal(said, effort);
            }
        }

        // Kiro has no output cap field: nothing to forward, the gateway cuts the answer itself.
        Assert.Equal(provider.EnforcesMaxTokens ? c.MaxTokens : null, up.MaxTokens);
    }

    private static void AssertClientSide(FrontDoorDialect door, MatrixProvider provider, Conversation c, ClientAnswer answer)
    {
        var reply = c.Reply;
        Assert.Equal(reply.Thinking ?? "", answer.Reasoning);
        // Anthropic clients must send signed thinking back unchanged, so the upstream's signature reaches them as it was.
        if (door.ThinkingBudget is not null && reply.Thinking is { } thinking && provider.ThinkingSignature(thinking) is { } signature)
            Assert.Equal(signature, answer.Signature);
        Assert.Equal(door.StopName(reply.Stop), answer.Stop);

        var exactUsage = true;
        if (reply.Stop == Stop.MaxTokens && !provider.EnforcesMaxTokens)
        {
            // The gateway cut a longer answer: what the client got is a strict, non-empty prefix of it.
            Assert.NotEmpty(answer.Text);
            Assert.StartsWith(answer.Text, MatrixConversations.LongText, StringComparison.Ordinal);
            Assert.True(answer.Text.Length < MatrixConversations.LongText.Length, answer.Text);
            exactUsage = false;
        }
        else
        {
            Assert.Equal(reply.Text, answer.Text);
        }

        Assert.Equal(reply.Calls.Length, answer.Calls.Count);
        for (var i = 0; i < reply.Calls.Length; i++)
        {
            Assert.Equal(provider.CallId(i), answer.Calls[i].Id);
            Assert.Equal(reply.Calls[i].Name, answer.Calls[i].Name);
            AssertSameJson(reply.Calls[i].Arguments, answer.Calls[i].Arguments);
        }

        Assert.NotNull(answer.InputTokens);
        Assert.NotNull(answer.OutputTokens);
        if (exactUsage)
        {
            Assert.Equal(reply.InputTokens, answer.InputTokens);
            Assert.Equal(reply.OutputTokens, answer.OutputTokens);
        }
        else
        {
            Assert.True(answer.InputTokens > 0, $"input tokens {answer.InputTokens}");
            Assert.InRange(answer.OutputTokens!.Value, 1, c.MaxTokens);
        }
    }

    private static void AssertSameJson(string expected, string actual)
        => Assert.True(JsonNode.DeepEquals(JsonNode.Parse(expected), JsonNode.Parse(actual)), $"expected {expected}, got {actual}");
}
