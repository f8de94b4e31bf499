using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Gapura.Routing.Upgrade;

/// <summary>
/// A finished comparison and its two renderings: markdown for people (a summary table, then each prompt's answers
/// side by side) and JSON for scripts (shape <see cref="Schema"/>, documented in docs/routing.md;
/// fields are only ever added).
/// </summary>
internal sealed class ModelComparisonReport
{
    public const string Schema = "gapura.models-compare/1";

    /// <summary>Longest answer excerpt in a markdown table cell, and longest answer in a markdown details block; the JSON has all of it.</summary>
    public const int CellChars = 240;
    public const int DetailChars = 4000;

    public ModelComparisonReport(string gateway, ComparisonPlan plan, IReadOnlyList<ComparisonResult> results, DateTimeOffset startedAt, DateTimeOffset finishedAt)
    {
        Gateway = gateway;
        Plan = plan;
        Results = [.. results.OrderBy(r => r.Prompt.Number).ThenBy(r => r.Run).ThenBy(r => r.Side)];
        StartedAt = startedAt;
        FinishedAt = finishedAt;
        Baseline = ModelComparisonStatistics.Summarise(plan.Baseline, [.. Results.Where(r => r.Side == ComparisonSide.Baseline)]);
        Candidate = ModelComparisonStatistics.Summarise(plan.Candidate, [.. Results.Where(r => r.Side == ComparisonSide.Candidate)]);
        Ratios = ModelComparisonStatistics.Ratios(Baseline, Candidate);
    }

    public string Gateway { get; }
    public ComparisonPlan Plan { get; }
    public IReadOnlyList<ComparisonResult> Results { get; }
    public DateTimeOffset StartedAt { get; }
    public DateTimeOffset FinishedAt { get; }
    public ModelSummary Baseline { get; }
    public ModelSummary Candidate { get; }
    public ComparisonRatios Ratios { get; }

    // ---- summary table (markdown and the console) -------------------------------------------------

    public IReadOnlyList<string> SummaryHeaders =>
        ["", $"baseline {Plan.Baseline}", $"candidate {Plan.Candidate}", "candidate/baseline"];

    public IReadOnlyList<IReadOnlyList<string>> SummaryRows()
    {
        var (b, c, r) = (Baseline, Candidate, Ratios);
        return
        [
            ["Requests", N(b.Requests), N(c.Requests), ""],
            ["Errors", $"{N(b.Errors)} ({Percent(b.ErrorRate)})", $"{N(c.Errors)} ({Percent(c.ErrorRate)})", X(r.ErrorRate)],
            ["Latency mean", Seconds(b.LatencyMeanMs), Seconds(c.LatencyMeanMs), X(r.LatencyMean)],
            ["Latency p50", Seconds(b.LatencyP50Ms), Seconds(c.LatencyP50Ms), X(r.LatencyP50)],
            ["Latency p95", Seconds(b.LatencyP95Ms), Seconds(c.LatencyP95Ms), X(r.LatencyP95)],
            ["TTFT mean", Seconds(b.TtftMeanMs), Seconds(c.TtftMeanMs), X(r.TtftMean)],
            ["TTFT p50", Seconds(b.TtftP50Ms), Seconds(c.TtftP50Ms), X(r.TtftP50)],
            ["TTFT p95", Seconds(b.TtftP95Ms), Seconds(c.TtftP95Ms), X(r.TtftP95)],
            ["Input tokens / request", Tokens(b.InputTokensPerRequest), Tokens(c.InputTokensPerRequest), X(r.InputTokensPerRequest)],
            ["Output tokens / request", Tokens(b.OutputTokensPerRequest), Tokens(c.OutputTokensPerRequest), X(r.OutputTokensPerRequest)],
            ["Cost / request", Usd(b.CostPerRequestUsd), Usd(c.CostPerRequestUsd), X(r.CostPerRequest)],
            ["Total cost", Usd(b.CostTotalUsd) + Unpriced(b), Usd(c.CostTotalUsd) + Unpriced(c), X(r.CostTotal)],
        ];
    }

    private static string Unpriced(ModelSummary s) => s.UnpricedRequests > 0 && s.CostTotalUsd is not null ? $" (+{N(s.UnpricedRequests)} unpriced)" : "";

    // ---- markdown -----------------------------------------------------------------------------------

    public void WriteMarkdown(TextWriter w)
    {
        var requests = Plan.RequestCount;
        w.WriteLine($"# Model comparison: `{Plan.Baseline}` → `{Plan.Candidate}`");
        w.WriteLine();
        w.WriteLine($"{Plural(Plan.Prompts.Count, "prompt")} × {Plural(Plan.Runs, "run")} × 2 models = {N(requests)} requests "
            + $"through the gateway at {Gateway}, {N(Plan.Concurrency)} at a time, "
            + $"from {StartedAt.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)}Z ({Seconds((FinishedAt - StartedAt).TotalMilliseconds)}).");
        w.WriteLine();
        w.WriteLine("## Summary");
        w.WriteLine();
        WriteTable(w, [.. SummaryHeaders.Select((h, i) => i is 1 or 2 ? $"{h.Split(' ')[0]} `{h[(h.IndexOf(' ') + 1)..]}`" : h)], SummaryRows(), rightAligned: true);
        w.WriteLine();
        w.WriteLine("Latency is from sending the request to the end of the stream, TTFT to its first text, thinking or tool call; both, and tokens "
            + "and cost per request, count successful requests only. Costs use the gateway's price table (built-in list prices and "
            + "`Pricing:Models`); — means no price is known for the model, not that it is free.");
        if (Results.Any(r => !r.Ok))
        {
            w.WriteLine();
            w.WriteLine("### Errors");
            w.WriteLine();
            foreach (var r in Results.Where(r => !r.Ok))
                w.WriteLine($"- {Side(r.Side)} `{r.Model}`, {r.Prompt.Label}, run {N(r.Run)}: {Inline(r.Error!)}{(r.RequestId is null ? "" : $" (request `{r.RequestId}`)")}");
        }

        w.WriteLine();
        w.WriteLine("## Prompts");
        foreach (var prompt in Plan.Prompts)
        {
            w.WriteLine();
            w.WriteLine($"### {Capital(prompt.Label)} (line {N(prompt.Line)})");
            w.WriteLine();
            w.WriteLine($"> {Inline(prompt.Preview)}");
            for (var run = 1; run <= Plan.Runs; run++)
            {
                var b = Find(prompt, run, ComparisonSide.Baseline);
                var c = Find(prompt, run, ComparisonSide.Candidate);
                w.WriteLine();
                WriteTable(w, [Plan.Runs == 1 ? "" : $"Run {N(run)}", $"baseline `{Plan.Baseline}`", $"candidate `{Plan.Candidate}`"],
                [
                    ["Answer", Excerpt(b), Excerpt(c)],
                    ["Tokens in / out", TokensOf(b), TokensOf(c)],
                    ["Cost", b?.Usage is null ? "—" : Usd(b.CostUsd), c?.Usage is null ? "—" : Usd(c.CostUsd)],
                    ["TTFT", Seconds(b?.TtftMs), Seconds(c?.TtftMs)],
                    ["Latency", Seconds(b?.LatencyMs), Seconds(c?.LatencyMs)],
                    ["Error", b?.Error is { } be ? "**" + Inline(be) + "**" : "", c?.Error is { } ce ? "**" + Inline(ce) + "**" : ""],
                    ["Request id", b?.RequestId is { } bi ? $"`{bi}`" : "", c?.RequestId is { } ci ? $"`{ci}`" : ""],
                ], rightAligned: false);
                foreach (var r in new[] { b, c })
                {
                    if (r is null || (r.Answer.Length == 0 && r.ToolCalls.Count == 0)) continue;
                    w.WriteLine();
                    w.WriteLine($"<details><summary>{Side(r.Side)} {Html(r.Model)}{(Plan.Runs == 1 ? "" : $", run {N(run)}")}: full answer</summary>");
                    w.WriteLine();
                    WriteFenced(w, FullAnswer(r));
                    w.WriteLine();
                    w.WriteLine("</details>");
                }
            }
        }
    }

    private ComparisonResult? Find(ComparisonPrompt prompt, int run, ComparisonSide side)
        => Results.FirstOrDefault(r => ReferenceEquals(r.Prompt, prompt) && r.Run == run && r.Side == side);

    private static string Excerpt(ComparisonResult? r)
    {
        if (r is null) return "";
        var parts = new List<string>();
        if (r.Answer.Length > 0) parts.Add(ComparisonPrompts.OneLine(r.Answer, CellChars));
        parts.AddRange(r.ToolCalls.Select(t => $"[tool] {t.Name} {ComparisonPrompts.OneLine(t.Input, 80)}"));
        return parts.Count == 0 ? "*(no answer)*" : Inline(string.Join(" · ", parts));
    }

    private static string FullAnswer(ComparisonResult r)
    {
        var text = new StringBuilder();
        if (r.Answer.Length > DetailChars)
            text.Append(r.Answer.AsSpan(0, DetailChars)).Append($"\n… ({N(r.Answer.Length - DetailChars)} more characters in the JSON report)");
        else
            text.Append(r.Answer);
        foreach (var tool in r.ToolCalls)
        {
            if (text.Length > 0) text.Append('\n');
            text.Append($"[tool call] {tool.Name} {ComparisonPrompts.OneLine(tool.Input, 500)}");
        }
        return text.ToString();
    }

    private static string TokensOf(ComparisonResult? r) => r?.Usage is { } u ? $"{N(u.InputTokens)} / {N(u.OutputTokens)}" : "—";

    /// <summary>Verbatim text in a fence longer than any backtick run inside it, so nothing in an answer can end it early.</summary>
    private static void WriteFenced(TextWriter w, string text)
    {
        var longest = 0;
        for (int i = 0, run = 0; i < text.Length; i++)
        {
            run = text[i] == '`' ? run + 1 : 0;
            longest = Math.Max(longest, run);
        }
        var fence = new string('`', Math.Max(3, longest + 1));
        w.WriteLine(fence + "text");
        w.WriteLine(text);
        w.WriteLine(fence);
    }

    private static void WriteTable(TextWriter w, IReadOnlyList<string> headers, IEnumerable<IReadOnlyList<string>> rows, bool rightAligned)
    {
        w.WriteLine("| " + string.Join(" | ", headers) + " |");
        w.WriteLine("|" + string.Join("|", headers.Select((_, i) => i > 0 && rightAligned ? "---:" : "---")) + "|");
        foreach (var row in rows) w.WriteLine("| " + string.Join(" | ", row.Select((c, i) => i == 0 ? c : c.Length == 0 ? " " : c)) + " |");
    }

    /// <summary>Text safe inside a table cell or list item: one line, no pipes, no raw HTML.</summary>
    private static string Inline(string text)
        => Html(ComparisonPrompts.OneLine(text, 1000)).Replace("|", "\\|", StringComparison.Ordinal);

    private static string Html(string text)
        => text.Replace("&", "&amp;", StringComparison.Ordinal).Replace("<", "&lt;", StringComparison.Ordinal).Replace(">", "&gt;", StringComparison.Ordinal);

    private static string Side(ComparisonSide side) => side == ComparisonSide.Baseline ? "baseline" : "candidate";

    private static string Capital(string s) => s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..];

    // ---- formatting -----------------------------------------------------------------------------------

    internal static string N(long n) => n.ToString("N0", CultureInfo.InvariantCulture);

    internal static string Percent(double rate) => (rate * 100).ToString("0.0", CultureInfo.InvariantCulture) + "%";

    /// <summary>Milliseconds under a second (a simulator or a cache answers in a few), seconds above.</summary>
    internal static string Seconds(double? ms) => ms switch
    {
        null => "—",
        < 1000 => ms.Value.ToString("0", CultureInfo.InvariantCulture) + " ms",
        < 10_000 => (ms.Value / 1000).ToString("0.00", CultureInfo.InvariantCulture) + " s",
        _ => (ms.Value / 1000).ToString("0.0", CultureInfo.InvariantCulture) + " s",
    };

    internal static string Plural(int n, string noun) => $"{N(n)} {noun}{(n == 1 ? "" : "s")}";

    internal static string Tokens(double? n) => n is { } v ? v.ToString("#,0.#", CultureInfo.InvariantCulture) : "—";

    internal static string Usd(double? usd) => usd switch
    {
        null => "—",
        0 => "$0",
        < 0.01 => "$" + usd.Value.ToString("0.000000", CultureInfo.InvariantCulture),
        _ => "$" + usd.Value.ToString("#,0.0000", CultureInfo.InvariantCulture),
    };

    internal static string X(double? ratio) => ratio is { } r ? r.ToString("0.00", CultureInfo.InvariantCulture) + "×" : "—";

    // ---- JSON -------------------------------------------------------------------------------------------

    public void WriteJson(Stream stream)
    {
        using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        w.WriteStartObject();
        w.WriteString("schema", Schema);
        w.WriteString("started_at", StartedAt.UtcDateTime);
        w.WriteString("finished_at", FinishedAt.UtcDateTime);
        w.WriteString("gateway", Gateway);
        w.WriteString("baseline", Plan.Baseline);
        w.WriteString("candidate", Plan.Candidate);
        w.WriteNumber("runs", Plan.Runs);
        w.WriteNumber("concurrency", Plan.Concurrency);
        w.WriteNumber("timeout_seconds", Plan.Timeout.TotalSeconds);

        w.WriteStartArray("prompts");
        foreach (var p in Plan.Prompts)
        {
            w.WriteStartObject();
            w.WriteNumber("number", p.Number);
            NullableString(w, "id", p.Id);
            w.WriteNumber("line", p.Line);
            w.WriteString("preview", p.Preview);
            w.WritePropertyName("request");
            p.Body.WriteTo(w);
            w.WriteEndObject();
        }
        w.WriteEndArray();

        w.WriteStartArray("results");
        foreach (var r in Results)
        {
            w.WriteStartObject();
            w.WriteNumber("prompt", r.Prompt.Number);
            NullableString(w, "prompt_id", r.Prompt.Id);
            w.WriteNumber("run", r.Run);
            w.WriteString("side", Side(r.Side));
            w.WriteString("model", r.Model);
            w.WriteBoolean("ok", r.Ok);
            NullableString(w, "error", r.Error);
            NullableNumber(w, "http_status", r.HttpStatus);
            NullableString(w, "request_id", r.RequestId);
            NullableString(w, "served_by", r.ServedBy);
            NullableString(w, "served_model", r.ServedModel);
            w.WriteString("answer", r.Answer);
            NullableString(w, "thinking", r.Thinking);
            w.WriteStartArray("tool_calls");
            foreach (var t in r.ToolCalls)
            {
                w.WriteStartObject();
                w.WriteString("name", t.Name);
                w.WriteString("input", t.Input);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            NullableString(w, "stop_reason", r.StopReason);
            if (r.Usage is { } u)
            {
                w.WriteStartObject("usage");
                w.WriteNumber("input_tokens", u.InputTokens);
                w.WriteNumber("output_tokens", u.OutputTokens);
                w.WriteNumber("cache_read_input_tokens", u.CacheReadTokens);
                w.WriteNumber("cache_creation_input_tokens", u.CacheWriteTokens);
                w.WriteEndObject();
            }
            else
            {
                w.WriteNull("usage");
            }
            NullableNumber(w, "cost_usd", r.CostUsd);
            NullableNumber(w, "ttft_ms", Round(r.TtftMs));
            w.WriteNumber("latency_ms", Round(r.LatencyMs)!.Value);
            w.WriteEndObject();
        }
        w.WriteEndArray();

        w.WriteStartObject("summary");
        WriteSummary(w, "baseline", Baseline);
        WriteSummary(w, "candidate", Candidate);
        w.WriteStartObject("ratios");
        NullableNumber(w, "error_rate", Ratios.ErrorRate);
        NullableNumber(w, "latency_mean", Ratios.LatencyMean);
        NullableNumber(w, "latency_p50", Ratios.LatencyP50);
        NullableNumber(w, "latency_p95", Ratios.LatencyP95);
        NullableNumber(w, "ttft_mean", Ratios.TtftMean);
        NullableNumber(w, "ttft_p50", Ratios.TtftP50);
        NullableNumber(w, "ttft_p95", Ratios.TtftP95);
        NullableNumber(w, "input_tokens_per_request", Ratios.InputTokensPerRequest);
        NullableNumber(w, "output_tokens_per_request", Ratios.OutputTokensPerRequest);
        NullableNumber(w, "cost_per_request", Ratios.CostPerRequest);
        NullableNumber(w, "cost_total", Ratios.CostTotal);
        w.WriteEndObject();
        w.WriteEndObject();

        w.WriteEndObject();
    }

    private static void WriteSummary(Utf8JsonWriter w, string name, ModelSummary s)
    {
        w.WriteStartObject(name);
        w.WriteString("model", s.Model);
        w.WriteNumber("requests", s.Requests);
        w.WriteNumber("errors", s.Errors);
        w.WriteNumber("error_rate", s.ErrorRate);
        NullableNumber(w, "latency_mean_ms", Round(s.LatencyMeanMs));
        NullableNumber(w, "latency_p50_ms", Round(s.LatencyP50Ms));
        NullableNumber(w, "latency_p95_ms", Round(s.LatencyP95Ms));
        NullableNumber(w, "ttft_mean_ms", Round(s.TtftMeanMs));
        NullableNumber(w, "ttft_p50_ms", Round(s.TtftP50Ms));
        NullableNumber(w, "ttft_p95_ms", Round(s.TtftP95Ms));
        NullableNumber(w, "input_tokens_per_request", s.InputTokensPerRequest);
        NullableNumber(w, "output_tokens_per_request", s.OutputTokensPerRequest);
        w.WriteNumber("input_tokens_total", s.InputTokensTotal);
        w.WriteNumber("output_tokens_total", s.OutputTokensTotal);
        NullableNumber(w, "cost_per_request_usd", s.CostPerRequestUsd);
        NullableNumber(w, "cost_total_usd", s.CostTotalUsd);
        w.WriteNumber("unpriced_requests", s.UnpricedRequests);
        w.WriteEndObject();
    }

    /// <summary>Milliseconds to 0.1: finer is noise, and it keeps the file readable.</summary>
    private static double? Round(double? ms) => ms is { } v ? Math.Round(v, 1) : null;

    private static void NullableString(Utf8JsonWriter w, string name, string? value)
    {
        if (value is null) w.WriteNull(name);
        else w.WriteString(name, value);
    }

    private static void NullableNumber(Utf8JsonWriter w, string name, double? value)
    {
        if (value is { } v) w.WriteNumber(name, v);
        else w.WriteNull(name);
    }

    private static void NullableNumber(Utf8JsonWriter w, string name, int? value)
    {
        if (value is { } v) w.WriteNumber(name, v);
        else w.WriteNull(name);
    }
}
