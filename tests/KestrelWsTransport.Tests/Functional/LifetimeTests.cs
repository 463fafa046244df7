using System.Diagnostics.Metrics;
using System.Net;
using System.Net.WebSockets;
using System.Text;
using KestrelWsTransport.Tests.Infrastructure;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;

namespace KestrelWsTransport.Tests.Functional;

/// <summary>Shutdown, keepalive, the WebSocket-only handler form, the WebSocket adapter, metrics.</summary>
[TestFixture]
public class LifetimeTests
{
    [Test]
    public async Task HostShutdownClosesOpenWebSocketsWith1001()
    {
        var server = await TestKestrel.StartWithTransportAsync();
        using var client = new ClientWebSocket();
        await client.ConnectAsync(server.Ws(), CancellationToken.None);

        var receive = client.ReceiveAsync(new byte[100], CancellationToken.None);
        var stop = server.StopAsync();
        var result = await receive.WaitAsync(TimeSpan.FromSeconds(15));

        Assert.That(result.MessageType, Is.EqualTo(WebSocketMessageType.Close));
        Assert.That(client.CloseStatus, Is.EqualTo(WebSocketCloseStatus.EndpointUnavailable));
        await client.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        await stop.WaitAsync(TimeSpan.FromSeconds(15));
        await server.DisposeAsync();
    }

    [Test]
    public async Task KeepAliveAbortsAPeerThatStopsAnsweringPings()
    {
        await using var server = await TestKestrel.StartWithTransportAsync(o =>
        {
            o.KeepAliveInterval = TimeSpan.FromSeconds(1);
            o.KeepAliveTimeout = TimeSpan.FromSeconds(1);
        });
        await using var raw = await RawConnection.ConnectAsync(server.Port);
        await raw.SendAsync(RawConnection.UpgradeRequest());
        Assert.That((await raw.ReadResponseAsync()).StatusCode, Is.EqualTo(101));

        // Never answer: the server pings, waits, then gives up on us.
        var ping = await raw.ReadFrameAsync();
        Assert.That(ping.Opcode, Is.EqualTo(0x9));
        Assert.That(await raw.WaitForServerCloseAsync(TimeSpan.FromSeconds(15)), Is.True);
        await server.Logs.WaitForAsync("KeepAliveTimeout");
    }

    [Test]
    public async Task KeepAliveLeavesAnsweringPeersAlone()
    {
        await using var server = await TestKestrel.StartWithTransportAsync(o =>
        {
            o.KeepAliveInterval = TimeSpan.FromSeconds(1);
            o.KeepAliveTimeout = TimeSpan.FromSeconds(1);
        });
        using var client = new ClientWebSocket();
        await client.ConnectAsync(server.Ws(), CancellationToken.None);
        // ClientWebSocket answers pings while a receive is pending; stay quiet for several intervals.
        var receive = client.ReceiveAsync(new byte[100], CancellationToken.None);
        await Task.Delay(TimeSpan.FromSeconds(4));
        Assert.That(client.State, Is.EqualTo(WebSocketState.Open));
        await client.SendAsync("still open"u8.ToArray(), WebSocketMessageType.Text, true, CancellationToken.None);
        var result = await receive.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.That(result.MessageType, Is.EqualTo(WebSocketMessageType.Text));
        Assert.That(server.Logs.Named("KeepAliveTimeout"), Is.Empty);
    }

    [Test]
    public async Task ConnectionHandlerFormServesWebSocketsAndRefusesTheRest()
    {
        await using var server = await TestKestrel.StartAsync(k => k.Listen(IPAddress.Loopback, 0, lo => lo.UseConnectionHandler<WebSocketConnectionHandler>()));

        using var client = new ClientWebSocket();
        await client.ConnectAsync(server.Ws(), CancellationToken.None);
        await client.SendAsync("only websockets here"u8.ToArray(), WebSocketMessageType.Text, true, CancellationToken.None);
        var (_, echoed) = await ClientWebSocketEchoTests.ReceiveMessageAsync(client);
        Assert.That(Encoding.UTF8.GetString(echoed), Is.EqualTo("only websockets here"));

        await using (var raw = await RawConnection.ConnectAsync(server.Port))
        {
            await raw.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
            Assert.That((await raw.ReadResponseAsync()).StatusCode, Is.EqualTo(404));
        }

        await using (var raw = await RawConnection.ConnectAsync(server.Port))
        {
            await raw.SendAsync("GET /echo HTTP/1.1\r\nHost: a\r\n\r\n");
            var response = await raw.ReadResponseAsync();
            Assert.That(response.StatusCode, Is.EqualTo(400));
            Assert.That(await raw.WaitForServerCloseAsync(), Is.True);
        }

        await using (var raw = await RawConnection.ConnectAsync(server.Port))
        {
            await raw.SendAsync("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
            Assert.That((await raw.ReadResponseAsync()).StatusCode, Is.EqualTo(400));
        }
    }

    [Test]
    public async Task WebSocketAdapterRunsCodeWrittenForSystemNetWebSockets()
    {
        await using var server = await TestKestrel.StartWithTransportAsync(o => o.Map("/adapter", async (connection, ct) =>
        {
            // Code that only knows System.Net.WebSockets.WebSocket, fed small buffers so messages come in pieces.
            var socket = connection.AsWebSocket();
            var buffer = new byte[7];
            using var message = new MemoryStream();
            while (true)
            {
                var result = await socket.ReceiveAsync(buffer, ct);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "bye", ct);
                    return;
                }

                message.Write(buffer, 0, result.Count);
                if (result.EndOfMessage)
                {
                    await socket.SendAsync(message.ToArray(), result.MessageType, true, ct);
                    message.SetLength(0);
                }
            }
        }));

        using var client = new ClientWebSocket();
        await client.ConnectAsync(server.Ws("/adapter"), CancellationToken.None);
        var text = "a message longer than the adapter's seven-byte buffer";
        await client.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, true, CancellationToken.None);
        var (type, echoed) = await ClientWebSocketEchoTests.ReceiveMessageAsync(client);
        Assert.That(type, Is.EqualTo(WebSocketMessageType.Text));
        Assert.That(Encoding.UTF8.GetString(echoed), Is.EqualTo(text));
        await client.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        Assert.That(client.CloseStatus, Is.EqualTo(WebSocketCloseStatus.NormalClosure));
    }

    [Test]
    public async Task MeterCountsHandshakesMessagesAndCloses()
    {
        var measurements = new List<(string Name, long Value, Dictionary<string, object?> Tags)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "KestrelWsTransport")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            var map = new Dictionary<string, object?>();
            foreach (var tag in tags)
            {
                map[tag.Key] = tag.Value;
            }

            lock (measurements)
            {
                measurements.Add((instrument.Name, value, map));
            }
        });
        listener.Start();

        await using var server = await TestKestrel.StartWithTransportAsync();
        using (var client = new ClientWebSocket())
        {
            await client.ConnectAsync(server.Ws(), CancellationToken.None);
            await client.SendAsync("metered"u8.ToArray(), WebSocketMessageType.Text, true, CancellationToken.None);
            await ClientWebSocketEchoTests.ReceiveMessageAsync(client);
            await client.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        }

        await server.Logs.WaitForAsync("ConnectionClosed");
        List<(string Name, long Value, Dictionary<string, object?> Tags)> seen;
        lock (measurements)
        {
            seen = measurements.ToList();
        }

        Assert.That(seen.Any(m => m.Name == "kestrelws.handshakes" && Equals(m.Tags["result"], "accepted")), Is.True);
        Assert.That(seen.Any(m => m.Name == "kestrelws.messages.received" && m.Value == 1), Is.True);
        Assert.That(seen.Where(m => m.Name == "kestrelws.bytes.sent").Sum(m => m.Value), Is.GreaterThanOrEqualTo(7));
        Assert.That(seen.Any(m => m.Name == "kestrelws.closes" && Equals(m.Tags["code"], 1000)), Is.True);
    }
}
