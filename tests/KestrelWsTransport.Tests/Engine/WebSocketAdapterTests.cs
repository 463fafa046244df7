using System.Net.WebSockets;
using static KestrelWsTransport.Tests.Infrastructure.FrameBuilder;

namespace KestrelWsTransport.Tests.Engine;

/// <summary>
/// <see cref="WebSocketConnection.AsWebSocket"/> hands a message out in pieces as large as the caller's buffer, and a
/// frame still arriving as it arrives (as ManagedWebSocket does), never buffering a large message whole.
/// </summary>
[TestFixture]
internal sealed class WebSocketAdapterTests
{
    private static async Task<ValueWebSocketReceiveResult> ReceiveAsync(WebSocket socket, Memory<byte> buffer)
    {
        using var guard = new CancellationTokenSource(EngineHarness.HangGuard);
        return await socket.ReceiveAsync(buffer, guard.Token);
    }

    [Test]
    public async Task AMessageComesInPiecesAsLargeAsTheBuffer()
    {
        await using var harness = new EngineHarness();
        var socket = harness.Connection.AsWebSocket();
        var payload = Enumerable.Range(0, 20).Select(i => (byte)i).ToArray();
        await harness.SendAsync(BinaryFrame(payload));

        var buffer = new byte[7];
        var counts = new List<(int Count, bool End)>();
        var received = new List<byte>();
        do
        {
            var result = await ReceiveAsync(socket, buffer);
            Assert.That(result.MessageType, Is.EqualTo(WebSocketMessageType.Binary));
            counts.Add((result.Count, result.EndOfMessage));
            received.AddRange(buffer.AsSpan(0, result.Count).ToArray());
        }
        while (!counts[^1].End);

        Assert.That(counts, Is.EqualTo(new[] { (7, false), (7, false), (6, true) }));
        Assert.That(received.ToArray(), Is.EqualTo(payload));
    }

    [Test]
    public async Task AFrameStillArrivingIsHandedOutBeforeItsEnd()
    {
        await using var harness = new EngineHarness();
        var socket = harness.Connection.AsWebSocket();
        var payload = Enumerable.Range(0, 100_000).Select(i => (byte)(i * 31)).ToArray();
        var frame = BinaryFrame(payload);
        var headerLength = frame.Length - payload.Length;
        var buffer = new byte[64 * 1024];

        await harness.SendAsync(frame[..(headerLength + 1_000)]);
        var first = await ReceiveAsync(socket, buffer);
        Assert.That((first.Count, first.EndOfMessage), Is.EqualTo((1_000, false)), "what arrived, before the rest of the frame");
        var received = new List<byte>(buffer.AsSpan(0, first.Count).ToArray());

        await harness.SendAsync(frame[(headerLength + 1_000)..]);
        while (true)
        {
            var result = await ReceiveAsync(socket, buffer);
            received.AddRange(buffer.AsSpan(0, result.Count).ToArray());
            if (result.EndOfMessage)
            {
                break;
            }
        }

        Assert.That(received.ToArray(), Is.EqualTo(payload));
    }
}
