using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Serialization;

namespace KestrelWsTransport.Interop;

/// <summary>
/// The scenario list every client runs against /echo of samples/EchoServer. Each client implements the scenarios by name
/// in its own language (client.js for node, browser/scenario.js in the page, DotNetClient.cs); the expectations are
/// computed here, once, so every client is judged by the same rules. Keep the constants in sync with the two scripts.
/// </summary>
public static class Scenarios
{
    public const string Text = "text";
    public const string Binary0 = "binary-0B";
    public const string Binary125 = "binary-125B";
    public const string Binary64K = "binary-64KiB";
    public const string Binary16M = "binary-16MiB";
    public const string FragmentedText = "fragmented-text";
    public const string FragmentedBinary = "fragmented-binary";
    public const string PingPong = "ping-pong";
    public const string Close1000 = "close-1000";
    public const string Close4000 = "close-4000";

    public static readonly IReadOnlyList<string> All =
        [Text, Binary0, Binary125, Binary64K, Binary16M, FragmentedText, FragmentedBinary, PingPong, Close1000, Close4000];

    /// <summary>Text with 2-, 3- and 4-byte UTF-8 sequences.</summary>
    public const string TextMessage = "KestrelWsTransport interop: héllo wörld ✓ € 𝄞";

    /// <summary>Sent as three text frames, split at UTF-8 byte offsets 14 and 20: the first split falls inside "€".</summary>
    public const string FragmentedTextMessage = "fragment-one|€|fragment-three ✓";
    public static readonly int[] FragmentedTextSplits = [14, 20];

    /// <summary>Pattern bytes sent as three binary frames of 1, 99,999 and 100,000 bytes.</summary>
    public const int FragmentedBinaryLength = 200_000;
    public static readonly int[] FragmentedBinarySplits = [1, 100_000];

    public const string PingPayload = "kestrel-interop-ping";
    public const string Close1000Reason = "normal bye";
    public const string Close4000Reason = "app-defined ✓";

    /// <summary>Binary payloads: byte i is (i * 31 + 7) mod 256, the same in every client.</summary>
    public static byte[] Pattern(int length)
    {
        var bytes = new byte[length];
        for (var i = 0; i < length; i++)
        {
            bytes[i] = (byte)(i * 31 + 7);
        }

        return bytes;
    }

    public static int BinaryLength(string scenario) => scenario switch
    {
        Binary0 => 0,
        Binary125 => 125,
        Binary64K => 64 * 1024,
        Binary16M => 16 * 1024 * 1024,
        _ => throw new ArgumentOutOfRangeException(nameof(scenario), scenario, "not a binary echo scenario"),
    };

    public static bool IsBinaryEcho(string scenario) => scenario is Binary0 or Binary125 or Binary64K or Binary16M;

    /// <summary>What every client must observe for <paramref name="scenario"/>.</summary>
    public static Expectation Expect(string scenario) => scenario switch
    {
        Text => new([Describe("text", Encoding.UTF8.GetBytes(TextMessage))], false, 1000),
        _ when IsBinaryEcho(scenario) => new([Describe("binary", Pattern(BinaryLength(scenario)))], false, 1000),
        FragmentedText => new([Describe("text", Encoding.UTF8.GetBytes(FragmentedTextMessage))], false, 1000),
        FragmentedBinary => new([Describe("binary", Pattern(FragmentedBinaryLength))], false, 1000),
        PingPong => new([], true, 1000),
        Close1000 => new([], false, 1000),
        Close4000 => new([], false, 4000),
        _ => throw new ArgumentOutOfRangeException(nameof(scenario), scenario, "unknown scenario"),
    };

    public static ReceivedMessage Describe(string type, ReadOnlySpan<byte> payload) =>
        new() { Type = type, Length = payload.Length, Sha256 = Convert.ToHexStringLower(SHA256.HashData(payload)) };

    /// <param name="Messages">The echoes the client must receive, in order (type, length, SHA-256).</param>
    /// <param name="Pong">Whether the client must have seen the pong to its ping.</param>
    /// <param name="CloseCode">The close code the client must see at the end (the server echoes the client's code).</param>
    public sealed record Expectation(IReadOnlyList<ReceivedMessage> Messages, bool Pong, int CloseCode);
}

/// <summary>One message a client received, as it saw it.</summary>
public sealed record ReceivedMessage
{
    [JsonPropertyName("type")] public string Type { get; init; } = "";
    [JsonPropertyName("length")] public long Length { get; init; }
    [JsonPropertyName("sha256")] public string Sha256 { get; init; } = "";
}

/// <summary>What one client observed while running one scenario: the one-line JSON client.js prints, the object the page returns.</summary>
public sealed class Observation
{
    [JsonPropertyName("client")] public string? Client { get; set; }
    [JsonPropertyName("scenario")] public string? Scenario { get; set; }
    [JsonPropertyName("url")] public string? Url { get; set; }
    [JsonPropertyName("opened")] public bool Opened { get; set; }
    /// <summary>How the WebSocket was set up: "HTTP/1.1 101", "HTTP/2 200" (extended CONNECT), or for the browser the page's protocol.</summary>
    [JsonPropertyName("handshake")] public string? Handshake { get; set; }
    [JsonPropertyName("extensions")] public string? Extensions { get; set; }
    [JsonPropertyName("received")] public List<ReceivedMessage> Received { get; set; } = [];
    /// <summary>The client's own comparison of each echo with what it sent.</summary>
    [JsonPropertyName("echoMatches")] public bool? EchoMatches { get; set; }
    [JsonPropertyName("pongReceived")] public bool? PongReceived { get; set; }
    [JsonPropertyName("pongPayload")] public string? PongPayload { get; set; }
    [JsonPropertyName("closeCode")] public int? CloseCode { get; set; }
    [JsonPropertyName("closeReason")] public string? CloseReason { get; set; }
    [JsonPropertyName("wasClean")] public bool? WasClean { get; set; }
    [JsonPropertyName("error")] public string? Error { get; set; }
    [JsonPropertyName("note")] public string? Note { get; set; }
    [JsonPropertyName("elapsedMs")] public double ElapsedMs { get; set; }
}
