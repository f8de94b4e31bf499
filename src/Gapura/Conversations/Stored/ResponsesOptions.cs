using System.ComponentModel.DataAnnotations;

namespace Gapura.Conversations.Stored;

/// <summary>Settings of the kept answers of <c>/v1/responses</c> (section <c>Responses</c>).</summary>
internal sealed class ResponsesOptions
{
    public const string Section = "Responses";

    /// <summary>
    /// How long an answer stays available to <c>previous_response_id</c>, <c>item_reference</c> and
    /// <c>GET /v1/responses/{id}</c>. 0 keeps nothing: every request is treated as <c>store: false</c>.
    /// </summary>
    [Range(0, 525_600)]
    public int RetentionMinutes { get; set; } = 1440;

    internal TimeSpan Retention => TimeSpan.FromMinutes(RetentionMinutes);
}
