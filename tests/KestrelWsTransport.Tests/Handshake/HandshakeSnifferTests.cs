using System.Buffers;
using System.Text;
using KestrelWsTransport.Handshake;
using KestrelWsTransport.Tests.Infrastructure;

namespace KestrelWsTransport.Tests.Handshake;

/// <summary>
/// <see cref="HandshakeSniffer"/> driven directly with buffers: what it decides, when it decides it, and that the
/// decision does not depend on how the bytes were cut into segments or reads.
/// </summary>
[TestFixture]
internal sealed class HandshakeSnifferTests
{
    // RFC 6455 section 1.3 example.
    private const string Key = "dGhlIHNhbXBsZSBub25jZQ==";
    private const string ExpectedAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

    private static readonly WebSocketHandler Handler = (c, ct) => Task.CompletedTask;

    private static readonly string[] ValidHeaders =
    [
        "Host: localhost",
        "Upgrade: websocket",
        "Connection: Upgrade",
        $"Sec-WebSocket-Key: {Key}",
        "Sec-WebSocket-Version: 13",
    ];

    private static WebSocketTransportOptions Options(Action<WebSocketEndpointOptions>? configure = null)
        => new WebSocketTransportOptions().Map("/echo", Handler, configure);

    /// <summary>A request head: the request line, each header line with CRLF, and the empty line.</summary>
    private static string Head(string requestLine, IEnumerable<string> headers)
    {
        var text = new StringBuilder(requestLine).Append("\r\n");
        foreach (var header in headers)
        {
            text.Append(header).Append("\r\n");
        }

        return text.Append("\r\n").ToString();
    }

    private static string ValidRequest(string target = "/echo") => Head($"GET {target} HTTP/1.1", ValidHeaders);

    /// <summary>The valid request with the headers whose name starts with <paramref name="without"/> removed and <paramref name="extra"/> added.</summary>
    private static string RequestWith(string? without = null, params string[] extra) =>
        Head("GET /echo HTTP/1.1", ValidHeaders.Where(h => without is null || !h.StartsWith(without + ":", StringComparison.OrdinalIgnoreCase)).Concat(extra));

    private static byte[] Bytes(string text) => Encoding.Latin1.GetBytes(text);

    private static SniffOutcome Sniff(ReadOnlySequence<byte> buffer, WebSocketTransportOptions options, out HandshakeResult result)
    {
        var sniffer = new HandshakeSniffer();
        result = default;
        return sniffer.Sniff(buffer, options, ref result);
    }

    private static SniffOutcome Sniff(byte[] bytes, WebSocketTransportOptions options, out HandshakeResult result)
        => Sniff(new ReadOnlySequence<byte>(bytes), options, out result);

    private static SniffOutcome Sniff(string request, WebSocketTransportOptions options, out HandshakeResult result)
        => Sniff(Bytes(request), options, out result);

    private static string AcceptOf(ref HandshakeResult result)
    {
        ReadOnlySpan<byte> accept = result.Accept;
        return Encoding.ASCII.GetString(accept);
    }

    // ---------------------------------------------------------------- valid upgrades

    private static IEnumerable<TestCaseData> ValidVariants()
    {
        yield return new TestCaseData(ValidRequest()).SetArgDisplayNames("Upgrade_Plain");
        yield return new TestCaseData(Head("GET /echo HTTP/1.1",
        [
            "HOST: localhost",
            "UPGRADE: websocket",
            "connection: upgrade",
            $"sec-websocket-key: {Key}",
            "SEC-WEBSOCKET-VERSION: 13",
        ])).SetArgDisplayNames("Upgrade_HeaderNamesInAnyCase");
        yield return new TestCaseData(Head("GET /echo HTTP/1.1",
        [
            "host: localhost",
            "Upgrade: websocket",
            "Connection: keep-alive, Upgrade",
            $"Sec-Websocket-Key: {Key}",
            "Sec-Websocket-Version: 13",
        ])).SetArgDisplayNames("Upgrade_ConnectionKeepAliveUpgrade");
        yield return new TestCaseData(RequestWith("Upgrade", "Upgrade: WebSocket")).SetArgDisplayNames("Upgrade_UpgradeValueInMixedCase");
        yield return new TestCaseData(Head("GET /echo HTTP/1.1",
        [
            "Host:localhost",
            "Upgrade: \twebsocket\t ",
            "Connection:\t keep-alive ,\tUpgrade  ",
            $"Sec-WebSocket-Key:   {Key} \t",
            "Sec-WebSocket-Version:\t13 ",
        ])).SetArgDisplayNames("Upgrade_WhitespaceAndTabsAroundValues");
        yield return new TestCaseData(RequestWith(null,
            "User-Agent: test/1.0",
            "Referer: http://localhost:8080/page?x=1",
            "Cookie: a=b; c=d",
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
            "Origin: https://anything.example",
            "X-Empty:")).SetArgDisplayNames("Upgrade_UnrelatedHeadersAreIgnored");
        yield return new TestCaseData(Head("GET /echo HTTP/1.1",
        [
            "Sec-WebSocket-Version: 13",
            $"Sec-WebSocket-Key: {Key}",
            "Connection: Upgrade",
            "Upgrade: websocket",
            "Host: localhost",
        ])).SetArgDisplayNames("Upgrade_HeadersInAnyOrder");
    }

    [TestCaseSource(nameof(ValidVariants))]
    public void ValidRequestIsAnUpgradeWithTheRfcAcceptValue(string request)
    {
        var options = Options();
        var outcome = Sniff(request, options, out var result);

        Assert.That(outcome, Is.EqualTo(SniffOutcome.Upgrade));
        Assert.That(result.HeadLength, Is.EqualTo(Bytes(request).Length));
        Assert.That(AcceptOf(ref result), Is.EqualTo(ExpectedAccept));
        Assert.That(result.Endpoint, Is.SameAs(options.Endpoints[0]));
        Assert.That(result.Rejection, Is.EqualTo(HandshakeRejection.None));
        Assert.That(result.QueryString, Is.Null);
        Assert.That(result.SubProtocol, Is.Null);
        Assert.That(result.CapturedHeaders, Is.Null);
    }

    [Test]
    public void AcceptValueFollowsTheKey()
    {
        // A second key, checked against the runtime's SHA-1 so the value is not just the RFC example remembered.
        const string otherKey = "x3JJHMbDL1EzLkh9GBhXDw==";
        var expected = Convert.ToBase64String(System.Security.Cryptography.SHA1.HashData(Encoding.ASCII.GetBytes(otherKey + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")));

        var outcome = Sniff(RequestWith("Sec-WebSocket-Key", $"Sec-WebSocket-Key: {otherKey}"), Options(), out var result);

        Assert.That(outcome, Is.EqualTo(SniffOutcome.Upgrade));
        Assert.That(AcceptOf(ref result), Is.EqualTo(expected));
        Assert.That(expected, Is.EqualTo("HSmrc0sMlYUkAGmm5OPpG2HaGWk="));
    }

    [TestCase("/echo?room=a", "room=a")]
    [TestCase("/echo?room=a&user=b%20c", "room=a&user=b%20c")]
    [TestCase("/echo?a?b", "a?b")]
    public void QueryStringIsKeptUndecodedAndIsNotPartOfThePath(string target, string query)
    {
        var outcome = Sniff(ValidRequest(target), Options(), out var result);

        Assert.That(outcome, Is.EqualTo(SniffOutcome.Upgrade));
        Assert.That(result.QueryString, Is.EqualTo(query));
        Assert.That(result.Endpoint!.Path, Is.EqualTo("/echo"));
    }

    [TestCase("/ECHO")]
    [TestCase("/Echo")]
    [TestCase("/eCHo?x=1")]
    public void PathMatchingIsCaseInsensitive(string target)
    {
        var options = Options();
        var outcome = Sniff(ValidRequest(target), options, out var result);

        Assert.That(outcome, Is.EqualTo(SniffOutcome.Upgrade));
        Assert.That(result.Endpoint, Is.SameAs(options.Endpoints[0]));
    }

    [Test]
    public void TheEndpointOfTheRequestedPathIsChosen()
    {
        var options = Options().Map("/chat", Handler).Map("/feed", Handler);

        Assert.That(Sniff(ValidRequest("/chat"), options, out var chat), Is.EqualTo(SniffOutcome.Upgrade));
        Assert.That(chat.Endpoint, Is.SameAs(options.Endpoints[1]));
        Assert.That(Sniff(ValidRequest("/feed"), options, out var feed), Is.EqualTo(SniffOutcome.Upgrade));
        Assert.That(feed.Endpoint, Is.SameAs(options.Endpoints[2]));
    }

    [TestCase(new[] { "Sec-WebSocket-Protocol: v1, v2" }, "v2")]
    [TestCase(new[] { "Sec-WebSocket-Protocol: v2, v1" }, "v2")]
    [TestCase(new[] { "Sec-WebSocket-Protocol: v1" }, "v1")]
    [TestCase(new[] { "Sec-WebSocket-Protocol: x, v1 , y" }, "v1")]
    [TestCase(new[] { "Sec-WebSocket-Protocol: x" }, null)]
    [TestCase(new[] { "Sec-WebSocket-Protocol: v1", "Sec-WebSocket-Protocol: v2" }, "v2")]
    [TestCase(new[] { "Sec-WebSocket-Protocol: v2", "Sec-WebSocket-Protocol: v1" }, "v2")]
    [TestCase(new[] { "Sec-WebSocket-Protocol: v1", "sec-websocket-protocol: x" }, "v1")]
    [TestCase(new string[0], null)]
    public void SubProtocolIsTheServersMostPreferredOfThoseOffered(string[] offers, string? expected)
    {
        var options = Options(e => e.SubProtocols = ["v2", "v1"]);
        var outcome = Sniff(RequestWith(null, offers), options, out var result);

        Assert.That(outcome, Is.EqualTo(SniffOutcome.Upgrade));
        Assert.That(result.SubProtocol, Is.EqualTo(expected));
        if (expected is not null)
        {
            // One of the configured strings, not a copy made from the request.
            Assert.That(result.SubProtocol, Is.SameAs(options.Endpoints[0].Options.SubProtocols!.Single(p => p == expected)));
        }
    }

    [Test]
    public void SubProtocolsOfTheTransportApplyWhenTheEndpointSetsNone()
    {
        var options = Options();
        options.SubProtocols.Add("graphql-ws");
        options.SubProtocols.Add("chat");

        Assert.That(Sniff(RequestWith(null, "Sec-WebSocket-Protocol: chat, graphql-ws"), options, out var result), Is.EqualTo(SniffOutcome.Upgrade));
        Assert.That(result.SubProtocol, Is.EqualTo("graphql-ws"));
    }

    [Test]
    public void SubProtocolIsNotChosenWhenTheServerSpeaksNone()
    {
        Assert.That(Sniff(RequestWith(null, "Sec-WebSocket-Protocol: chat"), Options(), out var result), Is.EqualTo(SniffOutcome.Upgrade));
        Assert.That(result.SubProtocol, Is.Null);
    }

    [Test]
    public void CapturedHeadersHoldOnlyTheNamedHeaders()
    {
        var options = Options(e => e.CapturedHeaders.Add("Authorization"));
        var outcome = Sniff(RequestWith(null, "authorization: Bearer abc.def", "Cookie: a=b"), options, out var result);

        Assert.That(outcome, Is.EqualTo(SniffOutcome.Upgrade));
        Assert.That(result.CapturedHeaders, Is.Not.Null);
        Assert.That(result.CapturedHeaders!.Count, Is.EqualTo(1));
        Assert.That(result.CapturedHeaders[0].Key, Is.EqualTo("Authorization").IgnoreCase);
        Assert.That(result.CapturedHeaders[0].Value, Is.EqualTo("Bearer abc.def"));
    }

    [Test]
    public void CapturedHeadersKeepRepeatedHeadersInRequestOrder()
    {
        var options = Options(e => e.CapturedHeaders.Add("X-Tag"));
        Sniff(RequestWith(null, "X-Tag: one", "X-Other: no", "x-tag:  two  "), options, out var result);

        Assert.That(result.CapturedHeaders!.Select(h => h.Value), Is.EqualTo(new[] { "one", "two" }));
    }

    [Test]
    public void CapturedHeadersWithStarHoldEveryHeaderInOrder()
    {
        var options = Options(e => e.CapturedHeaders.Add("*"));
        var request = RequestWith(null, "Authorization: Bearer x", "X-Custom: \t  spaced value  ");
        var outcome = Sniff(request, options, out var result);

        Assert.That(outcome, Is.EqualTo(SniffOutcome.Upgrade));
        var expected = ValidHeaders.Concat(["Authorization: Bearer x", "X-Custom: spaced value"])
            .Select(h => new KeyValuePair<string, string>(h[..h.IndexOf(':')], h[(h.IndexOf(':') + 1)..].Trim()))
            .ToArray();
        Assert.That(result.CapturedHeaders, Is.EqualTo(expected));
    }

    [Test]
    public void NothingIsCapturedWhenNoHeaderIsNamed()
    {
        Sniff(RequestWith(null, "Authorization: Bearer x"), Options(), out var result);
        Assert.That(result.CapturedHeaders, Is.Null);
    }

    [Test]
    public void BytesAfterTheHeadAreNotPartOfIt()
    {
        var head = Bytes(ValidRequest());
        var frame = FrameBuilder.TextFrame("hello\r\n\r\n");
        var outcome = Sniff(FrameBuilder.Concat(head, frame), Options(), out var result);

        Assert.That(outcome, Is.EqualTo(SniffOutcome.Upgrade));
        Assert.That(result.HeadLength, Is.EqualTo(head.Length));
        Assert.That(AcceptOf(ref result), Is.EqualTo(ExpectedAccept));
    }

    [Test]
    public void BytesAfterTheHeadAreNotPartOfItWithGratuitouslySplitBuffers()
    {
        var head = Bytes(ValidRequest());
        var all = FrameBuilder.Concat(head, FrameBuilder.TextFrame("hello\r\n\r\n"));
        var failures = new List<string>();
        for (var split = 0; split <= all.Length; split++)
        {
            var outcome = Sniff(SequenceFactory.SplitAt(all, split), Options(), out var result);
            if (outcome != SniffOutcome.Upgrade || result.HeadLength != head.Length)
            {
                failures.Add($"split at {split}: {outcome}, head {result.HeadLength}");
            }
        }

        Assert.That(failures, Is.Empty);
    }

    // ---------------------------------------------------------------- pass-through to HTTP

    private static IEnumerable<TestCaseData> PassThroughCases()
    {
        yield return new TestCaseData(Bytes("POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n"), PassReason.NotGet).SetArgDisplayNames("PassThrough_Post");
        yield return new TestCaseData(Bytes("get /echo HTTP/1.1\r\n" + string.Concat(ValidHeaders.Select(h => h + "\r\n")) + "\r\n"), PassReason.NotGet).SetArgDisplayNames("PassThrough_LowerCaseMethod");
        yield return new TestCaseData(Bytes("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), PassReason.NotGet).SetArgDisplayNames("PassThrough_H2cPreface");
        yield return new TestCaseData(new byte[] { 0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC, 0x03, 0x03 }, PassReason.NotGet).SetArgDisplayNames("PassThrough_TlsClientHello");
        var random = new byte[512];
        new Random(6455).NextBytes(random);
        random[0] = 0x00;
        yield return new TestCaseData(random, PassReason.NotGet).SetArgDisplayNames("PassThrough_RandomBinary");
        yield return new TestCaseData(Bytes(Head("GET /echo HTTP/1.0", ValidHeaders)), PassReason.NotHttp11).SetArgDisplayNames("PassThrough_Http10OnMappedPath");
        yield return new TestCaseData(Bytes(Head("GET http://localhost/echo HTTP/1.1", ValidHeaders)), PassReason.NotHttp11).SetArgDisplayNames("PassThrough_AbsoluteFormTarget");
        yield return new TestCaseData(Bytes("GET /echo HTTP/1.1\n" + string.Concat(ValidHeaders.Select(h => h + "\n")) + "\n"), PassReason.NotHttp11).SetArgDisplayNames("PassThrough_BareLineFeeds");
        yield return new TestCaseData(Bytes(Head("GET /other HTTP/1.1", ValidHeaders)), PassReason.PathNotMapped).SetArgDisplayNames("PassThrough_UnmappedPath");
        yield return new TestCaseData(Bytes(Head("GET /echoes HTTP/1.1", ValidHeaders)), PassReason.PathNotMapped).SetArgDisplayNames("PassThrough_LongerPath");
        yield return new TestCaseData(Bytes(Head("GET /ech HTTP/1.1", ValidHeaders)), PassReason.PathNotMapped).SetArgDisplayNames("PassThrough_ShorterPath");
        yield return new TestCaseData(Bytes(Head("GET /echo/ HTTP/1.1", ValidHeaders)), PassReason.PathNotMapped).SetArgDisplayNames("PassThrough_TrailingSlash");
        yield return new TestCaseData(Bytes(Head("GET /echo HTTP/1.1", ["Host: localhost", "Accept: text/html"])), PassReason.NotUpgrade).SetArgDisplayNames("PassThrough_GetWithoutUpgrade");
        yield return new TestCaseData(Bytes(RequestWith("Upgrade", "Upgrade: h2c")), PassReason.NotUpgrade).SetArgDisplayNames("PassThrough_UpgradeToSomethingElse");
        yield return new TestCaseData(Bytes("GET /echo HTTP/1.1\r\n\r\n"), PassReason.NotUpgrade).SetArgDisplayNames("PassThrough_NoHeadersAtAll");
    }

    [TestCaseSource(nameof(PassThroughCases))]
    public void NotAnUpgradeForUsPassesThrough(byte[] request, PassReason reason)
    {
        var outcome = Sniff(request, Options(), out var result);

        Assert.That(outcome, Is.EqualTo(SniffOutcome.PassThrough));
        Assert.That(result.PassReason, Is.EqualTo(reason));
    }

    [TestCaseSource(nameof(PassThroughCases))]
    public void NotAnUpgradeForUsPassesThroughWithGratuitouslySplitBuffers(byte[] request, PassReason reason)
    {
        var failures = new List<string>();
        CheckEverySplit(request, Options(), (outcome, result) => outcome == SniffOutcome.PassThrough && result.PassReason == reason, failures);
        Assert.That(failures, Is.Empty);
    }

    [TestCase("POST /echo HTTP/1.1\r\n", 1)]
    [TestCase("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 1)]
    [TestCase("GEX /echo HTTP/1.1\r\n", 3)]
    [TestCase("GET/echo HTTP/1.1\r\n", 4)]
    public void AnotherMethodIsRecognisedFromItsFirstDifferentByte(string request, int decidedAt)
    {
        var bytes = Bytes(request);
        var sniffer = new HandshakeSniffer();
        var result = default(HandshakeResult);
        for (var length = 0; length < decidedAt; length++)
        {
            Assert.That(sniffer.Sniff(new ReadOnlySequence<byte>(bytes, 0, length), Options(), ref result), Is.EqualTo(SniffOutcome.NeedMoreData), $"after {length} bytes");
        }

        Assert.That(sniffer.Sniff(new ReadOnlySequence<byte>(bytes, 0, decidedAt), Options(), ref result), Is.EqualTo(SniffOutcome.PassThrough));
        Assert.That(result.PassReason, Is.EqualTo(PassReason.NotGet));
    }

    [TestCase("/other")]
    [TestCase("/other?x=1")]
    [TestCase("/")]
    public void UnmappedPathIsPassedOnAsSoonAsTheRequestLineIsComplete(string target)
    {
        var options = Options();
        var line = Bytes($"GET {target} HTTP/1.1\r\n");

        // Incrementally, as the middleware calls it: undecided until the request line's LF arrives.
        var sniffer = new HandshakeSniffer();
        var result = default(HandshakeResult);
        for (var length = 0; length < line.Length; length++)
        {
            Assert.That(sniffer.Sniff(new ReadOnlySequence<byte>(line, 0, length), options, ref result), Is.EqualTo(SniffOutcome.NeedMoreData), $"after {length} bytes");
        }

        Assert.That(sniffer.Sniff(new ReadOnlySequence<byte>(line), options, ref result), Is.EqualTo(SniffOutcome.PassThrough));
        Assert.That(result.PassReason, Is.EqualTo(PassReason.PathNotMapped));

        // And with a fresh sniffer that sees only the request line and part of a header.
        Assert.That(Sniff(FrameBuilder.Concat(line, Bytes("Host: loc")), options, out var fresh), Is.EqualTo(SniffOutcome.PassThrough));
        Assert.That(fresh.PassReason, Is.EqualTo(PassReason.PathNotMapped));
    }

    [Test]
    public void UnmappedPathIsNotJudgedByTheHeadLimit()
    {
        // A huge head on an unmapped path is HTTP's business: decided from its request line, never a 431.
        var options = Options();
        options.MaxRequestHeadBytes = 256;
        var request = Head("GET /other HTTP/1.1", ["Host: localhost", "Cookie: " + new string('c', 2000)]);

        Assert.That(Sniff(request, options, out var result), Is.EqualTo(SniffOutcome.PassThrough));
        Assert.That(result.PassReason, Is.EqualTo(PassReason.PathNotMapped));
    }

    [Test]
    public void RequestLineLongerThanTheHeadLimitPassesThrough()
    {
        var options = Options();
        options.MaxRequestHeadBytes = 256;

        // Never finished: decided once the limit is reached.
        var unfinished = "GET /" + new string('a', 300);
        Assert.That(Sniff(unfinished, options, out var result), Is.EqualTo(SniffOutcome.PassThrough));
        Assert.That(result.PassReason, Is.EqualTo(PassReason.NotHttp11));

        // Finished, but over the limit.
        Assert.That(Sniff(ValidRequest("/echo?" + new string('q', 300)), options, out result), Is.EqualTo(SniffOutcome.PassThrough));
        Assert.That(result.PassReason, Is.EqualTo(PassReason.NotHttp11));

        // Incrementally: undecided while under the limit.
        var sniffer = new HandshakeSniffer();
        result = default;
        var bytes = Bytes(unfinished);
        for (var length = 0; length < 255; length++)
        {
            Assert.That(sniffer.Sniff(new ReadOnlySequence<byte>(bytes, 0, length), options, ref result), Is.EqualTo(SniffOutcome.NeedMoreData), $"after {length} bytes");
        }

        Assert.That(sniffer.Sniff(new ReadOnlySequence<byte>(bytes), options, ref result), Is.EqualTo(SniffOutcome.PassThrough));
    }

    // ---------------------------------------------------------------- rejections

    private static IEnumerable<TestCaseData> RejectionCases()
    {
        yield return new TestCaseData(RequestWith("Host"), HandshakeRejection.MissingHost).SetArgDisplayNames("Reject_MissingHost");
        yield return new TestCaseData(RequestWith(null, "Host: other"), HandshakeRejection.MissingHost).SetArgDisplayNames("Reject_TwoHostHeaders");
        yield return new TestCaseData(RequestWith("Connection", "Connection: keep-alive"), HandshakeRejection.MissingConnectionUpgrade).SetArgDisplayNames("Reject_ConnectionWithoutUpgradeToken");
        yield return new TestCaseData(RequestWith("Connection"), HandshakeRejection.MissingConnectionUpgrade).SetArgDisplayNames("Reject_NoConnectionHeader");
        yield return new TestCaseData(RequestWith("Connection", "Connection: upgraded"), HandshakeRejection.MissingConnectionUpgrade).SetArgDisplayNames("Reject_ConnectionTokenOnlySimilar");
        yield return new TestCaseData(RequestWith("Sec-WebSocket-Key"), HandshakeRejection.InvalidKey).SetArgDisplayNames("Reject_MissingKey");
        yield return new TestCaseData(RequestWith("Sec-WebSocket-Key", "Sec-WebSocket-Key: dGhlIHNhbXBsZQ=="), HandshakeRejection.InvalidKey).SetArgDisplayNames("Reject_KeyOfTenBytes");
        yield return new TestCaseData(RequestWith("Sec-WebSocket-Key", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ"), HandshakeRejection.InvalidKey).SetArgDisplayNames("Reject_KeyWithoutPadding");
        yield return new TestCaseData(RequestWith("Sec-WebSocket-Key", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZSE="), HandshakeRejection.InvalidKey).SetArgDisplayNames("Reject_KeyOfSeventeenBytes");
        yield return new TestCaseData(RequestWith("Sec-WebSocket-Key", "Sec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!=="), HandshakeRejection.InvalidKey).SetArgDisplayNames("Reject_KeyNotBase64");
        yield return new TestCaseData(RequestWith("Sec-WebSocket-Key", "Sec-WebSocket-Key:"), HandshakeRejection.InvalidKey).SetArgDisplayNames("Reject_EmptyKey");
        yield return new TestCaseData(RequestWith(null, $"Sec-WebSocket-Key: {Key}"), HandshakeRejection.InvalidKey).SetArgDisplayNames("Reject_TwoKeys");
        yield return new TestCaseData(RequestWith(null, "Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw=="), HandshakeRejection.InvalidKey).SetArgDisplayNames("Reject_TwoDifferentKeys");
        yield return new TestCaseData(RequestWith("Sec-WebSocket-Version"), HandshakeRejection.MissingVersion).SetArgDisplayNames("Reject_MissingVersion");
        yield return new TestCaseData(RequestWith("Sec-WebSocket-Version", "Sec-WebSocket-Version: 8"), HandshakeRejection.UnsupportedVersion).SetArgDisplayNames("Reject_Version8");
        yield return new TestCaseData(RequestWith("Sec-WebSocket-Version", "Sec-WebSocket-Version: 14"), HandshakeRejection.UnsupportedVersion).SetArgDisplayNames("Reject_Version14");
        yield return new TestCaseData(RequestWith(null, "Host : localhost"), HandshakeRejection.MalformedHeader).SetArgDisplayNames("Reject_SpaceBeforeColon");
        yield return new TestCaseData(RequestWith(null, "Host\t: localhost"), HandshakeRejection.MalformedHeader).SetArgDisplayNames("Reject_TabBeforeColon");
        yield return new TestCaseData(RequestWith(null, "NoColonOnThisLine"), HandshakeRejection.MalformedHeader).SetArgDisplayNames("Reject_LineWithoutColon");
        yield return new TestCaseData(RequestWith(null, ": no name"), HandshakeRejection.MalformedHeader).SetArgDisplayNames("Reject_EmptyHeaderName");
        yield return new TestCaseData(RequestWith(null, "X-Folded: a", " continued"), HandshakeRejection.MalformedHeader).SetArgDisplayNames("Reject_ObsoleteLineFolding");
        yield return new TestCaseData(Head("GET /echo HTTP/1.1", ValidHeaders).Replace("Host: localhost\r\n", "Host: localhost\n"), HandshakeRejection.MalformedHeader).SetArgDisplayNames("Reject_BareLineFeedInHeaders");
    }

    [TestCaseSource(nameof(RejectionCases))]
    public void BrokenUpgradeIsRejected(string request, HandshakeRejection rejection)
    {
        var options = Options();
        var outcome = Sniff(request, options, out var result);

        Assert.That(outcome, Is.EqualTo(SniffOutcome.Reject));
        Assert.That(result.Rejection, Is.EqualTo(rejection));
        Assert.That(result.Endpoint, Is.SameAs(options.Endpoints[0]));
    }

    [TestCaseSource(nameof(RejectionCases))]
    public void BrokenUpgradeIsRejectedWithGratuitouslySplitBuffers(string request, HandshakeRejection rejection)
    {
        var failures = new List<string>();
        CheckEverySplit(Bytes(request), Options(), (outcome, result) => outcome == SniffOutcome.Reject && result.Rejection == rejection, failures);
        Assert.That(failures, Is.Empty);
    }

    [TestCase("https://example.com", "https://example.com", SniffOutcome.Upgrade)]
    [TestCase("https://example.com", "HTTPS://Example.COM", SniffOutcome.Upgrade)]
    [TestCase("https://example.com", "https://evil.example", SniffOutcome.Reject)]
    [TestCase("https://example.com", "https://example.com:8443", SniffOutcome.Reject)]
    [TestCase("https://example.com", "http://example.com", SniffOutcome.Reject)]
    [TestCase("https://example.com", "null", SniffOutcome.Reject)]
    [TestCase("*", "https://anything.example", SniffOutcome.Upgrade)]
    [TestCase("https://example.com", null, SniffOutcome.Upgrade)]
    public void OriginIsCheckedAgainstTheEndpointsList(string allowed, string? origin, SniffOutcome expected)
    {
        var options = Options(e => e.AllowedOrigins = [allowed]);
        var request = origin is null ? ValidRequest() : RequestWith(null, $"Origin: {origin}");
        var outcome = Sniff(request, options, out var result);

        Assert.That(outcome, Is.EqualTo(expected));
        if (expected == SniffOutcome.Reject)
        {
            Assert.That(result.Rejection, Is.EqualTo(HandshakeRejection.OriginNotAllowed));
            Assert.That(HandshakeResponseWriter.StatusCode(result.Rejection), Is.EqualTo(403));
        }
        else
        {
            Assert.That(AcceptOf(ref result), Is.EqualTo(ExpectedAccept));
        }
    }

    [Test]
    public void OriginListOfTheTransportAppliesWhenTheEndpointSetsNone()
    {
        var options = Options();
        options.AllowedOrigins.Add("https://good.example");

        Assert.That(Sniff(RequestWith(null, "Origin: https://good.example"), options, out _), Is.EqualTo(SniffOutcome.Upgrade));
        Assert.That(Sniff(RequestWith(null, "Origin: https://bad.example"), options, out var refused), Is.EqualTo(SniffOutcome.Reject));
        Assert.That(refused.Rejection, Is.EqualTo(HandshakeRejection.OriginNotAllowed));
    }

    [Test]
    public void OriginListOfTheEndpointOverridesTheTransports()
    {
        var options = Options(e => e.AllowedOrigins = ["https://endpoint.example"]);
        options.AllowedOrigins.Add("https://transport.example");

        Assert.That(Sniff(RequestWith(null, "Origin: https://endpoint.example"), options, out _), Is.EqualTo(SniffOutcome.Upgrade));
        Assert.That(Sniff(RequestWith(null, "Origin: https://transport.example"), options, out _), Is.EqualTo(SniffOutcome.Reject));
    }

    [Test]
    public void EmptyOriginListAllowsEveryOrigin()
    {
        Assert.That(Sniff(RequestWith(null, "Origin: https://whatever.example"), Options(), out _), Is.EqualTo(SniffOutcome.Upgrade));
    }

    [Test]
    public void HeadOverTheLimitIsRejectedEvenIfItNeverEnds()
    {
        var options = Options();
        options.MaxRequestHeadBytes = 256;
        // A mapped path, then headers that go on and on without the empty line.
        var unfinished = Bytes("GET /echo HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nX-Pad: " + new string('p', 400));

        var sniffer = new HandshakeSniffer();
        var result = default(HandshakeResult);
        var outcomes = new List<(int Length, SniffOutcome Outcome)>();
        for (var length = 0; length <= unfinished.Length; length++)
        {
            var outcome = sniffer.Sniff(new ReadOnlySequence<byte>(unfinished, 0, length), options, ref result);
            outcomes.Add((length, outcome));
            if (outcome != SniffOutcome.NeedMoreData)
            {
                break;
            }
        }

        Assert.That(outcomes[^1], Is.EqualTo((257, SniffOutcome.Reject)));
        Assert.That(result.Rejection, Is.EqualTo(HandshakeRejection.HeadTooLarge));
        Assert.That(HandshakeResponseWriter.StatusCode(result.Rejection), Is.EqualTo(431));

        // A fresh sniffer given everything at once agrees.
        Assert.That(Sniff(unfinished, options, out var fresh), Is.EqualTo(SniffOutcome.Reject));
        Assert.That(fresh.Rejection, Is.EqualTo(HandshakeRejection.HeadTooLarge));
    }

    [TestCase(0, SniffOutcome.Upgrade)]
    [TestCase(1, SniffOutcome.Reject)]
    [TestCase(100, SniffOutcome.Reject)]
    public void CompleteHeadIsJudgedByItsLengthAgainstTheLimit(int overLimit, SniffOutcome expected)
    {
        var options = Options();
        options.MaxRequestHeadBytes = 256;
        var baseLength = Bytes(RequestWith(null, "X-Pad: ")).Length;
        var request = Bytes(RequestWith(null, "X-Pad: " + new string('p', 256 - baseLength + overLimit)));
        Assert.That(request.Length, Is.EqualTo(256 + overLimit));

        // A frame after the head does not count towards the head.
        var outcome = Sniff(FrameBuilder.Concat(request, FrameBuilder.BinaryFrame(new byte[300])), options, out var result);

        Assert.That(outcome, Is.EqualTo(expected));
        if (expected == SniffOutcome.Reject)
        {
            Assert.That(result.Rejection, Is.EqualTo(HandshakeRejection.HeadTooLarge));
        }
        else
        {
            Assert.That(result.HeadLength, Is.EqualTo(256));
        }
    }

    // ---------------------------------------------------------------- incremental and split input

    private static IEnumerable<TestCaseData> SplitRequests()
    {
        yield return new TestCaseData(ValidRequest(), null, null).SetArgDisplayNames("Split_Plain");
        yield return new TestCaseData(
            Head("GET /echo?room=a%20b&x=1 HTTP/1.1",
            [
                "Host: localhost:8080",
                "User-Agent: Mozilla/5.0 (X11; Linux x86_64)",
                "Upgrade: websocket",
                "Connection: keep-alive, Upgrade",
                "Sec-WebSocket-Protocol: x, v1, v2",
                $"Sec-WebSocket-Key: {Key}",
                "Authorization: Bearer token.with.dots",
                "Origin: https://example.com",
                "Sec-WebSocket-Version: 13",
            ]),
            "room=a%20b&x=1",
            "v2").SetArgDisplayNames("Split_WithQuerySubProtocolAndCapturedHeader");
    }

    private static WebSocketTransportOptions SplitOptions() => Options(e =>
    {
        e.SubProtocols = ["v2", "v1"];
        e.CapturedHeaders.Add("Authorization");
        e.AllowedOrigins = ["https://example.com"];
    });

    private static bool IsExpectedUpgrade(SniffOutcome outcome, HandshakeResult result, int headLength, string? query, string? subProtocol)
    {
        if (outcome != SniffOutcome.Upgrade || result.HeadLength != headLength || result.QueryString != query || result.SubProtocol != subProtocol)
        {
            return false;
        }

        if (AcceptOf(ref result) != ExpectedAccept)
        {
            return false;
        }

        return query is null || (result.CapturedHeaders is [{ Key: "Authorization", Value: "Bearer token.with.dots" }]);
    }

    [TestCaseSource(nameof(SplitRequests))]
    public void EveryProperPrefixNeedsMoreData(string request, string? query, string? subProtocol)
    {
        var bytes = Bytes(request);
        var options = SplitOptions();
        var failures = new List<string>();

        // A fresh sniffer for each prefix.
        for (var length = 0; length < bytes.Length; length++)
        {
            var outcome = Sniff(new ReadOnlySequence<byte>(bytes, 0, length), options, out _);
            if (outcome != SniffOutcome.NeedMoreData)
            {
                failures.Add($"fresh, {length} bytes: {outcome}");
            }
        }

        Assert.That(failures, Is.Empty);
        Assert.That(Sniff(bytes, options, out var whole), Is.EqualTo(SniffOutcome.Upgrade));
        Assert.That(IsExpectedUpgrade(SniffOutcome.Upgrade, whole, bytes.Length, query, subProtocol), Is.True);
    }

    [TestCaseSource(nameof(SplitRequests))]
    public void OneSnifferFedAGrowingBufferDecidesOnlyAtTheEnd(string request, string? query, string? subProtocol)
    {
        var bytes = Bytes(request);
        var options = SplitOptions();

        // As the middleware does: one sniffer, the same buffer growing by one byte per read, first contiguous...
        var failures = new List<string>();
        var sniffer = new HandshakeSniffer();
        var result = default(HandshakeResult);
        for (var length = 0; length < bytes.Length; length++)
        {
            var outcome = sniffer.Sniff(new ReadOnlySequence<byte>(bytes, 0, length), options, ref result);
            if (outcome != SniffOutcome.NeedMoreData)
            {
                failures.Add($"contiguous, {length} bytes: {outcome}");
            }
        }

        var final = sniffer.Sniff(new ReadOnlySequence<byte>(bytes), options, ref result);
        if (!IsExpectedUpgrade(final, result, bytes.Length, query, subProtocol))
        {
            failures.Add($"contiguous, whole: {final}, head {result.HeadLength}, query {result.QueryString}, protocol {result.SubProtocol}");
        }

        // ...then as one segment per read, the way a pipe that got one byte per read holds it.
        var segmented = SequenceFactory.OneByteSegments(bytes);
        sniffer = new HandshakeSniffer();
        result = default;
        for (var length = 0; length < bytes.Length; length++)
        {
            var outcome = sniffer.Sniff(segmented.Slice(0, length), options, ref result);
            if (outcome != SniffOutcome.NeedMoreData)
            {
                failures.Add($"segmented, {length} bytes: {outcome}");
            }
        }

        final = sniffer.Sniff(segmented, options, ref result);
        if (!IsExpectedUpgrade(final, result, bytes.Length, query, subProtocol))
        {
            failures.Add($"segmented, whole: {final}, head {result.HeadLength}, query {result.QueryString}, protocol {result.SubProtocol}");
        }

        Assert.That(failures, Is.Empty);
    }

    [TestCaseSource(nameof(SplitRequests))]
    public void UpgradeWithGratuitouslySplitBuffers(string request, string? query, string? subProtocol)
    {
        var bytes = Bytes(request);
        var options = SplitOptions();
        var failures = new List<string>();
        CheckEverySplit(bytes, options, (outcome, result) => IsExpectedUpgrade(outcome, result, bytes.Length, query, subProtocol), failures);
        Assert.That(failures, Is.Empty);
    }

    [TestCaseSource(nameof(SplitRequests))]
    public void UpgradeSplitAtEveryPairOfOffsetsWithGratuitouslySplitBuffers(string request, string? query, string? subProtocol)
    {
        var bytes = Bytes(request);
        var options = SplitOptions();
        var failures = new List<string>();
        for (var first = 0; first <= bytes.Length; first++)
        {
            for (var second = first; second <= bytes.Length; second++)
            {
                var outcome = Sniff(SequenceFactory.SplitAt(bytes, first, second), options, out var result);
                if (!IsExpectedUpgrade(outcome, result, bytes.Length, query, subProtocol))
                {
                    failures.Add($"split at {first} and {second}: {outcome}");
                }
            }
        }

        Assert.That(failures, Is.Empty);
    }

    /// <summary>The whole request as one-byte segments, and split once at every offset; each must satisfy <paramref name="check"/>.</summary>
    private static void CheckEverySplit(byte[] bytes, WebSocketTransportOptions options, Func<SniffOutcome, HandshakeResult, bool> check, List<string> failures)
    {
        var outcome = Sniff(SequenceFactory.OneByteSegments(bytes), options, out var result);
        if (!check(outcome, result))
        {
            failures.Add($"one-byte segments: {outcome} ({result.PassReason}, {result.Rejection})");
        }

        for (var split = 0; split <= bytes.Length; split++)
        {
            outcome = Sniff(SequenceFactory.SplitAt(bytes, split), options, out result);
            if (!check(outcome, result))
            {
                failures.Add($"split at {split}: {outcome} ({result.PassReason}, {result.Rejection})");
            }
        }
    }
}
