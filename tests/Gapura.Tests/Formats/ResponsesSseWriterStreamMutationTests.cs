using System.Text.RegularExpressions;
using Gapura.Conversations;
using Gapura.Formats.Responses;
using static Gapura.Tests.Formats.FormatTestKit;

namespace Gapura.Tests.Formats;

/// <summary>
/// The exact event stream a Responses client (Codex, the OpenAI SDKs) reads for an answer that mixes reasoning, text and
/// tool calls and is cut by the output cap, pinned byte for byte (item ids, random per stream, are numbered in order of
/// appearance): which item each event names, its index, the text the <c>.done</c> events repeat, each item's final
/// status, and nothing after the end (found by mutation testing: see DEVELOPERS.md, "Mutation testing").
/// </summary>
public class ResponsesSseWriterStreamMutationTests
{
    private static async Task<string> NormalisedAsync(params object[] steps)
    {
        var text = await RunRawAsync(pipe => ResponsesFrontDoor.Instance.CreateStreamWriter(pipe, Context()), steps);
        var ids = new Dictionary<string, string>();
        return Regex.Replace(text, "\\b(msg|rs|fc)_[0-9a-f]{20,}", m => ids.TryGetValue(m.Value, out var n) ? n : ids[m.Value] = $"{m.Groups[1].Value}_{ids.Count}");
    }

    [Fact]
    public async Task A_mixed_answer_cut_by_the_output_cap_is_exactly_the_responses_event_stream()
    {
        var text = await NormalisedAsync(
            // Empty deltas open nothing; a second signature with no reasoning open is ignored.
            new ReasoningDelta("think"), new ReasoningDelta(""), new TextDelta("Hel"), new TextDelta(""), new TextDelta("lo"),
            new ReasoningDelta("more"), new ReasoningSignature("sig"), new ReasoningSignature("again"), new TextDelta("x"),
            // A tool call closes the open message; a fragment after its end is dropped.
            new ToolCallStart(0, "call_a", "ls"), new ToolCallDelta(0, ""), new ToolCallDelta(0, "{\"p\":1}"), new ToolCallEnd(0), new ToolCallDelta(0, "late"),
            // A call still open at the cap ends "incomplete", like the message being written.
            new ToolCallStart(1, "call_b", "cat"), new ToolCallDelta(1, "{}"), new TextDelta("after tool"),
            new MessageEnd(StopReason.MaxTokens, new Usage(10, 5)), new TextDelta("ignored after end"));

        Assert.Equal(Expected, text);
    }

    private const string Expected = """
        event: response.created
        data: {"type":"response.created","sequence_number":0,"response":{"id":"resp_1","object":"response","created_at":1700000000,"status":"in_progress","background":false,"error":null,"incomplete_details":null,"instructions":null,"max_output_tokens":null,"model":"test-model","output":[],"parallel_tool_calls":true,"previous_response_id":null,"reasoning":{"effort":null,"summary":null},"store":false,"temperature":null,"text":{"format":{"type":"text"}},"tool_choice":"auto","tools":[],"top_p":null,"truncation":"disabled","usage":null,"user":null,"metadata":{}}}

        event: response.in_progress
        data: {"type":"response.in_progress","sequence_number":1,"response":{"id":"resp_1","object":"response","created_at":1700000000,"status":"in_progress","background":false,"error":null,"incomplete_details":null,"instructions":null,"max_output_tokens":null,"model":"test-model","output":[],"parallel_tool_calls":true,"previous_response_id":null,"reasoning":{"effort":null,"summary":null},"store":false,"temperature":null,"text":{"format":{"type":"text"}},"tool_choice":"auto","tools":[],"top_p":null,"truncation":"disabled","usage":null,"user":null,"metadata":{}}}

        event: response.output_item.added
        data: {"type":"response.output_item.added","sequence_number":2,"output_index":0,"item":{"id":"rs_0","type":"reasoning","summary":[]}}

        event: response.reasoning_summary_part.added
        data: {"type":"response.reasoning_summary_part.added","sequence_number":3,"item_id":"rs_0","output_index":0,"summary_index":0,"part":{"type":"summary_text","text":""}}

        event: response.reasoning_summary_text.delta
        data: {"type":"response.reasoning_summary_text.delta","sequence_number":4,"item_id":"rs_0","output_index":0,"summary_index":0,"delta":"think"}

        event: response.reasoning_summary_text.done
        data: {"type":"response.reasoning_summary_text.done","sequence_number":5,"item_id":"rs_0","output_index":0,"summary_index":0,"text":"think"}

        event: response.reasoning_summary_part.done
        data: {"type":"response.reasoning_summary_part.done","sequence_number":6,"item_id":"rs_0","output_index":0,"summary_index":0,"part":{"type":"summary_text","text":"think"}}

        event: response.output_item.done
        data: {"type":"response.output_item.done","sequence_number":7,"output_index":0,"item":{"id":"rs_0","type":"reasoning","summary":[{"type":"summary_text","text":"think"}]}}

        event: response.output_item.added
        data: {"type":"response.output_item.added","sequence_number":8,"output_index":1,"item":{"id":"msg_1","type":"message","status":"in_progress","role":"assistant","content":[]}}

        event: response.content_part.added
        data: {"type":"response.content_part.added","sequence_number":9,"item_id":"msg_1","output_index":1,"content_index":0,"part":{"type":"output_text","text":"","annotations":[],"logprobs":[]}}

        event: response.output_text.delta
        data: {"type":"response.output_text.delta","sequence_number":10,"item_id":"msg_1","output_index":1,"content_index":0,"delta":"Hel","logprobs":[]}

        event: response.output_text.delta
        data: {"type":"response.output_text.delta","sequence_number":11,"item_id":"msg_1","output_index":1,"content_index":0,"delta":"lo","logprobs":[]}

        event: response.output_text.done
        data: {"type":"response.output_text.done","sequence_number":12,"item_id":"msg_1","output_index":1,"content_index":0,"text":"Hello","logprobs":[]}

        event: response.content_part.done
        data: {"type":"response.content_part.done","sequence_number":13,"item_id":"msg_1","output_index":1,"content_index":0,"part":{"type":"output_text","text":"Hello","annotations":[],"logprobs":[]}}

        event: response.output_item.done
        data: {"type":"response.output_item.done","sequence_number":14,"output_index":1,"item":{"id":"msg_1","type":"message","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Hello","annotations":[],"logprobs":[]}]}}

        event: response.output_item.added
        data: {"type":"response.output_item.added","sequence_number":15,"output_index":2,"item":{"id":"rs_2","type":"reasoning","summary":[]}}

        event: response.reasoning_summary_part.added
        data: {"type":"response.reasoning_summary_part.added","sequence_number":16,"item_id":"rs_2","output_index":2,"summary_index":0,"part":{"type":"summary_text","text":""}}

        event: response.reasoning_summary_text.delta
        data: {"type":"response.reasoning_summary_text.delta","sequence_number":17,"item_id":"rs_2","output_index":2,"summary_index":0,"delta":"more"}

        event: response.reasoning_summary_text.done
        data: {"type":"response.reasoning_summary_text.done","sequence_number":18,"item_id":"rs_2","output_index":2,"summary_index":0,"text":"more"}

        event: response.reasoning_summary_part.done
        data: {"type":"response.reasoning_summary_part.done","sequence_number":19,"item_id":"rs_2","output_index":2,"summary_index":0,"part":{"type":"summary_text","text":"more"}}

        event: response.output_item.done
        data: {"type":"response.output_item.done","sequence_number":20,"output_index":2,"item":{"id":"rs_2","type":"reasoning","summary":[{"type":"summary_text","text":"more"}],"encrypted_content":"sig"}}

        event: response.output_item.added
        data: {"type":"response.output_item.added","sequence_number":21,"output_index":3,"item":{"id":"msg_3","type":"message","status":"in_progress","role":"assistant","content":[]}}

        event: response.content_part.added
        data: {"type":"response.content_part.added","sequence_number":22,"item_id":"msg_3","output_index":3,"content_index":0,"part":{"type":"output_text","text":"","annotations":[],"logprobs":[]}}

        event: response.output_text.delta
        data: {"type":"response.output_text.delta","sequence_number":23,"item_id":"msg_3","output_index":3,"content_index":0,"delta":"x","logprobs":[]}

        event: response.output_text.done
        data: {"type":"response.output_text.done","sequence_number":24,"item_id":"msg_3","output_index":3,"content_index":0,"text":"x","logprobs":[]}

        event: response.content_part.done
        data: {"type":"response.content_part.done","sequence_number":25,"item_id":"msg_3","output_index":3,"content_index":0,"part":{"type":"output_text","text":"x","annotations":[],"logprobs":[]}}

        event: response.output_item.done
        data: {"type":"response.output_item.done","sequence_number":26,"output_index":3,"item":{"id":"msg_3","type":"message","status":"completed","role":"assistant","content":[{"type":"output_text","text":"x","annotations":[],"logprobs":[]}]}}

        event: response.output_item.added
        data: {"type":"response.output_item.added","sequence_number":27,"output_index":4,"item":{"id":"fc_4","type":"function_call","status":"in_progress","arguments":"","call_id":"call_a","name":"ls"}}

        event: response.function_call_arguments.delta
        data: {"type":"response.function_call_arguments.delta","sequence_number":28,"item_id":"fc_4","output_index":4,"delta":"{\"p\":1}"}

        event: response.function_call_arguments.done
        data: {"type":"response.function_call_arguments.done","sequence_number":29,"item_id":"fc_4","output_index":4,"name":"ls","arguments":"{\"p\":1}"}

        event: response.output_item.done
        data: {"type":"response.output_item.done","sequence_number":30,"output_index":4,"item":{"id":"fc_4","type":"function_call","status":"completed","arguments":"{\"p\":1}","call_id":"call_a","name":"ls"}}

        event: response.output_item.added
        data: {"type":"response.output_item.added","sequence_number":31,"output_index":5,"item":{"id":"fc_5","type":"function_call","status":"in_progress","arguments":"","call_id":"call_b","name":"cat"}}

        event: response.function_call_arguments.delta
        data: {"type":"response.function_call_arguments.delta","sequence_number":32,"item_id":"fc_5","output_index":5,"delta":"{}"}

        event: response.output_item.added
        data: {"type":"response.output_item.added","sequence_number":33,"output_index":6,"item":{"id":"msg_6","type":"message","status":"in_progress","role":"assistant","content":[]}}

        event: response.content_part.added
        data: {"type":"response.content_part.added","sequence_number":34,"item_id":"msg_6","output_index":6,"content_index":0,"part":{"type":"output_text","text":"","annotations":[],"logprobs":[]}}

        event: response.output_text.delta
        data: {"type":"response.output_text.delta","sequence_number":35,"item_id":"msg_6","output_index":6,"content_index":0,"delta":"after tool","logprobs":[]}

        event: response.output_text.done
        data: {"type":"response.output_text.done","sequence_number":36,"item_id":"msg_6","output_index":6,"content_index":0,"text":"after tool","logprobs":[]}

        event: response.content_part.done
        data: {"type":"response.content_part.done","sequence_number":37,"item_id":"msg_6","output_index":6,"content_index":0,"part":{"type":"output_text","text":"after tool","annotations":[],"logprobs":[]}}

        event: response.output_item.done
        data: {"type":"response.output_item.done","sequence_number":38,"output_index":6,"item":{"id":"msg_6","type":"message","status":"incomplete","role":"assistant","content":[{"type":"output_text","text":"after tool","annotations":[],"logprobs":[]}]}}

        event: response.function_call_arguments.done
        data: {"type":"response.function_call_arguments.done","sequence_number":39,"item_id":"fc_5","output_index":5,"name":"cat","arguments":"{}"}

        event: response.output_item.done
        data: {"type":"response.output_item.done","sequence_number":40,"output_index":5,"item":{"id":"fc_5","type":"function_call","status":"incomplete","arguments":"{}","call_id":"call_b","name":"cat"}}

        event: response.incomplete
        data: {"type":"response.incomplete","sequence_number":41,"response":{"id":"resp_1","object":"response","created_at":1700000000,"status":"incomplete","background":false,"error":null,"incomplete_details":{"reason":"max_output_tokens"},"instructions":null,"max_output_tokens":null,"model":"test-model","output":[{"id":"rs_0","type":"reasoning","summary":[{"type":"summary_text","text":"think"}]},{"id":"msg_1","type":"message","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Hello","annotations":[],"logprobs":[]}]},{"id":"rs_2","type":"reasoning","summary":[{"type":"summary_text","text":"more"}],"encrypted_content":"sig"},{"id":"msg_3","type":"message","status":"completed","role":"assistant","content":[{"type":"output_text","text":"x","annotations":[],"logprobs":[]}]},{"id":"fc_4","type":"function_call","status":"completed","arguments":"{\"p\":1}","call_id":"call_a","name":"ls"},{"id":"fc_5","type":"function_call","status":"incomplete","arguments":"{}","call_id":"call_b","name":"cat"},{"id":"msg_6","type":"message","status":"incomplete","role":"assistant","content":[{"type":"output_text","text":"after tool","annotations":[],"logprobs":[]}]}],"parallel_tool_calls":true,"previous_response_id":null,"reasoning":{"effort":null,"summary":null},"store":false,"temperature":null,"text":{"format":{"type":"text"}},"tool_choice":"auto","tools":[],"top_p":null,"truncation":"disabled","usage":{"input_tokens":10,"input_tokens_details":{"cached_tokens":0},"output_tokens":5,"output_tokens_details":{"reasoning_tokens":2},"total_tokens":15},"user":null,"metadata":{}}}


        """;
}
