using System.Net.WebSockets;
using System.Security.Cryptography;
using KestrelWsTransport.Tests.Infrastructure;

namespace KestrelWsTransport.Tests.Functional;

/// <summary>
/// <see cref="WebSocketConnection.ReceivePartAsync"/> through a real Kestrel with .NET's ClientWebSocket: a 16 MiB
/// message is consumed as it arrives, and relayed in parts to a client that reads while it sends.
/// </summary>
[TestFixture]
[Parallelizable(ParallelScope.Self)]
public class ReceivePartsOverKestrelTests
{
    private TestKestrel _server = null!;

    [OneTimeSetUp]
    public async Task StartAsync() => _server = await TestKestrel.StartWithTransportAsync(o =>
    {
        o.Map("/digest", DigestAsync);
        o.Map("/relay", RelayAsync);
    });

    [OneTimeTearDown]
    public async Task StopAsync() => await _server.DisposeAsync();

    // Hashes each message part by part and answers "bytes parts largest-part sha256".
    private static async Task DigestAsync(WebSocketConnection connection, CancellationToken cancellationToken)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long bytes = 0, largest = 0;
        var parts = 0;
        while (true)
        {
            var part = await connection.ReceivePartAsync(cancellationToken);
            if (part.IsClose)
            {
                return;
            }

            parts++;
            bytes += part.Payload.Length;
            largest = Math.Max(largest, part.Payload.Length);
            foreach (var segment in part.Payload)
            {
                hash.AppendData(segment.Span);
            }

            if (part.EndOfMessage)
            {
                await connection.SendTextAsync($"{bytes} {parts} {largest} {Convert.ToHexString(hash.GetHashAndReset())}", cancellationToken);
                bytes = largest = parts = 0;
            }
        }
    }

    private static async Task RelayAsync(WebSocketConnection connection, CancellationToken cancellationToken)
    {
        while (true)
        {
            var part = await connection.ReceivePartAsync(cancellationToken);
            if (part.IsClose)
            {
                return;
            }

            await connection.SendAsync(part.Payload, part.MessageType, part.EndOfMessage, cancellationToken);
        }
    }

    private async Task<ClientWebSocket> ConnectAsync(string path)
    {
        var client = new ClientWebSocket();
        client.Options.KeepAliveInterval = TimeSpan.Zero;
        await client.ConnectAsync(_server.Ws(path), CancellationToken.None);
        return client;
    }

    [Test]
    public async Task A16MiBMessageIsConsumedInPartsAsItArrives()
    {
        using var client = await ConnectAsync("/digest");
        var payload = new byte[16 * 1024 * 1024];
        new Random(16).NextBytes(payload);

        await client.SendAsync(payload, WebSocketMessageType.Binary, true, CancellationToken.None);
        var (type, reply) = await ClientWebSocketEchoTests.ReceiveMessageAsync(client);

        Assert.That(type, Is.EqualTo(WebSocketMessageType.Text));
        var fields = System.Text.Encoding.UTF8.GetString(reply).Split(' ');
        Assert.That(long.Parse(fields[0]), Is.EqualTo(payload.Length), "bytes received");
        Assert.That(fields[3], Is.EqualTo(Convert.ToHexString(SHA256.HashData(payload))), "the parts, in order, are the message");
        // ClientWebSocket sends it as one 16 MiB frame: more than one part means it was handed out while still arriving,
        // and a largest part under 16 MiB means it was never buffered whole.
        Assert.That(int.Parse(fields[1]), Is.GreaterThan(1), "parts");
        Assert.That(long.Parse(fields[2]), Is.LessThan(payload.Length), "largest part");
        await client.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
    }

    [Test]
    public async Task RelayedPartsReachAClientThatReadsWhileItSends()
    {
        using var client = await ConnectAsync("/relay");
        var payload = new byte[4 * 1024 * 1024];
        new Random(4).NextBytes(payload);

        var receive = ClientWebSocketEchoTests.ReceiveMessageAsync(client);
        await client.SendAsync(payload, WebSocketMessageType.Binary, true, CancellationToken.None);
        var (type, echoed) = await receive;

        Assert.That(type, Is.EqualTo(WebSocketMessageType.Binary));
        Assert.That(echoed.SequenceEqual(payload), Is.True, "relayed bytes differ");
        await client.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        Assert.That(client.CloseStatus, Is.EqualTo(WebSocketCloseStatus.NormalClosure));
    }
}
