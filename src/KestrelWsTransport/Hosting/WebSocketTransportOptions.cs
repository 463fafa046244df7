using System.Text;

namespace KestrelWsTransport;

/// <summary>
/// Limits, timeouts and endpoints of the WebSocket transport. Every limit has a stated default; hitting one ends
/// only the connection that hit it, with the HTTP status or close code named on the property, a log event and a metric.
/// Bind from configuration (a <c>WebSocketTransport</c> section) or set in code through
/// <c>services.AddWebSocketTransport(o =&gt; ...)</c>.
/// </summary>
public sealed class WebSocketTransportOptions
{
    // Kestrel's MaxRequestHeadersTotalSize is 32 KiB; an upgrade head is a request line and a dozen headers, and
    // browsers with large cookies stay well under 16 KiB.
    private int _maxRequestHeadBytes = 16 * 1024;
    // gws uses 5 s; Kestrel's RequestHeadersTimeout is 30 s. 10 s leaves room for slow mobile links.
    private TimeSpan _handshakeTimeout = TimeSpan.FromSeconds(10);
    // Node's ws and gws both default to 100 MiB / 16 MiB; 16 MiB keeps one connection from holding more than that.
    private long _maxMessageBytes = 16 * 1024 * 1024;
    private long _maxFrameBytes = 16 * 1024 * 1024;
    // Autobahn's largest fragmentation case (4 MiB in 64-byte fragments) is 65,536 fragments; more than that is a flood,
    // each fragment costing a header parse for a byte or nothing.
    private int _maxFragmentsPerMessage = 65_536;
    private TimeSpan _keepAliveInterval = TimeSpan.FromSeconds(30);
    private TimeSpan _keepAliveTimeout = TimeSpan.FromSeconds(30);
    private TimeSpan _closeTimeout = TimeSpan.FromSeconds(5);
    private long _maxOutgoingBufferBytes = 16 * 1024 * 1024;
    private int? _maxConcurrentConnections;
    private int _activeConnections;
    private Http2WebSocketPolicy _http2Policy = Http2WebSocketPolicy.Bridge;

    // A message is handed out as one buffer, so it can be no larger than the largest array.
    private const long MaxBufferBytes = 0x7FFFFFC7;

    private readonly List<WebSocketEndpoint> _endpoints = new();

    /// <summary>
    /// The largest request head (request line and headers) accepted for an upgrade on a mapped path.
    /// A larger head is answered with <c>431 Request Header Fields Too Large</c>. Defaults to 16,384 bytes (16 KiB).
    /// Heads for unmapped paths are never judged by this limit: they go to HTTP once their request line is read.
    /// </summary>
    public int MaxRequestHeadBytes
    {
        get => _maxRequestHeadBytes;
        set => _maxRequestHeadBytes = value >= 256 ? value : throw new ArgumentOutOfRangeException(nameof(value), "At least 256 bytes.");
    }

    /// <summary>
    /// How long, from the moment a connection is accepted (after TLS), it may take to send a complete upgrade request
    /// for a mapped path. When it runs out on a connection that is still undecided: if the connection sent nothing at
    /// all it is closed without an answer (log event <c>SilentConnectionClosed</c>, <c>kestrelws.handshakes</c> with
    /// <c>result=NoData</c>); if it sent some bytes (a request line still incomplete, or the head of an upgrade for a
    /// mapped path still incomplete) it gets <c>408 Request Timeout</c> and is closed. A connection already handed to
    /// Kestrel's HTTP pipeline before then (any request line for an unmapped path, any other method) is not affected;
    /// Kestrel's own timeouts apply to it. Defaults to 10 seconds. <see cref="Timeout.InfiniteTimeSpan"/> disables it.
    /// Checked on the transport's one-second heartbeat (no timer per connection), so a connection is cut up to a second
    /// after its deadline.
    /// </summary>
    public TimeSpan HandshakeTimeout
    {
        get => _handshakeTimeout;
        set => _handshakeTimeout = Positive(value);
    }

    /// <summary>
    /// The largest message, after reassembly of its fragments. A bigger message is refused with close code
    /// 1009 (Message Too Big) as soon as its announced length passes the limit, before it is buffered.
    /// Defaults to 16,777,216 bytes (16 MiB).
    /// </summary>
    public long MaxMessageBytes
    {
        get => _maxMessageBytes;
        set => _maxMessageBytes = value is > 0 and <= MaxBufferBytes ? value : throw new ArgumentOutOfRangeException(nameof(value), "Must be positive and at most Array.MaxLength.");
    }

    /// <summary>
    /// The largest single frame payload. Whole frames are buffered before they are handed out, so this bounds the
    /// input buffer of a connection. A bigger frame is refused with close code 1009. Defaults to 16,777,216 bytes (16 MiB).
    /// </summary>
    public long MaxFrameBytes
    {
        get => _maxFrameBytes;
        set => _maxFrameBytes = value is > 0 and <= MaxBufferBytes ? value : throw new ArgumentOutOfRangeException(nameof(value), "Must be positive and at most Array.MaxLength.");
    }

    /// <summary>
    /// The most frames one message may arrive in. One more fails the connection with close code 1008 (Policy Violation).
    /// Defaults to 65,536.
    /// </summary>
    public int MaxFragmentsPerMessage
    {
        get => _maxFragmentsPerMessage;
        set => _maxFragmentsPerMessage = value > 0 ? value : throw new ArgumentOutOfRangeException(nameof(value), "Must be positive.");
    }

    /// <summary>
    /// After this long without receiving anything, the server sends a ping. <see cref="Timeout.InfiniteTimeSpan"/> or
    /// <see cref="TimeSpan.Zero"/> turns keepalive off. Defaults to 30 seconds.
    /// </summary>
    public TimeSpan KeepAliveInterval
    {
        get => _keepAliveInterval;
        set => _keepAliveInterval = value == TimeSpan.Zero ? Timeout.InfiniteTimeSpan : Positive(value);
    }

    /// <summary>
    /// How long after a keepalive ping the peer has to send anything (its pong, or data) before it is treated as dead and
    /// the connection is aborted (counted with close code 1006). Only judged while the application is waiting in
    /// <see cref="WebSocketConnection.ReceiveAsync"/>, since frames are read on its behalf. Defaults to 30 seconds.
    /// </summary>
    public TimeSpan KeepAliveTimeout
    {
        get => _keepAliveTimeout;
        set => _keepAliveTimeout = Positive(value);
    }

    /// <summary>
    /// How long the server waits for the peer's close frame after sending its own (application close, host shutdown
    /// with 1001) before it aborts the connection. Defaults to 5 seconds. Enforced by the one-second heartbeat (no timer
    /// per connection), so the abort comes up to a second later.
    /// </summary>
    public TimeSpan CloseTimeout
    {
        get => _closeTimeout;
        set => _closeTimeout = Positive(value);
    }

    /// <summary>
    /// The most bytes a connection may have queued for a slow peer: messages waiting to be written plus the one being
    /// flushed. A send that would go past it (while other sends are still queued) fails with
    /// <see cref="InvalidOperationException"/> and the connection is aborted at once (a close frame would only queue
    /// behind the backlog the peer is not reading); it is logged as <c>BackpressureLimit</c> and its close is recorded
    /// as 1008 (Policy Violation). A single message is always accepted on an idle connection, whatever its size.
    /// Defaults to 16,777,216 bytes (16 MiB).
    /// </summary>
    public long MaxOutgoingBufferBytes
    {
        get => _maxOutgoingBufferBytes;
        set => _maxOutgoingBufferBytes = value > 0 ? value : throw new ArgumentOutOfRangeException(nameof(value), "Must be positive.");
    }

    /// <summary>
    /// The most WebSockets served at once with these options (the connection-level transport and the HTTP bridge share
    /// the count when they share the options registered in DI); further upgrades get
    /// <c>503 Service Unavailable</c>. <see langword="null"/> means unlimited. Kestrel's own MaxConcurrentConnections still
    /// applies to every connection. Defaults to <see langword="null"/>.
    /// </summary>
    public int? MaxConcurrentConnections
    {
        get => _maxConcurrentConnections;
        set => _maxConcurrentConnections = value is null or > 0 ? value : throw new ArgumentOutOfRangeException(nameof(value), "Must be positive or null.");
    }

    /// <summary>
    /// What the HTTP bridge (<c>app.UseWebSocketTransport()</c>) does with a WebSocket that arrives as an HTTP/2 extended
    /// CONNECT (RFC 8441), as browsers send it on an HTTP/2 connection they already hold. Defaults to
    /// <see cref="Http2WebSocketPolicy.Bridge"/>.
    /// </summary>
    public Http2WebSocketPolicy Http2Policy
    {
        get => _http2Policy;
        set => _http2Policy = Enum.IsDefined(value) ? value : throw new ArgumentOutOfRangeException(nameof(value));
    }

    /// <summary>
    /// Origins (scheme://host[:port], compared case-insensitively) allowed to open a WebSocket, for every endpoint that
    /// does not set its own list. A request with an <c>Origin</c> header not in the list gets <c>403 Forbidden</c>.
    /// Requests without an <c>Origin</c> header (non-browser clients) are allowed. Empty means every origin is allowed.
    /// Defaults to empty.
    /// </summary>
    public IList<string> AllowedOrigins { get; } = new List<string>();

    /// <summary>
    /// Subprotocols the server speaks, most preferred first, for every endpoint that does not set its own list.
    /// The first of these that the client offered in <c>Sec-WebSocket-Protocol</c> is chosen; if none was offered
    /// the handshake succeeds without a subprotocol. Defaults to empty.
    /// </summary>
    public IList<string> SubProtocols { get; } = new List<string>();

    /// <summary>
    /// permessage-deflate for every endpoint that does not set its own (<see cref="WebSocketEndpointOptions.Compression"/>).
    /// Off by default (<see cref="WebSocketCompressionOptions.Enabled"/> is false).
    /// </summary>
    public WebSocketCompressionOptions Compression { get; private set; } = new();

    /// <summary>The endpoints mapped with <see cref="Map(string, WebSocketHandler, Action{WebSocketEndpointOptions}?)"/>.</summary>
    public IReadOnlyList<WebSocketEndpoint> Endpoints => _endpoints;

    /// <summary>
    /// Serves WebSockets on <paramref name="path"/> (matched exactly and case-insensitively against the request path,
    /// without its query string) with <paramref name="handler"/>. The connection ends when the handler's task completes.
    /// </summary>
    /// <returns>These options, to chain further calls.</returns>
    public WebSocketTransportOptions Map(string path, WebSocketHandler handler, Action<WebSocketEndpointOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(handler);
        if (!path.StartsWith('/') || !Ascii.IsValid(path) || path.Contains('?'))
        {
            throw new ArgumentException("The path must start with '/', hold no query, and be ASCII (map the percent-encoded form of other characters).", nameof(path));
        }

        foreach (var existing in _endpoints)
        {
            if (string.Equals(existing.Path, path, StringComparison.OrdinalIgnoreCase))
            {
                throw new InvalidOperationException($"The path '{path}' is already mapped.");
            }
        }

        var endpointOptions = new WebSocketEndpointOptions();
        configure?.Invoke(endpointOptions);
        _endpoints.Add(new WebSocketEndpoint(path, handler, endpointOptions));
        return this;
    }

    /// <summary>Counts a WebSocket against <see cref="MaxConcurrentConnections"/>; false when the limit is reached.</summary>
    internal bool TryAcquireConnection()
    {
        if (_maxConcurrentConnections is not { } max)
        {
            return true;
        }

        if (Interlocked.Increment(ref _activeConnections) <= max)
        {
            return true;
        }

        Interlocked.Decrement(ref _activeConnections);
        return false;
    }

    internal void ReleaseConnection()
    {
        if (_maxConcurrentConnections is not null)
        {
            Interlocked.Decrement(ref _activeConnections);
        }
    }

    internal WebSocketEndpoint? FindEndpoint(string path)
    {
        foreach (var endpoint in _endpoints)
        {
            if (string.Equals(endpoint.Path, path, StringComparison.OrdinalIgnoreCase))
            {
                return endpoint;
            }
        }

        return null;
    }

    internal WebSocketEndpoint? FindEndpoint(ReadOnlySpan<byte> path)
    {
        foreach (var endpoint in _endpoints)
        {
            if (Ascii.EqualsIgnoreCase(endpoint.PathUtf8, path))
            {
                return endpoint;
            }
        }

        return null;
    }

    /// <summary>Copies every setting and endpoint of <paramref name="source"/> into this instance.</summary>
    internal void CopyFrom(WebSocketTransportOptions source)
    {
        _maxRequestHeadBytes = source._maxRequestHeadBytes;
        _handshakeTimeout = source._handshakeTimeout;
        _maxMessageBytes = source._maxMessageBytes;
        _maxFrameBytes = source._maxFrameBytes;
        _maxFragmentsPerMessage = source._maxFragmentsPerMessage;
        _keepAliveInterval = source._keepAliveInterval;
        _keepAliveTimeout = source._keepAliveTimeout;
        _closeTimeout = source._closeTimeout;
        _maxOutgoingBufferBytes = source._maxOutgoingBufferBytes;
        _maxConcurrentConnections = source._maxConcurrentConnections;
        _http2Policy = source._http2Policy;
        Compression = source.Compression.Clone();
        foreach (var origin in source.AllowedOrigins)
        {
            AllowedOrigins.Add(origin);
        }

        foreach (var protocol in source.SubProtocols)
        {
            SubProtocols.Add(protocol);
        }

        _endpoints.AddRange(source._endpoints);
    }

    private static TimeSpan Positive(TimeSpan value) =>
        value == Timeout.InfiniteTimeSpan || value > TimeSpan.Zero ? value : throw new ArgumentOutOfRangeException(nameof(value), "Must be positive or infinite.");
}
