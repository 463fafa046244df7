using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Security.Authentication;
using System.Text;
using KestrelWsTransport.Tests.Infrastructure;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace KestrelWsTransport.Tests.Functional;

/// <summary>
/// One handler, every way in: the connection-level upgrade, an HTTP/1.1 upgrade sent on a keep-alive connection that
/// HTTP already served, and an HTTP/2 extended CONNECT (RFC 8441). The same scenarios run on each, over TLS.
/// </summary>
[TestFixture]
public class EveryRouteTests
{
    private TestKestrel _server = null!;

    [OneTimeSetUp]
    public async Task StartAsync() => _server = await TestKestrel.StartAsync(
        k => k.Listen(IPAddress.Loopback, 0, lo =>
        {
            lo.Protocols = HttpProtocols.Http1AndHttp2;
            lo.UseHttps(TestCertificates.Localhost);
            lo.UseWebSocketTransport();
        }),
        o =>
        {
            o.MaxMessageBytes = 1024 * 1024;
            o.Map("/route", async (connection, ct) =>
            {
                // The only thing a handler can tell apart: which way the WebSocket came.
                await connection.SendTextAsync(connection.Request.Route.ToString(), ct);
                await TestKestrel.EchoAsync(connection, ct);
            });
            o.Map("/details", async (connection, ct) =>
            {
                // At connection level these are read from Kestrel's connection when asked, not copied at the upgrade.
                var r = connection.Request;
                var text = $"{r.IsSecure}|{(r.RemoteEndPoint as IPEndPoint)?.Address}|{(r.LocalEndPoint as IPEndPoint)?.Port}|" +
                    $"{r.ApplicationProtocol ?? "none"}|{r.ConnectionId.Length > 0}|{r.Path}|{r.QueryString}|{r.SubProtocol ?? "none"}|{r.Headers.Count}";
                await connection.SendTextAsync(text, ct);
                await TestKestrel.EchoAsync(connection, ct);
            });
        });

    [OneTimeTearDown]
    public async Task StopAsync() => await _server.DisposeAsync();

    public static IEnumerable<WebSocketRoute> Routes => [WebSocketRoute.Connection, WebSocketRoute.Http1Upgrade, WebSocketRoute.Http2ExtendedConnect];

    [TestCaseSource(nameof(Routes))]
    public async Task HandlerSeesTheRouteItCameBy(WebSocketRoute route)
    {
        using var socket = await ConnectAsync(route, "/route");
        var (_, payload) = await ClientWebSocketEchoTests.ReceiveMessageAsync(socket);
        Assert.That(Encoding.UTF8.GetString(payload), Is.EqualTo(route.ToString()));
        await _server.Logs.WaitForAsync("UpgradeAccepted", where: e => e.Message.Contains("via " + RouteTag(route)));
    }

    [TestCaseSource(nameof(Routes))]
    public async Task HandlerSeesTheConnectionsDetails(WebSocketRoute route)
    {
        using var socket = await ConnectAsync(route, "/details?a=1");
        var (_, payload) = await ClientWebSocketEchoTests.ReceiveMessageAsync(socket);

        // ALPN: the hand-made TLS client of the HTTP/1.1 route offers http/1.1, HTTP/2 needs h2; the runtime's
        // ClientWebSocket over HTTP/1.1 offers none.
        var alpn = route switch { WebSocketRoute.Http1Upgrade => "http/1.1", WebSocketRoute.Http2ExtendedConnect => "h2", _ => "none" };
        Assert.That(Encoding.UTF8.GetString(payload), Is.EqualTo($"True|127.0.0.1|{_server.Port}|{alpn}|True|/details|a=1|none|0"));
    }

    [TestCaseSource(nameof(Routes))]
    public async Task TextAndBinaryAreEchoed(WebSocketRoute route)
    {
        using var socket = await ConnectAsync(route, "/echo");
        var binary = new byte[200_000];
        new Random(7).NextBytes(binary);
        await socket.SendAsync(binary, WebSocketMessageType.Binary, true, CancellationToken.None);
        var echoedBinary = await ClientWebSocketEchoTests.ReceiveMessageAsync(socket);
        await socket.SendAsync(Encoding.UTF8.GetBytes("κόσμε"), WebSocketMessageType.Text, true, CancellationToken.None);
        var echoedText = await ClientWebSocketEchoTests.ReceiveMessageAsync(socket);

        Assert.That(echoedBinary.Type, Is.EqualTo(WebSocketMessageType.Binary));
        Assert.That(echoedBinary.Payload, Is.EqualTo(binary));
        Assert.That((echoedText.Type, Encoding.UTF8.GetString(echoedText.Payload)), Is.EqualTo((WebSocketMessageType.Text, "κόσμε")));
    }

    [TestCaseSource(nameof(Routes))]
    public async Task CloseCodeIsEchoed(WebSocketRoute route)
    {
        using var socket = await ConnectAsync(route, "/echo");
        await socket.CloseAsync((WebSocketCloseStatus)4001, "custom", CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(15));
        Assert.That((int?)socket.CloseStatus, Is.EqualTo(4001));
        Assert.That(socket.State, Is.EqualTo(WebSocketState.Closed));
    }

    [TestCaseSource(nameof(Routes))]
    public async Task MessageOverTheLimitIsRefusedWith1009(WebSocketRoute route)
    {
        using var socket = await ConnectAsync(route, "/echo");
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        // Receive while sending: the server refuses the message from its header and stops reading, so over HTTP/2 flow
        // control may never let the rest of the send through; the close frame arrives regardless.
        var receive = socket.ReceiveAsync(new byte[16], timeout.Token);
        var send = socket.SendAsync(new byte[1024 * 1024 + 1], WebSocketMessageType.Binary, true, timeout.Token);
        var result = await receive;
        Assert.That(result.MessageType, Is.EqualTo(WebSocketMessageType.Close));
        Assert.That(socket.CloseStatus, Is.EqualTo(WebSocketCloseStatus.MessageTooBig));
        try
        {
            await send;
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or IOException)
        {
            // The server ended the connection (or stream) after failing it; the rest of the send has nowhere to go.
        }
    }

    [Test]
    public async Task BadUpgradeThroughHttpGetsTheSameAnswerAsAtConnectionLevel()
    {
        await using var tls = await TlsConnection.OpenAsync(_server.Port);
        await tls.SendAsync("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
        Assert.That((await tls.ReadResponseAsync()).StatusCode, Is.EqualTo(200));
        await tls.SendAsync("GET /echo HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n");
        var response = await tls.ReadResponseAsync();
        Assert.That(response.StatusCode, Is.EqualTo(426));
        Assert.That(response.Headers["Sec-WebSocket-Version"], Is.EqualTo("13"));
    }

    private static string RouteTag(WebSocketRoute route) => route switch
    {
        WebSocketRoute.Connection => "connection",
        WebSocketRoute.Http1Upgrade => "http1-upgrade",
        _ => "http2",
    };

    private async Task<WebSocket> ConnectAsync(WebSocketRoute route, string path)
    {
        switch (route)
        {
            case WebSocketRoute.Connection:
            {
                var client = new ClientWebSocket();
                client.Options.RemoteCertificateValidationCallback = (_, _, _, _) => true;
                await client.ConnectAsync(_server.Wss(path), CancellationToken.None);
                return client;
            }

            case WebSocketRoute.Http2ExtendedConnect:
            {
                var client = new ClientWebSocket();
                client.Options.HttpVersion = HttpVersion.Version20;
                client.Options.HttpVersionPolicy = HttpVersionPolicy.RequestVersionExact;
                using var handler = new SocketsHttpHandler { SslOptions = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = (_, _, _, _) => true } };
                await client.ConnectAsync(_server.Wss(path), new HttpMessageInvoker(handler), CancellationToken.None);
                return client;
            }

            default:
            {
                // A keep-alive connection that HTTP already served, then an upgrade on it: the runtime's own
                // client WebSocket runs over the raw TLS stream after the 101.
                var tls = await TlsConnection.OpenAsync(_server.Port);
                await tls.SendAsync("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
                Assert.That((await tls.ReadResponseAsync()).StatusCode, Is.EqualTo(200));
                await tls.SendAsync($"GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
                var response = await tls.ReadResponseAsync();
                Assert.That(response.StatusCode, Is.EqualTo(101));
                Assert.That(response.Headers["Sec-WebSocket-Accept"], Is.EqualTo("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
                return WebSocket.CreateFromStream(tls.Stream, new WebSocketCreationOptions { IsServer = false, KeepAliveInterval = TimeSpan.Zero });
            }
        }
    }
}

/// <summary>A TLS connection speaking HTTP/1.1 by hand (ALPN http/1.1), for requests no client library sends.</summary>
public sealed class TlsConnection : IAsyncDisposable
{
    private readonly TcpClient _client;

    private TlsConnection(TcpClient client, SslStream stream)
    {
        _client = client;
        Stream = stream;
    }

    public SslStream Stream { get; }

    public static async Task<TlsConnection> OpenAsync(int port)
    {
        var client = new TcpClient(AddressFamily.InterNetwork);
        await client.ConnectAsync(IPAddress.Loopback, port);
        var ssl = new SslStream(client.GetStream());
        await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            RemoteCertificateValidationCallback = (_, _, _, _) => true,
            ApplicationProtocols = [SslApplicationProtocol.Http11],
            EnabledSslProtocols = SslProtocols.None,
        });
        return new TlsConnection(client, ssl);
    }

    public async Task SendAsync(string ascii)
    {
        await Stream.WriteAsync(Encoding.ASCII.GetBytes(ascii));
        await Stream.FlushAsync();
    }

    /// <summary>Reads a response head byte by byte (so nothing after it is swallowed) and a Content-Length body.</summary>
    public async Task<HttpResponseHead> ReadResponseAsync()
    {
        using var timeout = new CancellationTokenSource(RawConnection.DefaultTimeout);
        var head = new List<byte>();
        var one = new byte[1];
        while (head.Count < 4 || head[^1] != '\n' || head[^2] != '\r' || head[^3] != '\n' || head[^4] != '\r')
        {
            if (await Stream.ReadAsync(one, timeout.Token) == 0)
            {
                throw new EndOfStreamException();
            }

            head.Add(one[0]);
        }

        var response = HttpResponseHead.Parse(Encoding.ASCII.GetString(head.ToArray(), 0, head.Count - 4));
        if (response.Headers.TryGetValue("Content-Length", out var lengthText))
        {
            var body = new byte[int.Parse(lengthText)];
            await Stream.ReadExactlyAsync(body, timeout.Token);
            response = response with { Body = Encoding.UTF8.GetString(body) };
        }
        else if (response.Headers.TryGetValue("Transfer-Encoding", out var te) && te.Contains("chunked", StringComparison.OrdinalIgnoreCase))
        {
            // Small test bodies: read chunk lines until the terminating zero-size chunk.
            var text = new StringBuilder();
            while (true)
            {
                var line = await ReadLineAsync(timeout.Token);
                var size = Convert.ToInt32(line, 16);
                var chunk = new byte[size + 2];
                await Stream.ReadExactlyAsync(chunk, timeout.Token);
                if (size == 0)
                {
                    break;
                }

                text.Append(Encoding.UTF8.GetString(chunk, 0, size));
            }

            response = response with { Body = text.ToString() };
        }

        return response;
    }

    private async Task<string> ReadLineAsync(CancellationToken cancellationToken)
    {
        var line = new List<byte>();
        var one = new byte[1];
        while (line.Count < 2 || line[^1] != '\n' || line[^2] != '\r')
        {
            await Stream.ReadExactlyAsync(one, cancellationToken);
            line.Add(one[0]);
        }

        return Encoding.ASCII.GetString(line.ToArray(), 0, line.Count - 2);
    }

    public async ValueTask DisposeAsync()
    {
        await Stream.DisposeAsync();
        _client.Dispose();
    }
}
