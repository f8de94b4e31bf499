using System.Net;
using System.Text;
using Gapura.Ledger;

namespace Gapura.Tests.Matrix;

/// <summary>
/// Every provider answers with known token counts in every bucket its wire format has — input, output, prompt-cache
/// reads and writes — and the ledger must record each bucket once: OpenAI's prompt_tokens (which include the cached
/// ones) split into input and cache read, never counted twice; Anthropic's and Bedrock's cache writes kept. The cost
/// is the price table's for the model that served.
/// </summary>
public sealed class LedgerTokenBucketsTests(MatrixFixture matrix) : IClassFixture<MatrixFixture>
{
    public static IEnumerable<object[]> Cases()
    {
        foreach (var provider in MatrixProvider.Create())
            foreach (var door in FrontDoorDialect.All)
                foreach (var stream in (bool[])[false, true])
                    yield return [provider.Name, door.Name, stream];
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Each_bucket_is_recorded_once_as_the_upstream_counted_it(string providerName, string doorName, bool stream)
    {
        var provider = matrix.Provider(providerName);
        var door = FrontDoorDialect.All.Single(d => d.Name == doorName);
        var (cacheRead, cacheWrite) = providerName switch
        {
            "anthropic" or "bedrock" or "kiro" => (700, 300),
            _ => (700, 0),              // the OpenAI family reports cache reads only
        };
        var reply = new Reply(null, "The answer is 42.", [], Stop.EndTurn, InputTokens: 1234, OutputTokens: 56, cacheRead, cacheWrite);
        var conversation = new Conversation("ledger", "Be brief.", [new Turn(true, new TextPart("What is six times seven?"))], false, 256, false, reply);
        provider.Script(reply);

        using var request = new HttpRequestMessage(HttpMethod.Post, door.Path)
        {
            Content = new StringContent(door.Render(conversation, provider.Model, stream).ToJsonString(), Encoding.UTF8, "application/json"),
        };
        if (door == FrontDoorDialect.Anthropic) request.Headers.TryAddWithoutValidation("anthropic-version", "2023-06-01");
        using var response = await matrix.Http.SendAsync(request);
        Assert.True(response.StatusCode == HttpStatusCode.OK, await response.Content.ReadAsStringAsync());

        var record = await matrix.Gateway.UsageRecordOfAsync(response);
        Assert.Equal(UsageStatus.Ok, record.Status);
        Assert.Equal(provider.Name, record.Provider);
        Assert.Equal(ConversionMatrixTests.LedgerName(door), record.FrontDoor);
        Assert.Equal((1234, 56, cacheRead, cacheWrite), (record.InputTokens, record.OutputTokens, record.CacheReadTokens, record.CacheWriteTokens));
        Assert.False(record.Estimated);
        Assert.Equal(0, record.Fallbacks);
        Assert.Equal(200, record.HttpStatus);
        Assert.NotNull(record.TimeToFirstByteMs);
        Assert.InRange(record.TimeToFirstByteMs!.Value, 0, record.DurationMs);

        var price = PriceTable.BuiltIn.GetValueOrDefault(PriceTable.Normalize(record.UpstreamModel!));
        if (price is null) Assert.Null(record.CostUsd); // llama3.2 on a compatible server has no list price
        else
        {
            var expected = (1234 * price.Input + 56 * price.Output + cacheRead * price.CacheRead + cacheWrite * price.CacheWrite) / 1e6;
            Assert.Equal(expected, record.CostUsd!.Value, 1e-12);
        }
    }
}
