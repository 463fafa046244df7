namespace KestrelWsTransport.Handshake;

/// <summary>Why an upgrade request was refused; each maps to one HTTP status (see <see cref="HandshakeResponseWriter"/>).</summary>
internal enum HandshakeRejection
{
    None,

    /// <summary>400: a header line is not <c>name: value</c> CRLF.</summary>
    MalformedHeader,

    /// <summary>400: no <c>Host</c> header, or more than one.</summary>
    MissingHost,

    /// <summary>400: <c>Connection</c> lacks the <c>upgrade</c> token.</summary>
    MissingConnectionUpgrade,

    /// <summary>400: <c>Sec-WebSocket-Key</c> missing, repeated, or not base64 of 16 bytes.</summary>
    InvalidKey,

    /// <summary>400: <c>Sec-WebSocket-Version</c> missing.</summary>
    MissingVersion,

    /// <summary>426 with <c>Sec-WebSocket-Version: 13</c>: another protocol version was asked for.</summary>
    UnsupportedVersion,

    /// <summary>403: the <c>Origin</c> is not in the allowed list.</summary>
    OriginNotAllowed,

    /// <summary>431: the request head is over <see cref="WebSocketTransportOptions.MaxRequestHeadBytes"/>.</summary>
    HeadTooLarge,

    /// <summary>
    /// 408: some bytes arrived but the connection was still undecided at <see cref="WebSocketTransportOptions.HandshakeTimeout"/>
    /// (a request line, or the head of an upgrade on a mapped path, still incomplete).
    /// </summary>
    HandshakeTimeout,

    /// <summary>503: <see cref="WebSocketTransportOptions.MaxConcurrentConnections"/> reached.</summary>
    TooManyConnections,

    /// <summary>404 (WebSocket-only endpoints): the path is not mapped.</summary>
    NotFound,

    /// <summary>400 (WebSocket-only endpoints): not an HTTP/1.1 WebSocket upgrade request at all.</summary>
    NotWebSocketRequest,
}

/// <summary>Why the sniffer handed a connection on to HTTP.</summary>
internal enum PassReason
{
    /// <summary>The first bytes are not <c>GET </c> (another method, the h2c preface, TLS, not HTTP).</summary>
    NotGet,

    /// <summary>The request line is malformed, not origin-form, too long, or not HTTP/1.1.</summary>
    NotHttp11,

    /// <summary>The path is not one the transport serves.</summary>
    PathNotMapped,

    /// <summary>A GET on a mapped path without <c>Upgrade: websocket</c>.</summary>
    NotUpgrade,

    /// <summary>The connection's TLS handshake chose HTTP/2 (ALPN h2).</summary>
    Http2,
}
