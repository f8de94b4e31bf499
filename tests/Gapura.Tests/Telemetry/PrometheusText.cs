using System.Globalization;

namespace Gapura.Tests.Telemetry;

/// <summary>
/// A scrape in the Prometheus text format, parsed into samples: enough of the format to read what the gateway
/// exposes (comments, names, quoted label values with escapes, a value), so tests read figures, not substrings.
/// </summary>
public sealed class PrometheusText
{
    public sealed record Sample(string Name, IReadOnlyDictionary<string, string> Labels, double Value);

    public PrometheusText(string text)
    {
        Text = text;
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (line.Length == 0 || line[0] == '#') continue;
            Samples.Add(ParseLine(line));
        }
    }

    public string Text { get; }

    public List<Sample> Samples { get; } = [];

    /// <summary>The sum over the samples of <paramref name="name"/> whose labels include every given pair; 0 when none.</summary>
    public double Sum(string name, params (string Label, string Value)[] labels)
    {
        var sum = 0.0;
        foreach (var s in Samples)
            if (s.Name == name && labels.All(l => s.Labels.TryGetValue(l.Label, out var v) && v == l.Value)) sum += s.Value;
        return sum;
    }

    public bool Has(string name) => Samples.Any(s => s.Name == name);

    private static Sample ParseLine(string line)
    {
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        var i = 0;
        while (i < line.Length && line[i] != '{' && line[i] != ' ') i++;
        var name = line[..i];
        if (i < line.Length && line[i] == '{')
        {
            i++;
            while (line[i] != '}')
            {
                var eq = line.IndexOf('=', i);
                var label = line[i..eq].Trim(',', ' ');
                i = eq + 2; // past ="
                var value = new System.Text.StringBuilder();
                while (line[i] != '"')
                {
                    if (line[i] == '\\') { i++; value.Append(line[i] == 'n' ? '\n' : line[i]); }
                    else value.Append(line[i]);
                    i++;
                }
                i++; // past the closing quote
                if (line[i] == ',') i++;
                labels[label] = value.ToString();
            }
            i++;
        }
        var rest = line[i..].Trim().Split(' ');
        var number = rest[0] switch { "+Inf" => double.PositiveInfinity, "-Inf" => double.NegativeInfinity, var v => double.Parse(v, CultureInfo.InvariantCulture) };
        return new Sample(name, labels, number);
    }
}
