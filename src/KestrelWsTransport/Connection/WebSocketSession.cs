using System.IO.Pipelines;
using System.Net.WebSockets;
using KestrelWsTransport.Diagnostics;
using Microsoft.Extensions.Logging;

namespace KestrelWsTransport.Connection;

/// <summary>
/// Runs one accepted WebSocket: registers it for keepalive, runs the endpoint's handler and finishes the close.
/// Independent of how the WebSocket arrived, so every route shares it.
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
        metrics.ConnectionOpened();
        heartbeat.Register(connection, serverStopping);
        var closeIfOpen = WebSocketCloseStatus.NormalClosure;
        try
        {
            await endpoint.Handler(connection, connection.ConnectionClosed).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException && connection.ConnectionClosed.IsCancellationRequested)
        {
            // The handler stopped because the peer went away: not an application failure.
        }
        catch (Exception ex)
        {
            Log.HandlerFailed(logger, connection.Request.ConnectionId, endpoint.Path, ex);
            closeIfOpen = WebSocketCloseStatus.InternalServerError;
        }
        finally
        {
            await connection.CompleteAsync(closeIfOpen).ConfigureAwait(false);
            heartbeat.Unregister(connection);
        }
    }
}
