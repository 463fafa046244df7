// Pins the fixes for docs/reliability.md, "Findings" F1 and F2 (found while writing the fuzz references): these
// failed on commit 44ec974, before the fix.
using System.Buffers;
using System.Text;
using KestrelWsTransport.Handshake;

namespace KestrelWsTransport.Tests.Handshake;

[TestFixture]
internal sealed class HeaderCharacterRegressionTests
{
    private static readonly WebSocketHandler Handler = (_, _) => Task.CompletedTask;

    private static SniffOutcome Sniff(string head, out HandshakeResult result)
    {
        var options = new WebSocketTransportOptions();
        options.Map("/echo", Handler, o => o.CapturedHeaders.Add("*"));
        var sniffer = new HandshakeSniffer();
        result = default;
        return sniffer.Sniff(new ReadOnlySequence<byte>(Encoding.Latin1.GetBytes(head)), options, ref result);
    }

    private static string Head(string target, string extraHeader) =>
        $"GET {target} HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        $"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extraHeader}\r\n\r\n";

    // F1: RFC 9110 section 5.5 / RFC 9112 section 2.2: a field value with CR, LF or NUL is invalid; a recipient must
    // reject it (or replace each with SP). Today the upgrade is accepted and the raw bytes reach CapturedHeaders.
    [TestCase("X-Evil: a\rb", TestName = "Bare CR in a header value is a malformed header")]
    [TestCase("X-Evil: a\0b", TestName = "NUL in a header value is a malformed header")]
    [TestCase("Bad Name: v", TestName = "Whitespace inside a field name is a malformed header")]
    [TestCase("Bad\0Name: v", TestName = "A control byte in a field name is a malformed header")]
    public void Invalid_characters_in_a_header_line_are_rejected(string line)
    {
        var outcome = Sniff(Head("/echo", line), out var result);

        Assert.That(outcome, Is.EqualTo(SniffOutcome.Reject));
        Assert.That(result.Rejection, Is.EqualTo(HandshakeRejection.MalformedHeader));
    }

    // F2: RFC 9112 section 3.2: request-target is visible ASCII. Kestrel answers 400 to such a target; the transport
    // upgrades it and hands the handler a QueryString with NUL and U+FFFD in it. Passing it to HTTP (Kestrel then
    // answers 400) keeps one rule for both paths.
    [TestCase("/echo?a\0b", TestName = "NUL in the request target is not upgraded")]
    [TestCase("/echo?a\u00ffb", TestName = "A non-ASCII byte in the request target is not upgraded")]
    [TestCase("/echo?a\u007fb", TestName = "DEL in the request target is not upgraded")]
    public void Control_and_non_ascii_bytes_in_the_request_target_are_not_upgraded(string target)
    {
        var outcome = Sniff(Head(target, "X-Ok: 1"), out var result);

        Assert.That(outcome, Is.EqualTo(SniffOutcome.PassThrough));
        Assert.That(result.PassReason, Is.EqualTo(PassReason.NotHttp11));
    }

    [Test]
    public void Visible_ascii_in_values_and_targets_is_still_upgraded()
    {
        var outcome = Sniff(Head("/echo?q=%00&x=~!", "X-Ok: a b\t\"c\" ~"), out var result);

        Assert.That(outcome, Is.EqualTo(SniffOutcome.Upgrade));
        Assert.That(result.QueryString, Is.EqualTo("q=%00&x=~!"));
    }
}
