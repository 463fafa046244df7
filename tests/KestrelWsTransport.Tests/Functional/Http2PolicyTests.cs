using System.Net;
using System.Net.Security;
using System.Net.WebSockets;
using System.Text;
using KestrelWsTransport.Tests.Infrastructure;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace KestrelWsTransport.Tests.Functional;

/// <summary>What the bridge does with WebSockets over HTTP/2, per <see cref="WebSocketTransportOptions.Http2Policy"/>.</summary>
[TestFixture]
public class Http2PolicyTests
{
    private static Task<TestKestrel> StartAsync(Http2WebSocketPolicy policy) => TestKestrel.StartAsync(
        k => k.Listen(IPAddress.Loopback, 0, lo =>
        {
            lo.Protocols = HttpProtocols.Http1AndHttp2;
            lo.UseHttps(TestCertificates.Localhost);
            lo.UseWebSocketTransport();
        }),
        o => o.Http2Policy = policy);

    private static async Task<ClientWebSocket> ConnectOverHttp2Async(TestKestrel server, HttpVersionPolicy versionPolicy)
    {
        var client = new ClientWebSocket();
        client.Options.HttpVersion = HttpVersion.Version20;
        client.Options.HttpVersionPolicy = versionPolicy;
        var handler = new SocketsHttpHandler { SslOptions = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = (_, _, _, _) => true } };
        await client.ConnectAsync(server.Wss(), new HttpMessageInvoker(handler), CancellationToken.None);
        return client;
    }

    [Test]
    public async Task RequireHttp11ResetsTheStreamAndTheRetryArrivesAtConnectionLevel()
    {
        await using var server = await StartAsync(Http2WebSocketPolicy.RequireHttp11);

        // The extended CONNECT is reset with HTTP_1_1_REQUIRED...
        var reset = Assert.ThrowsAsync<WebSocketException>(() => ConnectOverHttp2Async(server, HttpVersionPolicy.RequestVersionExact));
        Assert.That(reset!.InnerException?.Message, Does.Contain("HTTP_1_1_REQUIRED"));

        // ...and the retry a browser then makes, over a new HTTP/1.1 connection, is served at connection level.
        // (SocketsHttpHandler does not retry a WebSocket by itself, so the test makes the retry.)
        using var client = new ClientWebSocket();
        client.Options.RemoteCertificateValidationCallback = (_, _, _, _) => true;
        await client.ConnectAsync(server.Wss(), CancellationToken.None);
        await client.SendAsync("after the retry"u8.ToArray(), WebSocketMessageType.Text, true, CancellationToken.None);
        var (_, payload) = await ClientWebSocketEchoTests.ReceiveMessageAsync(client);
        Assert.That(Encoding.UTF8.GetString(payload), Is.EqualTo("after the retry"));
        await server.Logs.WaitForAsync("UpgradeAccepted", where: e => e.Message.Contains("via connection"));
        Assert.That(server.Logs.Named("UpgradeAccepted").Any(e => e.Message.Contains("via http2")), Is.False);
    }

    [Test]
    public async Task RefuseAnswers403()
    {
        await using var server = await StartAsync(Http2WebSocketPolicy.Refuse);
        var error = Assert.ThrowsAsync<WebSocketException>(() => ConnectOverHttp2Async(server, HttpVersionPolicy.RequestVersionExact));
        Assert.That(error!.Message, Does.Contain("403"));
    }

    [Test]
    public async Task Http2OverCleartextPriorKnowledgeIsBridgedToo()
    {
        await using var server = await TestKestrel.StartWithTransportAsync(protocols: HttpProtocols.Http2);
        using var client = new ClientWebSocket();
        client.Options.HttpVersion = HttpVersion.Version20;
        client.Options.HttpVersionPolicy = HttpVersionPolicy.RequestVersionExact;
        await client.ConnectAsync(server.Ws(), new HttpMessageInvoker(new SocketsHttpHandler()), CancellationToken.None);
        await client.SendAsync("h2c"u8.ToArray(), WebSocketMessageType.Text, true, CancellationToken.None);
        var (_, payload) = await ClientWebSocketEchoTests.ReceiveMessageAsync(client);
        Assert.That(Encoding.UTF8.GetString(payload), Is.EqualTo("h2c"));
        await server.Logs.WaitForAsync("UpgradeAccepted", where: e => e.Message.Contains("via http2"));
    }
}
