using KestrelWsTransport.Connection;
using KestrelWsTransport.Diagnostics;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace KestrelWsTransport;

/// <summary>
/// A WebSocket-only endpoint: <c>listenOptions.UseConnectionHandler&lt;WebSocketConnectionHandler&gt;()</c>.
/// Serves the endpoints registered with <c>services.AddWebSocketTransport(...)</c>. A connection handler is terminal in
/// Kestrel, so anything that is not an upgrade for a mapped path is answered here: 404 for an unmapped path, 400 for
/// a request that is not a WebSocket upgrade (and the usual 400/403/426/431 for bad upgrades); then the connection closes.
/// </summary>
public sealed class WebSocketConnectionHandler : ConnectionHandler
{
    private readonly WebSocketUpgradeMiddleware _middleware;

    /// <summary>Created by dependency injection.</summary>
    public WebSocketConnectionHandler(IOptions<WebSocketTransportOptions> options, ILoggerFactory loggerFactory, IServiceProvider services)
    {
        var metrics = (WebSocketTransportMetrics?)services.GetService(typeof(WebSocketTransportMetrics)) ?? WebSocketTransportMetrics.Shared;
        var stopping = ((Microsoft.Extensions.Hosting.IHostApplicationLifetime?)services.GetService(typeof(Microsoft.Extensions.Hosting.IHostApplicationLifetime)))?.ApplicationStopping ?? default;
        _middleware = new WebSocketUpgradeMiddleware(next: null, options.Value, metrics, WebSocketHeartbeat.Shared, loggerFactory.CreateLogger(Log.CategoryName), stopping);
    }

    /// <inheritdoc />
    public override Task OnConnectedAsync(ConnectionContext connection) => _middleware.OnConnectionAsync(connection);
}
