using System.Net;
using System.Net.Security;
using System.Net.WebSockets;
using System.Text;
using KestrelWsTransport.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace KestrelWsTransport.Tests.Functional;

/// <summary>Everything that is not one of our WebSockets reaches Kestrel's HTTP pipeline untouched, on the same port.</summary>
[TestFixture]
public class HttpCoexistenceTests
{
    [Test]
    public async Task PlainHttp11KeepAliveRequestsWorkNextToWebSockets()
    {
        await using var server = await TestKestrel.StartWithTransportAsync();
        using var ws = new ClientWebSocket();
        await ws.ConnectAsync(server.Ws(), CancellationToken.None);

        using var handler = new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(1) };
        using var http = new HttpClient(handler) { DefaultRequestVersion = HttpVersion.Version11 };
        for (var i = 0; i < 5; i++)
        {
            var body = await http.GetStringAsync(server.Http("/"));
            Assert.That(body, Is.EqualTo("hello over HTTP/HTTP/1.1"));
        }

        // A plain GET on the WebSocket path is HTTP's, not ours.
        Assert.That(await http.GetStringAsync(server.Http("/echo")), Is.EqualTo("plain GET on the WebSocket path"));

        await ws.SendAsync("still here"u8.ToArray(), WebSocketMessageType.Text, true, CancellationToken.None);
        var (_, echoed) = await ClientWebSocketEchoTests.ReceiveMessageAsync(ws);
        Assert.That(Encoding.UTF8.GetString(echoed), Is.EqualTo("still here"));
    }

    [Test]
    public async Task SeveralRequestsOnOneRawConnectionAllGetAnswers()
    {
        await using var server = await TestKestrel.StartWithTransportAsync();
        await using var raw = await RawConnection.ConnectAsync(server.Port);
        // Two pipelined requests in one write, then a third: the sniffer must leave every byte for HTTP.
        await raw.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /echo HTTP/1.1\r\nHost: a\r\n\r\n");
        var first = await raw.ReadResponseAsync();
        var second = await raw.ReadResponseAsync();
        await raw.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        var third = await raw.ReadResponseAsync();

        Assert.That(first.StatusCode, Is.EqualTo(200));
        Assert.That(first.Body, Is.EqualTo("hello over HTTP/HTTP/1.1"));
        Assert.That(second.Body, Is.EqualTo("plain GET on the WebSocket path"));
        Assert.That(third.StatusCode, Is.EqualTo(200));
    }

    [Test]
    public async Task RequestThatTricklesInByteByByteStillReachesHttp()
    {
        await using var server = await TestKestrel.StartWithTransportAsync();
        await using var raw = await RawConnection.ConnectAsync(server.Port);
        foreach (var b in Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: a\r\n\r\n"))
        {
            await raw.SendAsync([b]);
        }

        var response = await raw.ReadResponseAsync();
        Assert.That(response.StatusCode, Is.EqualTo(200));
    }

    [Test]
    public async Task PostAndUnmappedPathsGoToHttp()
    {
        await using var server = await TestKestrel.StartWithTransportAsync(app: a => a.MapPost("/post", async (Microsoft.AspNetCore.Http.HttpRequest r) => await new StreamReader(r.Body).ReadToEndAsync()));
        using var http = new HttpClient();
        var posted = await http.PostAsync(server.Http("/post"), new StringContent("body bytes"));
        Assert.That(await posted.Content.ReadAsStringAsync(), Is.EqualTo("body bytes"));
        var missing = await http.GetAsync(server.Http("/nothing-here"));
        Assert.That(missing.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
    }

    [Test]
    public async Task Http2WithPriorKnowledgeWorksOnAnHttp2OnlyEndpoint()
    {
        await using var server = await TestKestrel.StartWithTransportAsync(protocols: HttpProtocols.Http2);
        using var http = new HttpClient { DefaultRequestVersion = HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };
        var response = await http.GetAsync(server.Http("/"));
        Assert.That(response.Version, Is.EqualTo(HttpVersion.Version20));
        Assert.That(await response.Content.ReadAsStringAsync(), Is.EqualTo("hello over HTTP/HTTP/2"));
    }

    [Test]
    public async Task Http2OverTlsAndWssShareOnePort()
    {
        await using var server = await TestKestrel.StartAsync(k => k.Listen(IPAddress.Loopback, 0, lo =>
        {
            lo.Protocols = HttpProtocols.Http1AndHttp2;
            lo.UseHttps(TestCertificates.Localhost);
            lo.UseWebSocketTransport();
        }));

        using var handler = new SocketsHttpHandler { SslOptions = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = (_, _, _, _) => true } };
        using var http = new HttpClient(handler) { DefaultRequestVersion = HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };
        var h2 = await http.GetAsync(server.Https("/"));
        Assert.That(h2.Version, Is.EqualTo(HttpVersion.Version20));
        Assert.That(await h2.Content.ReadAsStringAsync(), Is.EqualTo("hello over HTTP/HTTP/2"));

        using var http11 = new HttpClient(new SocketsHttpHandler { SslOptions = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = (_, _, _, _) => true } })
        { DefaultRequestVersion = HttpVersion.Version11, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };
        Assert.That(await http11.GetStringAsync(server.Https("/")), Is.EqualTo("hello over HTTP/HTTP/1.1"));

        using var wss = new ClientWebSocket();
        wss.Options.RemoteCertificateValidationCallback = (_, _, _, _) => true;
        await wss.ConnectAsync(server.Wss(), CancellationToken.None);
        var payload = new byte[100_000];
        Random.Shared.NextBytes(payload);
        await wss.SendAsync(payload, WebSocketMessageType.Binary, true, CancellationToken.None);
        var (type, echoed) = await ClientWebSocketEchoTests.ReceiveMessageAsync(wss);
        Assert.That(type, Is.EqualTo(WebSocketMessageType.Binary));
        Assert.That(echoed, Is.EqualTo(payload));

        // The transport saw decrypted bytes: the upgrade was answered at connection level, not by HTTP.
        var accepted = await server.Logs.WaitForAsync("UpgradeAccepted");
        Assert.That(accepted.Message, Does.Contain("via connection"));
    }

    [Test]
    public async Task NonHttpBytesAreHandedToHttpWhichRejectsThem()
    {
        await using var server = await TestKestrel.StartWithTransportAsync();
        await using var raw = await RawConnection.ConnectAsync(server.Port);
        await raw.SendAsync(new byte[] { 0x16, 0x03, 0x01, 0x00, 0x10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 });
        var response = await raw.ReadResponseAsync();
        Assert.That(response.StatusCode, Is.EqualTo(400), "Kestrel's HTTP/1.1 parser answers garbage with 400");

        // ...and the server is still fine for everyone else.
        using var ws = new ClientWebSocket();
        await ws.ConnectAsync(server.Ws(), CancellationToken.None);
        Assert.That(ws.State, Is.EqualTo(WebSocketState.Open));
    }
}
