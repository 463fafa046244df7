using System.Buffers;
using System.Text;
using KestrelWsTransport.Handshake;

namespace KestrelWsTransport.Tests.Handshake;

/// <summary>The bytes of the 101 and of the HTTP errors, checked character for character.</summary>
[TestFixture]
internal sealed class HandshakeResponseWriterTests
{
    private const string Accept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

    [Test]
    public void AcceptWithoutSubProtocolIsExactlyTheRfcResponse()
    {
        var output = new ArrayBufferWriter<byte>();
        HandshakeResponseWriter.WriteAccept(output, Encoding.ASCII.GetBytes(Accept), null);

        Assert.That(Encoding.ASCII.GetString(output.WrittenSpan), Is.EqualTo(
            "HTTP/1.1 101 Switching Protocols\r\n" +
            "Upgrade: websocket\r\n" +
            "Connection: Upgrade\r\n" +
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" +
            "\r\n"));
    }

    [Test]
    public void AcceptWithSubProtocolNamesIt()
    {
        var output = new ArrayBufferWriter<byte>();
        HandshakeResponseWriter.WriteAccept(output, Encoding.ASCII.GetBytes(Accept), "chat.v2");

        Assert.That(Encoding.ASCII.GetString(output.WrittenSpan), Is.EqualTo(
            "HTTP/1.1 101 Switching Protocols\r\n" +
            "Upgrade: websocket\r\n" +
            "Connection: Upgrade\r\n" +
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" +
            "Sec-WebSocket-Protocol: chat.v2\r\n" +
            "\r\n"));
    }

    [Test]
    public void AcceptWrittenAfterOtherBytesAppendsToThem()
    {
        // The writer may already hold bytes (an IBufferWriter is append-only): nothing before must be overwritten.
        var output = new ArrayBufferWriter<byte>();
        output.Write("prefix|"u8);
        HandshakeResponseWriter.WriteAccept(output, Encoding.ASCII.GetBytes(Accept), "p");

        var text = Encoding.ASCII.GetString(output.WrittenSpan);
        Assert.That(text, Does.StartWith("prefix|HTTP/1.1 101 Switching Protocols\r\n"));
        Assert.That(text, Does.EndWith("Sec-WebSocket-Protocol: p\r\n\r\n"));
    }

    [TestCase(HandshakeRejection.MalformedHeader, 400)]
    [TestCase(HandshakeRejection.MissingHost, 400)]
    [TestCase(HandshakeRejection.MissingConnectionUpgrade, 400)]
    [TestCase(HandshakeRejection.InvalidKey, 400)]
    [TestCase(HandshakeRejection.MissingVersion, 400)]
    [TestCase(HandshakeRejection.NotWebSocketRequest, 400)]
    [TestCase(HandshakeRejection.UnsupportedVersion, 426)]
    [TestCase(HandshakeRejection.OriginNotAllowed, 403)]
    [TestCase(HandshakeRejection.HeadTooLarge, 431)]
    [TestCase(HandshakeRejection.HandshakeTimeout, 408)]
    [TestCase(HandshakeRejection.TooManyConnections, 503)]
    [TestCase(HandshakeRejection.NotFound, 404)]
    public void RejectionIsACompleteResponseWithTheTablesStatus(HandshakeRejection rejection, int status)
    {
        var output = new ArrayBufferWriter<byte>();
        HandshakeResponseWriter.WriteRejection(output, rejection);
        var bytes = output.WrittenSpan.ToArray();
        var text = Encoding.ASCII.GetString(bytes);

        var headEnd = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        Assert.That(headEnd, Is.GreaterThan(0), text);
        var lines = text[..headEnd].Split("\r\n");
        var statusLine = lines[0].Split(' ', 3);
        Assert.That(statusLine[0], Is.EqualTo("HTTP/1.1"));
        Assert.That(statusLine[1], Is.EqualTo(status.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        Assert.That(statusLine[2], Is.Not.Empty);
        Assert.That(HandshakeResponseWriter.StatusCode(rejection), Is.EqualTo(status));

        var headers = lines.Skip(1).Select(l => l.Split(": ", 2)).ToDictionary(p => p[0], p => p[1], StringComparer.OrdinalIgnoreCase);
        Assert.That(headers["Connection"], Is.EqualTo("close"));

        // Content-Length counts the bytes after the head exactly, so a client reading the body neither waits nor truncates.
        var bodyBytes = bytes.Length - (Encoding.ASCII.GetByteCount(text[..headEnd]) + 4);
        Assert.That(int.Parse(headers["Content-Length"], System.Globalization.CultureInfo.InvariantCulture), Is.EqualTo(bodyBytes));
        Assert.That(bodyBytes, Is.GreaterThan(0));
        Assert.That(text[(headEnd + 4)..].TrimEnd('\n'), Is.EqualTo(HandshakeResponseWriter.Reason(rejection)));

        if (rejection == HandshakeRejection.UnsupportedVersion)
        {
            Assert.That(headers["Sec-WebSocket-Version"], Is.EqualTo("13"));
        }
        else
        {
            Assert.That(headers.ContainsKey("Sec-WebSocket-Version"), Is.False);
        }
    }
}
