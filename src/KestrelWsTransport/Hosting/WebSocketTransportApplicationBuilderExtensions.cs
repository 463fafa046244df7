using KestrelWsTransport;
using KestrelWsTransport.Connection;
using KestrelWsTransport.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Microsoft.AspNetCore.Builder;

/// <summary>The bridge that brings WebSockets arriving through Kestrel's HTTP pipeline to the transport's handlers.</summary>
public static class WebSocketTransportApplicationBuilderExtensions
{
    /// <summary>
    /// Serves, in the HTTP pipeline, the WebSockets that cannot reach the connection-level transport: HTTP/2 extended
    /// CONNECT requests (RFC 8441; browsers send these on an HTTP/2 connection they already hold, per
    /// <see cref="WebSocketTransportOptions.Http2Policy"/>) and HTTP/1.1 upgrades sent as a later request on a keep-alive
    /// connection. Every path mapped with <c>services.AddWebSocketTransport(o =&gt; o.Map(...))</c> is served with the same
    /// handler, rules, limits, logs and metrics as at connection level; <see cref="WebSocketRequest.Route"/> tells the
    /// handler which way a WebSocket came. Other requests go on down the pipeline. Place it before routing and endpoints.
    /// </summary>
    public static IApplicationBuilder UseWebSocketTransport(this IApplicationBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var services = app.ApplicationServices;
        var options = services.GetService<IOptions<WebSocketTransportOptions>>()?.Value
            ?? throw new InvalidOperationException("Call services.AddWebSocketTransport(...) to declare the WebSocket endpoints the bridge serves.");
        var metrics = services.GetService<WebSocketTransportMetrics>() ?? WebSocketTransportMetrics.Shared;
        var logger = (ILogger?)services.GetService<ILoggerFactory>()?.CreateLogger(Log.CategoryName) ?? NullLogger.Instance;
        var lifetime = services.GetService<IHostApplicationLifetime>();
        return app.Use(next => new WebSocketBridgeMiddleware(next, options, metrics, logger, lifetime).InvokeAsync);
    }
}
