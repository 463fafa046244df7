using System.Net.WebSockets;
using System.Text;
using KestrelWsTransport.Tests.Infrastructure;

namespace KestrelWsTransport.Tests.Functional;

/// <summary>Frames that break RFC 6455 get the close code the RFC names, on a real socket, and nobody else notices.</summary>
[TestFixture]
public class ProtocolErrorTests
{
    private TestKestrel _server = null!;

    [OneTimeSetUp]
    public async Task StartAsync() => _server = await TestKestrel.StartWithTransportAsync(o => o.MaxMessageBytes = 64 * 1024);

    [OneTimeTearDown]
    public async Task StopAsync() => await _server.DisposeAsync();

    private async Task<RawConnection> OpenAsync()
    {
        var raw = await RawConnection.ConnectAsync(_server.Port);
        await raw.SendAsync(RawConnection.UpgradeRequest());
        Assert.That((await raw.ReadResponseAsync()).StatusCode, Is.EqualTo(101));
        return raw;
    }

    [Test]
    public async Task UnmaskedFrameGets1002()
    {
        await using var raw = await OpenAsync();
        await raw.SendFrameAsync(0x1, "hi"u8.ToArray(), mask: false);
        Assert.That((await raw.ReadCloseAsync()).Code, Is.EqualTo(1002));
        Assert.That(await raw.WaitForServerCloseAsync(), Is.True);
    }

    [Test]
    public async Task InvalidUtf8TextGets1007()
    {
        await using var raw = await OpenAsync();
        await raw.SendFrameAsync(0x1, [0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE, 0xB5, 0xED, 0xA0, 0x80, 0x65]);
        Assert.That((await raw.ReadCloseAsync()).Code, Is.EqualTo(1007));
    }

    [Test]
    public async Task MessageOverTheLimitGets1009()
    {
        await using var raw = await OpenAsync();
        await raw.SendFrameAsync(0x2, new byte[64 * 1024 + 1]);
        Assert.That((await raw.ReadCloseAsync()).Code, Is.EqualTo(1009));
    }

    [Test]
    public async Task ReservedOpcodeGets1002()
    {
        await using var raw = await OpenAsync();
        await raw.SendFrameAsync(0x3, [1]);
        Assert.That((await raw.ReadCloseAsync()).Code, Is.EqualTo(1002));
    }

    [Test]
    public async Task PingIsAnsweredWithPongCarryingTheSamePayload()
    {
        await using var raw = await OpenAsync();
        await raw.SendFrameAsync(0x9, "are you there"u8.ToArray());
        var pong = await raw.ReadFrameAsync();
        Assert.That(pong.Opcode, Is.EqualTo(0xA));
        Assert.That(Encoding.UTF8.GetString(pong.Payload), Is.EqualTo("are you there"));
    }

    [Test]
    public async Task ProtocolErrorsAreLoggedCountedAndLeaveOthersAlone()
    {
        using var bystander = new ClientWebSocket();
        await bystander.ConnectAsync(_server.Ws(), CancellationToken.None);
        await using (var raw = await OpenAsync())
        {
            await raw.SendFrameAsync(0x1, "x"u8.ToArray(), rsv: 0x40);
            Assert.That((await raw.ReadCloseAsync()).Code, Is.EqualTo(1002));
        }

        var logged = await _server.Logs.WaitForAsync("ProtocolError", where: e => e.Message.Contains("Reserved bits"));
        Assert.That(logged.Message, Does.Contain("closing with ProtocolError"));
        await bystander.SendAsync("fine"u8.ToArray(), WebSocketMessageType.Text, true, CancellationToken.None);
        var (_, echoed) = await ClientWebSocketEchoTests.ReceiveMessageAsync(bystander);
        Assert.That(Encoding.UTF8.GetString(echoed), Is.EqualTo("fine"));
    }
}
