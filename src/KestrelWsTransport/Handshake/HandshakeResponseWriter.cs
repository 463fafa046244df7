using System.Buffers;
using System.Text;

namespace KestrelWsTransport.Handshake;

/// <summary>Writes the 101 that completes a handshake, and the short HTTP errors that refuse one.</summary>
internal static class HandshakeResponseWriter
{
    /// <summary>RFC 6455 section 4.2.2 step 5.</summary>
    public static void WriteAccept(IBufferWriter<byte> output, ReadOnlySpan<byte> accept, string? subProtocol, string? extensions = null)
    {
        Write(output, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "u8);
        Write(output, accept);
        if (subProtocol is not null)
        {
            Write(output, "\r\nSec-WebSocket-Protocol: "u8);
            var span = output.GetSpan(subProtocol.Length);
            var written = Encoding.ASCII.GetBytes(subProtocol, span);
            output.Advance(written);
        }

        if (extensions is not null)
        {
            Write(output, "\r\nSec-WebSocket-Extensions: "u8);
            Write(output, Encoding.ASCII.GetBytes(extensions));
        }

        Write(output, "\r\n\r\n"u8);
    }

    /// <summary>Writes a complete error response with a one-line text body; the caller closes the connection after it.</summary>
    public static void WriteRejection(IBufferWriter<byte> output, HandshakeRejection rejection)
    {
        var (status, reason) = Describe(rejection);
        var body = Reason(rejection);
        var text = new StringBuilder(160)
            .Append("HTTP/1.1 ").Append(status).Append(' ').Append(reason).Append("\r\n")
            .Append("Connection: close\r\n")
            .Append("Content-Type: text/plain; charset=utf-8\r\n");
        if (rejection == HandshakeRejection.UnsupportedVersion)
        {
            text.Append("Sec-WebSocket-Version: 13\r\n");
        }

        text.Append("Content-Length: ").Append(body.Length + 1).Append("\r\n\r\n").Append(body).Append('\n');
        Write(output, Encoding.ASCII.GetBytes(text.ToString()));
    }

    public static int StatusCode(HandshakeRejection rejection) => Describe(rejection).Status;

    private static (int Status, string Reason) Describe(HandshakeRejection rejection) => rejection switch
    {
        HandshakeRejection.UnsupportedVersion => (426, "Upgrade Required"),
        HandshakeRejection.OriginNotAllowed => (403, "Forbidden"),
        HandshakeRejection.HeadTooLarge => (431, "Request Header Fields Too Large"),
        HandshakeRejection.HandshakeTimeout => (408, "Request Timeout"),
        HandshakeRejection.TooManyConnections => (503, "Service Unavailable"),
        HandshakeRejection.NotFound => (404, "Not Found"),
        _ => (400, "Bad Request"),
    };

    /// <summary>The one-line body: what was wrong, in words a client developer can act on.</summary>
    public static string Reason(HandshakeRejection rejection) => rejection switch
    {
        HandshakeRejection.MalformedHeader => "Malformed header line in the upgrade request.",
        HandshakeRejection.MissingHost => "The upgrade request needs exactly one Host header.",
        HandshakeRejection.MissingConnectionUpgrade => "The upgrade request needs 'Connection: Upgrade'.",
        HandshakeRejection.InvalidKey => "Sec-WebSocket-Key must appear once and be base64 of 16 bytes.",
        HandshakeRejection.MissingVersion => "The upgrade request needs 'Sec-WebSocket-Version: 13'.",
        HandshakeRejection.UnsupportedVersion => "Only WebSocket version 13 is supported.",
        HandshakeRejection.OriginNotAllowed => "This origin may not open a WebSocket here.",
        HandshakeRejection.HeadTooLarge => "The upgrade request head is too large.",
        HandshakeRejection.HandshakeTimeout => "The upgrade request did not arrive in time.",
        HandshakeRejection.TooManyConnections => "Too many WebSocket connections; try again later.",
        HandshakeRejection.NotFound => "No WebSocket endpoint at this path.",
        HandshakeRejection.NotWebSocketRequest => "This endpoint only serves WebSocket upgrade requests.",
        _ => "Bad request.",
    };

    private static void Write(IBufferWriter<byte> output, ReadOnlySpan<byte> bytes) => output.Write(bytes);
}
