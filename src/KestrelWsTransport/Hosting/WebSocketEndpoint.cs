using System.Text;

namespace KestrelWsTransport;

/// <summary>
/// Runs one WebSocket. The connection ends when the returned task completes: if the handler did not close it,
/// the server closes it with 1000 (Normal Closure).
/// </summary>
/// <param name="connection">The WebSocket, with the request it came with.</param>
/// <param name="cancellationToken">Fires when the peer is gone or the connection was aborted.</param>
public delegate Task WebSocketHandler(WebSocketConnection connection, CancellationToken cancellationToken);

/// <summary>What the HTTP bridge does with WebSockets that arrive as HTTP/2 extended CONNECT requests (RFC 8441).</summary>
public enum Http2WebSocketPolicy
{
    /// <summary>Serve them through the bridge, on the same engine and handler as connection-level WebSockets.</summary>
    Bridge,

    /// <summary>
    /// Reset the stream with HTTP_1_1_REQUIRED (RFC 9113 section 7) so the client retries over a new HTTP/1.1
    /// connection, which the connection-level transport serves. Chromium then keeps using HTTP/1.1 for that whole
    /// origin for the rest of the browser session.
    /// </summary>
    RequireHttp11,

    /// <summary>Answer <c>403 Forbidden</c>.</summary>
    Refuse,
}

/// <summary>A path served by the transport, with its handler and options.</summary>
public sealed class WebSocketEndpoint
{
    internal WebSocketEndpoint(string path, WebSocketHandler handler, WebSocketEndpointOptions options)
    {
        Path = path;
        Handler = handler;
        Options = options;
        PathUtf8 = Encoding.UTF8.GetBytes(path);
    }

    /// <summary>The request path this endpoint answers, for example <c>/echo</c>.</summary>
    public string Path { get; }

    /// <summary>The application code run for each WebSocket on this path.</summary>
    public WebSocketHandler Handler { get; }

    /// <summary>Options of this endpoint alone.</summary>
    public WebSocketEndpointOptions Options { get; }

    internal byte[] PathUtf8 { get; }
}

/// <summary>Options of one mapped path.</summary>
public sealed class WebSocketEndpointOptions
{
    /// <summary>
    /// Origins allowed on this path; <see langword="null"/> (the default) uses
    /// <see cref="WebSocketTransportOptions.AllowedOrigins"/>.
    /// </summary>
    public IList<string>? AllowedOrigins { get; set; }

    /// <summary>
    /// Subprotocols spoken on this path, most preferred first; <see langword="null"/> (the default) uses
    /// <see cref="WebSocketTransportOptions.SubProtocols"/>.
    /// </summary>
    public IList<string>? SubProtocols { get; set; }

    /// <summary>
    /// permessage-deflate on this path; <see langword="null"/> (the default) uses
    /// <see cref="WebSocketTransportOptions.Compression"/>.
    /// </summary>
    public WebSocketCompressionOptions? Compression { get; set; }

    /// <summary>
    /// Request headers copied into <see cref="WebSocketRequest.Headers"/> (names compared case-insensitively; <c>*</c>
    /// copies all). The handshake is parsed where it lies in the connection's buffer, so only the headers named here
    /// become strings. Defaults to empty: no header is copied.
    /// </summary>
    public ISet<string> CapturedHeaders { get; } = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
}
