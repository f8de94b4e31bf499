namespace Gapura.Secrets;

/// <summary>Settings of encryption at rest (section <c>Secrets</c>).</summary>
internal sealed class SecretsOptions
{
    public const string Section = "Secrets";

    /// <summary>
    /// Base64 of 32 random bytes (env <c>Secrets__Key</c>). Unset: a key file beside the database is used,
    /// created on first start. Every instance sharing a database needs the same key.
    /// </summary>
    public string? Key { get; set; }

    /// <summary>Older keys still accepted for reading, while <c>gapura secrets rotate</c> moves values to <see cref="Key"/>.</summary>
    public List<string> PreviousKeys { get; set; } = [];

    /// <summary>Where the generated key lives when <see cref="Key"/> is unset; defaults to <c>gapura.key</c> beside the SQLite file.</summary>
    public string? KeyFile { get; set; }
}
