using System.IO.Compression;
using System.Net.WebSockets;
using System.Text;
using KestrelWsTransport.Tests.Infrastructure;

namespace KestrelWsTransport.Tests.Functional;

/// <summary>permessage-deflate over real sockets: .NET's own compressing client, and frames checked on the wire.</summary>
[TestFixture]
public class CompressionTests
{
    private TestKestrel _server = null!;

    [OneTimeSetUp]
    public async Task StartAsync() => _server = await TestKestrel.StartWithTransportAsync(o =>
    {
        o.MaxMessageBytes = 16 * 1024 * 1024;
        o.Compression.Enabled = true;
        o.Map("/tight", TestKestrel.EchoAsync, e => e.Compression = new WebSocketCompressionOptions
        {
            Enabled = true,
            ServerContextTakeover = false,
            ClientContextTakeover = false,
            ServerMaxWindowBits = 10,
            ClientMaxWindowBits = 9,
        });
        o.Map("/plain", TestKestrel.EchoAsync, e => e.Compression = new WebSocketCompressionOptions { Enabled = false });
        o.Map("/broadcast", async (connection, ct) =>
        {
            await connection.SendAsync(Prepared.Value, ct);
            await TestKestrel.EchoAsync(connection, ct);
        });
        o.Map("/parts", SendInPartsThenEchoAsync);
        o.Map("/parts-tight", SendInPartsThenEchoAsync, e => e.Compression = new WebSocketCompressionOptions
        {
            Enabled = true,
            ServerContextTakeover = false,
        });
        o.Map("/secret", async (connection, ct) =>
        {
            var secret = Encoding.UTF8.GetBytes(new string('s', 1000));
            await connection.SendAsync(new System.Buffers.ReadOnlySequence<byte>(secret), WebSocketMessageType.Text, WebSocketMessageFlags.EndOfMessage | WebSocketMessageFlags.DisableCompression, ct);
            await TestKestrel.EchoAsync(connection, ct);
        });
    });

    [OneTimeTearDown]
    public async Task StopAsync() => await _server.DisposeAsync();

    /// <summary>Sends <see cref="JsonLike"/>(300) in three parts, twice (the second message reuses the window), then echoes.</summary>
    private static async Task SendInPartsThenEchoAsync(WebSocketConnection connection, CancellationToken ct)
    {
        var bytes = Encoding.UTF8.GetBytes(JsonLike(300));
        for (var message = 0; message < 2; message++)
        {
            var third = bytes.Length / 3;
            await connection.SendAsync(bytes.AsMemory(0, third), WebSocketMessageType.Text, endOfMessage: false, ct);
            await connection.SendAsync(bytes.AsMemory(third, third), WebSocketMessageType.Text, endOfMessage: false, ct);
            await connection.SendAsync(bytes.AsMemory(2 * third), WebSocketMessageType.Text, endOfMessage: true, ct);
        }

        await TestKestrel.EchoAsync(connection, ct);
    }

    private static string JsonLike(int records) => string.Concat(Enumerable.Range(0, records).Select(i => $"{{\"id\":{i},\"price\":{i % 977}.5,\"side\":\"{(i % 2 == 0 ? "buy" : "sell")}\"}}"));

    private async Task<ClientWebSocket> ConnectAsync(string path, WebSocketDeflateOptions deflate)
    {
        var client = new ClientWebSocket();
        client.Options.DangerousDeflateOptions = deflate;
        client.Options.CollectHttpResponseDetails = true;
        await client.ConnectAsync(_server.Ws(path), CancellationToken.None);
        return client;
    }

    [TestCase(10)]
    [TestCase(5_000)]
    [TestCase(200_000)]
    public async Task ClientWebSocketWithDeflateRoundTripsTextAndBinary(int records)
    {
        using var client = await ConnectAsync("/echo", new WebSocketDeflateOptions());
        Assert.That(client.HttpResponseHeaders!["Sec-WebSocket-Extensions"].Single(), Is.EqualTo("permessage-deflate"));

        var text = JsonLike(records);
        for (var i = 0; i < 3; i++)
        {
            await client.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, true, CancellationToken.None);
            var echoed = await ClientWebSocketEchoTests.ReceiveMessageAsync(client);
            Assert.That((echoed.Type, Encoding.UTF8.GetString(echoed.Payload)), Is.EqualTo((WebSocketMessageType.Text, text)));
        }

        var binary = new byte[records * 3];
        new Random(records).NextBytes(binary);
        await client.SendAsync(binary, WebSocketMessageType.Binary, true, CancellationToken.None);
        var echoedBinary = await ClientWebSocketEchoTests.ReceiveMessageAsync(client);
        Assert.That(echoedBinary.Payload, Is.EqualTo(binary));
    }

    [Test]
    public async Task SixteenMebibyteCompressedMessageRoundTrips()
    {
        using var client = await ConnectAsync("/echo", new WebSocketDeflateOptions());
        var payload = Encoding.UTF8.GetBytes(JsonLike(600_000))[..(16 * 1024 * 1024)];
        await client.SendAsync(payload, WebSocketMessageType.Binary, true, CancellationToken.None);
        var echoed = await ClientWebSocketEchoTests.ReceiveMessageAsync(client);
        Assert.That(echoed.Payload, Is.EqualTo(payload));
    }

    [Test]
    public async Task NoContextTakeoverAndSmallWindowsAreNegotiatedAndWork()
    {
        using var client = await ConnectAsync("/tight", new WebSocketDeflateOptions { ClientMaxWindowBits = 15, ServerMaxWindowBits = 15 });
        Assert.That(client.HttpResponseHeaders!["Sec-WebSocket-Extensions"].Single(),
            Is.EqualTo("permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=9"));
        var text = JsonLike(3_000);
        for (var i = 0; i < 3; i++)
        {
            await client.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, true, CancellationToken.None);
            var echoed = await ClientWebSocketEchoTests.ReceiveMessageAsync(client);
            Assert.That(Encoding.UTF8.GetString(echoed.Payload), Is.EqualTo(text));
        }
    }

    [Test]
    public async Task EndpointWithCompressionOffDeclinesTheOffer()
    {
        using var client = await ConnectAsync("/plain", new WebSocketDeflateOptions());
        Assert.That(client.HttpResponseHeaders!.ContainsKey("Sec-WebSocket-Extensions"), Is.False);
        await client.SendAsync("plain"u8.ToArray(), WebSocketMessageType.Text, true, CancellationToken.None);
        Assert.That(Encoding.UTF8.GetString((await ClientWebSocketEchoTests.ReceiveMessageAsync(client)).Payload), Is.EqualTo("plain"));
    }

    [Test]
    public async Task FramesOnTheWireAreCompressedBothWays()
    {
        await using var raw = await RawConnection.ConnectAsync(_server.Port);
        await raw.SendAsync(RawConnection.UpgradeRequest(extraHeaders: "Sec-WebSocket-Extensions: permessage-deflate\r\n"));
        var response = await raw.ReadResponseAsync();
        Assert.That(response.Headers["Sec-WebSocket-Extensions"], Is.EqualTo("permessage-deflate"));

        var text = JsonLike(2_000);
        await raw.SendFrameAsync(0x1, Deflate(Encoding.UTF8.GetBytes(text)), rsv: 0x40);
        var frame = await raw.ReadFrameAsync();
        Assert.That(frame.Opcode, Is.EqualTo(0x1));
        Assert.That(frame.Rsv1, Is.True, "the echo is compressed");
        Assert.That(frame.Payload.Length, Is.LessThan(text.Length / 3));
        Assert.That(Encoding.UTF8.GetString(Inflate(frame.Payload)), Is.EqualTo(text));
    }

    [TestCase("/parts")]
    [TestCase("/parts-tight")]
    public async Task AMessageSentInPartsIsCompressedWithRsv1OnItsFirstFrameOnly(string path)
    {
        await using var raw = await RawConnection.ConnectAsync(_server.Port);
        await raw.SendAsync(RawConnection.UpgradeRequest(path, extraHeaders: "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n"));
        Assert.That((await raw.ReadResponseAsync()).StatusCode, Is.EqualTo(101));

        // server_no_context_takeover was offered, so every message stands alone and each can be inflated by itself.
        var expected = JsonLike(300);
        for (var message = 0; message < 2; message++)
        {
            var frames = new[] { await raw.ReadFrameAsync(), await raw.ReadFrameAsync(), await raw.ReadFrameAsync() };
            Assert.That(frames.Select(f => f.Opcode), Is.EqualTo(new[] { 0x1, 0x0, 0x0 }), "text, continuation, continuation");
            Assert.That(frames.Select(f => f.Rsv1), Is.EqualTo(new[] { true, false, false }), "RSV1 on the first frame only");
            Assert.That(frames.Select(f => f.Fin), Is.EqualTo(new[] { false, false, true }));
            var compressed = frames.SelectMany(f => f.Payload).ToArray();
            Assert.That(compressed.Length, Is.LessThan(expected.Length / 3), "the parts are compressed");
            Assert.That(Encoding.UTF8.GetString(Inflate(compressed)), Is.EqualTo(expected), $"message {message}");
        }
    }

    [TestCase("/parts")]
    [TestCase("/parts-tight")]
    public async Task ClientWebSocketReadsCompressedPartsWithAndWithoutContextTakeover(string path)
    {
        using var client = await ConnectAsync(path, new WebSocketDeflateOptions());
        for (var message = 0; message < 2; message++)
        {
            var (type, payload) = await ClientWebSocketEchoTests.ReceiveMessageAsync(client);
            Assert.That(type, Is.EqualTo(WebSocketMessageType.Text));
            Assert.That(Encoding.UTF8.GetString(payload), Is.EqualTo(JsonLike(300)), $"message {message}");
        }

        // The compressor is in a consistent state after parts: a whole message echoes compressed and intact.
        await client.SendAsync(Encoding.UTF8.GetBytes(JsonLike(50)), WebSocketMessageType.Text, true, CancellationToken.None);
        Assert.That(Encoding.UTF8.GetString((await ClientWebSocketEchoTests.ReceiveMessageAsync(client)).Payload), Is.EqualTo(JsonLike(50)));
    }

    private static readonly Lazy<WebSocketPreparedMessage> Prepared = new(() =>
        WebSocketPreparedMessage.Create(Encoding.UTF8.GetBytes(JsonLike(500)), WebSocketMessageType.Text, new WebSocketCompressionOptions { Enabled = true }));

    [TestCase("permessage-deflate; server_no_context_takeover", true)]
    [TestCase("permessage-deflate", false)]
    [TestCase(null, false)]
    public async Task PreparedMessageGoesCompressedOnlyWhereTheNegotiationAllowsIt(string? offer, bool expectCompressed)
    {
        await using var raw = await RawConnection.ConnectAsync(_server.Port);
        await raw.SendAsync(RawConnection.UpgradeRequest("/broadcast", extraHeaders: offer is null ? null : $"Sec-WebSocket-Extensions: {offer}\r\n"));
        Assert.That((await raw.ReadResponseAsync()).StatusCode, Is.EqualTo(101));
        var frame = await raw.ReadFrameAsync();
        Assert.That(frame.Rsv1, Is.EqualTo(expectCompressed));
        var text = Encoding.UTF8.GetString(expectCompressed ? Inflate(frame.Payload) : frame.Payload);
        Assert.That(text, Is.EqualTo(JsonLike(500)));
        Assert.That(Prepared.Value.HasCompressedForm, Is.True);
    }

    [Test]
    public async Task PerMessageOptOutSendsUncompressed()
    {
        await using var raw = await RawConnection.ConnectAsync(_server.Port);
        await raw.SendAsync(RawConnection.UpgradeRequest("/secret", extraHeaders: "Sec-WebSocket-Extensions: permessage-deflate\r\n"));
        Assert.That((await raw.ReadResponseAsync()).StatusCode, Is.EqualTo(101));
        var frame = await raw.ReadFrameAsync();
        Assert.That(frame.Rsv1, Is.False);
        Assert.That(frame.Payload.Length, Is.EqualTo(1000));
    }

    [Test]
    public async Task DeflateBombIsCutAtTheLimitWith1009()
    {
        await using var server = await TestKestrel.StartWithTransportAsync(o =>
        {
            o.MaxMessageBytes = 64 * 1024;
            o.Compression.Enabled = true;
        });
        await using var raw = await RawConnection.ConnectAsync(server.Port);
        await raw.SendAsync(RawConnection.UpgradeRequest(extraHeaders: "Sec-WebSocket-Extensions: permessage-deflate\r\n"));
        Assert.That((await raw.ReadResponseAsync()).StatusCode, Is.EqualTo(101));
        var bomb = Deflate(new byte[8 * 1024 * 1024]);
        Assert.That(bomb.Length, Is.LessThan(64 * 1024), "small on the wire, so only the inflated size can trip the limit");
        await raw.SendFrameAsync(0x2, bomb, rsv: 0x40);
        Assert.That((await raw.ReadCloseAsync()).Code, Is.EqualTo(1009));
    }

    [TestCase("rsv1-on-continuation")]
    [TestCase("rsv1-on-ping")]
    [TestCase("corrupt")]
    [TestCase("rsv1-not-negotiated")]
    public async Task BrokenCompressedInputFailsTheConnection(string broken)
    {
        await using var raw = await RawConnection.ConnectAsync(_server.Port);
        var offer = broken == "rsv1-not-negotiated" ? string.Empty : "Sec-WebSocket-Extensions: permessage-deflate\r\n";
        await raw.SendAsync(RawConnection.UpgradeRequest(broken == "rsv1-not-negotiated" ? "/plain" : "/echo", extraHeaders: offer));
        Assert.That((await raw.ReadResponseAsync()).StatusCode, Is.EqualTo(101));
        var expected = 1002;
        switch (broken)
        {
            case "rsv1-on-continuation":
                await raw.SendFrameAsync(0x1, Deflate("abc"u8.ToArray()), fin: false, rsv: 0x40);
                await raw.SendFrameAsync(0x0, Deflate("def"u8.ToArray()), rsv: 0x40);
                break;
            case "rsv1-on-ping":
                await raw.SendFrameAsync(0x9, [1, 2], rsv: 0x40);
                break;
            case "corrupt":
                await raw.SendFrameAsync(0x2, [0xFF, 0xFF, 0xFF, 0x00, 0x13, 0x37], rsv: 0x40);
                expected = 1007;
                break;
            default:
                await raw.SendFrameAsync(0x1, Deflate("abc"u8.ToArray()), rsv: 0x40);
                break;
        }

        Assert.That((await raw.ReadCloseAsync()).Code, Is.EqualTo(expected));
    }

    /// <summary>Raw deflate with a sync flush and the 00 00 FF FF tail removed, as RFC 7692 senders do.</summary>
    private static byte[] Deflate(byte[] data)
    {
        var output = new MemoryStream();
        using (var deflate = new DeflateStream(output, CompressionLevel.Optimal, leaveOpen: true))
        {
            deflate.Write(data);
            deflate.Flush();
            var bytes = output.ToArray();
            Assert.That(bytes[^4..], Is.EqualTo(new byte[] { 0, 0, 0xFF, 0xFF }));
            return bytes[..^4];
        }
    }

    private static byte[] Inflate(byte[] data)
    {
        using var inflate = new DeflateStream(new MemoryStream(data.Concat(new byte[] { 0, 0, 0xFF, 0xFF }).ToArray()), CompressionMode.Decompress);
        var output = new MemoryStream();
        var buffer = new byte[8192];
        try
        {
            int read;
            while ((read = inflate.Read(buffer)) > 0)
            {
                output.Write(buffer, 0, read);
            }
        }
        catch (InvalidDataException)
        {
            // The stream has no final block; everything before it was read.
        }

        return output.ToArray();
    }
}
