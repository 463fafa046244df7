using System.Net.WebSockets;
using System.Text;
using KestrelWsTransport.Tests.Infrastructure;

namespace KestrelWsTransport.Tests.Functional;

/// <summary>Inputs that broke other servers: each gets a precise answer, and the server stays up for everyone else.</summary>
[TestFixture]
public class HostileInputTests
{
    private TestKestrel _server = null!;

    [OneTimeSetUp]
    public async Task StartAsync() => _server = await TestKestrel.StartWithTransportAsync(o =>
        o.Map("/proto", TestKestrel.EchoAsync, e => e.SubProtocols = ["chat"]));

    [OneTimeTearDown]
    public async Task StopAsync() => await _server.DisposeAsync();

    [TearDown]
    public async Task ServerStillEchoes()
    {
        using var client = new ClientWebSocket();
        await client.ConnectAsync(_server.Ws(), CancellationToken.None);
        await client.SendAsync("still fine"u8.ToArray(), WebSocketMessageType.Text, true, CancellationToken.None);
        var (_, payload) = await ClientWebSocketEchoTests.ReceiveMessageAsync(client);
        Assert.That(Encoding.UTF8.GetString(payload), Is.EqualTo("still fine"));
    }

    private async Task<RawConnection> OpenAsync()
    {
        var raw = await RawConnection.ConnectAsync(_server.Port);
        await raw.SendAsync(RawConnection.UpgradeRequest());
        Assert.That((await raw.ReadResponseAsync()).StatusCode, Is.EqualTo(101));
        return raw;
    }

    [TestCase(1)]
    [TestCase(0)]
    public async Task HundredThousandFragmentsHitTheFragmentLimitWith1008(int fragmentSize)
    {
        await using var raw = await OpenAsync();
        var fragment = new byte[fragmentSize];
        var batch = new List<byte>(RawConnection.EncodeClientFrame(0x2, fragment, fin: false));
        var continuation = RawConnection.EncodeClientFrame(0x0, fragment, fin: false);
        for (var i = 1; i < 100_000; i++)
        {
            batch.AddRange(continuation);
        }

        var send = raw.SendAsync(batch.ToArray());
        Assert.That((await raw.ReadCloseAsync()).Code, Is.EqualTo(1008));
        try
        {
            await send;
        }
        catch (IOException)
        {
            // The server closed the connection after failing it.
        }
    }

    [Test]
    public async Task LengthNear2Pow63IsRefusedBeforeBuffering()
    {
        await using var raw = await OpenAsync();
        // FIN + binary, masked, 64-bit length 0x7FFF_FFFF_FFFF_FFFF, a mask key, and no payload at all.
        await raw.SendAsync([0x82, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3, 4]);
        Assert.That((await raw.ReadCloseAsync()).Code, Is.EqualTo(1009));
    }

    [Test]
    public async Task LengthWithTheTopBitSetIs1002()
    {
        await using var raw = await OpenAsync();
        await raw.SendAsync([0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4]);
        Assert.That((await raw.ReadCloseAsync()).Code, Is.EqualTo(1002));
    }

    [Test]
    public async Task OneMebibyteHeadGets431()
    {
        await using var raw = await RawConnection.ConnectAsync(_server.Port);
        var send = raw.SendAsync(RawConnection.UpgradeRequest(extraHeaders: $"X-Pad: {new string('a', 1024 * 1024)}\r\n"));
        Assert.That((await raw.ReadResponseAsync()).StatusCode, Is.EqualTo(431));
        try
        {
            await send;
        }
        catch (IOException)
        {
        }
    }

    [Test]
    public async Task TenThousandHeadersGet431()
    {
        await using var raw = await RawConnection.ConnectAsync(_server.Port);
        var headers = string.Concat(Enumerable.Range(0, 10_000).Select(i => $"X-{i}: v\r\n"));
        var send = raw.SendAsync(RawConnection.UpgradeRequest(extraHeaders: headers));
        Assert.That((await raw.ReadResponseAsync()).StatusCode, Is.EqualTo(431));
        try
        {
            await send;
        }
        catch (IOException)
        {
        }
    }

    [Test]
    public async Task ProtocolHeaderOfOneTokenAndFiftyThousandSpacesIsAnsweredNotHung()
    {
        await using var server = await TestKestrel.StartWithTransportAsync(o =>
        {
            o.MaxRequestHeadBytes = 1024 * 1024;
            o.Map("/proto", TestKestrel.EchoAsync, e => e.SubProtocols = ["chat"]);
        });
        await using var raw = await RawConnection.ConnectAsync(server.Port);
        await raw.SendAsync(RawConnection.UpgradeRequest("/proto", extraHeaders: $"Sec-WebSocket-Protocol: chat{new string(' ', 50_000)},\r\n"));
        var response = await raw.ReadResponseAsync();
        Assert.That(response.StatusCode, Is.EqualTo(101));
        Assert.That(response.Headers["Sec-WebSocket-Protocol"], Is.EqualTo("chat"));
    }

    [Test]
    public async Task ThousandsOfSubprotocolTokensAreHandled()
    {
        await using var raw = await RawConnection.ConnectAsync(_server.Port);
        var tokens = string.Join(", ", Enumerable.Range(0, 1500).Select(i => $"p{i}")) + ", chat";
        await raw.SendAsync(RawConnection.UpgradeRequest("/proto", extraHeaders: $"Sec-WebSocket-Protocol: {tokens}\r\n"));
        var response = await raw.ReadResponseAsync();
        Assert.That(response.StatusCode, Is.EqualTo(101));
        Assert.That(response.Headers["Sec-WebSocket-Protocol"], Is.EqualTo("chat"));
    }

    [TestCase("Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n", 400)]
    [TestCase("Sec-WebSocket-Version: 13\r\n", 426)]
    public async Task DuplicateHandshakeHeadersAreRefused(string duplicate, int status)
    {
        await using var raw = await RawConnection.ConnectAsync(_server.Port);
        await raw.SendAsync(RawConnection.UpgradeRequest(extraHeaders: duplicate));
        Assert.That((await raw.ReadResponseAsync()).StatusCode, Is.EqualTo(status));
    }

    [Test]
    public async Task ExtensionOffersWithHostileParametersAreDeclinedNotFatal()
    {
        await using var server = await TestKestrel.StartWithTransportAsync(o => o.Compression.Enabled = true);
        await using var raw = await RawConnection.ConnectAsync(server.Port);
        await raw.SendAsync(RawConnection.UpgradeRequest(extraHeaders: "Sec-WebSocket-Extensions: permessage-deflate; constructor, permessage-deflate; __proto__=1, permessage-deflate; client_max_window_bits=abc\r\n"));
        var response = await raw.ReadResponseAsync();
        Assert.That(response.StatusCode, Is.EqualTo(101));
        Assert.That(response.Headers.ContainsKey("Sec-WebSocket-Extensions"), Is.False);
    }

    [Test]
    public async Task NulAndNonUtf8BytesInTheTargetGoToHttpWhichRefusesThem()
    {
        await using var raw = await RawConnection.ConnectAsync(_server.Port);
        var request = Encoding.ASCII.GetBytes("GET /echo").Concat(new byte[] { 0x00, 0xC3, 0x28 }).Concat(Encoding.ASCII.GetBytes(" HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")).ToArray();
        await raw.SendAsync(request);
        Assert.That((await raw.ReadResponseAsync()).StatusCode, Is.EqualTo(400));
    }

    [Test]
    public async Task TlsClientHelloOnAPlainPortIsRefusedAndTheServerStaysUp()
    {
        await using var raw = await RawConnection.ConnectAsync(_server.Port);
        var hello = new byte[512];
        new Random(3).NextBytes(hello);
        hello[0] = 0x16;
        hello[1] = 0x03;
        hello[2] = 0x01;
        await raw.SendAsync(hello);
        Assert.That(await raw.WaitForServerCloseAsync(), Is.True);
    }
}
