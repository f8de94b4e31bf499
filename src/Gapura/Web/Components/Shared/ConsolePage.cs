using System.Globalization;
using System.Security.Claims;
using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Components.Authorization;
using MudBlazor;

namespace Gapura.Web.Components.Shared;

/// <summary>
/// What every interactive console page shares: the admin API client, who is signed in, and one way to run an
/// action and show its outcome (the API's own message on a refusal).
/// </summary>
public abstract class ConsolePage : ComponentBase
{
    [Inject]
    internal ConsoleApi Api { get; set; } = default!;

    [Inject]
    protected ISnackbar Snackbar { get; set; } = default!;

    [Inject]
    protected IDialogService Dialogs { get; set; } = default!;

    [CascadingParameter]
    private Task<AuthenticationState> AuthenticationState { get; set; } = default!;

    /// <summary>The signed-in user's id, email and role, known once <see cref="OnInitializedAsync"/> ran.</summary>
    protected long MyUserId { get; private set; }

    protected string MyEmail { get; private set; } = "";

    protected bool IsAdmin { get; private set; }

    /// <summary>The last refusal or failure of a load, shown by the page in place of its content.</summary>
    protected string? LoadError { get; set; }

    protected override async Task OnInitializedAsync()
    {
        var user = (await AuthenticationState).User;
        MyUserId = long.TryParse(user.FindFirstValue(ClaimTypes.NameIdentifier), CultureInfo.InvariantCulture, out var id) ? id : 0;
        MyEmail = user.Identity?.Name ?? "";
        IsAdmin = user.IsInRole("admin");
        await LoadAsync();
    }

    /// <summary>Reads what the page shows; a refusal lands in <see cref="LoadError"/>.</summary>
    protected virtual Task LoadAsync() => Task.CompletedTask;

    /// <summary>Runs a change; on success shows <paramref name="done"/> (if any), on a refusal the API's message.</summary>
    protected async Task<bool> RunAsync(Func<Task> action, string? done = null)
    {
        try
        {
            await action();
            if (done is not null) Snackbar.Add(done, Severity.Success);
            return true;
        }
        catch (ConsoleApiException e)
        {
            Snackbar.Add(e.Message, Severity.Error);
            return false;
        }
    }

    /// <summary>Runs a load, keeping a refusal for the page to show.</summary>
    protected async Task LoadingAsync(Func<Task> load)
    {
        try
        {
            await load();
            LoadError = null;
        }
        catch (ConsoleApiException e)
        {
            LoadError = e.Message;
        }
    }

    /// <summary>Times as the console shows them: UTC, to the minute.</summary>
    internal static string When(DateTimeOffset? at) => at is { } t ? t.UtcDateTime.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture) : "—";

    /// <summary>Asks before something that cannot be undone.</summary>
    protected async Task<bool> ConfirmAsync(string title, string message, string yes)
        => await Dialogs.ShowMessageBoxAsync(title, message, yesText: yes, cancelText: "Cancel") == true;
}
