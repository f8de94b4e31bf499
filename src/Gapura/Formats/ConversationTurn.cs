using Gapura.Api;
using Gapura.Conversations;
using Gapura.Identity;

namespace Gapura.Formats;

/// <summary>
/// What a front door knows about one request that continues a kept answer or will be kept for a later one (Responses
/// <c>store</c>, <c>previous_response_id</c>, <c>item_reference</c>). It rides on the <see cref="ResponseContext"/> so the
/// door's writers can hand the finished answer over; each door's own subclass says what it keeps.
/// </summary>
public abstract class ConversationTurn;

/// <summary>A front door whose requests may refer to answers the gateway kept for the caller.</summary>
internal interface IStatefulFrontDoor : IFrontDoor
{
    /// <summary>
    /// Parses the body, reading the caller's kept answers it refers to (from memory, or the database on another
    /// instance's answer), and says how the answer is to be kept: null when it is not (<c>store: false</c>, no references).
    /// </summary>
    Task<(ChatRequest Request, ConversationTurn? Turn)> ParseAsync(RequestBody body, Caller? caller, CancellationToken ct);
}
