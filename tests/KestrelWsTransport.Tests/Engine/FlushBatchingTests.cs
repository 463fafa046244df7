using System.Net.WebSockets;
using System.Text;
using static KestrelWsTransport.Tests.Infrastructure.FrameBuilder;

namespace KestrelWsTransport.Tests.Engine;

/// <summary>
/// Answers to frames that arrived together leave together: sends and pongs made while the receive side still holds
/// unread frames of the same read are flushed once, before the engine waits for more data; a handler that sends and
/// then stops receiving still gets its bytes out.
/// </summary>
[TestFixture]
internal sealed class FlushBatchingTests
{
    private static async Task EchoAsync(EngineHarness harness, int messages)
    {
        for (var i = 0; i < messages; i++)
        {
            var message = await harness.ReceiveAsync();
            Assert.That(message.IsClose, Is.False, $"message {i}");
            await harness.Connection.SendAsync(message.Payload, message.MessageType);
        }
    }

    /// <summary>Waits (bounded) until the server's output holds <paramref name="count"/> whole frames.</summary>
    private static async Task<List<ServerFrame>> ReadFramesAsync(EngineHarness harness, int count)
    {
        var frames = new List<ServerFrame>();
        while (frames.Count < count)
        {
            frames.Add(await harness.ReadFrameAsync());
        }

        return frames;
    }

    [Test]
    public async Task EchoesOfMessagesFromOneReadLeaveInOneFlush()
    {
        await using var harness = new EngineHarness();
        var frames = Enumerable.Range(0, 16).Select(i => TextFrame($"message {i}")).ToArray();
        await harness.SendAsync(frames);

        await EchoAsync(harness, 16);
        // The next receive finds no frame left: it flushes the 16 answers, then waits for data.
        var next = harness.Connection.ReceiveAsync().AsTask();

        var echoed = await ReadFramesAsync(harness, 16);
        Assert.That(echoed.Select(f => Encoding.UTF8.GetString(f.Payload)), Is.EqualTo(Enumerable.Range(0, 16).Select(i => $"message {i}")));
        // One flush for the whole read (a second one only if the backstop ran on another thread at an unlucky moment).
        Assert.That(harness.Output.Flushes, Is.InRange(1, 2), "flushes for 16 answers to one read");
        Assert.That(next.IsCompleted, Is.False, "the receive waits for data");

        await harness.SendAsync(CloseFrame(1000));
        Assert.That((await next).IsClose, Is.True);
    }

    [Test]
    public async Task MessagesInSeparateReadsAreFlushedAtOnce()
    {
        await using var harness = new EngineHarness();
        for (var i = 0; i < 3; i++)
        {
            await harness.SendAsync(TextFrame($"alone {i}"));
            await EchoAsync(harness, 1);
            // Nothing else was buffered: the send flushed by itself, without waiting for the next receive.
            var frame = await harness.ReadFrameAsync();
            Assert.That(Encoding.UTF8.GetString(frame.Payload), Is.EqualTo($"alone {i}"));
            Assert.That(harness.Output.Flushes, Is.EqualTo(i + 1));
        }
    }

    [Test]
    public async Task PongsForPingsInOneReadLeaveWithTheEchoInOneFlush()
    {
        await using var harness = new EngineHarness();
        var frames = Enumerable.Range(0, 10).Select(i => PingFrame([(byte)i])).Append(TextFrame("after the pings")).Append(TextFrame("last")).ToArray();
        await harness.SendAsync(frames);

        await EchoAsync(harness, 2);
        var next = harness.Connection.ReceiveAsync().AsTask();

        var written = await ReadFramesAsync(harness, 12);
        Assert.That(written.Take(10).Select(f => (f.Opcode, f.Payload[0])), Is.EqualTo(Enumerable.Range(0, 10).Select(i => (Pong, (byte)i))));
        Assert.That(written.Skip(10).Select(f => Encoding.UTF8.GetString(f.Payload)), Is.EqualTo(new[] { "after the pings", "last" }));
        Assert.That(harness.Output.Flushes, Is.InRange(1, 2), "flushes for 12 answers to one read");

        await harness.SendAsync(CloseFrame(1000));
        Assert.That((await next).IsClose, Is.True);
    }

    [Test]
    public async Task AHandlerThatSendsAndStopsReceivingStillGetsItsBytesOut()
    {
        await using var harness = new EngineHarness();
        await harness.SendAsync(TextFrame("first"), TextFrame("second"));

        // The second frame is still held, so this send's flush is deferred; the handler then does not receive again.
        await EchoAsync(harness, 1);

        var frame = await harness.ReadFrameAsync();
        Assert.That(Encoding.UTF8.GetString(frame.Payload), Is.EqualTo("first"));
        Assert.That(harness.Output.Flushes, Is.EqualTo(1), "the backstop flushed it");
    }

    [Test]
    public async Task DeferredBytesAreBoundedBy64KiB()
    {
        await using var harness = new EngineHarness();
        var payload = new byte[4096];
        var frames = Enumerable.Range(0, 40).Select(i => BinaryFrame(payload)).ToArray();
        await harness.SendAsync(frames);

        await EchoAsync(harness, 40);
        var next = harness.Connection.ReceiveAsync().AsTask();
        var echoed = await ReadFramesAsync(harness, 40);

        Assert.That(echoed, Has.Count.EqualTo(40));
        // 160 KiB of answers: never more than 64 KiB waits for a flush (plus the frame that crossed the bound), so at
        // least 3 flushes. How many more depends on when the backstop runs: this test's loop is not on the thread pool,
        // so the backstop runs on the other core at once and may flush mid-batch (CI saw 29 flushes for 40 answers);
        // EchoesOfMessagesFromOneReadLeaveInOneFlush covers the batching itself.
        Assert.That(harness.Output.LargestFlush, Is.LessThanOrEqualTo((64 * 1024) + 4100));
        Assert.That(harness.Output.Flushes, Is.InRange(3, 40));
        await harness.SendAsync(CloseFrame(1000));
        Assert.That((await next).IsClose, Is.True);
    }

    [Test]
    public async Task InvalidUtf8AfterValidMessagesInOneReadFailsWith1007()
    {
        await using var harness = new EngineHarness();
        await harness.SendAsync(TextFrame("fine"), Build(Text, [0xC3, 0x28]));

        var first = await harness.ReceiveAsync();
        Assert.That(first.MessageType, Is.EqualTo(WebSocketMessageType.Text));
        var second = await harness.ReceiveAsync();
        Assert.That(second.IsClose, Is.True);
        Assert.That(second.CloseStatus, Is.EqualTo(WebSocketCloseStatus.InvalidPayloadData));
        var close = await harness.ReadFrameAsync();
        Assert.That(close.CloseCode, Is.EqualTo(1007));
    }
}
