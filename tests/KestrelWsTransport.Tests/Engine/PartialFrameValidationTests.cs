using System.Buffers;
using System.Net.WebSockets;
using System.Text;
using KestrelWsTransport.Tests.Infrastructure;
using static KestrelWsTransport.Tests.Infrastructure.FrameBuilder;

namespace KestrelWsTransport.Tests.Engine;

/// <summary>
/// A text frame that arrives in pieces is validated piece by piece: invalid UTF-8 fails the connection with 1007 as soon
/// as it arrives, without waiting for the rest of the frame (Autobahn 6.4.x), and valid text chopped anywhere (inside
/// a code point, inside the mask's 4-byte cycle) is delivered intact.
/// </summary>
[TestFixture]
internal sealed class PartialFrameValidationTests
{
    private const string Sample = "κόσμε-𝄞-€ and some ASCII after the multi-byte part";

    private static async Task<WebSocketMessage> ReceiveWithin(EngineHarness harness, Task<WebSocketMessage> receive)
    {
        var done = await Task.WhenAny(receive, Task.Delay(EngineHarness.HangGuard));
        Assert.That(done, Is.SameAs(receive), "the receive should have finished without the rest of the frame");
        return await receive;
    }

    [Test]
    public async Task InvalidUtf8InTheFirstPieceOfAFrameFailsBeforeTheRestArrives()
    {
        await using var harness = new EngineHarness();
        // A 1000-byte text frame whose 5th byte starts an invalid sequence (0xC0 is never valid); only 20 bytes arrive.
        var payload = Enumerable.Repeat((byte)'a', 1000).ToArray();
        payload[4] = 0xC0;
        var frame = Build(FrameBuilder.Text, payload);
        var receive = harness.Connection.ReceiveAsync().AsTask();
        await harness.SendAsync(frame[..24]);

        var message = await ReceiveWithin(harness, receive);
        Assert.That(message.IsClose, Is.True);
        Assert.That(message.CloseStatus, Is.EqualTo(WebSocketCloseStatus.InvalidPayloadData));
        Assert.That((await harness.ReadFrameAsync()).CloseCode, Is.EqualTo(1007));
    }

    [Test]
    public async Task InvalidUtf8InAContinuationPieceFailsBeforeTheRestArrives()
    {
        await using var harness = new EngineHarness();
        await harness.SendAsync(Build(FrameBuilder.Text, Encoding.UTF8.GetBytes("valid start "), fin: false));
        var continuation = Build(Continuation, [.. Encoding.UTF8.GetBytes("more "), 0xED, 0xA0, 0x80, .. Enumerable.Repeat((byte)'b', 500)]);
        var receive = harness.Connection.ReceiveAsync().AsTask();
        // Header (2 + 2 length + 4 key) and the surrogate U+D800 encoded (invalid in UTF-8), not the 500 bytes after it.
        await harness.SendAsync(continuation[..(8 + 8)]);

        var message = await ReceiveWithin(harness, receive);
        Assert.That(message.CloseStatus, Is.EqualTo(WebSocketCloseStatus.InvalidPayloadData));
    }

    private static IEnumerable<int> ChopSizes() => [1, 2, 3, 5, 7];

    [TestCaseSource(nameof(ChopSizes))]
    public async Task ValidTextChoppedAnywhereArrivesIntact(int chop)
    {
        await using var harness = new EngineHarness();
        var frame = Build(FrameBuilder.Text, Encoding.UTF8.GetBytes(Sample));
        var receive = harness.Connection.ReceiveAsync().AsTask();
        for (var offset = 0; offset < frame.Length; offset += chop)
        {
            await harness.SendAsync(frame[offset..Math.Min(frame.Length, offset + chop)]);
            // Let the engine look at each piece separately, so it really validates (and unmasks) in pieces.
            await Task.Yield();
        }

        var message = await receive.WaitAsync(EngineHarness.HangGuard);
        Assert.That(message.MessageType, Is.EqualTo(WebSocketMessageType.Text));
        Assert.That(Encoding.UTF8.GetString(message.Payload.ToArray()), Is.EqualTo(Sample));
    }

    [TestCaseSource(nameof(ChopSizes))]
    public async Task ValidFragmentedTextChoppedAnywhereArrivesIntact(int chop)
    {
        await using var harness = new EngineHarness();
        var bytes = Encoding.UTF8.GetBytes(Sample);
        // Split inside the 4-byte U+1D11E so the code point spans the two fragments.
        var cut = Array.IndexOf(bytes, (byte)0xF0) + 2;
        var wire = Concat(Build(FrameBuilder.Text, bytes[..cut], fin: false), Build(Continuation, bytes[cut..]));
        var receive = harness.Connection.ReceiveAsync().AsTask();
        for (var offset = 0; offset < wire.Length; offset += chop)
        {
            await harness.SendAsync(wire[offset..Math.Min(wire.Length, offset + chop)]);
            await Task.Yield();
        }

        var message = await receive.WaitAsync(EngineHarness.HangGuard);
        Assert.That(Encoding.UTF8.GetString(message.Payload.ToArray()), Is.EqualTo(Sample));

        // The engine is in a clean state afterwards: the next whole frame is read normally.
        await harness.SendAsync(TextFrame("next"));
        var next = await harness.ReceiveAsync();
        Assert.That(Encoding.UTF8.GetString(next.Payload.ToArray()), Is.EqualTo("next"));
    }

    // Binary frames are unmasked once whole, however they arrived; text pieces are unmasked as they come. Both must give
    // back exactly what was sent, and a frame that arrived in pieces must not disturb the frames read after it.
    [TestCaseSource(nameof(ChopSizes))]
    public async Task BinaryChoppedAnywhereArrivesIntact(int chop)
    {
        await using var harness = new EngineHarness();
        var payload = new byte[300];
        new Random(chop).NextBytes(payload);
        var frame = Build(FrameBuilder.Binary, payload);
        var receive = harness.Connection.ReceiveAsync().AsTask();
        for (var offset = 0; offset < frame.Length; offset += chop)
        {
            await harness.SendAsync(frame[offset..Math.Min(frame.Length, offset + chop)]);
            await Task.Yield();
        }

        var message = await receive.WaitAsync(EngineHarness.HangGuard);
        Assert.That(message.MessageType, Is.EqualTo(WebSocketMessageType.Binary));
        Assert.That(message.Payload.ToArray(), Is.EqualTo(payload));
    }

    [Test]
    public async Task ALargeBinaryFrameInManyPiecesThenSmallFramesInTheSameReadAllArriveIntact()
    {
        await using var harness = new EngineHarness();
        var big = new byte[1024 * 1024];
        new Random(7).NextBytes(big);
        var frame = Build(FrameBuilder.Binary, big);
        var receive = harness.Connection.ReceiveAsync().AsTask();
        // Uneven pieces (not multiples of 4), the last one carrying the frame's end and two more frames.
        var offset = 0;
        var step = 4093;
        while (frame.Length - offset > step)
        {
            await harness.SendAsync(frame[offset..(offset + step)]);
            offset += step;
            await Task.Yield();
        }

        await harness.SendAsync(Concat(frame[offset..], Build(FrameBuilder.Binary, [1, 2, 3]), TextFrame("after")));
        var message = await receive.WaitAsync(EngineHarness.HangGuard);
        Assert.That(message.Payload.ToArray().SequenceEqual(big), Is.True, "the 1 MiB payload differs");
        Assert.That((await harness.ReceiveAsync()).Payload.ToArray(), Is.EqualTo(new byte[] { 1, 2, 3 }));
        Assert.That(Encoding.UTF8.GetString((await harness.ReceiveAsync()).Payload.ToArray()), Is.EqualTo("after"));
    }

    [Test]
    public async Task ACodePointCutAtTheEndOfAPieceIsNotAnError()
    {
        await using var harness = new EngineHarness();
        var bytes = Encoding.UTF8.GetBytes("€€€");
        var frame = Build(FrameBuilder.Text, bytes);
        var receive = harness.Connection.ReceiveAsync().AsTask();
        // Header (6 bytes) and the first 4 payload bytes: one whole euro sign and the first byte of the second.
        await harness.SendAsync(frame[..10]);
        await Task.Delay(50);
        Assert.That(receive.IsCompleted, Is.False, "an unfinished code point is a valid prefix");

        await harness.SendAsync(frame[10..]);
        var message = await receive.WaitAsync(EngineHarness.HangGuard);
        Assert.That(Encoding.UTF8.GetString(message.Payload.ToArray()), Is.EqualTo("€€€"));
    }
}
