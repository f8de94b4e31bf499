using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Gapura.Conversations;
using Gapura.Ledger;
using Gapura.Tests.Admin;
using Gapura.Tests.Storage;
using Microsoft.Extensions.Options;

namespace Gapura.Tests.Ledger;

/// <summary>The price table: one price per model family whatever a provider calls it, configured and admin layers, null for the unknown.</summary>
public sealed class PriceTableTests : StoreTestBase
{
    private protected override IBackend CreateBackend() => new SqliteBackend();

    private PriceTable Table(Action<PricingOptions>? configure = null)
    {
        var options = new PricingOptions();
        configure?.Invoke(options);
        return new PriceTable(Store, Options.Create(options));
    }

    [Theory]
    [InlineData("claude-sonnet-4.5")]                            // Kiro
    [InlineData("claude-sonnet-4-5-20250929")]                   // Anthropic
    [InlineData("us.anthropic.claude-sonnet-4-5-20250929-v1:0")] // Bedrock inference profile
    [InlineData("anthropic.claude-sonnet-4-5-20250929-v1:0")]    // Bedrock foundation model
    [InlineData("copilot/claude-sonnet-4.5")]
    [InlineData("CLAUDE-SONNET-4-5")]
    public void Every_providers_name_of_a_model_has_its_list_price(string model)
        => Assert.Equal(new ModelPrice(3, 15, 0.3, 3.75), Table().Find(model));

    [Theory]
    [InlineData("gpt-4.1-mini", 0.4)]          // not gpt-4.1's price: the longest name wins
    [InlineData("gpt-4.1", 2.0)]
    [InlineData("gpt-4o-2024-08-06", 2.5)]     // a dated snapshot of a family
    [InlineData("gpt-5-codex", 1.25)]          // a longer name of a family
    [InlineData("claude-haiku-4-5-20251001", 1.0)]
    public void A_family_member_is_priced_by_its_longest_known_name(string model, double input)
        => Assert.Equal(input, Table().Find(model)!.Input);

    [Theory]
    [InlineData("claude-opus-4-8")]  // a newer version is not an older one's price
    [InlineData("llama3.2")]
    [InlineData("auto")]
    public void A_model_without_a_price_costs_null_not_zero(string model)
    {
        var table = Table();
        Assert.Null(table.Find(model));
        Assert.Null(table.CostOf("kiro", model, new Usage(1000, 1000)));
    }

    [Fact]
    public void Cost_adds_each_bucket_at_its_own_price()
    {
        var cost = Table().CostOf("anthropic", "claude-opus-4-5", new Usage(InputTokens: 2_000, OutputTokens: 1_000, CacheReadTokens: 10_000, CacheWriteTokens: 4_000, ReasoningTokens: 500));
        // Reasoning is part of the output: never charged on top of it.
        Assert.Equal((2_000 * 5 + 1_000 * 25 + 10_000 * 0.5 + 4_000 * 6.25) / 1e6, cost!.Value, 1e-12);
    }

    [Fact]
    public void Configured_prices_override_some_buckets_and_add_new_models()
    {
        var table = Table(o =>
        {
            o.Models["claude-sonnet-4.5"] = new PricingOptions.PriceOption { Input = 2 };
            o.Models["llama3.2"] = new PricingOptions.PriceOption { Input = 0.1, Output = 0.2 };
        });
        Assert.Equal(new ModelPrice(2, 15, 0.3, 3.75), table.Find("claude-sonnet-4-5-20250929"));
        Assert.Equal(new ModelPrice(0.1, 0.2, 0, 0), table.Find("ollama/llama3.2"));
        Assert.Contains(table.List(), p => p.Model == "llama3.2" && p.Source == "config");
    }

    [Fact]
    public void Kiro_credits_are_priced_per_credit_when_a_rate_is_set()
    {
        var usage = new Usage(1000, 100, Credits: 0.5);
        Assert.Equal(0.02, Table(o => o.Kiro.UsdPerCredit = 0.04).CostOf("kiro", "claude-sonnet-4.5", usage)!.Value, 1e-12);
        Assert.Equal((1000 * 3 + 100 * 15) / 1e6, Table().CostOf("kiro", "claude-sonnet-4.5", usage)!.Value, 1e-12);
    }

    [Fact]
    public async Task Admin_prices_stored_in_settings_win_after_a_reload()
    {
        var table = Table();
        await Store.Settings.SetAsync(PriceTable.SettingKey("claude-sonnet-4-5"), new ModelPrice(1, 2, 3, 4).ToSetting());
        Assert.Equal(3, table.Find("claude-sonnet-4.5")!.Input);

        await table.ReloadAllAsync(CancellationToken.None);

        Assert.Equal(new ModelPrice(1, 2, 3, 4), table.Find("claude-sonnet-4.5"));
        Assert.Contains(table.List(), p => p.Model == "claude-sonnet-4-5" && p.Source == "admin");
    }
}

/// <summary>The admin pricing API through a real gateway: set, used by the ledger at once, reset; admins only; clear 400s.</summary>
public sealed class AdminPricingTests : AdminTestBase
{
    [Fact]
    public async Task An_admin_price_is_used_for_the_next_request_and_reset_restores_the_list_price()
    {
        using var admin = AdminByKey();
        var set = await admin.PutAsync("/admin/api/pricing/claude-sonnet-4.5", new JsonObject { ["input"] = 10, ["output"] = 20, ["cache_read"] = 1, ["cache_write"] = 2 });
        Assert.True(set.Status == HttpStatusCode.OK, set.ToString());
        Assert.Equal(("claude-sonnet-4-5", "admin", 10.0), ((string?)set.Json!["model"], (string?)set.Json["source"], (double?)set.Json["input"]));

        using var http = Gateway.Http();
        using (var chat = await http.PostAsync("/v1/chat/completions", new StringContent(
            """{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"hi"}]}""", Encoding.UTF8, "application/json")))
        {
            var record = await Gateway.UsageRecordOfAsync(chat);
            Assert.Equal((record.InputTokens * 10 + record.OutputTokens * 20 + record.CacheReadTokens * 1 + record.CacheWriteTokens * 2) / 1e6, record.CostUsd!.Value, 1e-12);
        }

        var list = await admin.GetAsync("/admin/api/pricing");
        Assert.Contains(list.Json!["data"]!.AsArray(), p => (string?)p!["model"] == "claude-sonnet-4-5" && (string?)p["source"] == "admin");
        var reset = await admin.DeleteAsync("/admin/api/pricing/claude-sonnet-4.5");
        Assert.Equal(("builtin", 3.0), ((string?)reset.Json!["source"], (double?)reset.Json["input"]));
        Assert.Equal(HttpStatusCode.NotFound, (await admin.DeleteAsync("/admin/api/pricing/claude-sonnet-4.5")).Status);
        Assert.Contains(await Store.Audit.ListAsync(new Gapura.Storage.AuditQuery(null, null, null, null, 10)), e => e.Action == "pricing.set");
    }

    [Fact]
    public async Task Prices_are_for_admins_and_bad_values_are_named()
    {
        using var admin = AdminByKey();
        var missing = await admin.PutAsync("/admin/api/pricing/gpt-5", new JsonObject { ["input"] = 1, ["output"] = 2, ["cache_read"] = 0 });
        Assert.Equal((HttpStatusCode.BadRequest, "cache_write"), (missing.Status, missing.ErrorParam));
        var negative = await admin.PutAsync("/admin/api/pricing/gpt-5", new JsonObject { ["input"] = -1, ["output"] = 2, ["cache_read"] = 0, ["cache_write"] = 0 });
        Assert.Equal((HttpStatusCode.BadRequest, "input"), (negative.Status, negative.ErrorParam));

        await CreateUserAsync("bob@gapura.test");
        using var bob = await SignedInAsync("bob@gapura.test");
        Assert.Equal(HttpStatusCode.Forbidden, (await bob.GetAsync("/admin/api/pricing")).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await bob.PutAsync("/admin/api/pricing/gpt-5", new JsonObject { ["input"] = 0, ["output"] = 0, ["cache_read"] = 0, ["cache_write"] = 0 })).Status);
    }
}
