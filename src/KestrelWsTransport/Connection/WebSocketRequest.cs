using System.Net;
using System.Text;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;

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
/// <remarks>
/// Kept small because every WebSocket holds one for its whole life: at connection level the connection's details
/// (id, addresses, TLS) are read from Kestrel's own connection when asked rather than copied, and the rarely set parts of
/// the handshake (query, subprotocol, captured headers) share one object that is absent when none is set (48 bytes in
/// all instead of 88).
/// </remarks>
public sealed class WebSocketRequest
{
    private static readonly IReadOnlyList<KeyValuePair<string, string>> s_noHeaders = Array.Empty<KeyValuePair<string, string>>();

    // Kestrel's ConnectionContext at connection level; a ConnectionDetails copy for the HTTP routes (and tests).
    private readonly object _connection;
    private readonly HandshakeDetails? _handshake;

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
        _connection = new ConnectionDetails(connectionId, remoteEndPoint, localEndPoint, isSecure, applicationProtocol);
        _handshake = HandshakeDetails.Create(queryString, subProtocol, headers);
        Path = path;
        Route = route;
    }

    /// <summary>A connection-level upgrade: the connection's details stay with Kestrel's <paramref name="connection"/>.</summary>
    internal WebSocketRequest(
        ConnectionContext connection,
        string path,
        string? queryString,
        string? subProtocol,
        IReadOnlyList<KeyValuePair<string, string>>? headers)
    {
        _connection = connection;
        _handshake = HandshakeDetails.Create(queryString, subProtocol, headers);
        Path = path;
        Route = WebSocketRoute.Connection;
    }

    /// <summary>
    /// Identifies the WebSocket in logs: Kestrel's connection id at connection level; for the HTTP bridge, the request's
    /// trace identifier (connection id and stream), since several WebSockets can share one HTTP/2 connection.
    /// </summary>
    public string ConnectionId => _connection is ConnectionContext context ? context.ConnectionId : Details.ConnectionId;

    /// <summary>The mapped path that matched, for example <c>/echo</c>.</summary>
    public string Path { get; }

    /// <summary>The text after <c>?</c> in the request target, undecoded, or <see langword="null"/>.</summary>
    public string? QueryString => _handshake?.QueryString;

    /// <summary>The subprotocol agreed in the handshake, or <see langword="null"/>.</summary>
    public string? SubProtocol => _handshake?.SubProtocol;

    /// <summary>
    /// The request headers named in <see cref="WebSocketEndpointOptions.CapturedHeaders"/>, in request order.
    /// Empty unless the endpoint asked for some.
    /// </summary>
    public IReadOnlyList<KeyValuePair<string, string>> Headers => _handshake?.Headers ?? s_noHeaders;

    /// <summary>The peer's address.</summary>
    public EndPoint? RemoteEndPoint => _connection is ConnectionContext context ? context.RemoteEndPoint : Details.RemoteEndPoint;

    /// <summary>The local address the connection was accepted on.</summary>
    public EndPoint? LocalEndPoint => _connection is ConnectionContext context ? context.LocalEndPoint : Details.LocalEndPoint;

    /// <summary>Whether the connection is protected by TLS (<c>wss://</c>).</summary>
    public bool IsSecure => _connection is ConnectionContext context ? context.Features.Get<ITlsHandshakeFeature>() is not null : Details.IsSecure;

    /// <summary>The ALPN protocol TLS agreed on (often none for non-browser clients), or <see langword="null"/>.</summary>
    public string? ApplicationProtocol => _connection is ConnectionContext context
        ? ProtocolName(context.Features.Get<ITlsApplicationProtocolFeature>()?.ApplicationProtocol ?? default)
        : Details.ApplicationProtocol;

    /// <summary>Which way the WebSocket arrived.</summary>
    public WebSocketRoute Route { get; }

    private ConnectionDetails Details => (ConnectionDetails)_connection;

    /// <summary>An ALPN protocol id as text; the common ones without allocating.</summary>
    internal static string? ProtocolName(ReadOnlyMemory<byte> alpn) => alpn.Span switch
    {
        [] => null,
        var id when id.SequenceEqual("http/1.1"u8) => "http/1.1",
        var id when id.SequenceEqual("h2"u8) => "h2",
        var id => Encoding.ASCII.GetString(id),
    };

    private sealed record ConnectionDetails(string ConnectionId, EndPoint? RemoteEndPoint, EndPoint? LocalEndPoint, bool IsSecure, string? ApplicationProtocol);

    private sealed class HandshakeDetails
    {
        private HandshakeDetails(string? queryString, string? subProtocol, IReadOnlyList<KeyValuePair<string, string>>? headers)
        {
            QueryString = queryString;
            SubProtocol = subProtocol;
            Headers = headers;
        }

        public string? QueryString { get; }

        public string? SubProtocol { get; }

        public IReadOnlyList<KeyValuePair<string, string>>? Headers { get; }

        public static HandshakeDetails? Create(string? queryString, string? subProtocol, IReadOnlyList<KeyValuePair<string, string>>? headers) =>
            queryString is null && subProtocol is null && (headers is null || headers.Count == 0) ? null : new(queryString, subProtocol, headers);
    }

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
