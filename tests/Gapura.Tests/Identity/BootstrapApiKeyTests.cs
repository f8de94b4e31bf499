using Gapura.Api;
using Gapura.Identity;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gapura.Tests.Identity;

public class BootstrapApiKeyTests
{
    [Fact]
    public async Task Instances_starting_together_in_one_folder_agree_on_one_generated_key_kept_private()
    {
        var dir = Directory.CreateTempSubdirectory("gapura-bootstrap-").FullName;
        try
        {
            using var go = new ManualResetEventSlim();
            var starts = Enumerable.Range(0, 6).Select(_ => Task.Run(() =>
            {
                var options = new GatewayOptions();
                go.Wait();
                BootstrapApiKey.Apply(options, dir, NullLogger.Instance);
                return options.ApiKey;
            })).ToList();
            go.Set();
            var keys = await Task.WhenAll(starts);

            var key = Assert.Single(keys.Distinct());
            Assert.StartsWith("sk-gp-", key);
            Assert.Equal(key, (await File.ReadAllTextAsync(Path.Combine(dir, "api-key"))).Trim());
            if (!OperatingSystem.IsWindows()) Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(dir, "api-key")));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void A_configured_key_shorter_than_sixteen_characters_is_refused_at_start()
        => Assert.Throws<InvalidOperationException>(() => BootstrapApiKey.Apply(new GatewayOptions { ApiKey = "too-short" }, Path.GetTempPath(), NullLogger.Instance));
}
