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
            await BroadcastAsync($"* someone joined ({_members.Count} here)");
            while (true)
            {
                var message = await connection.ReceiveAsync(cancellationToken);
                if (message.IsClose)
                {
                    return;
                }

                if (message.MessageType == WebSocketMessageType.Text)
                {
                    await BroadcastAsync(message.GetText());
                }
            }
        }
        finally
        {
            _members.TryRemove(connection, out _);
            await BroadcastAsync($"* someone left ({_members.Count} here)");
        }
    }

    private async Task BroadcastAsync(string text)
    {
        // Encoded once, written to every member as the same bytes.
        var message = WebSocketPreparedMessage.Create(System.Text.Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text);
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
