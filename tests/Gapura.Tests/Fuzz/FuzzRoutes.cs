using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Patterns;
using Microsoft.Extensions.DependencyInjection;

namespace Gapura.Tests.Fuzz;

/// <summary>One route of the app as its endpoint data says: the pattern, the methods, and the request type its body declares.</summary>
internal sealed record FuzzRoute(string Method, RoutePattern Pattern, Type? BodyType)
{
    public string Template => Pattern.RawText ?? "";

    public override string ToString() => $"{Method} {Template}";

    /// <summary>
    /// Every route under <paramref name="prefix"/> the running app serves, read from its <see cref="EndpointDataSource"/>:
    /// a route added later is fuzzed without anyone listing it here.
    /// </summary>
    public static IReadOnlyList<FuzzRoute> Of(IServiceProvider services, string prefix)
    {
        var routes = new List<FuzzRoute>();
        foreach (var endpoint in services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>())
        {
            var template = endpoint.RoutePattern.RawText ?? "";
            if (!template.StartsWith(prefix, StringComparison.OrdinalIgnoreCase)) continue;
            var methods = endpoint.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods is { Count: > 0 } declared
                ? declared
                : ["GET", "POST", "PUT", "PATCH", "DELETE"];
            var bodyType = endpoint.Metadata.GetOrderedMetadata<IAcceptsMetadata>().Select(a => a.RequestType).FirstOrDefault(t => t is not null);
            routes.AddRange(methods.Select(m => new FuzzRoute(m, endpoint.RoutePattern, bodyType)));
        }
        return [.. routes.OrderBy(r => r.Template, StringComparer.Ordinal).ThenBy(r => r.Method, StringComparer.Ordinal)];
    }

    /// <summary>The path with each parameter filled by <paramref name="value"/> (its name, and whether it may hold slashes).</summary>
    public string Fill(Func<RoutePatternParameterPart, string> value)
    {
        var path = new System.Text.StringBuilder();
        foreach (var segment in Pattern.PathSegments)
        {
            path.Append('/');
            foreach (var part in segment.Parts)
            {
                path.Append(part switch
                {
                    RoutePatternLiteralPart literal => literal.Content,
                    RoutePatternParameterPart parameter => value(parameter),
                    RoutePatternSeparatorPart separator => separator.Content,
                    _ => "",
                });
            }
        }
        return path.ToString();
    }
}
