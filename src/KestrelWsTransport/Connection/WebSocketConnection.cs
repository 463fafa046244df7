using System.IO.Pipelines;
using System.Net.WebSockets;
using KestrelWsTransport.Diagnostics;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace KestrelWsTransport;

/// <summary>
/// One WebSocket, served by the transport's own RFC 6455 engine straight from a duplex pipe.
/// </summary>
/// <remarks>
/// <para>Threading: one <see cref="ReceiveAsync"/> at a time (frames are read on the caller's behalf, so keep
/// receiving: pings, pongs and the peer's close are processed there). Sends of whole messages are safe from any number
/// of tasks at once; they are written one after another. A message sent in parts (<c>endOfMessage: false</c>) must be
/// finished before another message starts. <see cref="CloseOutputAsync"/> may be called from any task;
/// <see cref="CloseAsync"/> reads, so not while a receive is running.</para>
/// <para>Lifetime: the connection ends when the endpoint's handler returns; the transport then completes the close
/// handshake (1000) if the handler did not.</para>
/// </remarks>
public sealed partial class WebSocketConnection
{
    private const int StateOpen = 0;
    private const int StateClosing = 1;
    private const int StateClosed = 2;
    private const int StateAborted = 3;

    private readonly PipeReader _input;
    private readonly PipeWriter _output;
    private readonly Connection.ConnectionServices _services;
    // What the transport belongs to: the connection route's ConnectionContext or the HTTP route's HttpContext (null in
    // tests). One field for both jobs, aborting it and polling its "closed" signal: a bound Abort delegate plus a copy of
    // the token were 72 bytes more per idle connection.
    private readonly object? _transportOwner;
    private readonly Compression.PerMessageDeflate? _deflate;
    private readonly CancellationTokenSource _peerGone = new();
    private readonly long _openedAt = Environment.TickCount64;

    private int _state;
    private int _closeSent; // 0, CloseDecided or CloseWritten (see WebSocketConnection.Send.cs)
    private volatile bool _closeReceived;
    // The close code once recorded (0: none yet), as a 2-byte field: a nullable enum is 8 bytes per connection.
    private ushort _closeCode;

    internal WebSocketConnection(
        IDuplexPipe transport,
        WebSocketRequest request,
        WebSocketTransportOptions options,
        WebSocketTransportMetrics metrics,
        ILogger logger,
        object? transportOwner,
        Compression.PerMessageDeflate? deflate = null)
        : this(transport, request, new Connection.ConnectionServices(options, metrics, logger), transportOwner, deflate)
    {
    }

    internal WebSocketConnection(
        IDuplexPipe transport,
        WebSocketRequest request,
        Connection.ConnectionServices services,
        object? transportOwner,
        Compression.PerMessageDeflate? deflate = null)
    {
        _deflate = deflate;
        _transportOwner = transportOwner;
        _input = transport.Input;
        _output = transport.Output;
        Request = request;
        _services = services;
        _lastReceiveTicks = _openedAt;
    }

    private WebSocketTransportOptions Options => _services.Options;

    private WebSocketTransportMetrics Metrics => _services.Metrics;

    private ILogger Logger => _services.Logger;

    /// <summary>The upgrade request this WebSocket came with.</summary>
    public WebSocketRequest Request { get; }

    /// <summary>
    /// Fires when the peer is gone: the connection was aborted, timed out, failed, or its input ended. A pending or next
    /// receive notices at once; a transport closed while nobody receives is noticed by the heartbeat (about a second).
    /// </summary>
    public CancellationToken ConnectionClosed => _peerGone.Token;

    /// <summary>The close code once a close frame was received or sent (see <see cref="WebSocketMessage.CloseStatus"/>).</summary>
    public WebSocketCloseStatus? CloseStatus => _closeCode == 0 ? null : (WebSocketCloseStatus)_closeCode;

    /// <summary>The close reason that went with <see cref="CloseStatus"/>.</summary>
    public string? CloseStatusDescription => _uncommon?.CloseDescription;

    /// <summary>The permessage-deflate response agreed in the handshake, or <see langword="null"/> when uncompressed.</summary>
    public string? Extensions => _deflate?.Parameters.ToResponse();

    /// <summary>The state in <see cref="System.Net.WebSockets.WebSocketState"/> terms.</summary>
    public WebSocketState State => Volatile.Read(ref _state) switch
    {
        StateAborted => WebSocketState.Aborted,
        StateClosed => WebSocketState.Closed,
        _ when _closeReceived && _closeSent != 0 => WebSocketState.Closed,
        _ when _closeReceived => WebSocketState.CloseReceived,
        _ when _closeSent != 0 => WebSocketState.CloseSent,
        _ => WebSocketState.Open,
    };

    /// <summary>Presents this connection as a <see cref="System.Net.WebSockets.WebSocket"/> for code written against that API.</summary>
    public WebSocket AsWebSocket() => Uncommon.Adapter ??= new WebSocketAdapter(this);

    /// <summary>Records a close code unless one is recorded already (the first close wins).</summary>
    private void RecordCloseIfNone(WebSocketCloseStatus status)
    {
        if (_closeCode == 0)
        {
            _closeCode = (ushort)status;
        }
    }

    /// <summary>Records the reason that goes with <see cref="CloseStatus"/> (where a close code is recorded).</summary>
    private void RecordCloseDescription(string? description)
    {
        if (description is not null)
        {
            Uncommon.CloseDescription = description;
        }
        else if (_uncommon is { } uncommon)
        {
            uncommon.CloseDescription = null;
        }
    }

    /// <summary>Records a reason only if none is recorded yet (the first close wins).</summary>
    private void RecordCloseDescriptionIfNone(string description) =>
        Interlocked.CompareExchange(ref Uncommon.CloseDescription, description, null);

    /// <summary>
    /// Ends the connection at once, without a close handshake. Pending receives return a Close message with the
    /// connection's close code (1006 unless a close had already been recorded).
    /// </summary>
    public void Abort()
    {
        if (Interlocked.Exchange(ref _state, StateAborted) == StateAborted)
        {
            return;
        }

        RecordCloseIfNone(AbnormalClosure);
        SignalPeerGone();
        _input.CancelPendingRead();
        AbortTransport();
    }

    private void AbortTransport()
    {
        switch (_transportOwner)
        {
            case ConnectionContext connection:
                connection.Abort();
                break;
            case HttpContext http:
                http.Abort();
                break;
        }
    }

    // The transport's own "connection closed" signal (the connection route's), polled by the heartbeat rather than
    // registered on: a registration is an object per idle connection.
    private bool TransportClosed => _transportOwner is ConnectionContext connection && connection.ConnectionClosed.IsCancellationRequested;

    /// <summary>1006: never sent on the wire; reported when a connection ends without a close handshake.</summary>
    internal const WebSocketCloseStatus AbnormalClosure = (WebSocketCloseStatus)1006;

    internal bool IsAborted => Volatile.Read(ref _state) == StateAborted;

    // Aborted by us, or the transport underneath closed: writes into the output can fail in any way from then on.
    private bool IsTransportGone => IsAborted || TransportClosed;

    internal void SignalPeerGone()
    {
        try
        {
            _peerGone.Cancel();
            if (_receivePending)
            {
                // A receive waiting on its own ConnectionClosed token reads without it (see ReceiveCoreAsync).
                _input.CancelPendingRead();
            }
        }
        catch (ObjectDisposedException)
        {
        }
        catch (AggregateException ex)
        {
            Log.TransportFailure(Logger, Request.ConnectionId, ex);
        }
    }

    /// <summary>
    /// Called by the host once the handler returned: finishes the close handshake if needed, records the outcome and
    /// gives back pooled memory. The host completes the transport afterwards.
    /// </summary>
    internal async Task CompleteAsync(WebSocketCloseStatus closeIfOpen)
    {
        try
        {
            // A peer known to be gone (the transport closed under a handler that was not receiving) gets no close
            // frame: there is nobody to send it to, and the connection ends as 1006, not as the code we would have sent.
            var peerGone = _peerGone.IsCancellationRequested || TransportClosed;
            if (!IsAborted && (!_closeReceived || _closeSent == 0) && !_failed && !_inputEnded && !peerGone)
            {
                await CloseAsync(closeIfOpen, null, CancellationToken.None).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or InvalidOperationException or WebSocketException)
        {
            Log.TransportFailure(Logger, Request.ConnectionId, ex);
        }
        finally
        {
            if (Interlocked.CompareExchange(ref _state, StateClosed, StateOpen) == StateClosing)
            {
                Volatile.Write(ref _state, StateClosed);
            }

            ReleaseReceiveBuffers();
            _deflate?.Dispose();
            var status = CloseStatus ?? AbnormalClosure;
            var duration = TimeSpan.FromMilliseconds(Environment.TickCount64 - _openedAt);
            Metrics.ConnectionClosed((int)status, duration);
            Log.ConnectionClosed(Logger, Request.ConnectionId, status, CloseStatusDescription, (long)duration.TotalMilliseconds);
            // Whoever still holds the token (a broadcast list, a timer) learns the connection is over.
            SignalPeerGone();
        }
    }
}
