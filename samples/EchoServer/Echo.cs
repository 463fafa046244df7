using System.Net.WebSockets;
using KestrelWsTransport;

namespace EchoServer;

/// <summary>
/// Echoes every message back with the same opcode (text as text, binary as binary), the contract conformance suites
/// and load tools rely on.
/// </summary>
public static class Echo
{
    public static async Task RunAsync(WebSocketConnection connection, CancellationToken cancellationToken)
    {
        while (true)
        {
            // Whole messages, not ReceivePartAsync: echoing parts as they arrive deadlocks a client that sends a large
            // message before it reads (.NET's ClientWebSocket with 16 MiB did): our sends wait for it to read, it waits
            // for us to read.
            var message = await connection.ReceiveAsync(cancellationToken);
            if (message.IsClose)
            {
                return;
            }

            // The payload points into the connection's input buffer; it is valid until the next receive, which is
            // after the echo is sent, so no copy is needed.
            await connection.SendAsync(message.Payload, message.MessageType, true, cancellationToken);
        }
    }
}
