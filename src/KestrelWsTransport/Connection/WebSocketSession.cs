using System.Net.WebSockets;
using KestrelWsTransport.Diagnostics;
using Microsoft.Extensions.Logging;

namespace KestrelWsTransport.Connection;

/// <summary>
/// Runs one accepted WebSocket: registers it for keepalive, runs the endpoint's handler and finishes the close.
/// Independent of how the WebSocket arrived, so every route shares it. The connection-level route inlines
/// <see cref="RunAsync"/> from its three steps (<see cref="Begin"/>, <see cref="HandlerFailed"/>, <see cref="EndAsync"/>)
/// so an idle WebSocket there holds one async frame fewer.
/// </summary>
internal static class WebSocketSession
{
    public static async Task RunAsync(
        WebSocketConnection connection,
        WebSocketEndpoint endpoint,
        WebSocketTransportMetrics metrics,
        WebSocketHeartbeat heartbeat,
        ILogger logger,
        CancellationToken serverStopping)
    {
        Begin(connection, metrics, heartbeat, serverStopping);
        var closeIfOpen = WebSocketCloseStatus.NormalClosure;
        try
        {
            await endpoint.Handler(connection, connection.ConnectionClosed).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            closeIfOpen = HandlerFailed(connection, logger, ex);
        }

        await EndAsync(connection, heartbeat, closeIfOpen).ConfigureAwait(false);
    }

    /// <summary>Counts the connection as open and registers it for keepalive and the shutdown close.</summary>
    public static void Begin(WebSocketConnection connection, WebSocketTransportMetrics metrics, WebSocketHeartbeat heartbeat, CancellationToken serverStopping)
    {
        metrics.ConnectionOpened();
        heartbeat.Register(connection, serverStopping);
    }

    /// <summary>
    /// Judges an exception that escaped the handler: the peer going away is not an application failure (1000 if the
    /// close is still open); anything else is logged and closes with 1011.
    /// </summary>
    public static WebSocketCloseStatus HandlerFailed(WebSocketConnection connection, ILogger logger, Exception ex)
    {
        if (ex is OperationCanceledException or IOException && connection.ConnectionClosed.IsCancellationRequested)
        {
            return WebSocketCloseStatus.NormalClosure;
        }

        Log.HandlerFailed(logger, connection.Request.ConnectionId, connection.Request.Path, ex);
        return WebSocketCloseStatus.InternalServerError;
    }

    /// <summary>Finishes the close handshake if the handler did not, records the outcome, and unregisters.</summary>
    public static async ValueTask EndAsync(WebSocketConnection connection, WebSocketHeartbeat heartbeat, WebSocketCloseStatus closeIfOpen)
    {
        try
        {
            await connection.CompleteAsync(closeIfOpen).ConfigureAwait(false);
        }
        finally
        {
            heartbeat.Unregister(connection);
        }
    }
}
