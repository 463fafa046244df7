using System.Net;
using System.Net.Security;
using System.Net.WebSockets;
using System.Text;
using KestrelWsTransport.Tests.Infrastructure;

namespace KestrelWsTransport.Tests.Functional;

/// <summary>samples/EchoServer as outside tools see it: addresses from --urls and from configuration, http and https.</summary>
[TestFixture]
[NonParallelizable]
public class SampleEchoServerTests
{
    private static readonly string CertDirectory = Path.Combine(Path.GetTempPath(), "kestrelws-tests-" + Environment.ProcessId);
    private const string CertPassword = "test-only-password";

    [OneTimeTearDown]
    public void CleanUp()
    {
        if (Directory.Exists(CertDirectory))
        {
            Directory.Delete(CertDirectory, recursive: true);
        }
    }

    [Test]
    public async Task UrlsArgumentServesThePageAndTheEchoOnOnePort()
    {
        await using var sample = await SampleProcess.StartAsync(1, "--urls", "http://127.0.0.1:0");
        var url = sample.Urls[0];

        using var http = new HttpClient();
        var page = await http.GetStringAsync(new Uri(url, "/"));
        Assert.That(page, Does.Contain("new WebSocket(`${base}/echo`)"));

        using var ws = new ClientWebSocket();
        await ws.ConnectAsync(new Uri($"ws://{url.Authority}/echo"), CancellationToken.None);
        await ws.SendAsync("text stays text"u8.ToArray(), WebSocketMessageType.Text, true, CancellationToken.None);
        var text = await ClientWebSocketEchoTests.ReceiveMessageAsync(ws);
        await ws.SendAsync(new byte[] { 0, 1, 2, 255 }, WebSocketMessageType.Binary, true, CancellationToken.None);
        var binary = await ClientWebSocketEchoTests.ReceiveMessageAsync(ws);

        Assert.That((text.Type, Encoding.UTF8.GetString(text.Payload)), Is.EqualTo((WebSocketMessageType.Text, "text stays text")));
        Assert.That((binary.Type, binary.Payload), Is.EqualTo((WebSocketMessageType.Binary, new byte[] { 0, 1, 2, 255 })));
    }

    [Test]
    public async Task ChatBroadcastsToEveryMember()
    {
        await using var sample = await SampleProcess.StartAsync(1, "--urls", "http://127.0.0.1:0");
        var chatUri = new Uri($"ws://{sample.Urls[0].Authority}/chat");
        using var alice = new ClientWebSocket();
        using var bob = new ClientWebSocket();
        await alice.ConnectAsync(chatUri, CancellationToken.None);
        await ReceiveUntilAsync(alice, "1 here");
        await bob.ConnectAsync(chatUri, CancellationToken.None);
        await ReceiveUntilAsync(alice, "2 here");

        await alice.SendAsync("hello bob"u8.ToArray(), WebSocketMessageType.Text, true, CancellationToken.None);
        Assert.That(await ReceiveUntilAsync(bob, "hello bob"), Is.EqualTo("hello bob"));
    }

    [Test]
    public async Task HttpsUrlWithCertificateFromConfigurationServesWssAndHttp2OnOnePort()
    {
        var pfx = TestCertificates.WritePfx(CertDirectory, CertPassword);
        await using var sample = await SampleProcess.StartAsync(1,
            "--urls", "https://127.0.0.1:0",
            "--Kestrel:Certificates:Default:Path", pfx,
            "--Kestrel:Certificates:Default:Password", CertPassword);
        await AssertHttpsAndWssAsync(sample.Urls[0]);
    }

    [Test]
    public async Task KestrelEndpointsFromConfigurationGetTheTransportAfterTls()
    {
        var pfx = TestCertificates.WritePfx(CertDirectory, CertPassword);
        await using var sample = await SampleProcess.StartAsync(2,
            "--Kestrel:Endpoints:Plain:Url", "http://127.0.0.1:0",
            "--Kestrel:Endpoints:Secure:Url", "https://127.0.0.1:0",
            "--Kestrel:Endpoints:Secure:Certificate:Path", pfx,
            "--Kestrel:Endpoints:Secure:Certificate:Password", CertPassword);

        var secure = sample.Urls.Single(u => u.Scheme == "https");
        await AssertHttpsAndWssAsync(secure);

        var plain = sample.Urls.Single(u => u.Scheme == "http");
        using var ws = new ClientWebSocket();
        await ws.ConnectAsync(new Uri($"ws://{plain.Authority}/echo"), CancellationToken.None);
        Assert.That(ws.State, Is.EqualTo(WebSocketState.Open));
    }

    private static async Task AssertHttpsAndWssAsync(Uri url)
    {
        var ssl = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = (_, _, _, _) => true };
        using var http = new HttpClient(new SocketsHttpHandler { SslOptions = ssl })
        {
            DefaultRequestVersion = HttpVersion.Version20,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        var page = await http.GetAsync(new Uri(url, "/"));
        Assert.That(page.Version, Is.EqualTo(HttpVersion.Version20), "the page comes over HTTP/2 (ALPN h2)");
        Assert.That(await page.Content.ReadAsStringAsync(), Does.Contain("KestrelWsTransport"));

        using var wss = new ClientWebSocket();
        wss.Options.RemoteCertificateValidationCallback = (_, _, _, _) => true;
        await wss.ConnectAsync(new Uri($"wss://{url.Authority}/echo"), CancellationToken.None);
        await wss.SendAsync("over tls"u8.ToArray(), WebSocketMessageType.Text, true, CancellationToken.None);
        var echoed = await ClientWebSocketEchoTests.ReceiveMessageAsync(wss);
        Assert.That(Encoding.UTF8.GetString(echoed.Payload), Is.EqualTo("over tls"));
    }

    private static async Task<string> ReceiveUntilAsync(ClientWebSocket socket, string fragment)
    {
        while (true)
        {
            var (_, payload) = await ClientWebSocketEchoTests.ReceiveMessageAsync(socket);
            var text = Encoding.UTF8.GetString(payload);
            if (text.Contains(fragment, StringComparison.Ordinal))
            {
                return text;
            }
        }
    }
}
