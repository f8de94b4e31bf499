using System.Text.Json;
using Gapura.Identity;
using Gapura.Secrets;
using Gapura.Storage;

namespace Gapura.Api.Admin;

/// <summary>
/// A refusal of the admin API with its HTTP status. The message is shown to the caller, so it says what
/// to fix and never carries a secret; <see cref="Param"/> names the offending field of a 400.
/// </summary>
internal sealed class AdminApiException(int status, string type, string message, string? param = null) : Exception(message)
{
    public int Status { get; } = status;
    public string Type { get; } = type;
    public string? Param { get; } = param;

    /// <summary>Seconds until the caller may try again (sent as <c>Retry-After</c>).</summary>
    public int? RetryAfterSeconds { get; init; }

    public static AdminApiException Invalid(string param, string message) => new(400, ErrorTypes.InvalidRequest, message, param);
    public static AdminApiException NotSignedIn(string message) => new(401, ErrorTypes.Authentication, message);
    public static AdminApiException Forbidden(string message) => new(403, ErrorTypes.Permission, message);
    public static AdminApiException NotFound(string message) => new(404, ErrorTypes.NotFound, message);
    public static AdminApiException Conflict(string message) => new(409, ErrorTypes.Conflict, message);
}

internal static class ErrorTypes
{
    public const string InvalidRequest = "invalid_request_error";
    public const string Authentication = "authentication_error";
    public const string SecondFactorRequired = "second_factor_required";
    public const string Permission = "permission_error";
    public const string NotFound = "not_found_error";
    public const string Conflict = "conflict_error";
    /// <summary>Too many failed sign-ins for one e-mail from one address (429, with <c>Retry-After</c>).</summary>
    public const string TooManySignIns = "rate_limit_error";
    public const string Unavailable = "service_unavailable";
    public const string Internal = "api_error";
}

/// <summary>Turns every failure of an admin endpoint into <c>{"error":{"message","type"}}</c> with the right status.</summary>
/// A refusal of a signed-in caller (403) is itself audited: who tried what, from where.
internal sealed class AdminErrorFilter(IGapuraStore store, ILogger<AdminErrorFilter> log) : IEndpointFilter
{
    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        try
        {
            return await next(context);
        }
        catch (Exception e) when (Translate(e) is { } error && !http.Response.HasStarted)
        {
            if (error.Status >= 500) log.LogError("Admin API {Method} {Path} failed: {Error}", http.Request.Method, http.Request.Path, e.Message);
            if (error.Status == StatusCodes.Status403Forbidden && http.FindAdminPrincipal() is { } who)
                await AuditDeniedAsync(http, who, error.Message);
            if (error.RetryAfterSeconds is { } seconds) http.Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return Result(error);
        }
    }

    private async Task AuditDeniedAsync(HttpContext http, AdminPrincipal who, string why)
    {
        try
        {
            await store.Audit.WriteAsync(new NewAuditEntry(who.Actor, "denied", $"{http.Request.Method} {http.Request.Path}", why, http.RemoteAddress()), http.RequestAborted);
        }
        catch (Exception e) when (e is StorageException or System.Data.Common.DbException)
        {
            // The refusal stands either way; losing its audit row must not turn it into a 500.
            log.LogWarning("Could not audit a refused admin request: {Error}", e.Message);
        }
    }

    public static IResult Result(AdminApiException error)
        => Results.Json(new ErrorBody(new ErrorDetail(error.Message, error.Type, error.Param)), AdminJsonContext.Default.ErrorBody, statusCode: error.Status);

    /// <summary>Domain exceptions from storage and identity, mapped once here rather than in every endpoint.</summary>
    private static AdminApiException? Translate(Exception e) => e switch
    {
        AdminApiException a => a,
        Ledger.UsageQueryException q => AdminApiException.Invalid(q.Param, q.Message),
        Routing.RoutingConfigException r => AdminApiException.Invalid(r.Field, r.Message),
        InvalidEmailException => AdminApiException.Invalid("email", e.Message),
        WeakPasswordException => AdminApiException.Invalid("password", e.Message),
        DuplicateEmailException or LastAdminException or DuplicateApiKeyException => AdminApiException.Conflict(e.Message),
        EntityNotFoundException => AdminApiException.NotFound(e.Message),
        DatabaseUnavailableException => new AdminApiException(503, ErrorTypes.Unavailable, "The database cannot be reached; try again shortly."),
        SecretDecryptionException => new AdminApiException(500, ErrorTypes.Internal, "A stored secret could not be opened; check Secrets:Key."),
        System.Data.Common.DbException => new AdminApiException(503, ErrorTypes.Unavailable, "The database refused the request; try again shortly."),
        _ => null,
    };
}

/// <summary>Reads a JSON body into a request record, turning malformed input into a 400 that names the field.</summary>
internal static class AdminBody
{
    public static async Task<T> ReadAsync<T>(HttpRequest request, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type, CancellationToken ct)
        where T : class
    {
        try
        {
            return await JsonSerializer.DeserializeAsync(request.Body, type, ct)
                ?? throw AdminApiException.Invalid("body", "The body must be a JSON object.");
        }
        catch (JsonException e)
        {
            var field = e.Path is { Length: > 2 } path && path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : null;
            throw field is null
                ? AdminApiException.Invalid("body", "The body must be a JSON object of the documented fields.")
                : AdminApiException.Invalid(field, $"'{field}' is not a known field here, or has the wrong type.");
        }
    }

    public static string Required(string? value, string field)
        => string.IsNullOrWhiteSpace(value) ? throw AdminApiException.Invalid(field, $"'{field}' is required.") : value;

    public static UserRole ParseRole(string? role, string field = "role") => (role ?? "").Trim().ToLowerInvariant() switch
    {
        "admin" => UserRole.Admin,
        "user" => UserRole.User,
        _ => throw AdminApiException.Invalid(field, $"'{field}' must be \"admin\" or \"user\"."),
    };
}
