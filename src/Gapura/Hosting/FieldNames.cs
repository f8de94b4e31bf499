namespace Gapura.Hosting;

/// <summary>
/// Field names of the definitions an admin writes (budgets, rate limits, routing profiles and rules). The admin API speaks
/// snake_case; definitions written before it did (camelCase, the seed's shape, kept in the database and in import files)
/// and configuration keys (any case) must still read the same. So a parser compares folded names: <c>input_tokens</c>,
/// <c>inputTokens</c> and <c>InputTokens</c> are one field.
/// </summary>
internal static class FieldNames
{
    /// <summary>The name without underscores, in lower case: the key parsers switch on.</summary>
    public static string Fold(string name) => name.Replace("_", "", StringComparison.Ordinal).ToLowerInvariant();

    /// <summary>Whether two spellings name the same field.</summary>
    public static bool Same(string a, string b) => Fold(a) == Fold(b);

    /// <summary><see cref="System.Text.Json.JsonElement.TryGetProperty(string, out System.Text.Json.JsonElement)"/> by folded name.</summary>
    public static bool TryGet(System.Text.Json.JsonElement json, string name, out System.Text.Json.JsonElement value)
    {
        foreach (var p in json.EnumerateObject())
            if (Same(p.Name, name)) { value = p.Value; return true; }
        value = default;
        return false;
    }
}
