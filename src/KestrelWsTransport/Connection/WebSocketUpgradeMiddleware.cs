using System.Net.WebSockets;
using KestrelWsTransport.Diagnostics;
using KestrelWsTransport.Handshake;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Microsoft.Extensions.Logging;

namespace KestrelWsTransport.Connection;

/// <summary>
/// The sniffer: looks at the first bytes of a connection without consuming them, serves HTTP/1.1 WebSocket upgrades
/// for mapped paths, and hands every other connection to <c>next</c> (Kestrel's HTTP pipeline) with all bytes unread.
/// With no <c>next</c> (a WebSocket-only endpoint) everything else gets an HTTP error and is closed.
/// </summary>
internal sealed class WebSocketUpgradeMiddleware
{
    private readonly ConnectionDelegate? _next;
    private readonly WebSocketTransportOptions _options;
    private readonly WebSocketTransportMetrics _metrics;
    private readonly WebSocketHeartbeat _heartbeat;
    private readonly ILogger _logger;

    public WebSocketUpgradeMiddleware(ConnectionDelegate? next, WebSocketTransportOptions options, WebSocketTransportMetrics metrics, WebSocketHeartbeat heartbeat, ILogger logger)
    {
        _next = next;
        _options = options;
        _metrics = metrics;
        _heartbeat = heartbeat;
        _logger = logger;
    }

    public async Task OnConnectionAsync(ConnectionContext context)
    {
        var alpn = context.Features.Get<ITlsApplicationProtocolFeature>()?.ApplicationProtocol ?? default;
        if (alpn.Span.SequenceEqual("h2"u8))
        {
            await PassAsync(context, PassReason.Http2).ConfigureAwait(false);
            return;
        }

        var (outcome, result) = await SniffAsync(context).ConfigureAwait(false);
        switch (outcome)
        {
            case SniffOutcome.PassThrough:
                await PassAsync(context, result.PassReason).ConfigureAwait(false);
                return;
            case SniffOutcome.Reject:
                await RejectAsync(context, result.Rejection).ConfigureAwait(false);
                return;
            case SniffOutcome.NeedMoreData:
                // The peer reset or vanished mid-head: nothing to answer, nobody to hand it to.
                return;
        }

        if (!_options.TryAcquireConnection())
        {
            await RejectAsync(context, HandshakeRejection.TooManyConnections).ConfigureAwait(false);
            return;
        }

        try
        {
            await AcceptAsync(context, result).ConfigureAwait(false);
        }
        finally
        {
            _options.ReleaseConnection();
        }
    }

    /// <summary>
    /// Reads until the first bytes decide the connection, and leaves the input as the decision needs it: nothing
    /// consumed or examined for a pass, the head consumed for an upgrade. Acting on the decision is the caller's job, so
    /// the timeout's timer is gone before HTTP runs. <see cref="SniffOutcome.NeedMoreData"/> means the peer is gone.
    /// </summary>
    private async ValueTask<(SniffOutcome Outcome, HandshakeResult Result)> SniffAsync(ConnectionContext context)
    {
        var input = context.Transport.Input;
        var sniffer = new HandshakeSniffer();
        var result = new HandshakeResult();
        using var timeout = new CancellationTokenSource();
        if (_options.HandshakeTimeout != Timeout.InfiniteTimeSpan)
        {
            timeout.CancelAfter(_options.HandshakeTimeout);
        }

        while (true)
        {
            System.IO.Pipelines.ReadResult read;
            try
            {
                read = await input.ReadAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (timeout.IsCancellationRequested)
            {
                if (!sniffer.IsMappedPath)
                {
                    // Nothing of ours so far (no bytes, or a request line still coming): HTTP and its own timeouts take
                    // it. Bytes already seen were only examined, and the slow client's next bytes wake HTTP's read.
                    result.PassReason = PassReason.NoData;
                    return (SniffOutcome.PassThrough, result);
                }

                result.Rejection = HandshakeRejection.HandshakeTimeout;
                return (SniffOutcome.Reject, result);
            }
            catch (Exception ex) when (ex is IOException or ConnectionAbortedException)
            {
                Log.TransportFailure(_logger, context.ConnectionId, ex);
                return (SniffOutcome.NeedMoreData, result);
            }

            var buffer = read.Buffer;
            var outcome = buffer.IsEmpty ? SniffOutcome.NeedMoreData : sniffer.Sniff(buffer, _options, ref result);

            switch (outcome)
            {
                case SniffOutcome.NeedMoreData when !read.IsCompleted:
                    // Everything seen is examined, so the next read waits for new bytes.
                    input.AdvanceTo(buffer.Start, buffer.End);
                    continue;

                case SniffOutcome.NeedMoreData:
                    // The peer finished sending before the head was complete. HTTP can say what it makes of it.
                    input.AdvanceTo(buffer.Start, buffer.Start);
                    result.PassReason = PassReason.NotHttp11;
                    return (SniffOutcome.PassThrough, result);

                case SniffOutcome.PassThrough:
                    // Examined nothing: HTTP's first read must return these bytes at once (Http2PrefaceConnectionMiddleware does the same).
                    input.AdvanceTo(buffer.Start, buffer.Start);
                    return (outcome, result);

                case SniffOutcome.Reject:
                    input.AdvanceTo(buffer.Start, buffer.End);
                    return (outcome, result);
            }

            // Upgrade: consume the head only; frames that came in the same read stay for the engine.
            input.AdvanceTo(buffer.GetPosition(result.HeadLength));
            return (outcome, result);
        }
    }

    private async Task AcceptAsync(ConnectionContext context, HandshakeResult result)
    {
        var endpoint = result.Endpoint!;
        var output = context.Transport.Output;
        HandshakeResponseWriter.WriteAccept(output, result.Accept, result.SubProtocol, result.Deflate?.ToResponse());
        await output.FlushAsync().ConfigureAwait(false);

        var tls = context.Features.Get<ITlsHandshakeFeature>();
        var alpn = context.Features.Get<ITlsApplicationProtocolFeature>()?.ApplicationProtocol ?? default;
        var request = new WebSocketRequest(
            context.ConnectionId,
            endpoint.Path,
            result.QueryString,
            result.SubProtocol,
            result.CapturedHeaders,
            context.RemoteEndPoint,
            context.LocalEndPoint,
            isSecure: tls is not null,
            applicationProtocol: alpn.IsEmpty ? null : System.Text.Encoding.ASCII.GetString(alpn.Span),
            WebSocketRoute.Connection);

        _metrics.Handshake("accepted", "connection");
        Log.UpgradeAccepted(_logger, context.ConnectionId, endpoint.Path, "connection", result.SubProtocol);

        var connection = new WebSocketConnection(context.Transport, request, _options, _metrics, _logger, context.Abort, Deflate(endpoint, _options, result));
        using var closedRegistration = context.ConnectionClosed.Register(static s => ((WebSocketConnection)s!).SignalPeerGone(), connection);
        var stopping = context.Features.Get<IConnectionLifetimeNotificationFeature>()?.ConnectionClosedRequested ?? default;
        await WebSocketSession.RunAsync(connection, endpoint, _metrics, _heartbeat, _logger, stopping).ConfigureAwait(false);
    }

    internal static Compression.PerMessageDeflate? Deflate(WebSocketEndpoint endpoint, WebSocketTransportOptions options, HandshakeResult result) =>
        result.Deflate is { } parameters ? new Compression.PerMessageDeflate(parameters, endpoint.Options.Compression ?? options.Compression) : null;

    private Task PassAsync(ConnectionContext context, PassReason reason)
    {
        if (_next is not null)
        {
            _metrics.PassedToHttp(reason.ToString());
            Log.PassedToHttp(_logger, context.ConnectionId, reason.ToString());
            return _next(context);
        }

        // A WebSocket-only endpoint has nothing to hand over to.
        return reason switch
        {
            PassReason.PathNotMapped => RejectAsync(context, HandshakeRejection.NotFound),
            PassReason.Http2 or PassReason.NoData => Task.CompletedTask,
            _ => RejectAsync(context, HandshakeRejection.NotWebSocketRequest),
        };
    }

    private async Task RejectAsync(ConnectionContext context, HandshakeRejection rejection)
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
