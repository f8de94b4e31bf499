using System.Net;
using System.Text.Json.Nodes;

namespace Gapura.Tests.Admin;

/// <summary>The audit log's action and until filters over real HTTP, with the cursor paging through them.</summary>
public sealed class AdminAuditFilterTests : AdminTestBase
{
    [Fact]
    public async Task Action_filters_by_name_or_dotted_prefix_and_until_ends_the_window()
    {
        using var admin = AdminByKey();
        var ann = await CreateUserAsync("ann@example.com");
        var between = DateTimeOffset.UtcNow;
        await Task.Delay(50);
        var bob = await CreateUserAsync("bob@example.com");
        await admin.PatchAsync($"/admin/api/users/{ann}", new JsonObject { ["role"] = "admin" });
        await admin.PatchAsync($"/admin/api/users/{bob}", new JsonObject { ["disabled"] = true });
        await admin.PutAsync("/admin/api/settings/auth.lockout_minutes", new JsonObject { ["value"] = "30" });

        var updates = await ActionsAsync(admin, "/admin/api/audit?action=user.update");
        Assert.Equal(["user.update", "user.update"], updates);

        // A prefix takes every action under it, and only at a dot: "user" is not "user_x", "user.up" is no action.
        var users = await ActionsAsync(admin, "/admin/api/audit?action=user");
        Assert.Equal(["user.update", "user.update", "user.create", "user.create"], users);
        Assert.Empty(await ActionsAsync(admin, "/admin/api/audit?action=user.up"));
        Assert.Equal(["setting.set"], await ActionsAsync(admin, "/admin/api/audit?action=setting"));

        var until = Uri.EscapeDataString(between.ToString("O"));
        var early = await admin.GetAsync($"/admin/api/audit?until={until}");
        var targets = early.Json!["data"]!.AsArray().Select(r => r!["target"]?.GetValue<string>()).ToList();
        Assert.Contains("user:ann@example.com", targets);
        Assert.DoesNotContain("user:bob@example.com", targets);
        Assert.All(early.Json["data"]!.AsArray(), r => Assert.True(DateTimeOffset.Parse(r!["at"]!.GetValue<string>()) < between));

        // Combined with the store's own filters, and paged by the cursor: one row per page, then the end.
        var first = await admin.GetAsync("/admin/api/audit?action=user&target=user%3Abob%40example.com&limit=1");
        Assert.Equal("user.update", Assert.Single(first.Json!["data"]!.AsArray())!["action"]!.GetValue<string>());
        var next = first.Json["next_before_id"]!.GetValue<long>();
        var second = await admin.GetAsync($"/admin/api/audit?action=user&target=user%3Abob%40example.com&limit=1&before_id={next}");
        Assert.Equal("user.create", Assert.Single(second.Json!["data"]!.AsArray())!["action"]!.GetValue<string>());
        var last = await admin.GetAsync($"/admin/api/audit?action=user&target=user%3Abob%40example.com&limit=1&before_id={second.Json["next_before_id"]!.GetValue<long>()}");
        Assert.Empty(last.Json!["data"]!.AsArray());
        Assert.Null(last.Json["next_before_id"]);

        var bad = await admin.GetAsync("/admin/api/audit?until=yesterday");
        Assert.Equal(HttpStatusCode.BadRequest, bad.Status);
        Assert.Equal("until", bad.ErrorParam);

        // Still admins only, whatever the filters.
        using var plain = await SignedInAsync("ann@example.com");
        await admin.PatchAsync($"/admin/api/users/{ann}", new JsonObject { ["role"] = "user" });
        Assert.Equal(HttpStatusCode.Forbidden, (await plain.GetAsync("/admin/api/audit?action=user")).Status);
    }

    private static async Task<List<string>> ActionsAsync(AdminClient admin, string path)
    {
        var response = await admin.GetAsync(path);
        Assert.True(response.Status == HttpStatusCode.OK, response.ToString());
        return [.. response.Json!["data"]!.AsArray().Select(r => r!["action"]!.GetValue<string>())];
    }
}
