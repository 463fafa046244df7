using System.Net.WebSockets;
using System.Text;
using KestrelWsTransport.Diagnostics;
using KestrelWsTransport.Handshake;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace KestrelWsTransport.Connection;

/// <summary>
/// The bridge in the HTTP pipeline: WebSockets that never passed the connection-level sniffer (HTTP/2 extended CONNECT,
/// RFC 8441; an HTTP/1.1 upgrade sent as a later request on a keep-alive connection) are validated with the same rules
/// and run on the same engine and handler, over the stream Kestrel hands out. Other requests go on to <c>next</c>.
/// </summary>
internal sealed class WebSocketBridgeMiddleware
{
    // RFC 9113 section 7: "The endpoint requires that HTTP/1.1 be used instead of HTTP/2."
    private const int Http11Required = 0xD;

    private readonly RequestDelegate _next;
    private readonly WebSocketTransportOptions _options;
    private readonly WebSocketTransportMetrics _metrics;
    private readonly WebSocketHeartbeat _heartbeat;
    private readonly ILogger _logger;
    private readonly ConnectionServices _services;
    private readonly CancellationToken _stopping;

    public WebSocketBridgeMiddleware(RequestDelegate next, WebSocketTransportOptions options, WebSocketTransportMetrics metrics, ILogger logger, IHostApplicationLifetime? lifetime)
    {
        _next = next;
        _options = options;
        _metrics = metrics;
        _heartbeat = WebSocketHeartbeat.Shared;
        _logger = logger;
        _services = new ConnectionServices(options, metrics, logger);
        _stopping = lifetime?.ApplicationStopping ?? default;
    }

    public Task InvokeAsync(HttpContext context)
    {
        // Match the raw request target, as the connection-level sniffer does, so a path is mapped the same way on every
        // route (percent-encoded forms included).
        var target = context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? context.Request.Path.Value ?? string.Empty;
        var query = target.IndexOf('?');
        var endpoint = _options.FindEndpoint(query < 0 ? target : target[..query]);
        if (endpoint is null)
        {
            return _next(context);
        }

        var connect = context.Features.Get<IHttpExtendedConnectFeature>();
        if (connect is { IsExtendedConnect: true } && string.Equals(connect.Protocol, "websocket", StringComparison.OrdinalIgnoreCase))
        {
            return Http2Async(context, connect, endpoint);
        }

        var upgrade = context.Features.Get<IHttpUpgradeFeature>();
        if (upgrade is { IsUpgradableRequest: true }
            && HttpMethods.IsGet(context.Request.Method)
            && context.Request.Headers.Upgrade.Any(v => v is not null && HeaderValidator.ContainsToken(Encoding.ASCII.GetBytes(v), "websocket"u8)))
        {
            return Http1Async(context, upgrade, endpoint);
        }

        return _next(context);
    }

    private async Task Http2Async(HttpContext context, IHttpExtendedConnectFeature connect, WebSocketEndpoint endpoint)
    {
        const string route = "http2";
        switch (_options.Http2Policy)
        {
            case Http2WebSocketPolicy.RequireHttp11 when context.Features.Get<IHttpResetFeature>() is { } reset:
                _metrics.Handshake("Http11Required", route);
                Log.HandshakeRefused(_logger, context.Connection.Id, 0, "HTTP/2 WebSocket reset with HTTP_1_1_REQUIRED by policy.");
                reset.Reset(Http11Required);
                return;
            case Http2WebSocketPolicy.RequireHttp11:
            case Http2WebSocketPolicy.Refuse:
                _metrics.Handshake("Http2Refused", route);
                Log.HandshakeRefused(_logger, context.Connection.Id, StatusCodes.Status403Forbidden, "WebSockets over HTTP/2 are refused by policy.");
                context.Response.StatusCode = StatusCodes.Status403Forbidden;
                await context.Response.WriteAsync("WebSockets over HTTP/2 are refused on this server; use HTTP/1.1.\n").ConfigureAwait(false);
                return;
        }

        var result = new HandshakeResult();
        var rejection = HttpHandshakeValidator.Validate(context.Request, endpoint, _options, http2: true, ref result);
        if (rejection != HandshakeRejection.None || !_options.TryAcquireConnection())
        {
            await RejectAsync(context, rejection == HandshakeRejection.None ? HandshakeRejection.TooManyConnections : rejection, route).ConfigureAwait(false);
            return;
        }

        try
        {
            if (result.SubProtocol is not null)
            {
                context.Response.Headers.SecWebSocketProtocol = result.SubProtocol;
            }

            if (result.Deflate is { } deflate)
            {
                context.Response.Headers.SecWebSocketExtensions = deflate.ToResponse();
            }

            RemoveHttpLimits(context);
            var stream = await connect.AcceptAsync().ConfigureAwait(false);
            await RunAsync(context, stream, endpoint, result, WebSocketRoute.Http2ExtendedConnect, route).ConfigureAwait(false);
        }
        finally
        {
            _options.ReleaseConnection();
        }
    }

    private async Task Http1Async(HttpContext context, IHttpUpgradeFeature upgrade, WebSocketEndpoint endpoint)
    {
        const string route = "http1-upgrade";
        var result = new HandshakeResult();
        var rejection = HttpHandshakeValidator.Validate(context.Request, endpoint, _options, http2: false, ref result);
        if (rejection != HandshakeRejection.None || !_options.TryAcquireConnection())
        {
            await RejectAsync(context, rejection == HandshakeRejection.None ? HandshakeRejection.TooManyConnections : rejection, route).ConfigureAwait(false);
            return;
        }

        try
        {
            var headers = context.Response.Headers;
            headers.Connection = "Upgrade";
            headers.Upgrade = "websocket";
            headers.SecWebSocketAccept = Encoding.ASCII.GetString(result.Accept);
            if (result.SubProtocol is not null)
            {
                headers.SecWebSocketProtocol = result.SubProtocol;
            }

            if (result.Deflate is { } deflate)
            {
                headers.SecWebSocketExtensions = deflate.ToResponse();
            }

            RemoveHttpLimits(context);
            var stream = await upgrade.UpgradeAsync().ConfigureAwait(false);
            await RunAsync(context, stream, endpoint, result, WebSocketRoute.Http1Upgrade, route).ConfigureAwait(false);
        }
        finally
        {
            _options.ReleaseConnection();
        }
    }

    private async Task RunAsync(HttpContext context, Stream stream, WebSocketEndpoint endpoint, HandshakeResult result, WebSocketRoute route, string routeTag)
    {
        // Several WebSockets can share one HTTP/2 connection: the request's trace id (connection id and stream) tells them apart.
        var connectionId = context.TraceIdentifier;
        _metrics.Handshake("accepted", routeTag);
        Log.UpgradeAccepted(_logger, connectionId, endpoint.Path, routeTag, result.SubProtocol);

        var tls = context.Features.Get<ITlsApplicationProtocolFeature>()?.ApplicationProtocol ?? default;
        var request = new WebSocketRequest(
            connectionId,
            endpoint.Path,
            result.QueryString,
            result.SubProtocol,
            result.CapturedHeaders,
            context.Connection.RemoteIpAddress is { } remote ? new System.Net.IPEndPoint(remote, context.Connection.RemotePort) : null,
            context.Connection.LocalIpAddress is { } local ? new System.Net.IPEndPoint(local, context.Connection.LocalPort) : null,
            context.Request.IsHttps,
            WebSocketRequest.ProtocolName(tls),
            route);

        await using var pipe = new StreamDuplexPipe(stream);
        var connection = new WebSocketConnection(pipe, request, _services, context, WebSocketUpgradeMiddleware.Deflate(endpoint, _options, result));
        await using var aborted = context.RequestAborted.Register(static s => ((WebSocketConnection)s!).SignalPeerGone(), connection).ConfigureAwait(false);
        await WebSocketSession.RunAsync(connection, endpoint, _metrics, _heartbeat, _logger, _stopping).ConfigureAwait(false);
    }

    /// <summary>
    /// A WebSocket is long-lived and may be idle: HTTP's body size limit and minimum data rates would cut it off, so the
    /// transport's own limits (message size, keepalive) take their place.
    /// </summary>
    private static void RemoveHttpLimits(HttpContext context)
    {
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size)
        {
            size.MaxRequestBodySize = null;
        }

        if (context.Features.Get<IHttpMinRequestBodyDataRateFeature>() is { } minRequest)
        {
            minRequest.MinDataRate = null;
        }

        if (context.Features.Get<IHttpMinResponseDataRateFeature>() is { } minResponse)
        {
            minResponse.MinDataRate = null;
        }
    }

    private async Task RejectAsync(HttpContext context, HandshakeRejection rejection, string route)
    {
        var status = HandshakeResponseWriter.StatusCode(rejection);
        _metrics.Handshake(rejection.ToString(), route);
        Log.HandshakeRefused(_logger, context.Connection.Id, status, HandshakeResponseWriter.Reason(rejection));
        context.Response.StatusCode = status;
        if (rejection == HandshakeRejection.UnsupportedVersion)
        {
            context.Response.Headers.SecWebSocketVersion = "13";
        }

        context.Response.ContentType = "text/plain; charset=utf-8";
        await context.Response.WriteAsync(HandshakeResponseWriter.Reason(rejection) + "\n").ConfigureAwait(false);
    }
}
