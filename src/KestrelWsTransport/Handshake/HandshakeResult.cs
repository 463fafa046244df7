using System.Runtime.CompilerServices;

namespace KestrelWsTransport.Handshake;

/// <summary>The 28 ASCII bytes of a <c>Sec-WebSocket-Accept</c> value, kept inline so a handshake allocates nothing for it.</summary>
[InlineArray(WebSocketAccept.AcceptLength)]
internal struct AcceptKeyBuffer
{
    private byte _element0;
}

/// <summary>What the sniffer learned from a request head.</summary>
internal struct HandshakeResult
{
    public WebSocketEndpoint? Endpoint;

    /// <summary>Bytes of the request head including the final empty line: consumed on upgrade.</summary>
    public long HeadLength;

    public HandshakeRejection Rejection;

    public PassReason PassReason;

    /// <summary>Text after '?' in the request target, or null when there is none.</summary>
    public string? QueryString;

    /// <summary>The chosen subprotocol: one of the configured strings, so choosing allocates nothing.</summary>
    public string? SubProtocol;

    public AcceptKeyBuffer Accept;

    /// <summary>The agreed permessage-deflate parameters, or null when the WebSocket runs uncompressed.</summary>
    public KestrelWsTransport.Compression.DeflateParameters? Deflate;

    /// <summary>Headers the endpoint asked to capture, or null.</summary>
    public List<KeyValuePair<string, string>>? CapturedHeaders;
}
