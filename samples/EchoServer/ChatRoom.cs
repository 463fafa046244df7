using System.Collections.Concurrent;
using System.Net.WebSockets;
using KestrelWsTransport;

namespace EchoServer;

/// <summary>A small broadcast room: every text message from one member goes to all members.</summary>
public sealed class ChatRoom
{
    private readonly ConcurrentDictionary<WebSocketConnection, byte> _members = new();

    public int Count => _members.Count;

    public async Task RunAsync(WebSocketConnection connection, CancellationToken cancellationToken)
    {
        _members.TryAdd(connection, 0);
        try
        {
            await BroadcastAsync(Prepare($"* someone joined ({_members.Count} here)"));
            while (true)
            {
                var message = await connection.ReceiveAsync(cancellationToken);
                if (message.IsClose)
                {
                    return;
                }

                if (message.MessageType == WebSocketMessageType.Text)
                {
                    // Framed once straight from the received bytes (already validated UTF-8): no string round trip.
                    await BroadcastAsync(Prepare(message.Payload));
                }
            }
        }
        finally
        {
            _members.TryRemove(connection, out _);
            await BroadcastAsync(Prepare($"* someone left ({_members.Count} here)"));
        }
    }

    private static WebSocketPreparedMessage Prepare(string text) =>
        WebSocketPreparedMessage.Create(System.Text.Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text);

    private static WebSocketPreparedMessage Prepare(in System.Buffers.ReadOnlySequence<byte> payload)
    {
        if (payload.IsSingleSegment)
        {
            return WebSocketPreparedMessage.Create(payload.FirstSpan, WebSocketMessageType.Text);
        }

        var bytes = System.Buffers.ArrayPool<byte>.Shared.Rent((int)payload.Length);
        try
        {
            System.Buffers.BuffersExtensions.CopyTo(payload, bytes);
            return WebSocketPreparedMessage.Create(bytes.AsSpan(0, (int)payload.Length), WebSocketMessageType.Text);
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(bytes);
        }
    }

    private async Task BroadcastAsync(WebSocketPreparedMessage message)
    {
        // Framed once, written to every member as the same bytes.
        foreach (var member in _members.Keys)
        {
            try
            {
                await member.SendAsync(message);
            }
            catch (InvalidOperationException)
            {
                // That member is closing; its own loop removes it.
            }
        }
    }
}
