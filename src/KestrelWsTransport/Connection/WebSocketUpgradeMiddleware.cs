using System.Net.WebSockets;
using System.Runtime.CompilerServices;
using KestrelWsTransport.Diagnostics;
using KestrelWsTransport.Handshake;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.ObjectPool;

namespace KestrelWsTransport.Connection;

/// <summary>
/// The sniffer: looks at the first bytes of a connection without consuming them, serves HTTP/1.1 WebSocket upgrades
/// for mapped paths, and hands every other connection to <c>next</c> (Kestrel's HTTP pipeline) with all bytes unread.
/// With no <c>next</c> (a WebSocket-only endpoint) everything else gets an HTTP error and is closed.
/// </summary>
internal sealed class WebSocketUpgradeMiddleware
{
    /// <summary>The <c>result</c> tag of <c>kestrelws.handshakes</c> for a connection closed silent at the handshake timeout.</summary>
    internal const string SilentResult = "NoData";

    private readonly ConnectionDelegate? _next;
    private readonly WebSocketTransportOptions _options;
    private readonly WebSocketTransportMetrics _metrics;
    private readonly WebSocketHeartbeat _heartbeat;
    private readonly ILogger _logger;
    private readonly ConnectionServices _services;

    // The head's details are needed only until the decision is acted on, so they are reused rather than allocated per
    // connection (a handshake allocates what the handler keeps, not the sniffer's scratch state).
    private readonly ObjectPool<SniffedHead> _heads = new DefaultObjectPool<SniffedHead>(new SniffedHead.Policy(), 4 * Environment.ProcessorCount);

    private readonly CancellationToken _stopping;

    public WebSocketUpgradeMiddleware(ConnectionDelegate? next, WebSocketTransportOptions options, WebSocketTransportMetrics metrics, WebSocketHeartbeat heartbeat, ILogger logger, CancellationToken serverStopping = default)
    {
        _stopping = serverStopping;
        _next = next;
        _options = options;
        _metrics = metrics;
        _heartbeat = heartbeat;
        _logger = logger;
        _services = new ConnectionServices(options, metrics, logger);
    }

    // Every await in this method is on a plain ValueTask, so its frame (alive for the connection's life, memory per idle
    // WebSocket) holds one awaiter field instead of one per awaited type.
    public async Task OnConnectionAsync(ConnectionContext context)
    {
        var alpn = context.Features.Get<ITlsApplicationProtocolFeature>()?.ApplicationProtocol ?? default;
        if (alpn.Span.SequenceEqual("h2"u8))
        {
            await PassAsync(context, PassReason.Http2).ConfigureAwait(false);
            return;
        }

        // The head's details live in a pooled object, not in this method's frame: the frame stays alive for the
        // connection's life, so every byte in it is memory per idle WebSocket.
        var sniffed = _heads.Get();
        await SniffAsync(context, sniffed).ConfigureAwait(false);
        if (sniffed.Outcome != SniffOutcome.Upgrade)
        {
            var outcome = sniffed.Outcome;
            var passReason = sniffed.Result.PassReason;
            var rejection = sniffed.Result.Rejection;
            _heads.Return(sniffed);
            switch (outcome)
            {
                case SniffOutcome.PassThrough:
                    await PassAsync(context, passReason).ConfigureAwait(false);
                    return;
                case SniffOutcome.Reject:
                    await RejectAsync(context, rejection).ConfigureAwait(false);
                    return;
                default:
                    // The peer reset or vanished mid-head, or sent nothing before the handshake timeout (logged and
                    // counted by the sniff): nothing to answer, nobody to hand it to.
                    return;
            }
        }

        if (!_options.TryAcquireConnection())
        {
            _heads.Return(sniffed);
            await RejectAsync(context, HandshakeRejection.TooManyConnections).ConfigureAwait(false);
            return;
        }

        // Served inline rather than in a helper method: this frame stays alive for the connection's life, and every
        // nested async frame would be one more object per idle WebSocket.
        try
        {
            var connection = Accept(context, sniffed.Result);
            await AsValueTask(context.Transport.Output.FlushAsync()).ConfigureAwait(false);

            // Taken after the flush, so no endpoint field lives in this frame; the head goes back (a head lost to an
            // exception before this is only garbage: the pool makes another).
            var handler = sniffed.Result.Endpoint!.Handler;
            _heads.Return(sniffed);
            sniffed = null!;

            // The host's ApplicationStopping when there is a host (one registration for every connection, through the
            // heartbeat); otherwise Kestrel's per-connection shutdown signal.
            var stopping = _stopping.CanBeCanceled
                ? _stopping
                : context.Features.Get<IConnectionLifetimeNotificationFeature>()?.ConnectionClosedRequested ?? default;

            // WebSocketSession.RunAsync, inlined (see there).
            WebSocketSession.Begin(connection, _metrics, _heartbeat, stopping);
            // The handler's exceptions are all caught, so the session ends after the catch rather than in a finally: an
            // await inside a finally keeps two more fields in this frame.
            var closeIfOpen = WebSocketCloseStatus.NormalClosure;
            try
            {
                await new ValueTask(handler(connection, connection.ConnectionClosed)).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                closeIfOpen = WebSocketSession.HandlerFailed(connection, _logger, ex);
            }

            await WebSocketSession.EndAsync(connection, _heartbeat, closeIfOpen).ConfigureAwait(false);
        }
        finally
        {
            _options.ReleaseConnection();
        }
    }

    /// <summary>
    /// Reads until the first bytes decide the connection, and leaves the input as the decision needs it: nothing
    /// consumed or examined for a pass, the head consumed for an upgrade. Acting on the decision is the caller's job, so
    /// the deadline is off the heartbeat before HTTP runs. <see cref="SniffOutcome.NeedMoreData"/> means there is nobody to
    /// answer: the peer is gone, or it sent nothing before the handshake timeout (logged and counted here).
    /// </summary>
    // Pooled: nearly every connection waits here for its first bytes, and the frame is scratch state.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask SniffAsync(ConnectionContext context, SniffedHead sniffed)
    {
        var input = context.Transport.Input;
        var deadline = _heartbeat.TrackHandshake(input, _options.HandshakeTimeout);
        try
        {
            var sniffer = new HandshakeSniffer();
            long seen = 0;
            while (true)
            {
                System.IO.Pipelines.ReadResult read;
                try
                {
                    read = await input.ReadAsync().ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is IOException or ConnectionAbortedException)
                {
                    Log.TransportFailure(_logger, context.ConnectionId, ex);
                    sniffed.Outcome = SniffOutcome.NeedMoreData;
                    return;
                }

                var buffer = read.Buffer;
                seen = Math.Max(seen, buffer.Length);
                if (read.IsCanceled)
                {
                    // Only the deadline cancels this read.
                    input.AdvanceTo(buffer.Start, buffer.End);
                    sniffed.Outcome = deadline?.HasFired == true ? TimedOut(context, sniffed, seen) : SniffOutcome.NeedMoreData;
                    return;
                }

                var outcome = buffer.IsEmpty ? SniffOutcome.NeedMoreData : sniffer.Sniff(buffer, _options, ref sniffed.Result);
                if (outcome == SniffOutcome.NeedMoreData && !read.IsCompleted)
                {
                    // Everything seen is examined, so the next read waits for new bytes.
                    input.AdvanceTo(buffer.Start, buffer.End);
                    continue;
                }

                if (deadline is not null && !deadline.TryFinish())
                {
                    // Decided just as the deadline fired: the deadline wins, so no cancel can reach whoever reads next.
                    input.AdvanceTo(buffer.Start, buffer.End);
                    sniffed.Outcome = TimedOut(context, sniffed, seen);
                    return;
                }

                switch (outcome)
                {
                    case SniffOutcome.NeedMoreData:
                        // The peer finished sending before the head was complete. HTTP can say what it makes of it.
                        input.AdvanceTo(buffer.Start, buffer.Start);
                        sniffed.Result.PassReason = PassReason.NotHttp11;
                        sniffed.Outcome = SniffOutcome.PassThrough;
                        return;

                    case SniffOutcome.PassThrough:
                        // Examined nothing: HTTP's first read must return these bytes at once (Http2PrefaceConnectionMiddleware does the same).
                        input.AdvanceTo(buffer.Start, buffer.Start);
                        sniffed.Outcome = outcome;
                        return;

                    case SniffOutcome.Reject:
                        input.AdvanceTo(buffer.Start, buffer.End);
                        sniffed.Outcome = outcome;
                        return;
                }

                // Upgrade: consume the head only; frames that came in the same read stay for the engine.
                input.AdvanceTo(buffer.GetPosition(sniffed.Result.HeadLength));
                sniffed.Outcome = outcome;
                return;
            }
        }
        finally
        {
            if (deadline is not null)
            {
                _heartbeat.Untrack(deadline);
            }
        }
    }

    /// <summary>
    /// Undecided at the deadline. Handed to HTTP, it could live on for Kestrel's Limits.KeepAliveTimeout (130 s): a
    /// slowloris or a crowd of silent sockets would outlast our limit. It ends here instead.
    /// </summary>
    private SniffOutcome TimedOut(ConnectionContext context, SniffedHead sniffed, long seen)
    {
        if (seen == 0)
        {
            // No request at all, so no response: returning closes the socket.
            _metrics.Handshake(SilentResult, "connection");
            Log.SilentConnectionClosed(_logger, context.ConnectionId, (long)_options.HandshakeTimeout.TotalMilliseconds);
            return SniffOutcome.NeedMoreData;
        }

        // A request line or head still coming, ours or not yet known to be HTTP's: it is an HTTP request, so it gets
        // HTTP's answer for "too slow".
        sniffed.Result.Rejection = HandshakeRejection.HandshakeTimeout;
        return SniffOutcome.Reject;
    }

    /// <summary>Writes the 101 (flushed by the caller) and creates the engine for the accepted head.</summary>
    private WebSocketConnection Accept(ConnectionContext context, in HandshakeResult result)
    {
        var endpoint = result.Endpoint!;
        HandshakeResponseWriter.WriteAccept(context.Transport.Output, result.Accept, result.SubProtocol, result.Deflate?.ToResponse());

        var request = new WebSocketRequest(context, endpoint.Path, result.QueryString, result.SubProtocol, result.CapturedHeaders);

        _metrics.Handshake("accepted", "connection");
        Log.UpgradeAccepted(_logger, context.ConnectionId, endpoint.Path, "connection", result.SubProtocol);
        // Kestrel's ConnectionClosed is not registered on (an object per idle connection): a pending receive sees the
        // input end at once, and the heartbeat looks at the token every second for a handler that is not receiving.
        return new WebSocketConnection(context.Transport, request, _services, context, Deflate(endpoint, _options, result));
    }

    /// <summary>What the sniffer learned from the head; used only until the connection is accepted or handed on.</summary>
    private sealed class SniffedHead
    {
        public HandshakeResult Result;
        public SniffOutcome Outcome;

        /// <summary>Cleared on return, so a pooled head keeps no endpoint, strings or headers alive.</summary>
        internal sealed class Policy : PooledObjectPolicy<SniffedHead>
        {
            public override SniffedHead Create() => new();

            public override bool Return(SniffedHead head)
            {
                head.Result = default;
                head.Outcome = default;
                return true;
            }
        }
    }

    /// <summary>A flush as a plain <see cref="ValueTask"/> (see <see cref="OnConnectionAsync"/>); no allocation when it completed at once.</summary>
    private static ValueTask AsValueTask(ValueTask<System.IO.Pipelines.FlushResult> flush)
    {
        if (flush.IsCompletedSuccessfully)
        {
            flush.GetAwaiter().GetResult();
            return default;
        }

        return new ValueTask(flush.AsTask());
    }

    internal static Compression.PerMessageDeflate? Deflate(WebSocketEndpoint endpoint, WebSocketTransportOptions options, HandshakeResult result) =>
        result.Deflate is { } parameters ? new Compression.PerMessageDeflate(parameters, endpoint.Options.Compression ?? options.Compression) : null;

    private ValueTask PassAsync(ConnectionContext context, PassReason reason)
    {
        if (_next is not null)
        {
            _metrics.PassedToHttp(reason.ToString());
            Log.PassedToHttp(_logger, context.ConnectionId, reason.ToString());
            return new ValueTask(_next(context));
        }

        // A WebSocket-only endpoint has nothing to hand over to.
        return reason switch
        {
            PassReason.PathNotMapped => RejectAsync(context, HandshakeRejection.NotFound),
            PassReason.Http2 => default,
            _ => RejectAsync(context, HandshakeRejection.NotWebSocketRequest),
        };
    }

    private async ValueTask RejectAsync(ConnectionContext context, HandshakeRejection rejection)
    {
        var status = HandshakeResponseWriter.StatusCode(rejection);
        _metrics.Handshake(rejection.ToString(), "connection");
        Log.HandshakeRefused(_logger, context.ConnectionId, status, HandshakeResponseWriter.Reason(rejection));
        try
        {
            HandshakeResponseWriter.WriteRejection(context.Transport.Output, rejection);
            await context.Transport.Output.FlushAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or ConnectionAbortedException or InvalidOperationException)
        {
            Log.TransportFailure(_logger, context.ConnectionId, ex);
        }
    }
}
