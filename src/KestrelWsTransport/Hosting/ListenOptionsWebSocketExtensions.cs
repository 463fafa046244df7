using KestrelWsTransport;
using KestrelWsTransport.Connection;
using KestrelWsTransport.Diagnostics;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Microsoft.AspNetCore.Hosting;

/// <summary>Plugs the WebSocket transport into a Kestrel endpoint.</summary>
public static class ListenOptionsWebSocketExtensions
{
    /// <summary>
    /// Serves WebSockets on this endpoint at connection level, with the options and endpoints registered by
    /// <c>services.AddWebSocketTransport(...)</c>. Every connection that is not an HTTP/1.1 upgrade for a mapped path
    /// goes on, unread, to Kestrel's HTTP pipeline on the same endpoint.
    /// Call it after <c>UseHttps()</c> so it sees decrypted bytes.
    /// </summary>
    public static ListenOptions UseWebSocketTransport(this ListenOptions listenOptions) => listenOptions.UseWebSocketTransport(configure: null);

    /// <summary>
    /// Serves WebSockets on this endpoint at connection level. <paramref name="configure"/> receives a copy of the options
    /// registered with <c>services.AddWebSocketTransport(...)</c> (or defaults) and may change limits and map more paths
    /// for this endpoint alone. Every connection that is not an HTTP/1.1 upgrade for a mapped path goes on, unread, to
    /// Kestrel's HTTP pipeline on the same endpoint. Call it after <c>UseHttps()</c> so it sees decrypted bytes.
    /// </summary>
    public static ListenOptions UseWebSocketTransport(this ListenOptions listenOptions, Action<WebSocketTransportOptions>? configure)
    {
        ArgumentNullException.ThrowIfNull(listenOptions);
        var services = listenOptions.ApplicationServices;
        var options = ResolveOptions(services, configure);
        var metrics = services.GetService<WebSocketTransportMetrics>() ?? WebSocketTransportMetrics.Shared;
        var logger = (ILogger?)services.GetService<ILoggerFactory>()?.CreateLogger(Log.CategoryName) ?? NullLogger.Instance;
        var stopping = services.GetService<Microsoft.Extensions.Hosting.IHostApplicationLifetime>()?.ApplicationStopping ?? default;
        listenOptions.Use(next => new WebSocketUpgradeMiddleware(next, options, metrics, WebSocketHeartbeat.Shared, logger, stopping).OnConnectionAsync);
        return listenOptions;
    }

    internal static WebSocketTransportOptions ResolveOptions(IServiceProvider services, Action<WebSocketTransportOptions>? configure)
    {
        var registered = services.GetService<IOptions<WebSocketTransportOptions>>()?.Value;
        if (configure is null)
        {
            return registered ?? new WebSocketTransportOptions();
        }

        var options = new WebSocketTransportOptions();
        if (registered is not null)
        {
            options.CopyFrom(registered);
        }

        configure(options);
        return options;
    }
}
