using System.Buffers;
using System.Net.WebSockets;

namespace KestrelWsTransport;

/// <summary>
/// <see cref="WebSocket"/> over a <see cref="WebSocketConnection"/>, so code written for System.Net.WebSockets runs
/// unchanged on the transport's engine. Messages are received in parts (<see cref="WebSocketConnection.ReceivePartAsync"/>)
/// and handed out in pieces as large as the caller's buffer, as ManagedWebSocket does: a large message is not buffered
/// whole first, and a text message's valid start may be handed out before a later invalid byte fails the connection.
/// </summary>
internal sealed class WebSocketAdapter : WebSocket
{
    private readonly WebSocketConnection _connection;
    private ReadOnlySequence<byte> _remaining;
    private WebSocketMessageType _remainingType;
    private bool _remainingEndsMessage;
    private bool _hasMessage;

    public WebSocketAdapter(WebSocketConnection connection) => _connection = connection;

    public override WebSocketCloseStatus? CloseStatus => _connection.State is WebSocketState.Open ? null : _connection.CloseStatus;

    public override string? CloseStatusDescription => _connection.CloseStatusDescription;

    public override WebSocketState State => _connection.State;

    public override string? SubProtocol => _connection.Request.SubProtocol;

    public override void Abort() => _connection.Abort();

    public override Task CloseAsync(WebSocketCloseStatus closeStatus, string? statusDescription, CancellationToken cancellationToken)
        => _connection.CloseAsync(closeStatus, statusDescription, cancellationToken).AsTask();

    public override Task CloseOutputAsync(WebSocketCloseStatus closeStatus, string? statusDescription, CancellationToken cancellationToken)
        => _connection.CloseOutputAsync(closeStatus, statusDescription, cancellationToken).AsTask();

    public override void Dispose()
    {
        if (_connection.State is WebSocketState.Open or WebSocketState.CloseSent or WebSocketState.CloseReceived)
        {
            _connection.Abort();
        }
    }

    public override async Task<WebSocketReceiveResult> ReceiveAsync(ArraySegment<byte> buffer, CancellationToken cancellationToken)
    {
        var result = await ReceiveAsync(buffer.AsMemory(), cancellationToken).ConfigureAwait(false);
        return result.MessageType == WebSocketMessageType.Close
            ? new WebSocketReceiveResult(0, WebSocketMessageType.Close, true, _connection.CloseStatus, _connection.CloseStatusDescription)
            : new WebSocketReceiveResult(result.Count, result.MessageType, result.EndOfMessage);
    }

    public override async ValueTask<ValueWebSocketReceiveResult> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        if (!_hasMessage)
        {
            if (_connection.State is WebSocketState.Aborted)
            {
                throw new WebSocketException(WebSocketError.ConnectionClosedPrematurely);
            }

            var message = await _connection.ReceivePartAsync(cancellationToken).ConfigureAwait(false);
            if (message.IsClose)
            {
                if (message.CloseStatus == WebSocketConnection.AbnormalClosure)
                {
                    // As ManagedWebSocket does: a connection that ends without a close frame is an error, not a close.
                    throw new WebSocketException(WebSocketError.ConnectionClosedPrematurely, "The remote party closed the WebSocket connection without completing the close handshake.");
                }

                return new ValueWebSocketReceiveResult(0, WebSocketMessageType.Close, true);
            }

            _remaining = message.Payload;
            _remainingType = message.MessageType;
            _remainingEndsMessage = message.EndOfMessage;
            _hasMessage = true;
        }

        var count = (int)Math.Min(buffer.Length, _remaining.Length);
        _remaining.Slice(0, count).CopyTo(buffer.Span);
        _remaining = _remaining.Slice(count);
        if (_remaining.Length != 0)
        {
            return new ValueWebSocketReceiveResult(count, _remainingType, false);
        }

        _hasMessage = false;
        _remaining = default;
        return new ValueWebSocketReceiveResult(count, _remainingType, _remainingEndsMessage);
    }

    public override Task SendAsync(ArraySegment<byte> buffer, WebSocketMessageType messageType, bool endOfMessage, CancellationToken cancellationToken)
        => SendAsync(buffer.AsMemory(), messageType, endOfMessage, cancellationToken).AsTask();

    public override ValueTask SendAsync(ReadOnlyMemory<byte> buffer, WebSocketMessageType messageType, WebSocketMessageFlags messageFlags, CancellationToken cancellationToken)
    {
        if (messageType == WebSocketMessageType.Close)
        {
            throw new ArgumentOutOfRangeException(nameof(messageType), "Use CloseAsync or CloseOutputAsync.");
        }

        return _connection.SendAsync(new ReadOnlySequence<byte>(buffer), messageType, messageFlags, cancellationToken);
    }

    public override ValueTask SendAsync(ReadOnlyMemory<byte> buffer, WebSocketMessageType messageType, bool endOfMessage, CancellationToken cancellationToken)
    {
        if (messageType == WebSocketMessageType.Close)
        {
            throw new ArgumentOutOfRangeException(nameof(messageType), "Use CloseAsync or CloseOutputAsync.");
        }

        if (State is not (WebSocketState.Open or WebSocketState.CloseReceived))
        {
            throw new WebSocketException(WebSocketError.InvalidState, $"Cannot send in state {State}.");
        }

        return _connection.SendAsync(buffer, messageType, endOfMessage, cancellationToken);
    }
}
