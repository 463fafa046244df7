using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using KestrelWsTransport.Handshake;

namespace KestrelWsTransport.Fuzz;

/// <summary>
/// <see cref="HandshakeSniffer.Sniff"/> (and through it <see cref="HeaderValidator.Validate"/> and
/// <c>DeflateNegotiation</c>) on the input as the first bytes of a connection, under two configurations. The input is
/// sniffed whole in one segment, then delivered in growing prefixes (as reads arrive, over a sequence cut at
/// input-derived offsets, and byte by byte) to one resumable sniffer: the outcome and every field of the result must
/// be the same. On Upgrade/Reject the head length must lie within the input and end at its first CRLF CRLF, and on
/// Upgrade the accept value must equal one computed from the key by a naive reading of the head.
/// </summary>
internal static class HeadTarget
{
    private static readonly WebSocketHandler Handler = (_, _) => Task.CompletedTask;

    private static readonly WebSocketTransportOptions[] Configurations = CreateConfigurations();

    private static WebSocketTransportOptions[] CreateConfigurations()
    {
        var open = new WebSocketTransportOptions { MaxRequestHeadBytes = 512 };
        open.Compression.Enabled = true;
        open.Map("/echo", Handler, o =>
        {
            o.SubProtocols = ["chat", "superchat"];
            o.CapturedHeaders.Add("*");
        });

        var strict = new WebSocketTransportOptions { MaxRequestHeadBytes = 4096 };
        strict.Compression.Enabled = true;
        strict.Compression.ServerMaxWindowBits = 10;
        strict.Compression.ClientContextTakeover = false;
        strict.AllowedOrigins.Add("https://example.com");
        strict.SubProtocols.Add("mqtt");
        strict.Map("/echo", Handler, o => o.CapturedHeaders.Add("Cookie"));
        strict.Map("/a/b", Handler);
        return [open, strict];
    }

    public static void Run(byte[] input)
    {
        var hash = Segments.Hash(input);
        foreach (var options in Configurations)
        {
            var whole = Segments.Single(input, 0xAA);
            var sniffer = new HandshakeSniffer();
            var expected = default(HandshakeResult);
            var outcome = sniffer.Sniff(whole, options, ref expected);
            CheckResult(input, outcome, ref expected, options);
            if (Check.Verbose)
            {
                Console.WriteLine($"{outcome} pass={expected.PassReason} rejection={expected.Rejection} head={expected.HeadLength} query={expected.QueryString} protocol={expected.SubProtocol} deflate={expected.Deflate} captured={Captured(expected.CapturedHeaders).Replace('\n', '|')}");
            }

            // Reads that arrive in pieces, the buffer a chain of segments.
            var cuts = Segments.Cuts(input.Length, hash, 10);
            var split = Segments.Build(input, cuts, 0x55);
            Incremental(split, cuts.Append(input.Length).ToArray(), options, outcome, ref expected, "split");

            // One byte per read, one array.
            if (input.Length <= 2048)
            {
                Incremental(whole, Enumerable.Range(0, input.Length + 1).ToArray(), options, outcome, ref expected, "bytewise");
            }
        }
    }

    private static void Incremental(ReadOnlySequence<byte> buffer, int[] lengths, WebSocketTransportOptions options, SniffOutcome expectedOutcome, ref HandshakeResult expected, string name)
    {
        var sniffer = new HandshakeSniffer();
        var result = default(HandshakeResult);
        var outcome = SniffOutcome.NeedMoreData;
        foreach (var length in lengths)
        {
            outcome = sniffer.Sniff(buffer.Slice(0, length), options, ref result);
            if (outcome != SniffOutcome.NeedMoreData)
            {
                break;
            }
        }

        Check.Equal(expectedOutcome, outcome, $"{name}: outcome");
        Check.Equal(expected.PassReason, result.PassReason, $"{name}: pass reason");
        Check.Equal(expected.Rejection, result.Rejection, $"{name}: rejection");
        Check.Equal(expected.HeadLength, result.HeadLength, $"{name}: head length");
        Check.That(ReferenceEquals(expected.Endpoint, result.Endpoint), $"{name}: endpoint");
        Check.Equal(expected.QueryString, result.QueryString, $"{name}: query");
        Check.Equal(expected.SubProtocol, result.SubProtocol, $"{name}: subprotocol");
        Check.Equal(expected.Deflate, result.Deflate, $"{name}: deflate");
        Check.That(((ReadOnlySpan<byte>)expected.Accept).SequenceEqual(result.Accept), $"{name}: accept");
        Check.Equal(Captured(expected.CapturedHeaders), Captured(result.CapturedHeaders), $"{name}: captured headers");
    }

    private static string Captured(List<KeyValuePair<string, string>>? headers) =>
        headers is null ? "<null>" : string.Join("\n", headers.Select(h => h.Key + ": " + h.Value));

    private static void CheckResult(byte[] input, SniffOutcome outcome, ref HandshakeResult result, WebSocketTransportOptions options)
    {
        var startsWithGet = input.AsSpan().StartsWith("GET "u8);
        if (outcome is SniffOutcome.Upgrade || outcome is SniffOutcome.Reject && result.Rejection != HandshakeRejection.HeadTooLarge)
        {
            Check.That(startsWithGet, "a decision other than pass for a request that is not GET");
            Check.That(result.HeadLength >= 4 && result.HeadLength <= input.Length, $"head length {result.HeadLength} outside the input ({input.Length})");
            Check.That(result.HeadLength <= options.MaxRequestHeadBytes, "head over the limit accepted");
            var headEnd = input.AsSpan().IndexOf("\r\n\r\n"u8);
            Check.Equal(headEnd + 4, (int)result.HeadLength, "head length is not the first CRLF CRLF");
            Check.That(result.Endpoint is not null, "decision without an endpoint");
        }

        if (outcome is SniffOutcome.NeedMoreData)
        {
            Check.That(startsWithGet || input.Length < 4, "waiting for more bytes of a request that is not GET");
            Check.That(input.Length <= options.MaxRequestHeadBytes, "waiting for more bytes beyond the head limit");
        }

        if (outcome is SniffOutcome.Upgrade)
        {
            var head = Encoding.Latin1.GetString(input, 0, (int)result.HeadLength);
            var keys = head.Split("\r\n").Skip(1)
                .Where(line => line.StartsWith("Sec-WebSocket-Key:", StringComparison.OrdinalIgnoreCase))
                .Select(line => line["Sec-WebSocket-Key:".Length..].Trim(' ', '\t'))
                .ToArray();
            Check.Equal(1, keys.Length, "upgrade without exactly one key");
            var accept = Convert.ToBase64String(SHA1.HashData(Encoding.Latin1.GetBytes(keys[0] + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")));
            Check.Equal(accept, Encoding.ASCII.GetString(result.Accept), "accept value");
            Check.That(Convert.TryFromBase64String(keys[0], new byte[32], out var nonce) && nonce == 16 && keys[0].Length == 24, $"key '{keys[0]}' accepted");

            var upgrades = head.Split("\r\n").Skip(1).Count(line => line.StartsWith("Upgrade:", StringComparison.OrdinalIgnoreCase)
                && line[8..].Split(',').Any(t => t.Trim(' ', '\t').Equals("websocket", StringComparison.OrdinalIgnoreCase)));
            Check.That(upgrades >= 1, "upgrade without Upgrade: websocket");
        }
    }
}
