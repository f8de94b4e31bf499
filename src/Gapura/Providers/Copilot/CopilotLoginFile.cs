using System.Text.Json;
using System.Text.Json.Nodes;
using Gapura.Hosting;

namespace Gapura.Providers.Copilot;

/// <summary>
/// <c>~/.gapura/copilot.json</c>, written by <c>gapura login copilot</c>: the GitHub token of the process-wide
/// Copilot account, readable by its owner only. Used when <c>Providers:Copilot:GitHubToken</c> is not set.
/// </summary>
internal static class CopilotLoginFile
{
    public static string PathIn(string home) => Path.Combine(home, ".gapura", "copilot.json");

    public static void Save(string home, string githubToken, DateTimeOffset now)
    {
        var path = PathIn(home);
        PrivateFile.EnsureFolder(Path.GetDirectoryName(path)!);
        var json = new JsonObject { ["github_token"] = githubToken, ["created_at"] = now.ToString("O") };
        PrivateFile.Write(path, JsonSerializer.SerializeToUtf8Bytes(json));
    }

    /// <summary>At start: a login file other local users could read (an older version, a copy) is set to 600, with a warning.</summary>
    public static void CheckAtStart(string home, ILogger log) => PrivateFile.Tighten(PathIn(home), log);

    /// <summary>The saved GitHub token; null when there is no file or it holds none.</summary>
    /// <exception cref="InvalidOperationException">The file exists but cannot be read: serving without it would hide the mistake.</exception>
    public static string? Read(string home)
    {
        var path = PathIn(home);
        if (!File.Exists(path)) return null;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            return doc.RootElement.ValueKind == JsonValueKind.Object && GitHubDeviceFlow.Str(doc.RootElement, "github_token") is { Length: > 0 } token ? token : null;
        }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException)
        {
            throw new InvalidOperationException($"The Copilot login in {path} cannot be read ({e.Message}); run `gapura login copilot` again or delete it.", e);
        }
    }
}

/// <summary>Runs <see cref="CopilotLoginFile.CheckAtStart"/> when the gateway starts.</summary>
internal sealed class CopilotLoginFileCheck(string home, ILogger<CopilotLoginFileCheck> log) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        CopilotLoginFile.CheckAtStart(home, log);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
