using System.Xml.Linq;
using Gapura.Storage;
using Microsoft.AspNetCore.DataProtection.Repositories;

namespace Gapura.Web;

/// <summary>
/// Keeps the keys that protect the console's circuits and form tokens in the settings table, each sealed with
/// the gateway's secrets key like every other secret at rest. In the database, every instance sharing it has
/// the same keys: a form rendered by one instance posts to another behind a load balancer, and a restart voids
/// nothing. Read once at start and when the key ring renews (every few months), so the calls may block.
/// </summary>
internal sealed class ConsoleKeyStore(IServiceProvider services) : IXmlRepository
{
    private const string Prefix = "console.protection_key.";

    // Resolved late: the data-protection system is built before the store in some start-up paths.
    private IGapuraStore Store => services.GetRequiredService<IGapuraStore>();

    public IReadOnlyCollection<XElement> GetAllElements()
    {
        var elements = new List<XElement>();
        foreach (var setting in Store.Settings.ListAsync().GetAwaiter().GetResult())
        {
            if (!setting.Key.StartsWith(Prefix, StringComparison.Ordinal) || !setting.IsSecret) continue;
            if (Store.Settings.GetSecretAsync(setting.Key).GetAwaiter().GetResult() is { } xml) elements.Add(XElement.Parse(xml));
        }
        return elements;
    }

    public void StoreElement(XElement element, string friendlyName)
        => Store.Settings.SetSecretAsync(Prefix + friendlyName, element.ToString(SaveOptions.DisableFormatting)).GetAwaiter().GetResult();
}
