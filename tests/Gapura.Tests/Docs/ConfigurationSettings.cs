using System.Collections;
using System.Reflection;
using System.Text.RegularExpressions;
using Gapura.Api;
using Gapura.Budgets;
using Gapura.Providers.Compatible;
using Gapura.Routing.Profiles;
using Gapura.Routing.Tasks;
using Gapura.Tests.Integration;
using Microsoft.Extensions.Configuration;

namespace Gapura.Tests.Docs;

/// <summary>
/// Finds every setting Gapura's code reads, as <c>Section:Key</c> names with <c>&lt;…&gt;</c> for the parts a user
/// chooses (<c>Routing:Profiles:&lt;name&gt;:model</c>, <c>Routing:Rules:&lt;i&gt;:task</c>), from four places:
/// <list type="number">
/// <item>options classes bound from a section: every public settable property, by reflection (nested classes and
/// dictionaries become <c>:&lt;key&gt;</c> levels), the section taken from the class's <c>Section</c> constant or from the
/// <c>Configure&lt;T&gt;(….GetSection("…"))</c> call that binds it;</item>
/// <item>sections read by hand (routing profiles, tasks and rules, budgets, rate limits, compatible servers): their
/// readers run against a configuration that records every key they look up;</item>
/// <item>direct reads in the source: <c>configuration["…"]</c>, <c>GetValue(…)</c>, <c>GetSection(…)</c>,
/// <c>GetConnectionString(…)</c>, with constants and <c>nameof</c> resolved;</item>
/// <item>environment variables read with <c>Environment.GetEnvironmentVariable</c>.</item>
/// </list>
/// A section path that is only the parent of other settings (<c>Routing</c>, <c>Budgets:Gateway</c>) is not a setting.
/// </summary>
internal static partial class ConfigurationSettings
{
    private static readonly Assembly Gapura = typeof(GatewayOptions).Assembly;
    private static readonly Type[] Types = Gapura.GetTypes();

    /// <summary>Readers that walk a section by hand, all run by <see cref="HandRead"/>; the test fails when the source has one more or one fewer.</summary>
    internal static readonly string[] KnownHandReaders =
    [
        "RoutingProfile.FromConfiguration", "TaskRule.FromConfiguration", "Budget.FromConfiguration", "RateLimit.FromConfiguration",
        "CompatibleServerOptions.ReadAll", "BudgetConfigSource.ReadFile", "FileLayer.Read", "ClaudeSignIn.Read", "ChatGptSignIn.Read",
    ];

    public static string RepositoryRoot => ClaudeCodeEndToEndTests.RepositoryRoot();

    /// <summary>Every setting the code reads, normalised (see <see cref="Normalise"/>).</summary>
    public static SortedSet<string> Find()
    {
        var found = new List<string>();
        found.AddRange(Bound());
        found.AddRange(HandRead());
        var sources = SourceFiles();
        found.AddRange(DirectReads(sources));
        found.AddRange(EnvironmentReads(sources));
        // One name per setting, whatever its placeholders are called (<name> from a reader, <*> from an interpolation).
        var all = found.Select(Normalise).OrderBy(k => k.Contains("<*>", StringComparison.Ordinal))
            .DistinctBy(k => PlaceholderAny().Replace(k, "<>"), StringComparer.OrdinalIgnoreCase).ToList();
        // A path some other setting lies under is a section, not a setting.
        return new SortedSet<string>(all.Where(k => !all.Any(o => IsUnder(o, k))), StringComparer.OrdinalIgnoreCase);
    }

    /// <summary>Methods in the source that read a configuration section by hand (<c>static … FromConfiguration(IConfigurationSection …)</c> and the like), as <c>Type.Method</c>.</summary>
    public static IReadOnlyList<string> HandReadersInSource()
    {
        var found = new List<string>();
        foreach (var (_, text) in SourceFiles())
        foreach (Match m in HandReaderDeclaration().Matches(text))
            found.Add($"{EnclosingType(text, m.Index)}.{m.Groups["method"].Value}");
        return found;
    }

    /// <summary>Options classes (a namespace-level <c>*Options</c> type with settable properties) whose section the finder cannot tell.</summary>
    public static IReadOnlyList<string> UnboundOptionsClasses()
    {
        var reached = new HashSet<Type>();
        foreach (var (type, section) in Bindings()) Enumerate(type, section, reached).ToList();
        return Types
            .Where(t => !t.IsNested && t.Name.EndsWith("Options", StringComparison.Ordinal) && SettableProperties(t).Any() && !reached.Contains(t))
            .Select(t => t.FullName!).ToList();
    }

    // ---- 1. bound options classes ----

    private static IEnumerable<string> Bound()
        => Bindings().SelectMany(b => Enumerate(b.Type, b.Section, []));

    /// <summary>(options type, section) pairs: from <c>Section</c> constants and from the binding calls in the source.</summary>
    private static IEnumerable<(Type Type, string Section)> Bindings()
    {
        var pairs = new HashSet<(Type, string)>();
        foreach (var type in Types)
        {
            if (Constant(type, "Section") is not { } section) continue;
            if (SettableProperties(type).Any()) pairs.Add((type, section));
            // A static reader (ClaudeSignIn.Read(IConfiguration) → OAuthSignInOptions) binds the type it returns.
            foreach (var method in type.GetMethods(BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
                if (method.GetParameters().Any(p => p.ParameterType == typeof(IConfiguration)) && !typeof(IEnumerable).IsAssignableFrom(method.ReturnType)
                    && SettableProperties(method.ReturnType).Any())
                    pairs.Add((method.ReturnType, section));
        }
        foreach (var (_, text) in SourceFiles())
        foreach (Match m in BindingCall().Matches(text))
            if (TypeNamed(m.Groups["type"].Value) is { } type && Resolve(m.Groups["arg"].Value) is { } section)
                pairs.Add((type, section));
        return pairs;
    }

    private static IEnumerable<string> Enumerate(Type type, string prefix, HashSet<Type> reached)
    {
        reached.Add(type);
        foreach (var p in SettableProperties(type))
        {
            var key = $"{prefix}:{p.Name}";
            var t = Nullable.GetUnderlyingType(p.PropertyType) ?? p.PropertyType;
            if (IsScalar(t)) yield return key;
            else if (DictionaryValue(t) is { } value)
            {
                if (IsScalar(value)) yield return key + ":<key>";
                else foreach (var k in Enumerate(value, key + ":<key>", reached)) yield return k;
            }
            else if (typeof(IEnumerable).IsAssignableFrom(t)) yield return key; // a list: Key:0, Key:1, …
            else foreach (var k in Enumerate(t, key, reached)) yield return k;
        }
    }

    /// <summary>Public properties the binder can set (init-only ones belong to records read by hand).</summary>
    private static IEnumerable<PropertyInfo> SettableProperties(Type type)
        => type.IsClass && type != typeof(string)
            ? type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p =>
                p.GetIndexParameters().Length == 0 && p.SetMethod is { IsPublic: true } set
                && !set.ReturnParameter.GetRequiredCustomModifiers().Any(m => m.FullName == "System.Runtime.CompilerServices.IsExternalInit"))
            : [];

    private static bool IsScalar(Type t)
        => t.IsPrimitive || t.IsEnum || t == typeof(string) || t == typeof(decimal) || t == typeof(TimeSpan) || t == typeof(Uri) || t == typeof(DateTimeOffset);

    private static Type? DictionaryValue(Type t)
        => t.GetInterfaces().Append(t).FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IDictionary<,>) && i.GetGenericArguments()[0] == typeof(string))
            ?.GetGenericArguments()[1];

    // ---- 2. sections read by hand ----

    private static IEnumerable<string> HandRead()
    {
        // Each reader runs on a configuration that exists just enough for it to look at every key it knows;
        // "zzname", "background" and numbers are the seeded parts a user chooses.
        var (config, reads) = Recording(new()
        {
            ["Routing:Profiles:zzname:model"] = "m",
            ["Routing:Profiles:zzname:fallbacks:0"] = "m2",
            ["Routing:Tasks:background"] = "zzname",
            ["Providers:Compatible:zzname:BaseUrl"] = "http://127.0.0.1:9/v1",
            ["Budgets:Gateway:daily:inputTokens"] = "1",
            ["Budgets:Gateway:monthly:inputTokens"] = "1",
            ["Budgets:User:Default:daily:inputTokens"] = "1",
            ["Budgets:User:Default:monthly:inputTokens"] = "1",
            ["RateLimits:User:Default:requestsPerMinute"] = "1",
            ["RateLimits:Key:Default:requestsPerMinute"] = "1",
        });
        RoutingConfigSource.FileLayer.Read(config.GetSection("Routing"));
        CompatibleServerOptions.ReadAll(config);
        BudgetConfigSource.ReadFile(config);
        var keys = reads.Select(k => string.Join(':', k.Split(':').Select(s => s switch
        {
            "zzname" => "<name>",
            "background" => "<task>",
            _ when s.All(char.IsAsciiDigit) => "<i>",
            _ => Camel(s),
        }))).ToList();
        // Rules are read field by field as they come, so the fields are taken from the list the reader checks against.
        keys.AddRange(TaskRule.Fields.Select(f => $"Routing:Rules:<i>:{Camel(f)}"));
        keys.AddRange(RoutingProfile.Fields.Select(f => $"Routing:Profiles:<name>:{Camel(f)}"));
        return keys;
    }

    /// <summary>
    /// Definition fields are snake_case in the admin API and read in any spelling (<c>FieldNames</c>); in configuration
    /// they are documented in the configuration's own camelCase: <c>last_user_text</c> is <c>lastUserText</c>.
    /// </summary>
    private static string Camel(string name)
    {
        var parts = name.Split('_');
        return parts[0] + string.Concat(parts.Skip(1).Select(p => p.Length == 0 ? p : char.ToUpperInvariant(p[0]) + p[1..]));
    }

    private static (IConfiguration Config, List<string> Reads) Recording(Dictionary<string, string?> seed)
    {
        var provider = new RecordingProvider(seed);
        return (new ConfigurationBuilder().Add(new RecordingSource(provider)).Build(), provider.Reads);
    }

    private sealed class RecordingProvider : ConfigurationProvider
    {
        public List<string> Reads { get; } = [];

        public RecordingProvider(Dictionary<string, string?> seed)
            => Data = new Dictionary<string, string?>(seed, StringComparer.OrdinalIgnoreCase);

        public override bool TryGet(string key, out string? value)
        {
            Reads.Add(key);
            return base.TryGet(key, out value);
        }
    }

    private sealed class RecordingSource(RecordingProvider provider) : IConfigurationSource
    {
        public IConfigurationProvider Build(IConfigurationBuilder builder) => provider;
    }

    // ---- 3. and 4. reads in the source ----

    private static IEnumerable<string> DirectReads(IEnumerable<(string Path, string Text)> sources)
    {
        foreach (var (_, text) in sources)
        foreach (Match m in DirectRead().Matches(text))
        {
            if (Resolve(m.Groups["arg"].Value) is not { } key) continue;
            yield return m.Groups["call"].Value == "GetConnectionString" ? "ConnectionStrings:" + key : key;
        }
    }

    private static IEnumerable<string> EnvironmentReads(IEnumerable<(string Path, string Text)> sources)
    {
        foreach (var (_, text) in sources)
        foreach (Match m in EnvironmentRead().Matches(text))
            if (Resolve(m.Groups["arg"].Value) is { } name) yield return name;
    }

    /// <summary>A string literal, an interpolated string, or a constant's name, as the text it stands for; null when it is a variable.</summary>
    private static string? Resolve(string arg)
    {
        arg = arg.Trim();
        if (arg.StartsWith("$\"", StringComparison.Ordinal))
            return Interpolation().Replace(arg[2..^1], h =>
            {
                var expr = h.Groups[1].Value.Trim();
                if (NameOf().Match(expr) is { Success: true } n) return n.Groups[1].Value;
                return ConstantNamed(expr) ?? "<*>";
            });
        if (arg.StartsWith('"')) return arg[1..^1];
        return ConstantNamed(arg);
    }

    /// <summary><c>Type.Const</c> or a bare <c>Const</c> unique in the assembly.</summary>
    private static string? ConstantNamed(string expr)
    {
        var parts = expr.Split('.');
        if (parts.Length >= 2 && TypeNamed(parts[^2]) is { } type) return Constant(type, parts[^1]);
        if (parts.Length != 1) return null;
        var values = Types.Select(t => Constant(t, parts[0])).Where(v => v is not null).Distinct().ToList();
        return values.Count == 1 ? values[0] : null;
    }

    private static string? Constant(Type type, string name)
        => type.GetField(name, BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static | BindingFlags.DeclaredOnly) is { IsLiteral: true } f
            ? f.GetRawConstantValue() as string : null;

    private static Type? TypeNamed(string name)
    {
        var simple = name.Split('.')[^1];
        var types = Types.Where(t => t.Name == simple).ToList();
        return types.Count == 1 ? types[0] : null;
    }

    private static string EnclosingType(string text, int index)
        => TypeDeclaration().Matches(text[..index]).LastOrDefault()?.Groups["name"].Value ?? "?";

    private static List<(string Path, string Text)>? _sources;

    private static List<(string Path, string Text)> SourceFiles()
        => _sources ??= Directory.EnumerateFiles(Path.Combine(RepositoryRoot, "src"), "*.cs", SearchOption.AllDirectories)
            .Where(p => !p.Split(Path.DirectorySeparatorChar).Any(d => d is "obj" or "bin"))
            .Select(p => (p, File.ReadAllText(p))).ToList();

    // ---- documentation ----

    /// <summary>
    /// The settings named in the first column of every table in <paramref name="markdown"/> whose header's first
    /// cell is <c>Setting</c> or <c>Variable</c>; a cell may name several, each in backticks.
    /// </summary>
    public static SortedSet<string> Documented(string markdown)
    {
        var names = new SortedSet<string>(StringComparer.OrdinalIgnoreCase);
        var lines = markdown.Split('\n').Select(l => l.Trim()).ToArray();
        var inTable = false;
        for (var i = 0; i < lines.Length; i++)
        {
            if (!lines[i].StartsWith('|')) { inTable = false; continue; }
            if (TableSeparator().IsMatch(lines[i])) continue;
            var first = lines[i].Split('|')[1].Trim();
            if (i + 1 < lines.Length && TableSeparator().IsMatch(lines[i + 1]))
            {
                inTable = first.Equals("setting", StringComparison.OrdinalIgnoreCase) || first.Equals("variable", StringComparison.OrdinalIgnoreCase);
                continue;
            }
            if (inTable)
                foreach (Match m in DocumentedName().Matches(first)) names.Add(Normalise(m.Groups[1].Value));
        }
        return names;
    }

    // ---- matching ----

    /// <summary>A trailing list index is dropped (<c>Secrets:PreviousKeys:&lt;i&gt;</c> is <c>Secrets:PreviousKeys</c>); every chosen part reads <c>&lt;…&gt;</c>.</summary>
    public static string Normalise(string key)
    {
        var parts = key.Split(':').ToList();
        while (parts.Count > 1 && parts[^1] is "<i>") parts.RemoveAt(parts.Count - 1);
        return string.Join(':', parts);
    }

    /// <summary>Same parts, case-insensitive, where a <c>&lt;…&gt;</c> part on either side stands for any one part.</summary>
    public static bool Matches(string a, string b)
    {
        var x = a.Split(':');
        var y = b.Split(':');
        return x.Length == y.Length && x.Zip(y).All(p => IsPlaceholder(p.First) || IsPlaceholder(p.Second) || p.First.Equals(p.Second, StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>Whether <paramref name="longer"/> lies under the section <paramref name="section"/> (placeholders only match placeholders here).</summary>
    private static bool IsUnder(string longer, string section)
    {
        var x = longer.Split(':');
        var y = section.Split(':');
        return x.Length > y.Length && y.Select((part, i) => IsPlaceholder(part) && IsPlaceholder(x[i]) || part.Equals(x[i], StringComparison.OrdinalIgnoreCase)).All(b => b);
    }

    private static bool IsPlaceholder(string part) => part.StartsWith('<') && part.EndsWith('>');

    // Configure<T>(configuration.GetSection(ARG)), AddOptions<T>().Bind(configuration.GetSection(ARG)), GetSection(ARG).Get<T>()
    [GeneratedRegex("""(?:Configure<(?<type>[\w.]+)>\(\s*\w+\.GetSection\((?<arg>\$?"[^"]*"|[\w.]+)\)\s*\)|AddOptions<(?<type>[\w.]+)>\(\)\s*\.Bind\(\s*\w+\.GetSection\((?<arg>\$?"[^"]*"|[\w.]+)\)\s*\)|GetSection\((?<arg>\$?"[^"]*"|[\w.]+)\)\s*\.Get<(?<type>[\w.]+)>\(\))""")]
    private static partial Regex BindingCall();

    // configuration["X"], builder.Configuration["X"], config.GetValue<T>("X", …), configuration.GetSection($"{A.Section}:{A.Key}"), GetConnectionString("X")
    [GeneratedRegex("""\b(?:configuration|Configuration|config|_configuration)\s*(?:(?<call>\[)|\.(?<call>GetValue|GetSection|GetConnectionString)(?:<[^>(]+>)?\()\s*(?<arg>\$?"[^"]*"|[\w.]+)""")]
    private static partial Regex DirectRead();

    [GeneratedRegex("""GetEnvironmentVariable\(\s*(?<arg>\$?"[^"]*"|[\w.]+)\s*\)""")]
    private static partial Regex EnvironmentRead();

    [GeneratedRegex("""\bstatic\b[^;{}()=]*?\b(?<method>FromConfiguration|ReadAll|ReadFile|Read)\s*\(\s*IConfiguration(?:Section)?\s""")]
    private static partial Regex HandReaderDeclaration();

    [GeneratedRegex("""\b(?:class|record|struct)\s+(?<name>\w+)""")]
    private static partial Regex TypeDeclaration();

    [GeneratedRegex("""\{([^{}]+)\}""")]
    private static partial Regex Interpolation();

    [GeneratedRegex("""^nameof\(\s*(?:[\w.]+\.)?(\w+)\s*\)$""")]
    private static partial Regex NameOf();

    [GeneratedRegex("""<[^<>:]*>""")]
    private static partial Regex PlaceholderAny();

    [GeneratedRegex("""^\|(?:\s*:?-+:?\s*\|)+$""")]
    private static partial Regex TableSeparator();

    [GeneratedRegex("""`([A-Za-z_][A-Za-z0-9_]*(?::[A-Za-z0-9_.*<>-]+)*)`""")]
    private static partial Regex DocumentedName();
}
