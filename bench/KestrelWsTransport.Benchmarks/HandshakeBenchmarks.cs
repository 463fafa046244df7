using System.Buffers;
using System.Text;
using BenchmarkDotNet.Attributes;
using KestrelWsTransport.Handshake;

namespace KestrelWsTransport.Benchmarks;

/// <summary>
/// The sniffer on a typical browser upgrade head (Chromium's, 491 bytes): the whole decision, from "GET " to the
/// validated headers and the computed Sec-WebSocket-Accept, as it runs once per connection.
/// </summary>
[MemoryDiagnoser]
public class HandshakeBenchmarks
{
    // What Chromium sends for new WebSocket('ws://localhost:5000/echo') from a page on the same origin.
    internal static readonly byte[] BrowserHead = Encoding.ASCII.GetBytes(
        "GET /echo HTTP/1.1\r\n" +
        "Host: localhost:5000\r\n" +
        "Connection: Upgrade\r\n" +
        "Pragma: no-cache\r\n" +
        "Cache-Control: no-cache\r\n" +
        "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36\r\n" +
        "Upgrade: websocket\r\n" +
        "Origin: http://localhost:5000\r\n" +
        "Sec-WebSocket-Version: 13\r\n" +
        "Accept-Encoding: gzip, deflate, br, zstd\r\n" +
        "Accept-Language: en-US,en;q=0.9\r\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" +
        "\r\n");

    private WebSocketTransportOptions _options = null!;
    private ReadOnlySequence<byte> _single;
    private ReadOnlySequence<byte> _split;
    private ReadOnlySequence<byte> _chunked;
    private byte[] _key = null!;
    private byte[] _accept = null!;

    [GlobalSetup]
    public void Setup()
    {
        _options = new WebSocketTransportOptions().Map("/echo", static (_, _) => Task.CompletedTask);
        _single = new ReadOnlySequence<byte>(BrowserHead);
        // Cut in the middle of the User-Agent line: that line is copied to a pooled array to be parsed.
        _split = Segment.Split(BrowserHead, BrowserHead.Length / 3);
        // 64-byte segments: every header line straddles a boundary somewhere.
        _chunked = Segment.Chunked(BrowserHead, 64);
        _key = "dGhlIHNhbXBsZSBub25jZQ=="u8.ToArray();
        _accept = new byte[WebSocketAccept.AcceptLength];
        if (Sniff(_single) != SniffOutcome.Upgrade || Sniff(_split) != SniffOutcome.Upgrade || Sniff(_chunked) != SniffOutcome.Upgrade)
        {
            throw new InvalidOperationException("The benchmark head is not accepted as an upgrade.");
        }
    }

    [Benchmark(Baseline = true)]
    public int SniffSingleSegment() => (int)Sniff(_single);

    [Benchmark]
    public int SniffSplit() => (int)Sniff(_split);

    [Benchmark]
    public int Sniff64ByteSegments() => (int)Sniff(_chunked);

    /// <summary>The SHA-1 and base64 part alone (included in every Sniff above).</summary>
    [Benchmark]
    public bool ComputeAccept() => WebSocketAccept.TryCompute(_key, _accept);

    private SniffOutcome Sniff(in ReadOnlySequence<byte> head)
    {
        var sniffer = new HandshakeSniffer();
        var result = new HandshakeResult();
        return sniffer.Sniff(head, _options, ref result);
    }
}
