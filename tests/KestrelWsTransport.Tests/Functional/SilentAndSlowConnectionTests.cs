using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;
using System.Net.WebSockets;
using System.Text;
using KestrelWsTransport.Tests.Infrastructure;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace KestrelWsTransport.Tests.Functional;

/// <summary>
/// Issue 7: connections that send nothing, or send a head a byte at a time, end at the handshake timeout; connections
/// HTTP already has are left to HTTP; normal clients are served meanwhile.
/// </summary>
[TestFixture]
[NonParallelizable]
public class SilentAndSlowConnectionTests
{
    private static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(2);

    // Generous on purpose: the build machines have 2 shared cores, and the bound only has to tell "cut at the timeout"
    // from "left open for Kestrel's 130 s".
    private static readonly TimeSpan Margin = TimeSpan.FromSeconds(5);

    // Each clock starts before its connect, so the server's timer starts later; this only covers timer granularity.
    private static readonly TimeSpan Slack = TimeSpan.FromMilliseconds(50);

    private static Task<TestKestrel> StartAsync() => TestKestrel.StartWithTransportAsync(o => o.HandshakeTimeout = HandshakeTimeout);

    [Test]
    public async Task TwoHundredSilentConnectionsAreClosedAtTheHandshakeTimeoutWhileAnEchoGoesOn()
    {
        const int Silent = 200;
        await using var server = await StartAsync();
        using var handshakes = HandshakeResults.Listen(server);

        using var ws = new ClientWebSocket();
        await ws.ConnectAsync(server.Ws(), CancellationToken.None);

        var clock = Stopwatch.StartNew();
        var connections = new List<RawConnection>();
        try
        {
            for (var i = 0; i < Silent; i++)
            {
                connections.Add(await RawConnection.ConnectAsync(server.Port));
            }

            var allOpen = clock.Elapsed;
            Assert.That(await EchoAsync(ws, "while they wait"), Is.EqualTo("while they wait"));
            var echoed = clock.Elapsed;

            var closedAt = await Task.WhenAll(connections.Select(async c =>
                await c.WaitForServerCloseAsync(HandshakeTimeout + Margin + allOpen) ? clock.Elapsed : TimeSpan.MaxValue));

            Assert.That(closedAt.Count(t => t == TimeSpan.MaxValue), Is.Zero, "silent connections the server left open");
            Assert.That(closedAt.Min(), Is.GreaterThanOrEqualTo(HandshakeTimeout - Slack), "none before the timeout");
            Assert.That(closedAt.Max(), Is.LessThan(allOpen + HandshakeTimeout + Margin), "all soon after it");
            Assert.That(echoed, Is.LessThan(closedAt.Min()), "the first echo ran while the silent connections were open");
        }
        finally
        {
            foreach (var connection in connections)
            {
                await connection.DisposeAsync();
            }
        }

        // The WebSocket is older than the timeout: an upgraded connection is not the timer's business.
        Assert.That(await EchoAsync(ws, "after they were cut"), Is.EqualTo("after they were cut"));
        using (var fresh = new ClientWebSocket())
        {
            await fresh.ConnectAsync(server.Ws(), CancellationToken.None);
            Assert.That(await EchoAsync(fresh, "a new one"), Is.EqualTo("a new one"));
        }

        await WaitUntilAsync(() => server.Logs.Named("SilentConnectionClosed").Count() >= Silent);
        Assert.That(server.Logs.Named("SilentConnectionClosed").Count(), Is.EqualTo(Silent));
        Assert.That(handshakes.Count("NoData"), Is.EqualTo(Silent));
        Assert.That(handshakes.Count("accepted"), Is.EqualTo(2));
        Assert.That(server.Logs.Named("PassedToHttp"), Is.Empty, "silent connections are no longer handed to HTTP");
        Assert.That(server.Logs.Named("HandshakeRefused"), Is.Empty, "nothing was sent, so nothing is answered");
    }

    /// <summary>A slowloris: one byte every 200 ms, never stopping; at the timeout it gets 408 and the socket closes.</summary>
    [TestCase("mapped path, from the first byte")]
    [TestCase("mapped path, after the request line")]
    [TestCase("unmapped path, from the first byte")]
    public async Task HeadSentAByteAtATimeGets408AtTheHandshakeTimeout(string how)
    {
        // From the first byte, the request line is still incomplete at the timeout (20 bytes take 4 s), so the
        // connection is undecided even for an unmapped path. After a request line for a mapped path, the head is ours.
        var (atOnce, head) = how switch
        {
            "mapped path, from the first byte" => ("", RawConnection.UpgradeRequest()),
            "mapped path, after the request line" => ("GET /echo HTTP/1.1\r\n", RawConnection.UpgradeRequest()["GET /echo HTTP/1.1\r\n".Length..]),
            _ => ("", "GET /other HTTP/1.1\r\nHost: a\r\n\r\n"),
        };
        await using var server = await StartAsync();
        using var handshakes = HandshakeResults.Listen(server);
        var clock = Stopwatch.StartNew();
        await using var raw = await RawConnection.ConnectAsync(server.Port);
        if (atOnce.Length > 0)
        {
            await raw.SendAsync(atOnce);
        }

        using var stop = new CancellationTokenSource();
        var trickle = TrickleAsync(raw, head, stop.Token);
        var response = await raw.ReadResponseAsync();
        var answeredAt = clock.Elapsed;
        await stop.CancelAsync();
        var sent = await trickle;

        Assert.That(response.StatusCode, Is.EqualTo(408));
        Assert.That(response.Headers["Connection"], Is.EqualTo("close"));
        Assert.That(response.Body, Does.Contain("did not arrive in time"));
        Assert.That(answeredAt, Is.GreaterThanOrEqualTo(HandshakeTimeout - Slack));
        Assert.That(answeredAt, Is.LessThan(HandshakeTimeout + Margin));
        Assert.That(sent, Is.LessThan(head.Length), "the head was still coming when it was cut");
        Assert.That(await raw.WaitForServerCloseAsync(), Is.True);
        await server.Logs.WaitForAsync("HandshakeRefused", where: e => e.Message.Contains(" 408:"));
        Assert.That(handshakes.Count("HandshakeTimeout"), Is.EqualTo(1));
        Assert.That(server.Logs.Named("PassedToHttp"), Is.Empty);
    }

    [Test]
    public async Task SlowHeadersOfARequestAlreadyHandedToHttpAreLeftToHttp()
    {
        await using var server = await StartAsync();
        var clock = Stopwatch.StartNew();
        await using var raw = await RawConnection.ConnectAsync(server.Port);

        // The request line decides it (GET on a path the transport does not serve): HTTP has it from here on.
        await raw.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n");
        await server.Logs.WaitForAsync("PassedToHttp");
        const string SlowHeader = "X-Slow: 0123456789abcdef\r\n";
        var sent = await TrickleAsync(raw, SlowHeader, CancellationToken.None);
        Assert.That(sent, Is.EqualTo(SlowHeader.Length), "every byte was taken: the connection was not cut");
        Assert.That(clock.Elapsed, Is.GreaterThan(HandshakeTimeout + TimeSpan.FromSeconds(1)), "the head outlived the handshake timeout");

        await raw.SendAsync("\r\n");
        var response = await raw.ReadResponseAsync();
        Assert.That(response.StatusCode, Is.EqualTo(200));
        Assert.That(response.Body, Is.EqualTo("hello over HTTP/HTTP/1.1"));
        Assert.That(server.Logs.Named("HandshakeRefused"), Is.Empty);
        Assert.That(server.Logs.Named("SilentConnectionClosed"), Is.Empty);
    }

    [Test]
    public async Task KeepAliveConnectionIdleLongerThanTheHandshakeTimeoutKeepsServingHttp()
    {
        await using var server = await StartAsync();
        await using var raw = await RawConnection.ConnectAsync(server.Port);
        await raw.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        Assert.That((await raw.ReadResponseAsync()).StatusCode, Is.EqualTo(200));

        await Task.Delay(HandshakeTimeout + TimeSpan.FromSeconds(1));

        await raw.SendAsync("GET /echo HTTP/1.1\r\nHost: a\r\n\r\n");
        var second = await raw.ReadResponseAsync();
        Assert.That(second.StatusCode, Is.EqualTo(200));
        Assert.That(second.Body, Is.EqualTo("plain GET on the WebSocket path"));
        Assert.That(server.Logs.Named("SilentConnectionClosed"), Is.Empty);
        Assert.That(server.Logs.Named("HandshakeRefused"), Is.Empty);
    }

    [Test]
    public async Task WebSocketOnlyHandlerClosesSilentConnectionsAndAnswersSlowOnes408()
    {
        await using var server = await TestKestrel.StartAsync(
            k => k.Listen(IPAddress.Loopback, 0, lo => lo.UseConnectionHandler<WebSocketConnectionHandler>()),
            o => o.HandshakeTimeout = HandshakeTimeout);
        using var handshakes = HandshakeResults.Listen(server);
        var clock = Stopwatch.StartNew();
        await using var silent = await RawConnection.ConnectAsync(server.Port);
        await using var slow = await RawConnection.ConnectAsync(server.Port);
        await slow.SendAsync("GET /ec");

        var response = await slow.ReadResponseAsync();
        Assert.That(response.StatusCode, Is.EqualTo(408));
        Assert.That(await silent.WaitForServerCloseAsync(Margin), Is.True);
        Assert.That(clock.Elapsed, Is.GreaterThanOrEqualTo(HandshakeTimeout - Slack));
        await WaitUntilAsync(() => handshakes.Count("NoData") == 1);
        Assert.That(handshakes.Count("HandshakeTimeout"), Is.EqualTo(1));
        Assert.That(server.Logs.Named("SilentConnectionClosed").Count(), Is.EqualTo(1));
    }

    /// <summary>Sends one byte every 200 ms until done, cancelled, or the server is gone; returns how many went out.</summary>
    private static async Task<int> TrickleAsync(RawConnection raw, string text, CancellationToken cancellationToken)
    {
        var sent = 0;
        try
        {
            foreach (var b in Encoding.ASCII.GetBytes(text))
            {
                await raw.SendAsync([b]);
                sent++;
                await Task.Delay(200, cancellationToken);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException)
        {
        }

        return sent;
    }

    private static async Task<string> EchoAsync(ClientWebSocket ws, string text)
    {
        await ws.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, true, CancellationToken.None);
        var (_, payload) = await ClientWebSocketEchoTests.ReceiveMessageAsync(ws);
        return Encoding.UTF8.GetString(payload);
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!condition() && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }
    }

    /// <summary>Counts <c>kestrelws.handshakes</c> by result, for one server's meter only (other tests run alongside).</summary>
    private sealed class HandshakeResults : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly ConcurrentDictionary<string, int> _counts = new();

        private HandshakeResults(object meterScope)
        {
            _listener.InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == "KestrelWsTransport" && instrument.Name == "kestrelws.handshakes" && ReferenceEquals(instrument.Meter.Scope, meterScope))
                {
                    l.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
            {
                foreach (var tag in tags)
                {
                    if (tag.Key == "result")
                    {
                        _counts.AddOrUpdate((string)tag.Value!, (int)value, (_, n) => n + (int)value);
                    }
                }
            });
            _listener.Start();
        }

        public static HandshakeResults Listen(TestKestrel server) => new(server.Services.GetRequiredService<IMeterFactory>());

        public int Count(string result) => _counts.TryGetValue(result, out var n) ? n : 0;

        public void Dispose() => _listener.Dispose();
    }
}
