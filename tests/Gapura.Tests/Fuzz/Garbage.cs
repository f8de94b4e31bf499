using System.Text;
using CsCheck;

namespace Gapura.Tests.Fuzz;

/// <summary>
/// CsCheck generators of bad and borderline JSON, as raw UTF-8 bytes so they can carry what a serializer never writes:
/// numbers out of every range, NaN-like tokens, invalid UTF-8, escaped lone surrogates, deep nesting, truncation.
/// </summary>
internal static class Garbage
{
    private static byte[] U(string s) => Encoding.UTF8.GetBytes(s);

    private static Gen<byte[]> Text(params string[] values) => Gen.OneOf(values).Select(U);

    /// <summary>The wrong JSON type for almost any field.</summary>
    public static readonly Gen<byte[]> WrongType = Text("null", "true", "false", "0", "1", "-1", "0.5", "\"\"", "\"x\"", "[]", "{}", "[null]", "[1,\"a\",{}]",
        "{\"a\":1}", "{\"type\":null}", "[[]]", "\" \"", "\"0\"", "\"true\"", "\"null\"");

    /// <summary>Numbers no field takes: beyond double and long, negative, fractional where integers go, tiny.</summary>
    public static readonly Gen<byte[]> Number = Gen.OneOf<byte[]>(
        Text("1e400", "-1e400", "1e308", "-1e308", "1.7976931348623157e309", "1e-400", "-0", "-0.0", "0e0", "9223372036854775807",
            "9223372036854775808", "-9223372036854775809", "18446744073709551616", "2147483648", "-2147483649", "4294967296",
            "99999999999999999999999999999999999999", "0.000000000000000000001", "1E+2", "1.5", "-5", "-2147483648", "65536", "100000000"),
        Gen.Long.Select(l => U(l.ToString(System.Globalization.CultureInfo.InvariantCulture))),
        Gen.Double.Select(d => U(double.IsFinite(d) ? d.ToString("R", System.Globalization.CultureInfo.InvariantCulture) : "1e999")),
        Gen.Int[1, 400].Select(n => U(new string('9', n))));

    /// <summary>Tokens that are not JSON at all, or strings that only look like numbers.</summary>
    public static readonly Gen<byte[]> NotJson = Text("NaN", "-NaN", "Infinity", "-Infinity", "undefined", "None", "nil", "01", "+1", ".5", "1.", "0x10",
        "1e", "--1", "'single'", "\"unterminated", "tru", "nul", "[1,]", "{\"a\":1,}", "{,}", "[,1]", "{\"a\"}", "{\"a\":}", "\"\\x41\"", "\"\\u12\"",
        "\"NaN\"", "\"Infinity\"", "\"-1\"", "\"1e400\"", "// comment\n1", "/* c */ 1", "1 2", "\"a\" \"b\"");

    /// <summary>Strings with escapes and characters that trip encoders: lone surrogates, NUL, controls, BOM, bidi marks.</summary>
    public static readonly Gen<byte[]> OddString = Text("\"\\ud800\"", "\"\\udc00x\"", "\"a\\ud83d\"", "\"\\udfff\\ud800\"", "\"\\u0000\"", "\"a\\u0000b\"",
        "\"\\uffff\"", "\"\\ufeff\"", "\"\\u202e\\u202d\"", "\"\\b\\f\\n\\r\\t\"", "\"\\/\\\\\"", "\"\u00e9\u4e2d\ud83d\ude00\"", "\"%00%ff\"",
        "\"../../etc/passwd\"", "\"<script>alert(1)</script>\"", "\"' OR 1=1 --\"", "\"${jndi:x}\"", "\"{{7*7}}\"", "\"\\u0085\\u2028\\u2029\"",
        "\"   \"", "\"\\t\"", "\"\u0001\u001f\"");

    /// <summary>Bytes that are not UTF-8 inside a JSON string: a lone 0xFF, a truncated sequence, an encoded surrogate, an overlong '/'.</summary>
    public static readonly Gen<byte[]> InvalidUtf8 = Gen.OneOf<byte[]>(
        [(byte)'"', (byte)'a', 0xFF, (byte)'b', (byte)'"'],
        [(byte)'"', 0xC3, 0x28, (byte)'"'],
        [(byte)'"', 0xED, 0xA0, 0x80, (byte)'"'],
        [(byte)'"', 0xC0, 0xAF, (byte)'"'],
        [(byte)'"', 0xE2, 0x82, (byte)'"'],
        [(byte)'"', 0xF8, 0x88, 0x80, 0x80, 0x80, (byte)'"'],
        [(byte)'"', 0x80, (byte)'"']);

    /// <summary>Long strings: a big prompt, a long unbroken token, many escapes.</summary>
    public static readonly Gen<byte[]> LongString = Gen.OneOf<byte[]>(
        Gen.Int[1_000, 200_000].Select(n => U("\"" + new string('a', n) + "\"")),
        Gen.Int[100, 20_000].Select(n => U("\"" + string.Concat(Enumerable.Repeat("\\n\\u00e9", n)) + "\"")),
        Gen.String[Gen.Char, 1, 300].Select(s => U(System.Text.Json.JsonSerializer.Serialize(s))));

    /// <summary>Nesting from a little to far past any parser's depth limit.</summary>
    public static readonly Gen<byte[]> Deep = Gen.Select(Gen.Int[2, 3_000], Gen.Bool, (depth, arrays) =>
        U(arrays ? new string('[', depth) + "1" + new string(']', depth) : string.Concat(Enumerable.Repeat("{\"a\":", depth)) + "1" + new string('}', depth)));

    /// <summary>Values that look right but are not: roles, block types, base64, media types, JSON schemas.</summary>
    public static readonly Gen<byte[]> Lookalike = Text("\"wizard\"", "\"USER\"", "\"User \"", "\"function\"", "\"tool\"", "\"developer\"", "\"system\"",
        "\"assistant\"", "\"image\"", "\"document\"", "\"tool_use\"", "\"tool_result\"", "\"thinking\"", "\"redacted_thinking\"", "\"server_tool_use\"",
        "\"input_image\"", "\"input_file\"", "\"output_text\"", "\"refusal\"", "\"image_url\"", "\"input_audio\"", "\"file\"", "\"reasoning\"",
        "\"function_call\"", "\"function_call_output\"", "\"custom\"", "\"web_search\"", "\"computer_use_preview\"", "\"mcp\"",
        "\"!!!notb64\"", "\"data:image/png;base64,@@@\"", "\"data:image/png;base64,\"", "\"data:,\"", "\"data:image/svg+xml;base64,PHN2Zz4=\"",
        "\"iVBORw0KGgo=\"", "\"====\"", "\"AAAA\"", "\"image/tiff\"", "\"text/html\"", "\"image/png; charset=x\"", "\"file:///etc/passwd\"",
        "\"http://127.0.0.1:1/x.png\"", "\"https://example.invalid/a.png\"",
        "{\"type\":\"object\",\"properties\":\"x\"}", "{\"type\":\"nope\"}", "{\"$ref\":\"#\"}", "{\"$ref\":\"#/definitions/missing\"}",
        "{\"type\":[\"string\",null]}", "{\"properties\":{\"a\":{\"$ref\":\"#\"}}}", "{\"type\":\"object\",\"required\":\"a\"}",
        "{\"anyOf\":[]}", "{\"enum\":[]}", "{\"type\":\"array\",\"items\":[[[]]]}",
        "{\"type\":\"base64\",\"media_type\":\"image/png\",\"data\":\"@@@\"}", "{\"type\":\"url\",\"url\":\"file:///etc/passwd\"}",
        "{\"url\":\"data:image/png;base64,!!!\"}", "{\"type\":\"text\"}", "{\"type\":\"text\",\"text\":null}", "{\"type\":\"image\",\"source\":{}}",
        "[{\"type\":\"text\",\"text\":\"\"}]", "[{\"type\":\"tool_result\",\"tool_use_id\":\"nope\",\"content\":\"x\"}]",
        "[{\"type\":\"tool_use\",\"id\":\"\",\"name\":\"\",\"input\":\"x\"}]", "{\"type\":\"enabled\",\"budget_tokens\":-1}",
        "{\"type\":\"function\",\"function\":{\"name\":\"\"}}", "{\"type\":\"json_schema\",\"json_schema\":{\"schema\":7}}", "\"auto\"", "\"none\"",
        "\"required\"", "\"any\"", "{\"type\":\"tool\",\"name\":\"missing\"}", "{\"type\":\"function\",\"name\":\"missing\"}");

    /// <summary>Random bytes: what a broken client or a scanner sends.</summary>
    public static readonly Gen<byte[]> RandomBytes = Gen.Byte.Array[0, 300];

    /// <summary>Any one bad value, weighted toward the kinds that found bugs before (types, numbers, encodings).</summary>
    public static readonly Gen<byte[]> Value = Gen.Frequency<byte[]>(
        (20, WrongType), (14, Number), (6, NotJson), (10, OddString), (8, InvalidUtf8), (3, LongString), (3, Deep), (18, Lookalike), (2, RandomBytes));

    /// <summary>A whole body that is not a usable request: empty, whitespace, non-objects, junk.</summary>
    public static readonly Gen<byte[]> Body = Gen.Frequency<byte[]>(
        (4, Text("", " ", "\n", "{", "}", "[", "{}", "[]", "null", "0", "\"hi\"", "{\"\":\"\"}", "{\"model\"", "\u00ef\u00bb\u00bf{}", "\ufeff{}")),
        (4, Value), (2, RandomBytes), (1, Deep), (1, Gen.Byte.Array[1_000, 50_000]));
}
