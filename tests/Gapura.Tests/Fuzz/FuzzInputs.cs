using CsCheck;

namespace Gapura.Tests.Fuzz;

/// <summary>
/// Valid requests for each front door (the seeds the mutator changes one field at a time) and the generators of what
/// surrounds a body: content types, headers, query strings and path values.
/// </summary>
internal static class FuzzInputs
{
    public const string Model = Integration.Wire.Model;

    /// <summary>A 1×1 PNG: real image data, so that only the mutated field is wrong.</summary>
    public const string Png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

    private const string Schema = """{"type":"object","properties":{"city":{"type":"string","description":"a city"},"days":{"type":"integer","minimum":1}},"required":["city"]}""";

    private static string B(string json) => json.Replace("@MODEL", Model, StringComparison.Ordinal).Replace("@PNG", Png, StringComparison.Ordinal)
        .Replace("@SCHEMA", Schema, StringComparison.Ordinal);

    public static readonly string[] OpenAiChat =
    [
        B("""{"model":"@MODEL","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"hi"}],"max_tokens":50,"temperature":0.5,"top_p":0.9,"stream":false}"""),
        B("""{"model":"@MODEL","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"developer","content":[{"type":"text","text":"Be brief."}]},{"role":"user","content":[{"type":"text","text":"what is this?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,@PNG","detail":"low"}}]}],"max_completion_tokens":100,"stop":["\n\n"],"n":1,"user":"u-1","seed":7}"""),
        B("""{"model":"@MODEL","messages":[{"role":"user","content":"weather in Paris?"},{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},{"role":"tool","tool_call_id":"call_1","content":"sunny"}],"tools":[{"type":"function","function":{"name":"get_weather","description":"Weather by city","parameters":@SCHEMA}}],"tool_choice":"auto","parallel_tool_calls":true,"response_format":{"type":"text"},"reasoning_effort":"low"}"""),
        B("""{"model":"@MODEL","stream":true,"messages":[{"role":"user","content":"list three colours"}],"tools":[{"type":"function","function":{"name":"pick","parameters":@SCHEMA,"strict":true}}],"tool_choice":{"type":"function","function":{"name":"pick"}},"response_format":{"type":"json_schema","json_schema":{"name":"colours","schema":{"type":"object","properties":{"c":{"type":"array","items":{"type":"string"}}}}}},"frequency_penalty":0,"presence_penalty":0,"logprobs":false,"metadata":{"a":"b"}}"""),
    ];

    public static readonly string[] Responses =
    [
        B("""{"model":"@MODEL","input":"hi","instructions":"Be brief.","max_output_tokens":64,"temperature":0.5,"store":false}"""),
        B("""{"model":"@MODEL","stream":true,"input":[{"type":"message","role":"user","content":[{"type":"input_text","text":"what is this?"},{"type":"input_image","image_url":"data:image/png;base64,@PNG","detail":"auto"}]}],"reasoning":{"effort":"low","summary":"auto"},"text":{"format":{"type":"text"}}}"""),
        B("""{"model":"@MODEL","input":[{"type":"message","role":"user","content":"weather in Paris?"},{"type":"function_call","call_id":"call_1","name":"get_weather","arguments":"{\"city\":\"Paris\"}"},{"type":"function_call_output","call_id":"call_1","output":"sunny"}],"tools":[{"type":"function","name":"get_weather","description":"Weather by city","parameters":@SCHEMA,"strict":false}],"tool_choice":"auto","parallel_tool_calls":false,"include":["reasoning.encrypted_content"],"prompt_cache_key":"k1"}"""),
        B("""{"model":"@MODEL","stream":true,"input":[{"role":"developer","content":"Be brief."},{"role":"user","content":[{"type":"input_text","text":"hello"}]},{"role":"assistant","content":[{"type":"output_text","text":"hi there"}]},{"role":"user","content":"again"}],"text":{"format":{"type":"json_schema","name":"x","schema":{"type":"object"}}},"metadata":{"a":"b"},"top_p":0.9}"""),
    ];

    public static readonly string[] AnthropicMessages =
    [
        B("""{"model":"@MODEL","max_tokens":64,"system":"Be brief.","messages":[{"role":"user","content":"hi"}],"temperature":0.5}"""),
        B("""{"model":"@MODEL","max_tokens":256,"stream":true,"system":[{"type":"text","text":"Be brief.","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":[{"type":"text","text":"what is this?"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"@PNG"}}]}],"top_p":0.9,"top_k":40,"stop_sequences":["END"],"metadata":{"user_id":"u-1"}}"""),
        B("""{"model":"@MODEL","max_tokens":2048,"thinking":{"type":"enabled","budget_tokens":1024},"tools":[{"name":"get_weather","description":"Weather by city","input_schema":@SCHEMA}],"tool_choice":{"type":"auto"},"messages":[{"role":"user","content":"weather in Paris?"},{"role":"assistant","content":[{"type":"thinking","thinking":"Look it up.","signature":"c2ln"},{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Paris"}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"sunny"}],"is_error":false},{"type":"text","text":"thanks"}]}]}"""),
        B("""{"model":"@MODEL","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"hello"},{"role":"assistant","content":"hi"},{"role":"user","content":[{"type":"text","text":"again","cache_control":{"type":"ephemeral","ttl":"5m"}}]}],"tools":[{"name":"pick","input_schema":{"type":"object"}}],"tool_choice":{"type":"tool","name":"pick"},"context_management":{"edits":[]}}"""),
    ];

    public static readonly Gen<string> JsonContentType = Gen.Frequency<string>(
        (88, Gen.Const("application/json")),
        (12, Gen.OneOf("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/json; charset=latin1",
            "application/json; charset=utf-16", "application/xml", "*/*", "application/json;;", "", "application/json; charset=\"", "application/jsonx",
            "APPLICATION/JSON", "application/vnd.api+json", "text/event-stream")));

    private static readonly Gen<KeyValuePair<string, string>> OddHeader = Gen.OneOf(
        Gen.OneOf("2023-06-01", "banana", "", "2099-99-99", "1").Select(v => KeyValuePair.Create("anthropic-version", v)),
        Gen.OneOf("context-1m-2025-08-07", ",,,", "x".PadRight(2000, 'x'), "interleaved-thinking-2025-05-14, made-up").Select(v => KeyValuePair.Create("anthropic-beta", v)),
        Gen.OneOf("gzip", "br", "deflate", "identity", "x-unknown").Select(v => KeyValuePair.Create("Content-Encoding", v)),
        Gen.OneOf("text/event-stream", "application/xml", "*/*", "").Select(v => KeyValuePair.Create("Accept", v)),
        Gen.OneOf("claude-cli/2.0.0 (external, cli)", "codex_cli_rs/0.50.0", "", "x".PadRight(5000, 'y'), "OpenAI/Python 1.0").Select(v => KeyValuePair.Create("User-Agent", v)),
        Gen.OneOf("", "fast", "none", "../x", "kiro/claude-sonnet-4.5", "\"quoted\"").Select(v => KeyValuePair.Create("x-gapura-route", v)),
        Gen.OneOf("", "chat", "coding", "banana", "plan").Select(v => KeyValuePair.Create("x-gapura-task", v)),
        Gen.Select(Gen.OneOf("session_id", "session-id", "x-session-id", "x-claude-code-session-id", "x-parent-session-id", "x-openai-subagent"),
            Gen.OneOf("", "s-1", "x".PadRight(3000, 's'), "%00", "{}"), KeyValuePair.Create),
        Gen.OneOf("", "x", "forged-csrf-token").Select(v => KeyValuePair.Create("X-CSRF-Token", v)));

    /// <summary>No odd header most of the time; sometimes one or two.</summary>
    public static readonly Gen<KeyValuePair<string, string>[]> OddHeaders = Gen.Frequency<KeyValuePair<string, string>[]>(
        (80, Gen.Const(Array.Empty<KeyValuePair<string, string>>())), (20, OddHeader.Array[1, 2]));

    private static readonly Gen<string> QueryName = Gen.OneOf("from", "to", "groupBy", "group_by", "user", "model", "key", "format", "window", "door",
        "user_id", "key_id", "limit", "offset", "before", "after", "session", "action", "actor", "provider", "q", "", "%00", "a[b]");

    public static readonly Gen<string> QueryValue = Gen.OneOf(
        Gen.OneOf("", "2026-12-01", "2026-12-01T08:00:00Z", "2026-13-45", "9999-12-31", "0001-01-01", "-1", "0", "99999999999999999999",
            "1e400", "NaN", "day", "hour,model", "day,day,day", "user,key,client,model,provider,task", "csv", "json", "xml", "daily", "monthly",
            "anthropic", "openai", "responses", "banana", "%ff", "%00", "%c0%ae", "a%20b", "true", "null", "2026-12-01T25:99:00Z", "P1D",
            "1700000000", "2026-12-31&to=2026-01-01"),
        Gen.String[Gen.Char.AlphaNumeric, 0, 30],
        Gen.Int[1, 2000].Select(n => new string('9', n)));

    /// <summary>A query string of zero to four parameters, names from the ones the gateway reads.</summary>
    public static readonly Gen<string> Query = Gen.Frequency<string>(
        (50, Gen.Const("")),
        (50, Gen.Select(QueryName, QueryValue, (n, v) => n + "=" + v).Array[1, 4].Select(p => "?" + string.Join('&', p))));

    /// <summary>A value for a path parameter: real names and ids sometimes, garbage (encoded or not) otherwise.</summary>
    public static Gen<string> PathValue(IReadOnlyList<string> real) => Gen.Frequency<string>(
        (real.Count > 0 ? 30 : 0, real.Count > 0 ? Gen.OneOf([.. real]) : Gen.Const("")),
        // Not here: what Kestrel refuses before any route runs (a NUL in the path, a URL over its 8 KB line limit) and dot
        // segments, which leave the route being fuzzed: Kestrel's own rejections are tested where they are made.
        (40, Gen.OneOf("0", "-1", "9223372036854775807", "9223372036854775808", "99999999999999999999999", "1.5", "1e3", "0x10", " 1", "abc", "-",
            "%ff", "%c0%ae", "%252e", "a%2Fb", "%20", "x%0d%0ay", "a..b", "default", "gateway", "kiro",
            "anthropic", "openai", "copilot", "bedrock", "users", "keys", "me", "null", "undefined", "true", "%E2%80%AE", "\u4e2d\u6587", "\ud83d\ude00")),
        (20, Gen.String[Gen.Char.AlphaNumeric, 1, 40]),
        (5, Gen.Int[300, 3000].Select(n => new string('a', n))),
        (5, Gen.String[Gen.Char, 1, 20].Select(Uri.EscapeDataString).Where(v => !v.Contains("%00", StringComparison.Ordinal))));

    /// <summary>A credential header set: mostly the intended one, sometimes none, a wrong one, or two that disagree.</summary>
    public static Gen<(string Label, KeyValuePair<string, string>[] Headers)> Credential(string goodKey, string label) => Gen.Frequency<(string, KeyValuePair<string, string>[])>(
        (85, Gen.Const((label, new[] { KeyValuePair.Create("Authorization", "Bearer " + goodKey) }))),
        (4, Gen.Const((label + " as x-api-key", new[] { KeyValuePair.Create("x-api-key", goodKey) }))),
        (4, Gen.Const(("no credential", Array.Empty<KeyValuePair<string, string>>()))),
        (4, Gen.OneOf("Bearer", "Bearer ", "Basic Zm9vOmJhcg==", "Bearer gapura_" + new string('x', 40), "Bearer " + new string('k', 9000), "bearer " + goodKey,
            "Bearer  " + goodKey, "Token " + goodKey).Select(v => ("bad credential", new[] { KeyValuePair.Create("Authorization", v) }))),
        (3, Gen.Const(("two credentials", new[] { KeyValuePair.Create("Authorization", "Bearer " + goodKey), KeyValuePair.Create("x-api-key", "wrong-key") }))));
}
