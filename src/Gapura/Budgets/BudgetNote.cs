using System.Runtime.CompilerServices;
using Gapura.Conversations;

namespace Gapura.Budgets;

/// <summary>
/// <c>notify</c> in the conversation: the budget's note as a last piece of text, on an answer that ends the turn —
/// never on one that ends in a tool call (the client is about to run a tool, and text there would join the next turn's
/// context for nothing), nor one cut at max_tokens or a stop sequence (the client asked for exactly that text).
/// </summary>
internal static class BudgetNote
{
    public static IAsyncEnumerable<StreamEvent> Append(IAsyncEnumerable<StreamEvent> events, string? note)
        => note is null ? events : WithNote(events, note, default);

    private static async IAsyncEnumerable<StreamEvent> WithNote(IAsyncEnumerable<StreamEvent> events, string note, [EnumeratorCancellation] CancellationToken ct)
    {
        await foreach (var e in events.WithCancellation(ct))
        {
            if (e is MessageEnd { StopReason: StopReason.EndTurn }) yield return new TextDelta(note);
            yield return e;
        }
    }
}
