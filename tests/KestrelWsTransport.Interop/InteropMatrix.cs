using System.Text.Json;
using KestrelWsTransport.Interop.Clients;
using KestrelWsTransport.Interop.Infrastructure;

namespace KestrelWsTransport.Interop;

/// <summary>
/// Every (client, transport, scenario) row against samples/EchoServer started as a process: a difference between
/// clients shows up as one failing row, e.g. <c>Scenario("node-ws","wss","binary-16MiB")</c>.
/// Rows a client cannot express (the browser's fragments and pings, node ws over HTTP/2) are not generated.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class InteropMatrix
{
    private static readonly JsonSerializerOptions JsonOptions = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static IEnumerable<TestCaseData> Rows()
    {
        foreach (var client in InteropSetUp.Clients.Values)
        {
            foreach (var transport in client.SupportedTransports)
            {
                foreach (var scenario in Scenarios.All.Where(client.Supports))
                {
                    yield return new TestCaseData(client.Name, transport, scenario).SetCategory(client.Name);
                }
            }
        }
    }

    [TestCaseSource(nameof(Rows))]
    public async Task Scenario(string client, string transport, string scenario)
    {
        var interop = InteropSetUp.Clients[client];
        await interop.EnsureAvailableAsync();
        var server = await InteropServers.GetAsync(interop.ServerFor(transport));

        var observation = await interop.RunAsync(server, transport, scenario);
        var json = JsonSerializer.Serialize(observation, JsonOptions);
        await File.AppendAllTextAsync(InteropSetUp.ObservationsPath, $"{{\"row\":\"{client}/{transport}/{scenario}\",\"server\":\"{server.Name}\",\"observation\":{json}}}\n");
        TestContext.Out.WriteLine(json);

        var expected = Scenarios.Expect(scenario);
        try
        {
            using (Assert.EnterMultipleScope())
            {
                Assert.That(observation.Error, Is.Null, "the client reported an error");
                Assert.That(observation.Opened, Is.True, "the handshake succeeded");
                Assert.That(observation.Handshake, Is.EqualTo(interop.ExpectedHandshake(transport)), $"the client connected the way the {transport} rows mean");
                // The sample turns permessage-deflate on for /echo: clients that offer it (Node ws and Chromium do by
                // default) run compressed; ClientWebSocket offers nothing unless DangerousDeflateOptions is set.
                Assert.That(observation.Extensions ?? "", client == "dotnet-clientwebsocket" ? Is.Empty : Does.StartWith("permessage-deflate"),
                    "permessage-deflate is negotiated exactly when the client offers it");
                Assert.That(observation.Received, Is.EqualTo(expected.Messages), "the echoes (type, length, SHA-256)");
                if (expected.Messages.Count > 0)
                {
                    Assert.That(observation.EchoMatches, Is.True, "the client's own byte comparison of echo and sent message");
                }

                if (expected.Pong)
                {
                    Assert.That(observation.PongReceived, Is.True, "the pong came back");
                    if (observation.PongPayload is not null)
                    {
                        Assert.That(observation.PongPayload, Is.EqualTo(Scenarios.PingPayload), "the pong carries the ping's payload");
                    }
                }

                Assert.That(observation.CloseCode, Is.EqualTo(expected.CloseCode), "the close code the client sees (the server echoes the client's)");
                Assert.That(observation.WasClean, Is.True, "the close handshake completed");
            }
        }
        catch (Exception)
        {
            TestContext.Out.WriteLine($"sample '{server.Name}' ({server.Url}) log, last lines:\n{server.Tail(40)}");
            throw;
        }
    }

    /// <summary>
    /// The sample page as a person sees it, in Chromium: its own /echo socket opens, its buttons round-trip a text and a
    /// 64 KiB binary message, the screenshot is kept, and closing its socket shows the close code. Once per transport:
    /// the page over http, over https with HTTP/1.1 only, and over https with h2 (its sockets then go through the bridge).
    /// </summary>
    [TestCase(Transports.Ws)]
    [TestCase(Transports.Wss)]
    [TestCase(Transports.WssH2)]
    public async Task ChromiumSamplePage(string transport)
    {
        var chromium = (ChromiumClient)InteropSetUp.Clients["chromium"];
        await chromium.EnsureAvailableAsync();
        var server = await InteropServers.GetAsync(chromium.ServerFor(transport));
        var (context, page) = await chromium.OpenSamplePageAsync(server);
        try
        {
            var protocol = await page.EvaluateAsync<string>("() => performance.getEntriesByType('navigation')[0].nextHopProtocol");
            Assert.That("page " + protocol, Is.EqualTo(chromium.ExpectedHandshake(transport)), "the protocol the page came over");

            await page.ClickAsync("#send");
            await page.WaitForFunctionAsync("() => window.echoCount >= 1");
            Assert.That(await page.EvaluateAsync<string>("() => window.lastEcho"), Is.EqualTo("hello"));

            await page.ClickAsync("#binary");
            await page.WaitForFunctionAsync("() => window.echoCount >= 2");
            Assert.That(await page.EvaluateAsync<int>("() => window.lastEcho.byteLength"), Is.EqualTo(65536));
            Assert.That(await page.TextContentAsync("#status"), Is.EqualTo("open"));
            Assert.That(await page.TextContentAsync("#count"), Is.EqualTo("2"));

            var file = Path.Combine(Repository.ArtifactsDirectory, $"chromium-sample-page-{server.Name}.png");
            await page.ScreenshotAsync(new() { Path = file, FullPage = true });
            TestContext.AddTestAttachment(file, $"The sample page from the '{server.Name}' sample ({protocol}) in headless Chromium after two echoes");

            // The page's own socket: `echo` is a top-level const of the page's script.
            await page.EvaluateAsync("() => echo.close(1000, 'page test done')");
            await page.WaitForFunctionAsync("() => window.echoCloseCode !== undefined");
            Assert.That(await page.EvaluateAsync<int>("() => window.echoCloseCode"), Is.EqualTo(1000));
            Assert.That(await page.TextContentAsync("#status"), Is.EqualTo("closed (1000)"));
        }
        finally
        {
            await context.CloseAsync();
        }
    }
}
