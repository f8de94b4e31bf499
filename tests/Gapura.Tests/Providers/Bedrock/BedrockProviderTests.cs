using System.Net;
using System.Text;
using System.Text.Json;
using Gapura.Conversations;
using Gapura.Providers;
using Gapura.Providers.Accounts;
using Gapura.Providers.Bedrock;
using Gapura.Routing;
using Gapura.Simulators.Bedrock;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Gapura.Tests.Providers.Bedrock;

/// <summary>The provider end to end against the Bedrock simulator: signed requests, decoded streams, errors, retries.</summary>
public sealed class BedrockProviderTests : IAsyncLifetime
{
    private const string ModelId = "anthropic.claude-sonnet-4-5-20250929-v1:0";
    private BedrockSimulator _sim = null!;

    public async Task InitializeAsync() => _sim = await BedrockSimulator.StartAsync();

    public async Task DisposeAsync() => await _sim.DisposeAsync();

    private BedrockOptions Options(Action<BedrockOptions>? configure = null)
    {
        var o = new BedrockOptions
        {
            Region = "us-east-1",
            AccessKeyId = BedrockSimulatorOptions.TestAccessKeyId,
            SecretAccessKey = BedrockSimulatorOptions.TestSecretAccessKey,
            Endpoint = _sim.BaseUrl,
            RetryBaseDelayMilliseconds = 5,
        };
        configure?.Invoke(o);
        return o;
    }

    /// <summary>The provider with only the gateway's own account, from <paramref name="options"/>.</summary>
    private static BedrockProvider Provider(BedrockOptions options)
    {
        var wrapped = Microsoft.Extensions.Options.Options.Create(options);
        var client = new BedrockClient(new HttpClient(), wrapped, NullLogger<BedrockClient>.Instance);
        return new BedrockProvider(client, wrapped, ProviderAccounts.ProcessOnly(BedrockProvider.ProviderName, BedrockProcessAccount.From(options)),
            NullLogger<BedrockProvider>.Instance);
    }

    private static ResolvedModel Model(string id = ModelId) => new(id, new ModelInfo(id, id, 200_000, 64_000, "bedrock"));

    private static async Task<List<StreamEvent>> Run(IChatProvider provider, ChatRequest request, string modelId = ModelId)
    {
        var events = new List<StreamEvent>();
        await foreach (var e in provider.StreamAsync(request, Model(modelId), new ChatContext(), CancellationToken.None)) events.Add(e);
        return events;
    }

    private static ChatRequest Ask(string text) => new() { Model = "claude-sonnet-4-5", Messages = [Message.Text(Role.User, text)], MaxTokens = 1000, Stream = true };

    private static string Text(IEnumerable<StreamEvent> events) => string.Concat(events.OfType<TextDelta>().Select(t => t.Text));

    private static JsonElement Json(string json) => JsonDocument.Parse(json).RootElement.Clone();

    [Fact]
    public async Task Echoes_through_a_signed_converse_stream_call_with_the_model_id_escaped_in_the_path()
    {
        var events = await Run(Provider(Options()), Ask("hello there, Bedrock"));
        Assert.Equal("hello there, Bedrock", Text(events));
        var end = Assert.IsType<MessageEnd>(events[^1]);
        Assert.Equal(StopReason.EndTurn, end.StopReason);
        Assert.True(end.Usage.InputTokens > 0);
        var recorded = Assert.Single(_sim.ChatRequests);
        Assert.Equal("/model/anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse-stream", recorded.Path);
        Assert.StartsWith("AWS4-HMAC-SHA256 Credential=" + BedrockSimulatorOptions.TestAccessKeyId, recorded.Header("Authorization"));
        Assert.Equal(0, _sim.SignatureFailures);
    }

    [Fact]
    public async Task Inference_profile_ids_are_sent_as_given()
    {
        var events = await Run(Provider(Options()), Ask("hi"), "us." + ModelId);
        Assert.Equal("hi", Text(events));
        Assert.Equal("/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse-stream", _sim.ChatRequests[0].Path);
    }

    [Fact]
    public async Task A_wrong_secret_is_refused_by_the_simulators_signature_check()
    {
        var e = await Assert.ThrowsAsync<GatewayException>(() => Run(Provider(Options(o => o.SecretAccessKey = "not-the-secret")), Ask("hi")));
        Assert.Equal(ErrorKind.UpstreamLogin, e.Kind);
        Assert.Contains("signature we calculated does not match", e.Message);
        Assert.Equal(1, _sim.SignatureFailures);
        Assert.DoesNotContain("not-the-secret", e.Message);
    }

    [Fact]
    public async Task A_tampered_body_or_path_fails_verification_and_an_untampered_request_passes()
    {
        var options = Options();
        var body = """{"messages":[{"role":"user","content":[{"text":"hi"}]}],"inferenceConfig":{"maxTokens":10}}"""u8.ToArray();
        var credentials = new AwsCredentials(options.AccessKeyId!, options.SecretAccessKey!);
        using var http = new HttpClient();

        HttpRequestMessage Signed(string path, byte[] signedBody)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, _sim.BaseUrl + path) { Content = new ByteArrayContent(signedBody) };
            request.Content.Headers.ContentType = new("application/json");
            SigV4Signer.Sign(request, signedBody, credentials, "us-east-1", "bedrock", DateTimeOffset.UtcNow);
            return request;
        }

        var path = "/model/anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse";
        using (var ok = await http.SendAsync(Signed(path, body))) Assert.Equal(HttpStatusCode.OK, ok.StatusCode);

        var tamperedBody = Signed(path, body);
        tamperedBody.Content = new ByteArrayContent(Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(body).Replace("hi", "ho")));
        tamperedBody.Content.Headers.ContentType = new("application/json");
        using (var refused = await http.SendAsync(tamperedBody))
        {
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
            Assert.Contains("InvalidSignatureException", refused.Headers.GetValues("x-amzn-ErrorType").Single());
            Assert.Contains("The request signature we calculated does not match", await refused.Content.ReadAsStringAsync());
        }

        var tamperedSignature = Signed(path, body);
        var auth = tamperedSignature.Headers.GetValues("Authorization").Single();
        tamperedSignature.Headers.Remove("Authorization");
        tamperedSignature.Headers.TryAddWithoutValidation("Authorization", auth[..^1] + (auth[^1] == '0' ? '1' : '0'));
        using (var refused = await http.SendAsync(tamperedSignature)) Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);

        var unsigned = new HttpRequestMessage(HttpMethod.Post, _sim.BaseUrl + path) { Content = new ByteArrayContent(body) };
        using (var refused = await http.SendAsync(unsigned)) Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Equal(3, _sim.SignatureFailures);
    }

    [Fact]
    public async Task Tool_round_trip()
    {
        var tools = new[] { new ToolDefinition("get_weather", "Weather", Json("""{"type":"object"}""")) };
        var first = await Run(Provider(Options()), Ask("""[[tool:get_weather {"city":"Oslo"}]]""") with { Tools = tools });
        var start = Assert.Single(first.OfType<ToolCallStart>());
        Assert.Equal("get_weather", start.Name);
        Assert.Equal("""{"city":"Oslo"}""", string.Concat(first.OfType<ToolCallDelta>().Select(d => d.ArgumentsFragment)));
        Assert.Single(first.OfType<ToolCallEnd>());
        Assert.Equal(StopReason.ToolUse, Assert.IsType<MessageEnd>(first[^1]).StopReason);

        var second = await Run(Provider(Options()), new ChatRequest
        {
            Model = "m",
            Tools = tools,
            Messages =
            [
                Message.Text(Role.User, """[[tool:get_weather {"city":"Oslo"}]]"""),
                new Message(Role.Assistant, [new ToolUseBlock(start.Id, "get_weather", Json("""{"city":"Oslo"}"""))]),
                new Message(Role.User, [new ToolResultBlock(start.Id, [new TextBlock("sunny, 21°C")], IsError: false)]),
            ],
        });
        Assert.Equal("Tool said: sunny, 21°C", Text(second));
        var sent = _sim.ChatRequests[^1].Json!;
        Assert.Equal("success", sent["messages"]![2]!["content"]![0]!["toolResult"]!["status"]!.GetValue<string>());
    }

    [Fact]
    public async Task Thinking_streams_reasoning_with_its_signature_before_the_text()
    {
        var events = await Run(Provider(Options()), Ask("why?") with { MaxTokens = 8000, Thinking = new ThinkingRequest(ThinkingMode.Enabled, 2048) });
        Assert.Equal("Thinking about: why?", string.Concat(events.OfType<ReasoningDelta>().Select(r => r.Text)));
        Assert.Single(events.OfType<ReasoningSignature>());
        Assert.True(events.FindIndex(e => e is ReasoningSignature) < events.FindIndex(e => e is TextDelta));
    }

    [Fact]
    public async Task Cache_points_report_a_cache_write_then_a_cache_read()
    {
        var request = new ChatRequest
        {
            Model = "m",
            System = new string('x', 4000),
            SystemCacheBreakpoint = true,
            Messages = [Message.Text(Role.User, "q")],
        };
        var first = Assert.IsType<MessageEnd>((await Run(Provider(Options()), request))[^1]).Usage;
        var second = Assert.IsType<MessageEnd>((await Run(Provider(Options()), request))[^1]).Usage;
        Assert.True(first.CacheWriteTokens > 0);
        Assert.Equal(0, first.CacheReadTokens);
        Assert.Equal(first.CacheWriteTokens, second.CacheReadTokens);
        Assert.Equal(0, second.CacheWriteTokens);
    }

    [Fact]
    public async Task Max_tokens_and_stop_sequences_are_enforced_upstream_and_reported()
    {
        var cut = Assert.IsType<MessageEnd>((await Run(Provider(Options()), Ask("one two three four five") with { MaxTokens = 2 }))[^1]);
        Assert.Equal(StopReason.MaxTokens, cut.StopReason);
        var events = await Run(Provider(Options()), Ask("alpha STOP beta") with { StopSequences = ["STOP"] });
        Assert.Equal("alpha ", Text(events));
        var end = Assert.IsType<MessageEnd>(events[^1]);
        Assert.Equal(StopReason.StopSequence, end.StopReason);
        Assert.Equal("STOP", end.StopSequence);
    }

    [Fact]
    public async Task Scripted_stream_exception_reaches_the_caller_after_the_text()
    {
        _sim.Enqueue(BedrockScenario.Stream(BedrockEvent.MessageStart(), BedrockEvent.Text(0, "so far"),
            BedrockEvent.Exception("modelStreamErrorException", "Model stream failed", 500)));
        var seen = new List<StreamEvent>();
        var e = await Assert.ThrowsAsync<GatewayException>(async () =>
        {
            await foreach (var ev in Provider(Options()).StreamAsync(Ask("x"), Model(), new ChatContext(), CancellationToken.None)) seen.Add(ev);
        });
        Assert.Equal("so far", Text(seen));
        Assert.Equal(502, e.Status);
        Assert.Contains("Model stream failed", e.Message);
    }

    [Fact]
    public async Task A_stream_cut_mid_frame_is_an_error()
    {
        // The pause lets the headers and first frames be read before the reset: a reset discards unread data,
        // and a reset before the headers would be a connection failure (retried), not a cut stream.
        _sim.Enqueue(new BedrockScenario { Events = BedrockScenario.Text("aaaaaaaaaa", "bbbbbbbbbb").Events, CutAfterBytes = 400, DelayBetweenFrames = TimeSpan.FromMilliseconds(100) });
        var e = await Assert.ThrowsAsync<GatewayException>(() => Run(Provider(Options()), Ask("x")));
        Assert.Equal(ErrorKind.UpstreamUnavailable, e.Kind);
        Assert.Single(_sim.ChatRequests);
    }

    [Theory]
    [InlineData(400, "ValidationException", ErrorKind.InvalidRequest, 400)]
    [InlineData(403, "AccessDeniedException", ErrorKind.PermissionDenied, 403)]
    [InlineData(424, "ModelErrorException", ErrorKind.UpstreamUnavailable, 502)]
    public async Task Http_errors_are_not_retried_and_keep_the_upstream_message(int status, string type, ErrorKind kind, int expected)
    {
        _sim.Enqueue(BedrockScenario.Error(status, type, $"upstream says {type}"));
        var e = await Assert.ThrowsAsync<GatewayException>(() => Run(Provider(Options()), Ask("x")));
        Assert.Equal(kind, e.Kind);
        Assert.Equal(expected, e.Status);
        Assert.Contains($"upstream says {type}", e.Message);
        Assert.Single(_sim.ChatRequests);
    }

    [Fact]
    public async Task Bedrocks_own_validation_reaches_the_caller_as_a_400()
    {
        var e = await Assert.ThrowsAsync<GatewayException>(() => Run(Provider(Options()), Ask("x") with { MaxTokens = 50_000 }, "anthropic.claude-3-5-haiku-20241022-v1:0"));
        Assert.Equal(400, e.Status);
        Assert.Contains("exceeds the model limit", e.Message);
    }

    [Fact]
    public async Task Throttling_and_5xx_are_retried_then_succeed()
    {
        _sim.Enqueue(BedrockScenario.Throttled(TimeSpan.FromMilliseconds(1)));
        _sim.Enqueue(BedrockScenario.Unavailable());
        var events = await Run(Provider(Options()), Ask("made it"));
        Assert.Equal("made it", Text(events));
        Assert.Equal(3, _sim.ChatRequests.Count);
        // Each attempt carries its own signature and attempt number.
        Assert.Equal(["attempt=1; max=3", "attempt=2; max=3", "attempt=3; max=3"], _sim.ChatRequests.Select(r => r.Header("amz-sdk-request")));
    }

    [Fact]
    public async Task Throttling_that_persists_is_a_429_with_retry_after()
    {
        for (var i = 0; i < 3; i++) _sim.Enqueue(BedrockScenario.Throttled(TimeSpan.FromSeconds(1)));
        var e = await Assert.ThrowsAsync<GatewayException>(() => Run(Provider(Options(o => o.MaxRetryDelaySeconds = 0.01)), Ask("x")));
        Assert.Equal(ErrorKind.RateLimited, e.Kind);
        Assert.Equal(429, e.Status);
        Assert.NotNull(e.RetryAfter);
        Assert.Equal(3, _sim.ChatRequests.Count);
    }

    [Fact]
    public async Task Session_tokens_are_sent_and_signed()
    {
        await using var sim = await BedrockSimulator.StartAsync(new BedrockSimulatorOptions { RequiredSessionToken = "sts-token" });
        var options = Options(o => { o.Endpoint = sim.BaseUrl; o.SessionToken = "sts-token"; });
        Assert.Equal("ok", Text(await Run(Provider(options), Ask("ok"))));
        var e = await Assert.ThrowsAsync<GatewayException>(() => Run(Provider(Options(o => o.Endpoint = sim.BaseUrl)), Ask("ok")));
        Assert.Equal(ErrorKind.UpstreamLogin, e.Kind);
    }

    [Fact]
    public async Task Profile_credentials_come_from_a_shared_credentials_file()
    {
        var dir = Directory.CreateTempSubdirectory("gapura-aws-");
        try
        {
            var file = Path.Combine(dir.FullName, "credentials");
            await File.WriteAllTextAsync(file, $"""
                [default]
                aws_access_key_id = AKIDWRONG
                aws_secret_access_key = nope

                # the one we use
                [bedrock-test]
                aws_access_key_id = {BedrockSimulatorOptions.TestAccessKeyId}
                aws_secret_access_key = {BedrockSimulatorOptions.TestSecretAccessKey}
                """);
            var options = Options(o => { o.AccessKeyId = null; o.SecretAccessKey = null; o.Profile = "bedrock-test"; o.CredentialsFile = file; });
            Assert.True(options.IsConfigured);
            Assert.Equal("from profile", Text(await Run(Provider(options), Ask("from profile"))));

            var missing = Options(o => { o.AccessKeyId = null; o.SecretAccessKey = null; o.Profile = "absent"; o.CredentialsFile = file; });
            var e = await Assert.ThrowsAsync<GatewayException>(() => Run(Provider(missing), Ask("x")));
            Assert.Equal(ErrorKind.UpstreamLogin, e.Kind);
            Assert.Contains("absent", e.Message);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task The_gateways_own_account_needs_a_region_and_keys_or_a_profile_and_follows_a_rotated_profile()
    {
        Assert.Null(BedrockProcessAccount.From(new BedrockOptions { Region = "us-east-1" }));
        Assert.Null(BedrockProcessAccount.From(new BedrockOptions { AccessKeyId = "AKID", SecretAccessKey = "s" }));
        var keys = await BedrockProcessAccount.From(new BedrockOptions { Region = "us-east-1", AccessKeyId = " AKID ", SecretAccessKey = "s", SessionToken = "t" })!
            .GetSecretAsync(forceRefresh: false, default);
        Assert.Equal((AccountSecret.AwsKind, "AKID", "s", "t"), (keys.Kind, keys.AccessKeyId, keys.SecretAccessKey, keys.SessionToken));

        var dir = Directory.CreateTempSubdirectory("gapura-aws-");
        try
        {
            var file = Path.Combine(dir.FullName, "credentials");
            await File.WriteAllTextAsync(file, "[work]\naws_access_key_id = AKIDOLD\naws_secret_access_key = old\n");
            var account = BedrockProcessAccount.From(new BedrockOptions { Region = "us-east-1", Profile = "work", CredentialsFile = file })!;
            Assert.Equal("process", account.Label);
            Assert.Equal("AKIDOLD", (await account.GetSecretAsync(false, default)).AccessKeyId);
            // `aws configure` rewrites the file; the next call signs with the new keys, no restart.
            await File.WriteAllTextAsync(file, "[work]\naws_access_key_id = AKIDNEW\naws_secret_access_key = new\n");
            File.SetLastWriteTimeUtc(file, DateTime.UtcNow.AddMinutes(1));
            Assert.Equal("AKIDNEW", (await account.GetSecretAsync(false, default)).AccessKeyId);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Non_streaming_requests_use_converse_and_give_the_same_events()
    {
        var tools = new[] { new ToolDefinition("lookup", null, Json("""{"type":"object"}""")) };
        var events = await Run(Provider(Options()), Ask("""first [[tool:lookup {"q":"x"}]]""") with { Stream = false, Tools = tools, Thinking = new ThinkingRequest(ThinkingMode.Enabled, 512) });
        Assert.Equal("/model/anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse", Assert.Single(_sim.ChatRequests).Path);
        Assert.IsType<ReasoningDelta>(events[0]);
        Assert.IsType<ReasoningSignature>(events[1]);
        Assert.Equal("first", Text(events));
        Assert.Equal("lookup", Assert.Single(events.OfType<ToolCallStart>()).Name);
        Assert.Equal("""{"q":"x"}""", Assert.Single(events.OfType<ToolCallDelta>()).ArgumentsFragment);
        var end = Assert.IsType<MessageEnd>(events[^1]);
        Assert.Equal(StopReason.ToolUse, end.StopReason);
        Assert.True(end.Usage.OutputTokens > 0);
    }

    [Fact]
    public void A_conversation_larger_than_the_context_window_is_a_400_before_anything_is_sent()
    {
        // The refusal lives in Routing.CapabilityCheck, which the pipeline runs before any provider is called.
        var e = Assert.Throws<GatewayException>(() => CapabilityCheck.Filter(Ask("x"), 250_000, longContext: false, [Model()]));
        Assert.Equal(400, e.Status);
        Assert.True(e.IsContextOverflow);
        Assert.StartsWith("prompt is too long: 250000 tokens > ", e.Message);
        Assert.Empty(_sim.Requests);
    }

    [Fact]
    public async Task Unreachable_endpoint_is_a_502_after_retries()
    {
        var e = await Assert.ThrowsAsync<GatewayException>(() => Run(Provider(Options(o => o.Endpoint = "http://127.0.0.1:1")), Ask("x")));
        Assert.Equal(ErrorKind.UpstreamUnavailable, e.Kind);
        Assert.Equal(502, e.Status);
    }
}
