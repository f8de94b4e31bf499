using System.Text.Json.Nodes;
using Gapura.Simulators.Kiro;

// Runs the Kiro simulator standalone (benchmarks, demos):
//   dotnet run --project tests/Gapura.Simulators -- --urls http://127.0.0.1:9100 [--split random|onebyte|whole] [--seed N]
//       [--no-auth] [--write-credentials path]
// --write-credentials mints a long-lived login and writes it in the Kiro IDE file format, so a gateway can be
// started with --Kiro:CredentialsFile=path --Kiro:Endpoint=URL --Kiro:AuthEndpoint=URL --Kiro:OidcEndpoint=URL.
// The OpenAI simulator instead (chat completions, Responses, models; key sk-simulator-0123456789abcdef unless --no-auth):
//   dotnet run --project tests/Gapura.Simulators -- openai --urls http://127.0.0.1:9200 [--no-auth]
// The Copilot simulator (GitHub device flow, token exchange, models, chat; prints a GitHub token it accepts):
//   dotnet run --project tests/Gapura.Simulators -- copilot --urls http://127.0.0.1:9300
if (args.Length > 0 && args[0] == "copilot")
{
    var copilot = new Gapura.Simulators.Copilot.CopilotSimulatorOptions { Url = "http://127.0.0.1:9300" };
    for (var i = 1; i < args.Length; i++)
    {
        if (args[i].StartsWith("--urls", StringComparison.Ordinal)) copilot.Url = (args[i].Contains('=') ? args[i][(args[i].IndexOf('=') + 1)..] : args[++i]).Split(';')[0];
        else if (args[i] == "--verbose") copilot.Verbose = true;
        else
        {
            Console.Error.WriteLine($"unknown argument {args[i]}");
            return 2;
        }
    }
    await using var copilotSimulator = await Gapura.Simulators.Copilot.CopilotSimulator.StartAsync(copilot);
    Console.WriteLine($"Copilot simulator listening on {copilotSimulator.BaseUrl}; GitHub token: {copilotSimulator.IssueGitHubToken()}");
    await copilotSimulator.WaitForShutdownAsync();
    return 0;
}
if (args.Length > 0 && args[0] == "openai")
{
    var openAi = new Gapura.Simulators.OpenAi.OpenAiSimulatorOptions { Url = "http://127.0.0.1:9200" };
    for (var i = 1; i < args.Length; i++)
    {
        if (args[i].StartsWith("--urls", StringComparison.Ordinal)) openAi.Url = (args[i].Contains('=') ? args[i][(args[i].IndexOf('=') + 1)..] : args[++i]).Split(';')[0];
        else if (args[i] == "--no-auth") openAi.RequireAuth = false;
        else if (args[i] == "--verbose") openAi.Verbose = true;
        else
        {
            Console.Error.WriteLine($"unknown argument {args[i]}");
            return 2;
        }
    }
    await using var openAiSimulator = await Gapura.Simulators.OpenAi.OpenAiSimulator.StartAsync(openAi);
    Console.WriteLine($"OpenAI simulator listening on {openAiSimulator.ApiBaseUrl}");
    await openAiSimulator.WaitForShutdownAsync();
    return 0;
}

var options = new KiroSimulatorOptions { Url = "http://127.0.0.1:9100", AccessTokenLifetime = TimeSpan.FromHours(12) };
string? credentialsPath = null;
for (var i = 0; i < args.Length; i++)
{
    string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
    var arg = args[i];
    var eq = arg.IndexOf('=');
    string? inline = eq > 0 ? arg[(eq + 1)..] : null;
    var name = eq > 0 ? arg[..eq] : arg;
    switch (name)
    {
        case "--urls": options.Url = (inline ?? Value()).Split(';')[0]; break;
        case "--seed": options.Seed = int.Parse(inline ?? Value(), System.Globalization.CultureInfo.InvariantCulture); break;
        case "--split": options.Split = Enum.Parse<KiroSplit>(inline ?? Value(), ignoreCase: true); break;
        case "--no-auth": options.RequireAuth = false; break;
        case "--verbose": options.Verbose = true; break;
        case "--write-credentials": credentialsPath = inline ?? Value(); break;
        default:
            Console.Error.WriteLine($"unknown argument {arg}");
            return 2;
    }
}

await using var simulator = await KiroSimulator.StartAsync(options);
Console.WriteLine($"Kiro simulator listening on {simulator.BaseUrl}");
if (credentialsPath is not null)
{
    var login = simulator.IssueCredentials(KiroLoginKind.Social);
    var json = new JsonObject
    {
        ["accessToken"] = login.AccessToken,
        ["refreshToken"] = login.RefreshToken,
        ["expiresAt"] = login.ExpiresAt.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture),
        ["profileArn"] = login.ProfileArn,
        ["region"] = login.Region,
        ["authMethod"] = "social",
        ["provider"] = "Simulator",
    };
    await File.WriteAllTextAsync(credentialsPath, json.ToJsonString());
    Console.WriteLine($"wrote a simulator login to {credentialsPath}");
}

// The host's console lifetime turns Ctrl+C and SIGTERM into a graceful stop.
await simulator.WaitForShutdownAsync();
return 0;
