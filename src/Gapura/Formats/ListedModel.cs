using Gapura.Routing;

namespace Gapura.Formats;

/// <summary>
/// One row of a models list: the id clients should send (an alias or the catalog id) and the model
/// it stands for, whose limits are shown alongside.
/// </summary>
internal sealed record ListedModel(string Id, ModelInfo Model)
{
    public static IReadOnlyList<ListedModel> From(IEnumerable<ModelInfo> models) => models.Select(m => new ListedModel(m.Id, m)).ToList();
}
