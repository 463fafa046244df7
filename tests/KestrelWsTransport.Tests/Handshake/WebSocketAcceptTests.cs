using System.Security.Cryptography;
using System.Text;
using KestrelWsTransport.Handshake;

namespace KestrelWsTransport.Tests.Handshake;

public class WebSocketAcceptTests
{
    [Test]
    public void Rfc6455Example()
    {
        // RFC 6455 section 1.3.
        var destination = new byte[WebSocketAccept.AcceptLength];

        var ok = WebSocketAccept.TryCompute("dGhlIHNhbXBsZSBub25jZQ=="u8, destination);

        Assert.That(ok, Is.True);
        Assert.That(Encoding.ASCII.GetString(destination), Is.EqualTo("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
    }

    [Test]
    public void RandomKeys_MatchStraightforwardComputation()
    {
        var random = new Random(1234);
        var nonce = new byte[16];
        var destination = new byte[WebSocketAccept.AcceptLength];
        for (var i = 0; i < 100; i++)
        {
            random.NextBytes(nonce);
            var key = Convert.ToBase64String(nonce);
            var expected = Convert.ToBase64String(SHA1.HashData(Encoding.ASCII.GetBytes(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")));

            Assert.That(WebSocketAccept.TryCompute(Encoding.ASCII.GetBytes(key), destination), Is.True, key);
            Assert.That(Encoding.ASCII.GetString(destination), Is.EqualTo(expected), key);
        }
    }

    [Test]
    public void WritesOnlyTheFirst28Bytes()
    {
        var destination = new byte[40];
        destination.AsSpan().Fill((byte)'#');

        Assert.That(WebSocketAccept.TryCompute("dGhlIHNhbXBsZSBub25jZQ=="u8, destination), Is.True);
        Assert.That(Encoding.ASCII.GetString(destination), Is.EqualTo("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=############"));
    }

    [TestCase("", TestName = "Empty")]
    [TestCase("dGhlIHNhbXBsZSBub25jZQ=", TestName = "One padding character missing")]
    [TestCase("dGhlIHNhbXBsZSBub25jZQ", TestName = "Padding missing")]
    [TestCase("dGhlIHNhbXBsZSBub25j", TestName = "15 bytes decoded (20 chars)")]
    [TestCase("AAAAAAAAAAAAAAAAAAAAAAA=", TestName = "17 bytes decoded (24 chars)")]
    [TestCase("AAAAAAAAAAAAAAAAAAAAAAAA", TestName = "18 bytes decoded (24 chars)")]
    [TestCase("AAAAAAAAAAAAAAAAAAAAAA==AAAA", TestName = "Longer than 24 chars")]
    [TestCase("AAAAAAAAAAAAAAAAAAAAAAAAAAA=", TestName = "20 bytes decoded")]
    [TestCase("dGhlIHNhbXBsZSBub25jZQ!=", TestName = "Non-base64 character")]
    [TestCase("dGhlIHNhbXBsZSBub25jZ-==", TestName = "Base64url character")]
    [TestCase("dGhlIHNhbXBsZSBub25jZ===", TestName = "Three padding characters")]
    [TestCase("dGhlIHNhbXBsZSBub2==5jZQ", TestName = "Padding in the middle")]
    [TestCase("dGhlIHNhbXBsZSBub25j ZQ=", TestName = "Inner space")]
    [TestCase("dGhlIHNhbXBsZSBub25jZ\tQ=", TestName = "Inner tab")]
    [TestCase(" dGhlIHNhbXBsZSBub25jZQ=", TestName = "Untrimmed leading space")]
    [TestCase("dGhlIHNhbXBsZSBub25jZQ==\r", TestName = "Untrimmed CR")]
    [TestCase("dGhlIHNhbXBsZSBub25jZQ\r\n", TestName = "CRLF instead of padding")]
    [TestCase("========================", TestName = "Only padding")]
    [TestCase("dGhlIHNhbXBsZSBub25jZR==", TestName = "Non-canonical final character (unused bits set)")]
    public void InvalidKeys_AreRejected(string key)
    {
        var destination = new byte[WebSocketAccept.AcceptLength];

        Assert.That(WebSocketAccept.TryCompute(Encoding.Latin1.GetBytes(key), destination), Is.False);
    }

    [Test]
    public void NonAsciiKey_IsRejected()
    {
        byte[] key = [.. "dGhlIHNhbXBsZSBub25jZ"u8, 0xC3, 0xA9, (byte)'='];
        var destination = new byte[WebSocketAccept.AcceptLength];

        Assert.That(WebSocketAccept.TryCompute(key, destination), Is.False);
    }

    [Test]
    public void ShortDestination_Throws()
    {
        var destination = new byte[WebSocketAccept.AcceptLength - 1];

        Assert.That(() => WebSocketAccept.TryCompute("dGhlIHNhbXBsZSBub25jZQ=="u8, destination), Throws.ArgumentException);
    }

    [Test]
    public void DoesNotAllocate()
    {
        var key = "dGhlIHNhbXBsZSBub25jZQ=="u8.ToArray();
        var invalid = "dGhlIHNhbXBsZSBub25jZQ!="u8.ToArray();
        var destination = new byte[WebSocketAccept.AcceptLength];

        // Warm up so one-time costs (JIT, the crypto provider's lazy state) are not counted.
        for (var i = 0; i < 10; i++)
        {
            WebSocketAccept.TryCompute(key, destination);
            WebSocketAccept.TryCompute(invalid, destination);
        }

        var ok = true;
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
        {
            ok &= WebSocketAccept.TryCompute(key, destination);
            ok &= !WebSocketAccept.TryCompute(invalid, destination);
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.That(ok, Is.True);
        Assert.That(allocated, Is.EqualTo(0));
    }
}
