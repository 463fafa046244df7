namespace LoadTool.Client;

/// <summary>
/// One client connection as the scenarios drive it. Every message it sends is the configured payload; the scenarios
/// count messages, never look inside them (except <see cref="IMessageObserver"/> for the broadcast latency stamp).
/// One <see cref="SendAsync"/> and one <see cref="ReceiveAsync"/> may run at the same time.
/// </summary>
internal interface ILoadConnection : IAsyncDisposable
{
    /// <summary>Sends <paramref name="count"/> messages, batched into as few writes as the size allows.</summary>
    ValueTask SendAsync(int count, CancellationToken cancellationToken);

    /// <summary>
    /// Waits until at least one whole message has arrived and returns how many did; -1 when the peer closed (a close
    /// frame, or the end of the stream).
    /// </summary>
    ValueTask<int> ReceiveAsync(CancellationToken cancellationToken);

    /// <summary>Starts the close handshake without reading (the running receive loop then sees -1).</summary>
    ValueTask SendCloseAsync(CancellationToken cancellationToken);

    /// <summary>Closes politely (close handshake, then waits for the server to end the TCP connection), bounded by the token.</summary>
    ValueTask CloseAsync(CancellationToken cancellationToken);
}

/// <summary>Sees the first bytes of each whole data message (used for the broadcast scenario's time stamps).</summary>
internal interface IMessageObserver
{
    /// <summary>The first up to <see cref="FastWsConnection.PrefixLength"/> bytes of a whole message, and its full length.</summary>
    void OnMessage(ReadOnlySpan<byte> prefix, long length);
}

/// <summary>Writes the variable part of a payload just before it is masked and sent.</summary>
internal interface IPayloadStamper
{
    void Stamp(Span<byte> payload);
}
