using System.Diagnostics.Metrics;
using System.Net.WebSockets;
using System.Text;
using KestrelWsTransport.Tests.Infrastructure;

namespace KestrelWsTransport.Tests.Functional;

/// <summary>Peers that stop reading or vanish mid-way: bounded memory, no leaked connections, others unaffected.</summary>
[TestFixture]
[NonParallelizable]
public class SlowAndBrokenPeerTests
{
    [Test]
    public async Task PeerThatStopsReadingIsDroppedAtTheOutgoingBufferLimit()
    {
        var sendFailures = 0;
        await using var server = await TestKestrel.StartWithTransportAsync(o =>
        {
            o.MaxOutgoingBufferBytes = 4 * 1024 * 1024;
            o.Map("/firehose", async (connection, ct) =>
            {
                // Start once the peer says so (so it has read the 101), then broadcast without waiting for each send:
                // sends pile up for a peer that reads nothing more.
                await connection.ReceiveAsync(ct);
                var chunk = new byte[256 * 1024];
                var pending = new List<Task>();
                for (var i = 0; i < 200 && !ct.IsCancellationRequested; i++)
                {
                    try
                    {
                        pending.Add(connection.SendAsync(chunk, WebSocketMessageType.Binary, true, ct).AsTask());
                    }
                    catch (InvalidOperationException)
                    {
                        Interlocked.Increment(ref sendFailures);
                        break;
                    }
                }

                try
                {
                    await Task.WhenAll(pending);
                }
                catch (Exception ex) when (ex is OperationCanceledException or IOException or InvalidOperationException or Microsoft.AspNetCore.Connections.ConnectionAbortedException)
                {
                }
            });
        });

        await using var raw = await RawConnection.ConnectAsync(server.Port);
        await raw.SendAsync(RawConnection.UpgradeRequest("/firehose"));
        Assert.That((await raw.ReadResponseAsync()).StatusCode, Is.EqualTo(101));
        await raw.SendFrameAsync(0x1, "go"u8.ToArray());
        // Read nothing more. The server must give up on us rather than queue 50 MiB.
        await server.Logs.WaitForAsync("BackpressureLimit", TimeSpan.FromSeconds(20));
        Assert.That(sendFailures, Is.EqualTo(1), "the send over the limit failed, and the broadcaster stopped");

        using var other = new ClientWebSocket();
        await other.ConnectAsync(server.Ws(), CancellationToken.None);
        await other.SendAsync("unaffected"u8.ToArray(), WebSocketMessageType.Text, true, CancellationToken.None);
        var (_, payload) = await ClientWebSocketEchoTests.ReceiveMessageAsync(other);
        Assert.That(Encoding.UTF8.GetString(payload), Is.EqualTo("unaffected"));
    }

    [TestCase("mid-handshake")]
    [TestCase("mid-frame")]
    [TestCase("mid-close")]
    public async Task AbruptDisconnectsLeaveNoActiveConnectionBehind(string when)
    {
        long active = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "KestrelWsTransport" && instrument.Name == "kestrelws.connections.active")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref active, value));
        listener.Start();

        await using var server = await TestKestrel.StartWithTransportAsync();
        for (var i = 0; i < 10; i++)
        {
            var raw = await RawConnection.ConnectAsync(server.Port);
            switch (when)
            {
                case "mid-handshake":
                    await raw.SendAsync("GET /echo HTTP/1.1\r\nHost: a\r\nUpgrade: websock");
                    break;
                case "mid-frame":
                    await raw.SendAsync(RawConnection.UpgradeRequest());
                    await raw.ReadResponseAsync();
                    await raw.SendAsync(RawConnection.EncodeClientFrame(0x2, new byte[1000])[..500]);
                    break;
                default:
                    await raw.SendAsync(RawConnection.UpgradeRequest());
                    await raw.ReadResponseAsync();
                    await raw.SendAsync(RawConnection.EncodeClientFrame(0x8, [0x03, 0xE8, (byte)'b'])[..4]);
                    break;
            }

            await raw.DisposeAsync();
        }

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (Interlocked.Read(ref active) != 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        Assert.That(Interlocked.Read(ref active), Is.Zero, "every WebSocket that opened was also closed");
        Assert.That(server.Logs.Entries.Where(e => e.Level >= Microsoft.Extensions.Logging.LogLevel.Error), Is.Empty, "no unhandled errors logged");
    }
}
