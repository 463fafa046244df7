using System.Net.WebSockets;
using System.Text;
using KestrelWsTransport.Tests.Infrastructure;

namespace KestrelWsTransport.Tests.Functional;

/// <summary>Handshakes as bytes on a real socket: splits, errors, limits and timeouts.</summary>
[TestFixture]
public class HandshakeOverSocketTests
{
    private TestKestrel _server = null!;

    [OneTimeSetUp]
    public async Task StartAsync() => _server = await TestKestrel.StartWithTransportAsync(o =>
    {
        o.HandshakeTimeout = TimeSpan.FromSeconds(2);
        o.MaxRequestHeadBytes = 2048;
        o.Map("/guarded", TestKestrel.EchoAsync, e => e.AllowedOrigins = ["https://good.example"]);
        o.Map("/details", DescribeRequestAsync, e =>
        {
            e.SubProtocols = ["chat"];
            e.CapturedHeaders.Add("X-Tenant");
        });
    });

    // Sends the request's details as one text message, then closes.
    private static async Task DescribeRequestAsync(WebSocketConnection connection, CancellationToken cancellationToken)
    {
        var request = connection.Request;
        var headers = string.Join(",", request.Headers.Select(h => $"{h.Key}={h.Value}"));
        await connection.SendTextAsync($"{request.SubProtocol ?? "-"}|{request.QueryString ?? "-"}|{headers}", cancellationToken);
        await connection.CloseAsync(WebSocketCloseStatus.NormalClosure, null, cancellationToken);
    }

    [OneTimeTearDown]
    public async Task StopAsync() => await _server.DisposeAsync();

    [Test]
    public async Task UpgradeSplitIntoOneByteWritesIsAccepted()
    {
        await using var raw = await RawConnection.ConnectAsync(_server.Port);
        foreach (var b in Encoding.ASCII.GetBytes(RawConnection.UpgradeRequest()))
        {
            await raw.SendAsync([b]);
        }

        var response = await raw.ReadResponseAsync();
        Assert.That(response.StatusCode, Is.EqualTo(101));
        Assert.That(response.Headers["Sec-WebSocket-Accept"], Is.EqualTo("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
        Assert.That(response.Headers["Upgrade"], Is.EqualTo("websocket"));
    }

    [Test]
    public async Task FramesSentInTheSameWriteAsTheHeadAreNotLost()
    {
        await using var raw = await RawConnection.ConnectAsync(_server.Port);
        var head = Encoding.ASCII.GetBytes(RawConnection.UpgradeRequest());
        var frames = RawConnection.EncodeClientFrame(0x1, "one"u8.ToArray()).Concat(RawConnection.EncodeClientFrame(0x2, [1, 2, 3])).ToArray();
        await raw.SendAsync(head.Concat(frames).ToArray());

        Assert.That((await raw.ReadResponseAsync()).StatusCode, Is.EqualTo(101));
        var first = await raw.ReadFrameAsync();
        var second = await raw.ReadFrameAsync();
        Assert.That((first.Opcode, Encoding.UTF8.GetString(first.Payload)), Is.EqualTo(((byte)1, "one")));
        Assert.That((second.Opcode, second.Payload), Is.EqualTo(((byte)2, new byte[] { 1, 2, 3 })));
    }

    [TestCase("GET /echo HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n", 400, "Sec-WebSocket-Key")]
    [TestCase("GET /echo HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: c2hvcnQ=\r\nSec-WebSocket-Version: 13\r\n\r\n", 400, "Sec-WebSocket-Key")]
    [TestCase("GET /echo HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", 400, "Host")]
    [TestCase("GET /echo HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: keep-alive\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", 400, "Connection")]
    [TestCase("GET /echo HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n", 426, "version 13")]
    [TestCase("GET /guarded HTTP/1.1\r\nHost: a\r\nOrigin: https://evil.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", 403, "origin")]
    public async Task BadUpgradeGetsAPreciseErrorAndTheConnectionCloses(string request, int status, string reasonFragment)
    {
        await using var raw = await RawConnection.ConnectAsync(_server.Port);
        await raw.SendAsync(request);
        var response = await raw.ReadResponseAsync();

        Assert.That(response.StatusCode, Is.EqualTo(status));
        Assert.That(response.Body, Does.Contain(reasonFragment).IgnoreCase);
        Assert.That(response.Headers["Connection"], Is.EqualTo("close"));
        if (status == 426)
        {
            Assert.That(response.Headers["Sec-WebSocket-Version"], Is.EqualTo("13"));
        }

        Assert.That(await raw.WaitForServerCloseAsync(), Is.True);
        Assert.That(_server.Logs.Named("HandshakeRefused").Any(e => e.Message.Contains($" {status}:")), Is.True);
    }

    [Test]
    public async Task AHandshakeCarriesNothingOverFromTheOneBefore()
    {
        // The sniffer's scratch state is pooled and reused: a handshake with a subprotocol, a query and a captured
        // header, then many without, on the same server, one at a time so that they take the same pooled state.
        Assert.That(await DescribeAsync("/details?room=1", "Sec-WebSocket-Protocol: chat\r\nX-Tenant: acme\r\n"), Is.EqualTo("chat|room=1|X-Tenant=acme"));
        for (var i = 0; i < 20; i++)
        {
            Assert.That(await DescribeAsync("/details", null), Is.EqualTo("-|-|"), $"handshake {i}");
        }

        // A refused handshake between them leaves nothing either.
        await using (var refused = await RawConnection.ConnectAsync(_server.Port))
        {
            await refused.SendAsync(RawConnection.UpgradeRequest("/guarded", extraHeaders: "Origin: https://evil.example\r\n"));
            Assert.That((await refused.ReadResponseAsync()).StatusCode, Is.EqualTo(403));
        }

        Assert.That(await DescribeAsync("/details", "X-Tenant: other\r\n"), Is.EqualTo("-|-|X-Tenant=other"));
    }

    private async Task<string> DescribeAsync(string target, string? extraHeaders)
    {
        await using var raw = await RawConnection.ConnectAsync(_server.Port);
        await raw.SendAsync(RawConnection.UpgradeRequest(target, extraHeaders: extraHeaders));
        var response = await raw.ReadResponseAsync();
        Assert.That(response.StatusCode, Is.EqualTo(101));
        var frame = await raw.ReadFrameAsync();
        Assert.That(frame.Opcode, Is.EqualTo(1));
        return Encoding.UTF8.GetString(frame.Payload);
    }

    [Test]
    public async Task AllowedOriginIsAccepted()
    {
        await using var raw = await RawConnection.ConnectAsync(_server.Port);
        await raw.SendAsync(RawConnection.UpgradeRequest("/guarded", extraHeaders: "Origin: https://GOOD.example\r\n"));
        Assert.That((await raw.ReadResponseAsync()).StatusCode, Is.EqualTo(101));
    }

    [Test]
    public async Task OversizedHeadGets431()
    {
        await using var raw = await RawConnection.ConnectAsync(_server.Port);
        await raw.SendAsync(RawConnection.UpgradeRequest(extraHeaders: $"X-Big: {new string('x', 4000)}\r\n"));
        var response = await raw.ReadResponseAsync();
        Assert.That(response.StatusCode, Is.EqualTo(431));
        Assert.That(await raw.WaitForServerCloseAsync(), Is.True);
    }

    [Test]
    public async Task SlowHeadIsCutOffAtTheHandshakeTimeout()
    {
        await using var raw = await RawConnection.ConnectAsync(_server.Port);
        await raw.SendAsync("GET /echo HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n");
        // ...and nothing more. The server answers 408 after HandshakeTimeout (2 s here) and closes.
        var response = await raw.ReadResponseAsync();
        Assert.That(response.StatusCode, Is.EqualTo(408));
        Assert.That(await raw.WaitForServerCloseAsync(), Is.True);
    }

    [Test]
    public async Task BadHandshakesDoNotDisturbOpenWebSockets()
    {
        using var ws = new ClientWebSocket();
        await ws.ConnectAsync(_server.Ws(), CancellationToken.None);
        for (var i = 0; i < 20; i++)
        {
            await using var raw = await RawConnection.ConnectAsync(_server.Port);
            await raw.SendAsync("GET /echo HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 99\r\n\r\n");
            Assert.That((await raw.ReadResponseAsync()).StatusCode, Is.EqualTo(426));
        }

        await ws.SendAsync("alive"u8.ToArray(), WebSocketMessageType.Text, true, CancellationToken.None);
        var (_, payload) = await ClientWebSocketEchoTests.ReceiveMessageAsync(ws);
        Assert.That(Encoding.UTF8.GetString(payload), Is.EqualTo("alive"));
    }
}
