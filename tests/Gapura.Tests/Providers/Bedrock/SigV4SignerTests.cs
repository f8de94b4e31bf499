using System.Text;
using Amazon.Runtime.Internal.Auth;
using Gapura.Providers.Bedrock;

namespace Gapura.Tests.Providers.Bedrock;

/// <summary>The hand-written SigV4 against AWS's published test-suite vectors and against the AWS SDK's own signer.</summary>
public sealed class SigV4SignerTests
{
    private static readonly AwsCredentials Example = new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
    private static readonly DateTimeOffset ExampleTime = new(2015, 8, 30, 12, 36, 0, TimeSpan.Zero);

    [Fact]
    public void Get_vanilla_matches_the_aws_test_suite()
    {
        var (signedHeaders, signature) = SigV4Signer.Compute("GET", "/", "",
            [new("Host", "example.amazonaws.com"), new("X-Amz-Date", "20150830T123600Z")], [], Example, "us-east-1", "service", ExampleTime);
        Assert.Equal("host;x-amz-date", signedHeaders);
        Assert.Equal("5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31", signature);
    }

    [Fact]
    public void Post_vanilla_matches_the_aws_test_suite()
    {
        var (_, signature) = SigV4Signer.Compute("POST", "/", "",
            [new("Host", "example.amazonaws.com"), new("X-Amz-Date", "20150830T123600Z")], [], Example, "us-east-1", "service", ExampleTime);
        Assert.Equal("5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b", signature);
    }

    [Fact]
    public void Signing_key_matches_the_documented_derivation_example()
    {
        var key = SigV4Signer.SigningKey("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20150830", "us-east-1", "iam");
        Assert.Equal("c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9", Convert.ToHexStringLower(key));
    }

    [Fact]
    public void Canonical_uri_encodes_a_model_ids_colon_twice()
    {
        Assert.Equal("/model/anthropic.claude-v1%253A0/converse", SigV4Signer.CanonicalUri("/model/anthropic.claude-v1%3A0/converse"));
    }

    [Fact]
    public void Agrees_with_the_aws_sdk_on_a_bedrock_request_with_a_session_token()
    {
        var credentials = new AwsCredentials("AKIDEXAMPLE", "secret/with+chars", "session-token-value");
        var body = Encoding.UTF8.GetBytes("""{"messages":[{"role":"user","content":[{"text":"hi"}]}]}""");
        var now = new DateTimeOffset(2026, 11, 22, 4, 5, 6, TimeSpan.Zero);
        var headers = new List<KeyValuePair<string, string>>
        {
            new("host", "bedrock-runtime.us-west-2.amazonaws.com"), new("content-type", "application/json"),
            new("x-amz-date", "20261122T040506Z"), new("x-amz-security-token", "session-token-value"),
        };
        var path = "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse-stream";
        var canonical = SigV4Signer.CanonicalRequest("POST", path, "", headers, body, out var signedHeaders);
        var (_, ours) = SigV4Signer.Compute("POST", path, "", headers, body, credentials, "us-west-2", "bedrock", now);

        var sdk = AWS4Signer.ComputeSignature(credentials.AccessKeyId, credentials.SecretAccessKey, "us-west-2", now.UtcDateTime, "bedrock", signedHeaders, canonical);
        Assert.Equal(sdk.Signature, ours);
        Assert.Equal("content-type;host;x-amz-date;x-amz-security-token", signedHeaders);
    }

    [Fact]
    public void Sign_adds_date_token_and_authorization_headers()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "https://bedrock-runtime.us-east-1.amazonaws.com/model/a%3A0/converse");
        request.Content = new ByteArrayContent("{}"u8.ToArray());
        request.Content.Headers.ContentType = new("application/json");
        SigV4Signer.Sign(request, "{}"u8, new AwsCredentials("AKID", "SECRET", "TOKEN"), "us-east-1", "bedrock", ExampleTime);
        Assert.Equal("20150830T123600Z", request.Headers.GetValues("x-amz-date").Single());
        Assert.Equal("TOKEN", request.Headers.GetValues("x-amz-security-token").Single());
        var auth = request.Headers.GetValues("Authorization").Single();
        Assert.StartsWith("AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/bedrock/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature=", auth);
        Assert.DoesNotContain("SECRET", auth);
        Assert.DoesNotContain("SECRET", new AwsCredentials("AKID", "SECRET").ToString());
    }
}
