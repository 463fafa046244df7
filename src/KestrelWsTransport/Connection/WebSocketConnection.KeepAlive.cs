using System.Net.WebSockets;
using KestrelWsTransport.Diagnostics;
using KestrelWsTransport.Framing;

namespace KestrelWsTransport;

public sealed partial class WebSocketConnection : Connection.IHeartbeatSlot
{
    private long _lastReceiveTicks;
    private long _pingSentAtTicks;
    private long _closeSentAtTicks;
    private int _pingInFlight;

    /// <summary>The host-wide token whose firing means "server shutting down" for this connection.</summary>
    internal CancellationToken ServerStopping { get; set; }

    /// <summary>Registered with a heartbeat, which enforces the close timeout (see <see cref="CloseAsync"/>).</summary>
    internal bool HasHeartbeat { get; set; }

    /// <summary>This connection's slot in the heartbeat's <see cref="Connection.HeartbeatSlots{T}"/>; -1 when not in one.</summary>
    int Connection.IHeartbeatSlot.HeartbeatSlot { get; set; } = -1;

    /// <summary>
    /// Called about once a second by <see cref="Connection.WebSocketHeartbeat"/>; never blocks. Sends keepalive pings,
    /// and aborts a peer that stopped answering or never completed a close handshake.
    /// </summary>
    internal void OnHeartbeat(long now)
    {
        if (IsAborted || Volatile.Read(ref _state) == StateClosed)
        {
            return;
        }

        if (TransportClosed && !_peerGone.IsCancellationRequested)
        {
            SignalPeerGone();
        }

        var closeSentAt = Volatile.Read(ref _closeSentAtTicks);
        var closeTimeout = Options.CloseTimeout;
        if (_closeSent != 0 && !_closeReceived && !_failed && closeSentAt != 0
            && closeTimeout != Timeout.InfiniteTimeSpan && now - closeSentAt > (long)closeTimeout.TotalMilliseconds)
        {
            Log.CloseTimeout(Logger, Request.ConnectionId);
            Abort();
            return;
        }

        var interval = Options.KeepAliveInterval;
        if (interval == Timeout.InfiniteTimeSpan || _closeSent != 0)
        {
            return;
        }

        var lastReceive = Volatile.Read(ref _lastReceiveTicks);
        var pingSentAt = Volatile.Read(ref _pingSentAtTicks);
        if (pingSentAt != 0)
        {
            if (lastReceive >= pingSentAt)
            {
                Volatile.Write(ref _pingSentAtTicks, 0);
            }
            else if (_receivePending && Options.KeepAliveTimeout != Timeout.InfiniteTimeSpan
                && now - pingSentAt > (long)Options.KeepAliveTimeout.TotalMilliseconds)
            {
                // Only judged while the application waits for input: otherwise an unread pong may be sitting in the buffer.
                Log.KeepAliveTimeout(Logger, Request.ConnectionId);
                Abort();
            }

            return;
        }

        if (now - lastReceive >= (long)interval.TotalMilliseconds && Interlocked.Exchange(ref _pingInFlight, 1) == 0)
        {
            Volatile.Write(ref _pingSentAtTicks, now);
            _ = SendKeepAlivePingAsync();
        }
    }

    /// <summary>Host shutdown: tell the peer with 1001 (Going Away); the heartbeat aborts it if it does not answer in time.</summary>
    internal void OnServerStopping()
    {
        if (_closeSent != 0 || IsAborted)
        {
            return;
        }

        Log.ShutdownClose(Logger, Request.ConnectionId);
        RecordCloseIfNone(WebSocketCloseStatus.EndpointUnavailable);
        RecordCloseDescriptionIfNone("Server shutting down");
        _ = TrySendCloseFrameAsync(WebSocketCloseStatus.EndpointUnavailable, "Server shutting down").AsTask();
    }

    private async Task SendKeepAlivePingAsync()
    {
        try
        {
            await SendControlAsync(Opcode.Ping, default).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Log.TransportFailure(Logger, Request.ConnectionId, ex);
        }
        finally
        {
            Volatile.Write(ref _pingInFlight, 0);
        }
    }
}
