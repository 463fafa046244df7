using System.Net;

namespace KestrelWsTransport;

/// <summary>How a WebSocket reached its handler.</summary>
public enum WebSocketRoute
{
    /// <summary>An HTTP/1.1 upgrade answered by the transport on the connection itself, before Kestrel's HTTP layer.</summary>
    Connection,

    /// <summary>
    /// An HTTP/1.1 upgrade that reached Kestrel's HTTP pipeline (for example a later request on a keep-alive connection)
    /// and was bridged by <c>app.UseWebSocketTransport()</c>.
    /// </summary>
    Http1Upgrade,

    /// <summary>An HTTP/2 extended CONNECT (RFC 8441) bridged by <c>app.UseWebSocketTransport()</c>.</summary>
    Http2ExtendedConnect,
}

/// <summary>The upgrade request a WebSocket came with. Immutable; safe to keep for the life of the connection.</summary>
public sealed class WebSocketRequest
{
    private static readonly IReadOnlyList<KeyValuePair<string, string>> s_noHeaders = Array.Empty<KeyValuePair<string, string>>();

    internal WebSocketRequest(
        string connectionId,
        string path,
        string? queryString,
        string? subProtocol,
        IReadOnlyList<KeyValuePair<string, string>>? headers,
        EndPoint? remoteEndPoint,
        EndPoint? localEndPoint,
        bool isSecure,
        string? applicationProtocol,
        WebSocketRoute route)
    {
        ConnectionId = connectionId;
        Path = path;
        QueryString = queryString;
        SubProtocol = subProtocol;
        Headers = headers ?? s_noHeaders;
        RemoteEndPoint = remoteEndPoint;
        LocalEndPoint = localEndPoint;
        IsSecure = isSecure;
        ApplicationProtocol = applicationProtocol;
        Route = route;
    }

    /// <summary>
    /// Identifies the WebSocket in logs: Kestrel's connection id at connection level; for the HTTP bridge, the request's
    /// trace identifier (connection id and stream), since several WebSockets can share one HTTP/2 connection.
    /// </summary>
    public string ConnectionId { get; }

    /// <summary>The mapped path that matched, for example <c>/echo</c>.</summary>
    public string Path { get; }

    /// <summary>The text after <c>?</c> in the request target, undecoded, or <see langword="null"/>.</summary>
    public string? QueryString { get; }

    /// <summary>The subprotocol agreed in the handshake, or <see langword="null"/>.</summary>
    public string? SubProtocol { get; }

    /// <summary>
    /// The request headers named in <see cref="WebSocketEndpointOptions.CapturedHeaders"/>, in request order.
    /// Empty unless the endpoint asked for some.
    /// </summary>
    public IReadOnlyList<KeyValuePair<string, string>> Headers { get; }

    /// <summary>The peer's address.</summary>
    public EndPoint? RemoteEndPoint { get; }

    /// <summary>The local address the connection was accepted on.</summary>
    public EndPoint? LocalEndPoint { get; }

    /// <summary>Whether the connection is protected by TLS (<c>wss://</c>).</summary>
    public bool IsSecure { get; }

    /// <summary>The ALPN protocol TLS agreed on (often none for non-browser clients), or <see langword="null"/>.</summary>
    public string? ApplicationProtocol { get; }

    /// <summary>Which way the WebSocket arrived.</summary>
    public WebSocketRoute Route { get; }

    /// <summary>The first captured header with this name (case-insensitive), or <see langword="null"/>.</summary>
    public string? GetHeader(string name)
    {
        foreach (var header in Headers)
        {
            if (string.Equals(header.Key, name, StringComparison.OrdinalIgnoreCase))
            {
                return header.Value;
            }
        }

        return null;
    }
}
