using System.Diagnostics;
using Gapura.Identity;
using Gapura.Storage;
using Microsoft.AspNetCore.Http;

namespace Gapura.Bench;

/// <summary>
/// The authentication step alone, in process, one thread: a per-user key against the bootstrap key, over an
/// index of many keys. Deterministic enough to show what the end-to-end ratio cannot on a noisy machine:
/// whether a per-user key costs more to authenticate (it should not — both are one hash and one lookup).
/// </summary>
internal sealed class AuthBench(BenchSettings settings, Report report)
{
    private const int IndexedKeys = 10_000;

    public void Run()
    {
        var bootstrap = ApiKeys.Generate().Key;
        var admin = new User(1, "admin@bench", "Admin", UserRole.Admin, false, true, false, DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch);
        var keys = new List<ActiveApiKey>(IndexedKeys);
        string userKey = "";
        for (var i = 0; i < IndexedKeys; i++)
        {
            var k = ApiKeys.Generate();
            if (i == IndexedKeys / 2) userKey = k.Key;
            keys.Add(new ActiveApiKey(new ApiKey(i + 1, 2, "key", k.Prefix, k.Hash, DateTimeOffset.UnixEpoch, null, null, null), "user@bench", UserRole.User));
        }
        var index = new ApiKeyIndex();
        index.Replace(keys, ApiKeys.Hash(bootstrap), admin, version: 1);
        var auth = new ApiKeyAuthenticator(index, new LastUsedRecorder(), TimeProvider.System);

        var asUser = Request(userKey);
        var asBootstrap = Request(bootstrap);
        if (auth.Authenticate(asUser.Request)?.KeyId is null || auth.Authenticate(asBootstrap.Request) is not { KeyId: null })
            throw new InvalidOperationException("auth bench: keys did not authenticate as expected");

        var iterations = settings.Quick ? 200_000 : 1_000_000;
        Measure(auth, asUser, iterations / 10);
        Measure(auth, asBootstrap, iterations / 10);
        // Alternate rounds so drift on a shared machine hits both alike; keep the medians.
        var user = new List<double>();
        var boot = new List<double>();
        for (var round = 0; round < 5; round++)
        {
            user.Add(Measure(auth, asUser, iterations));
            boot.Add(Measure(auth, asBootstrap, iterations));
        }
        var userNs = Median(user);
        var bootNs = Median(boot);
        var allocUser = AllocationPerCall(auth, asUser);
        var allocBoot = AllocationPerCall(auth, asBootstrap);
        report.Note($"index of {IndexedKeys:N0} keys; per call: user key {userNs:F0} ns ({allocUser:F0} B), bootstrap key {bootNs:F0} ns ({allocBoot:F0} B), ratio bootstrap/user time {bootNs / userNs:F3}");
        report.Machine("auth_user_key_ns", userNs, "F1");
        report.Machine("auth_bootstrap_key_ns", bootNs, "F1");
        report.Machine("auth_inprocess_ratio_user_bootstrap", bootNs / userNs, "F3");
        report.Machine("auth_alloc_bytes_per_call", allocUser, "F0");
    }

    private static DefaultHttpContext Request(string key)
    {
        var http = new DefaultHttpContext();
        http.Request.Headers.Authorization = "Bearer " + key;
        return http;
    }

    private static double Measure(ApiKeyAuthenticator auth, DefaultHttpContext http, int iterations)
    {
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < iterations; i++)
            if (auth.Authenticate(http.Request) is null) throw new InvalidOperationException("refused");
        return clock.Elapsed.TotalNanoseconds / iterations;
    }

    private static double AllocationPerCall(ApiKeyAuthenticator auth, DefaultHttpContext http)
    {
        const int calls = 10_000;
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < calls; i++) auth.Authenticate(http.Request);
        return (GC.GetAllocatedBytesForCurrentThread() - before) / (double)calls;
    }

    private static double Median(List<double> values)
    {
        values.Sort();
        return values[values.Count / 2];
    }
}
