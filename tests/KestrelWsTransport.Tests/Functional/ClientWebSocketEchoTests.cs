using System.Net.WebSockets;
using System.Text;
using KestrelWsTransport.Tests.Infrastructure;

namespace KestrelWsTransport.Tests.Functional;

/// <summary>.NET's ClientWebSocket against a real Kestrel on loopback.</summary>
[TestFixture]
[Parallelizable(ParallelScope.Self)]
public class ClientWebSocketEchoTests
{
    private TestKestrel _server = null!;

    [OneTimeSetUp]
    public async Task StartAsync() => _server = await TestKestrel.StartWithTransportAsync();

    [OneTimeTearDown]
    public async Task StopAsync() => await _server.DisposeAsync();

    public static IEnumerable<int> Sizes => [0, 1, 125, 126, 127, 65535, 65536, 65537, 1024 * 1024, 16 * 1024 * 1024];

    [TestCaseSource(nameof(Sizes))]
    public async Task BinaryMessageIsEchoedAsBinary(int size)
    {
        using var client = await ConnectAsync();
        var payload = new byte[size];
        new Random(size).NextBytes(payload);

        await client.SendAsync(payload, WebSocketMessageType.Binary, true, CancellationToken.None);
        var (type, received) = await ReceiveMessageAsync(client);

        Assert.That(type, Is.EqualTo(WebSocketMessageType.Binary));
        Assert.That(received.Length, Is.EqualTo(size));
        Assert.That(received.SequenceEqual(payload), Is.True, "echoed bytes differ");
        await client.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None);
        Assert.That(client.CloseStatus, Is.EqualTo(WebSocketCloseStatus.NormalClosure));
    }

    [TestCase(0)]
    [TestCase(5)]
    [TestCase(70_000)]
    [TestCase(4 * 1024 * 1024)]
    public async Task TextMessageIsEchoedAsText(int length)
    {
        using var client = await ConnectAsync();
        var text = string.Concat(Enumerable.Range(0, length).Select(i => "añ€"[i % 3]));
        var bytes = Encoding.UTF8.GetBytes(text);

        await client.SendAsync(bytes, WebSocketMessageType.Text, true, CancellationToken.None);
        var (type, received) = await ReceiveMessageAsync(client);

        Assert.That(type, Is.EqualTo(WebSocketMessageType.Text));
        Assert.That(Encoding.UTF8.GetString(received), Is.EqualTo(text));
    }

    [Test]
    public async Task FragmentedMessageIsReassembledAndEchoedWhole()
    {
        using var client = await ConnectAsync();
        var parts = new[] { "first ", "second ", "κόσμε ", "last" };
        for (var i = 0; i < parts.Length; i++)
        {
            await client.SendAsync(Encoding.UTF8.GetBytes(parts[i]), WebSocketMessageType.Text, i == parts.Length - 1, CancellationToken.None);
        }

        var (type, received) = await ReceiveMessageAsync(client);
        Assert.That(type, Is.EqualTo(WebSocketMessageType.Text));
        Assert.That(Encoding.UTF8.GetString(received), Is.EqualTo(string.Concat(parts)));
    }

    [Test]
    public async Task ManyMessagesInFlightComeBackInOrder()
    {
        using var client = await ConnectAsync();
        const int count = 2000;
        var sender = Task.Run(async () =>
        {
            for (var i = 0; i < count; i++)
            {
                await client.SendAsync(Encoding.UTF8.GetBytes($"message {i}"), WebSocketMessageType.Text, true, CancellationToken.None);
            }
        });

        for (var i = 0; i < count; i++)
        {
            var (_, received) = await ReceiveMessageAsync(client);
            Assert.That(Encoding.UTF8.GetString(received), Is.EqualTo($"message {i}"));
        }

        await sender;
    }

    [Test]
    public async Task HundredConcurrentClientsEachGetTheirOwnEcho()
    {
        var clients = Enumerable.Range(0, 100).Select(async n =>
        {
            using var client = await ConnectAsync();
            for (var i = 0; i < 10; i++)
            {
                var text = $"client {n} message {i}";
                await client.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, true, CancellationToken.None);
                var (_, received) = await ReceiveMessageAsync(client);
                Assert.That(Encoding.UTF8.GetString(received), Is.EqualTo(text));
            }

            await client.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
            return client.CloseStatus;
        });

        var statuses = await Task.WhenAll(clients);
        Assert.That(statuses, Is.All.EqualTo(WebSocketCloseStatus.NormalClosure));
    }

    [Test]
    public async Task ClientCloseIsAnsweredWithTheSameCode()
    {
        using var client = await ConnectAsync();
        await client.CloseAsync((WebSocketCloseStatus)4000, "app specific", CancellationToken.None);
        Assert.That(client.State, Is.EqualTo(WebSocketState.Closed));
        Assert.That((int?)client.CloseStatus, Is.EqualTo(4000));
    }

    [Test]
    public async Task SubprotocolIsChosenFromTheClientsOffer()
    {
        await using var server = await TestKestrel.StartWithTransportAsync(o =>
            o.Map("/proto", TestKestrel.EchoAsync, e => e.SubProtocols = ["chat.v2", "chat.v1"]));
        using var client = new ClientWebSocket();
        client.Options.AddSubProtocol("chat.v1");
        client.Options.AddSubProtocol("chat.v2");
        await client.ConnectAsync(server.Ws("/proto"), CancellationToken.None);
        Assert.That(client.SubProtocol, Is.EqualTo("chat.v2"));

        using var other = new ClientWebSocket();
        await other.ConnectAsync(server.Ws("/proto"), CancellationToken.None);
        Assert.That(other.SubProtocol, Is.Null);
    }

    internal async Task<ClientWebSocket> ConnectAsync()
    {
        var client = new ClientWebSocket();
        client.Options.KeepAliveInterval = TimeSpan.Zero;
        await client.ConnectAsync(_server.Ws(), CancellationToken.None);
        return client;
    }

    internal static async Task<(WebSocketMessageType Type, byte[] Payload)> ReceiveMessageAsync(WebSocket client)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var buffer = new byte[64 * 1024];
        using var message = new MemoryStream();
        while (true)
        {
            var result = await client.ReceiveAsync(buffer, timeout.Token);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                throw new AssertionException($"Unexpected close {client.CloseStatus} {client.CloseStatusDescription}");
            }

            message.Write(buffer, 0, result.Count);
            if (result.EndOfMessage)
            {
                return (result.MessageType, message.ToArray());
            }
        }
    }
}
