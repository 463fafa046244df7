using System.Text;

namespace KestrelWsTransport.Conformance.Client;

/// <summary>
/// One thing the fuzzing client saw, in Autobahn's vocabulary: <c>("message", payload, binary)</c>,
/// <c>("ping", payload)</c>, <c>("pong", payload)</c>, or a <c>("timeout", tag)</c> marker a case records itself when
/// a wait ran out with the connection still open. Expected outcomes are lists of these, compared in order.
/// </summary>
internal sealed class Observed
{
    private Observed(string kind, byte[] payload, bool isBinary, string? tag, int frames)
    {
        Kind = kind;
        Payload = payload;
        IsBinary = isBinary;
        Tag = tag;
        Frames = frames;
    }

    public string Kind { get; }

    public byte[] Payload { get; }

    public bool IsBinary { get; }

    public string? Tag { get; }

    /// <summary>How many frames a received message came in (informational: not compared).</summary>
    public int Frames { get; }

    public static Observed Message(byte[] payload, bool isBinary, int frames = 1) => new("message", payload, isBinary, null, frames);

    public static Observed TextMessage(string text) => new("message", Encoding.UTF8.GetBytes(text), false, null, 1);

    public static Observed TextMessage(byte[] utf8) => new("message", utf8, false, null, 1);

    public static Observed BinaryMessage(byte[] payload) => new("message", payload, true, null, 1);

    public static Observed Ping(byte[] payload) => new("ping", payload, false, null, 1);

    public static Observed Pong(byte[] payload) => new("pong", payload, false, null, 1);

    public static Observed Pong(string text) => Pong(Encoding.UTF8.GetBytes(text));

    public static Observed Timeout(string tag) => new("timeout", [], false, tag, 0);

    /// <summary>Autobahn compares pickled tuples: kind, payload bytes, binary flag and tag must all be equal.</summary>
    public bool SameAs(Observed other) =>
        Kind == other.Kind && IsBinary == other.IsBinary && Tag == other.Tag && Payload.AsSpan().SequenceEqual(other.Payload);

    public static bool SameSequence(IReadOnlyList<Observed> actual, IReadOnlyList<Observed> expected)
    {
        if (actual.Count != expected.Count)
        {
            return false;
        }

        for (var i = 0; i < actual.Count; i++)
        {
            if (!actual[i].SameAs(expected[i]))
            {
                return false;
            }
        }

        return true;
    }

    public static string Describe(IReadOnlyList<Observed> events) => "[" + string.Join(", ", events.Select(e => e.ToString())) + "]";

    public override string ToString() => Kind switch
    {
        "timeout" => $"timeout {Tag}",
        "message" => $"{(IsBinary ? "binary" : "text")} message{(Frames > 1 ? $" in {Frames} frames" : string.Empty)} {DescribePayload(Payload, !IsBinary)}",
        _ => $"{Kind} {DescribePayload(Payload, false)}",
    };

    /// <summary>Length, and the bytes as text (when printable UTF-8) or hex, cut to a readable size.</summary>
    public static string DescribePayload(byte[] payload, bool preferText)
    {
        const int Shown = 48;
        if (payload.Length == 0)
        {
            return "(0 bytes)";
        }

        var head = payload.AsSpan(0, Math.Min(payload.Length, Shown));
        var more = payload.Length > Shown ? " ..." : string.Empty;
        string shown;
        if ((preferText || IsPrintableAscii(head)) && System.Text.Unicode.Utf8.IsValid(payload) && IsPrintable(payload, Shown))
        {
            var text = Encoding.UTF8.GetString(payload);
            shown = "\"" + (text.Length > Shown ? text[..Shown] : text) + "\"" + (text.Length > Shown ? " ..." : string.Empty);
        }
        else
        {
            shown = "0x" + Convert.ToHexString(head).ToLowerInvariant() + more;
        }

        return $"({payload.Length} bytes) {shown}";
    }

    private static bool IsPrintableAscii(ReadOnlySpan<byte> bytes)
    {
        foreach (var b in bytes)
        {
            if (b is < 0x20 or > 0x7E)
            {
                return false;
            }
        }

        return true;
    }

    private static bool IsPrintable(byte[] utf8, int limit)
    {
        var text = Encoding.UTF8.GetString(utf8, 0, Math.Min(utf8.Length, limit * 4));
        foreach (var c in text.Take(limit))
        {
            if (char.IsControl(c) || char.IsSurrogate(c) || c is '\uFFFE' or '\uFFFF' || (c >= '\uFFF9' && c <= '\uFFFD'))
            {
                return false;
            }
        }

        return true;
    }
}
