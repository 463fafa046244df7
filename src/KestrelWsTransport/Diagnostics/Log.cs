using System.Net.WebSockets;
using Microsoft.Extensions.Logging;

namespace KestrelWsTransport.Diagnostics;

/// <summary>Log events of the transport. Ids and names are stable: dashboards and alerts may depend on them.</summary>
internal static partial class Log
{
    public const string CategoryName = "KestrelWsTransport";

    [LoggerMessage(1, LogLevel.Debug, @"Connection id ""{ConnectionId}"": WebSocket accepted on ""{Path}"" via {Route}, subprotocol ""{SubProtocol}"".", EventName = "UpgradeAccepted")]
    public static partial void UpgradeAccepted(ILogger logger, string connectionId, string path, string route, string? subProtocol);

    [LoggerMessage(2, LogLevel.Information, @"Connection id ""{ConnectionId}"": WebSocket upgrade refused with {StatusCode}: {Reason}", EventName = "HandshakeRefused")]
    public static partial void HandshakeRefused(ILogger logger, string connectionId, int statusCode, string reason);

    [LoggerMessage(3, LogLevel.Debug, @"Connection id ""{ConnectionId}"": WebSocket closed with {CloseStatus} ""{Description}"" after {DurationMs} ms.", EventName = "ConnectionClosed")]
    public static partial void ConnectionClosed(ILogger logger, string connectionId, WebSocketCloseStatus closeStatus, string? description, long durationMs);

    [LoggerMessage(4, LogLevel.Information, @"Connection id ""{ConnectionId}"": WebSocket protocol error, closing with {CloseStatus}: {Reason}", EventName = "ProtocolError")]
    public static partial void ProtocolError(ILogger logger, string connectionId, WebSocketCloseStatus closeStatus, string reason);

    [LoggerMessage(5, LogLevel.Debug, @"Connection id ""{ConnectionId}"": handed to HTTP ({Reason}).", EventName = "PassedToHttp")]
    public static partial void PassedToHttp(ILogger logger, string connectionId, string reason);

    [LoggerMessage(6, LogLevel.Information, @"Connection id ""{ConnectionId}"": no pong or data within the keepalive timeout; aborting.", EventName = "KeepAliveTimeout")]
    public static partial void KeepAliveTimeout(ILogger logger, string connectionId);

    [LoggerMessage(7, LogLevel.Information, @"Connection id ""{ConnectionId}"": the peer did not answer the close handshake in time; aborting.", EventName = "CloseTimeout")]
    public static partial void CloseTimeout(ILogger logger, string connectionId);

    [LoggerMessage(8, LogLevel.Warning, @"Connection id ""{ConnectionId}"": outgoing buffer limit of {Limit} bytes exceeded; dropping the slow peer.", EventName = "BackpressureLimit")]
    public static partial void BackpressureLimit(ILogger logger, string connectionId, long limit);

    [LoggerMessage(9, LogLevel.Error, @"Connection id ""{ConnectionId}"": the WebSocket handler for ""{Path}"" threw.", EventName = "HandlerFailed")]
    public static partial void HandlerFailed(ILogger logger, string connectionId, string path, Exception exception);

    [LoggerMessage(10, LogLevel.Debug, @"Connection id ""{ConnectionId}"": host is stopping; closing the WebSocket with 1001.", EventName = "ShutdownClose")]
    public static partial void ShutdownClose(ILogger logger, string connectionId);

    [LoggerMessage(11, LogLevel.Debug, @"Connection id ""{ConnectionId}"": transport failure.", EventName = "TransportFailure")]
    public static partial void TransportFailure(ILogger logger, string connectionId, Exception exception);

    // Debug, not Information: browsers' unused preconnects and TCP health checks end here all day long. The
    // kestrelws.handshakes metric (result NoData) is what shows a flood of them.
    [LoggerMessage(12, LogLevel.Debug, @"Connection id ""{ConnectionId}"": nothing received within the handshake timeout of {TimeoutMs} ms; closed without an answer.", EventName = "SilentConnectionClosed")]
    public static partial void SilentConnectionClosed(ILogger logger, string connectionId, long timeoutMs);
}
