using KestrelWsTransport;
using KestrelWsTransport.Diagnostics;
using Microsoft.Extensions.Configuration;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the WebSocket transport's options, metrics and connection handler.</summary>
public static class WebSocketTransportServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="WebSocketTransportOptions"/> (through <c>IOptions</c>), the <c>KestrelWsTransport</c> meter and
    /// <see cref="WebSocketConnectionHandler"/>. <paramref name="configure"/> sets limits and maps endpoints.
    /// </summary>
    public static IServiceCollection AddWebSocketTransport(this IServiceCollection services, Action<WebSocketTransportOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var builder = services.AddOptions<WebSocketTransportOptions>();
        if (configure is not null)
        {
            builder.Configure(configure);
        }

        services.AddMetrics();
        services.AddSingleton<WebSocketTransportMetrics>(sp => new WebSocketTransportMetrics(sp.GetService<System.Diagnostics.Metrics.IMeterFactory>()));
        services.AddSingleton<WebSocketConnectionHandler>();
        return services;
    }

    /// <summary>
    /// Like <see cref="AddWebSocketTransport(IServiceCollection, Action{WebSocketTransportOptions}?)"/>, and binds the limits
    /// from <paramref name="configuration"/> (for example the <c>WebSocketTransport</c> section) first.
    /// </summary>
    public static IServiceCollection AddWebSocketTransport(this IServiceCollection services, IConfiguration configuration, Action<WebSocketTransportOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddOptions<WebSocketTransportOptions>().Bind(configuration);
        return services.AddWebSocketTransport(configure);
    }
}
