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
            // In parts: a large message goes back as it arrives instead of being buffered whole first (its frames may
            // differ from the peer's; the message does not). A small message comes, and goes back, as one part.
            var part = await connection.ReceivePartAsync(cancellationToken);
            if (part.IsClose)
            {
                return;
            }

            // The payload points into the connection's input buffer; it is valid until the next receive, which is
            // after the echo is sent, so no copy is needed.
            await connection.SendAsync(part.Payload, part.MessageType, part.EndOfMessage, cancellationToken);
        }
    }
}
