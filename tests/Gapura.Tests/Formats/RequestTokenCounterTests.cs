using Gapura.Conversations;
using Gapura.Formats.Anthropic;
using static Gapura.Tests.Formats.FormatTestKit;

namespace Gapura.Tests.Formats;

public class RequestTokenCounterTests
{
    [Fact]
    public void Counts_system_messages_blocks_tools_and_images()
    {
        var request = AnthropicMessagesFrontDoor.Instance.ParseRequest(Json("""
            {"model":"m","system":"Hello, world!",
             "messages":[
               {"role":"user","content":[{"type":"text","text":"Hello, world!"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAAA"}}]},
               {"role":"assistant","content":[{"type":"thinking","thinking":"Hello, world!","signature":"s"},{"type":"tool_use","id":"t","name":"ls","input":{}}]},
               {"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":"Hello, world!"}]}],
             "tools":[{"name":"ls","description":"Hello, world!","input_schema":{}}]}
            """));
        var hello = TokenEstimator.Count("Hello, world!");
        var expected =
            hello                                                                   // system
            + 3 * RequestTokenCounter.MessageOverheadTokens
            + hello + RequestTokenCounter.ImageTokens                               // user
            + hello + TokenEstimator.Count("t") + TokenEstimator.Count("ls") + TokenEstimator.Count("{}") // assistant
            + TokenEstimator.Count("t") + hello                                     // tool result
            + RequestTokenCounter.ToolPreambleTokens + RequestTokenCounter.ToolDefinitionOverheadTokens
            + TokenEstimator.Count("ls") + hello + TokenEstimator.Count("{}");      // tool definition
        Assert.Equal(expected, RequestTokenCounter.Count(request));
    }

    [Fact]
    public void Tool_schemas_count_by_their_json_text()
    {
        var request = AnthropicMessagesFrontDoor.Instance.ParseRequest(Json("""
            {"model":"m","messages":[{"role":"user","content":"x"}],
             "tools":[{"name":"a","input_schema":{"type":"object","properties":{"path":{"type":"string","description":"The file to read"}}}}]}
            """));
        var schema = """{"type":"object","properties":{"path":{"type":"string","description":"The file to read"}}}""";
        Assert.Equal(1 + RequestTokenCounter.MessageOverheadTokens + RequestTokenCounter.ToolPreambleTokens + RequestTokenCounter.ToolDefinitionOverheadTokens + 1 + TokenEstimator.Count(schema),
            RequestTokenCounter.Count(request));
    }
}
