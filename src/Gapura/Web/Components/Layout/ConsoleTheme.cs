using MudBlazor;

namespace Gapura.Web.Components.Layout;

/// <summary>The console's colours: one theme, defined once.</summary>
internal static class ConsoleTheme
{
    public static readonly MudTheme Theme = new()
    {
        PaletteLight = new PaletteLight
        {
            Primary = "#2f5d8a",
            Secondary = "#b5651d",
            AppbarBackground = "#1f3b57",
        },
    };
}
