using System.Net;
using System.Net.WebSockets;
using System.Text;
using KestrelWsTransport.Tests.Infrastructure;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;

namespace KestrelWsTransport.Tests.Functional;

/// <summary>
/// RFC 6455 5.5.1 and 7.1.1: once close frames have crossed (or the connection failed), the server closes TCP, first. At
/// connection level that happens at once, not when the handler returns: each handler here keeps running after its Close
/// message, and the client must still see the server's FIN.
/// </summary>
[TestFixture]
public class CloseEndsTcpTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(5);

    private TestKestrel _server = null!;
    private TaskCompletionSource _release = null!;
    private TaskCompletionSource _handlerSawClose = null!;

    [OneTimeSetUp]
    public async Task StartAsync() => _server = await TestKestrel.StartWithTransportAsync(o => o
        .Map("/linger", LingerAfterCloseAsync)
        .Map("/server-closes", CloseThenLingerAsync));

    [OneTimeTearDown]
    public async Task StopAsync() => await _server.DisposeAsync();

    [SetUp]
    public void Reset()
    {
        _release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _handlerSawClose = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    [TearDown]
    public void ReleaseHandlers() => _release.TrySetResult();

    // Receives until Close, then goes on with "other work" until the test is over.
    private async Task LingerAfterCloseAsync(WebSocketConnection connection, CancellationToken cancellationToken)
    {
        while (!(await connection.ReceiveAsync(cancellationToken)).IsClose)
        {
        }

        _handlerSawClose.TrySetResult();
        await _release.Task;
    }

    private async Task CloseThenLingerAsync(WebSocketConnection connection, CancellationToken cancellationToken)
    {
        await connection.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", cancellationToken);
        _handlerSawClose.TrySetResult();
        await _release.Task;
    }

    [Test]
    public async Task AnsweringThePeersCloseEndsTcpWhileTheHandlerStillRuns()
    {
        await using var raw = await UpgradeAsync("/linger");
        await raw.SendFrameAsync(0x8, [0x03, 0xE8]);

        Assert.That((await raw.ReadCloseAsync()).Code, Is.EqualTo(1000));
        Assert.That(await raw.WaitForServerCloseAsync(Bound), Is.True, "the server ended TCP after answering the close");
        await _handlerSawClose.Task.WaitAsync(Bound);
        Assert.That(_release.Task.IsCompleted, Is.False, "the handler was still running when TCP ended");
    }

    [Test]
    public async Task ThePeersAnswerToOurCloseEndsTcpWhileTheHandlerStillRuns()
    {
        await using var raw = await UpgradeAsync("/server-closes");
        var close = await raw.ReadCloseAsync();
        Assert.That((close.Code, close.Reason), Is.EqualTo((1000, "bye")));

        await raw.SendFrameAsync(0x8, [0x03, 0xE8]);
        Assert.That(await raw.WaitForServerCloseAsync(Bound), Is.True, "the server ended TCP once the peer answered its close");
        await _handlerSawClose.Task.WaitAsync(Bound);
        Assert.That(_release.Task.IsCompleted, Is.False);
    }

    [Test]
    public async Task AFailedConnectionEndsTcpAfterItsCloseFrame()
    {
        await using var raw = await UpgradeAsync("/linger");
        // Opcode 0x3 is reserved: the server fails the connection with 1002.
        await raw.SendFrameAsync(0x3, Encoding.ASCII.GetBytes("x"));

        Assert.That((await raw.ReadCloseAsync()).Code, Is.EqualTo(1002));
        Assert.That(await raw.WaitForServerCloseAsync(Bound), Is.True, "the server ended TCP after failing the connection");
        await _handlerSawClose.Task.WaitAsync(Bound);
        Assert.That(_release.Task.IsCompleted, Is.False);
    }

    [Test]
    public async Task MessagesSentBeforeTheCloseArriveBeforeIt()
    {
        // The close answer leaves with whatever the handler had sent before it, in order, then FIN.
        await using var raw = await UpgradeAsync("/echo");
        var frames = RawConnection.EncodeClientFrame(0x1, "one"u8.ToArray())
            .Concat(RawConnection.EncodeClientFrame(0x1, "two"u8.ToArray()))
            .Concat(RawConnection.EncodeClientFrame(0x8, [0x03, 0xE8]))
            .ToArray();
        await raw.SendAsync(frames);

        Assert.That(Encoding.UTF8.GetString((await raw.ReadFrameAsync()).Payload), Is.EqualTo("one"));
        Assert.That(Encoding.UTF8.GetString((await raw.ReadFrameAsync()).Payload), Is.EqualTo("two"));
        Assert.That((await raw.ReadCloseAsync()).Code, Is.EqualTo(1000));
        Assert.That(await raw.WaitForServerCloseAsync(Bound), Is.True);
    }

    [Test]
    public async Task OverTlsTheCloseFrameArrivesAndTheStreamEndsWhenTheHandlerReturns()
    {
        // Behind UseHttps the transport is Kestrel's TLS stream adapter: ending its output delivers what was flushed but
        // does not end the TLS stream or TCP; that still happens when the handler returns. The close frame must arrive
        // all the same, and nothing may be logged as an error.
        await using var tls = await TestKestrel.StartAsync(
            k => k.Listen(IPAddress.Loopback, 0, lo =>
            {
                lo.UseHttps(TestCertificates.Localhost);
                lo.UseWebSocketTransport();
            }),
            o => o.Map("/linger", LingerAfterCloseAsync));
        await using var client = await TlsConnection.OpenAsync(tls.Port);
        await client.SendAsync(RawConnection.UpgradeRequest("/linger"));
        Assert.That((await client.ReadResponseAsync()).StatusCode, Is.EqualTo(101));

        await client.Stream.WriteAsync(RawConnection.EncodeClientFrame(0x8, [0x03, 0xE8]));
        await client.Stream.FlushAsync();
        using var timeout = new CancellationTokenSource(RawConnection.DefaultTimeout);
        var close = new byte[4];
        await client.Stream.ReadExactlyAsync(close, timeout.Token);
        Assert.That(close, Is.EqualTo(new byte[] { 0x88, 0x02, 0x03, 0xE8 }), "the server's close frame, unmasked, code 1000");
        await _handlerSawClose.Task.WaitAsync(Bound);

        _release.TrySetResult();
        var rest = new byte[64];
        int read;
        try
        {
            read = await client.Stream.ReadAsync(rest, timeout.Token);
        }
        catch (IOException)
        {
            read = 0;
        }

        Assert.That(read, Is.Zero, "the TLS stream ended once the handler returned");
        Assert.That(tls.Logs.Entries.Where(e => e.Level >= LogLevel.Error), Is.Empty);
    }

    private async Task<RawConnection> UpgradeAsync(string path)
    {
        var raw = await RawConnection.ConnectAsync(_server.Port);
        await raw.SendAsync(RawConnection.UpgradeRequest(path));
        Assert.That((await raw.ReadResponseAsync()).StatusCode, Is.EqualTo(101));
        return raw;
    }
}
