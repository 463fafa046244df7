using System.Buffers;
using System.Net.WebSockets;
using System.Text;
using KestrelWsTransport.Tests.Infrastructure;
using static KestrelWsTransport.Tests.Infrastructure.FrameBuilder;

namespace KestrelWsTransport.Tests.Engine;

/// <summary>
/// <see cref="WebSocketConnection.ReceivePartAsync"/>: payload handed out as it arrives (not buffered whole), fragments
/// handed out one by one (not assembled), text validated across parts, the limits of whole messages, and control
/// frames between fragments still handled.
/// </summary>
[TestFixture]
internal sealed class ReceivePartsTests
{
    private static async Task<WebSocketMessage> PartAsync(EngineHarness harness)
    {
        using var guard = new CancellationTokenSource(EngineHarness.HangGuard);
        return await harness.Connection.ReceivePartAsync(guard.Token);
    }

    private static byte[] Pattern(int length) => Enumerable.Range(0, length).Select(i => (byte)(i * 7 + 3)).ToArray();

    [Test]
    public async Task AFrameStillArrivingIsHandedOutAsItsBytesCome()
    {
        await using var harness = new EngineHarness();
        var payload = Pattern(10_000);
        var frame = Build(Binary, payload);
        var headerLength = frame.Length - payload.Length;

        // Cuts that fall inside the mask's 4-byte cycle, so each part continues the key where the last one stopped.
        var cuts = new[] { headerLength + 1_001, headerLength + 4_003, headerLength + 9_998, frame.Length };
        var received = new List<byte>();
        var start = 0;
        for (var i = 0; i < cuts.Length; i++)
        {
            await harness.SendAsync(frame[start..cuts[i]]);
            var part = await PartAsync(harness);
            Assert.That(part.MessageType, Is.EqualTo(WebSocketMessageType.Binary));
            Assert.That(part.Payload.Length, Is.EqualTo(cuts[i] - Math.Max(start, headerLength)), $"part {i} is exactly what arrived");
            Assert.That(part.EndOfMessage, Is.EqualTo(i == cuts.Length - 1), $"part {i}");
            received.AddRange(part.Payload.ToArray());
            start = cuts[i];
        }

        Assert.That(received.ToArray(), Is.EqualTo(payload));
    }

    [Test]
    public async Task AMessageThatArrivedWholeIsOnePart()
    {
        await using var harness = new EngineHarness();
        await harness.SendAsync(TextFrame("whole"), BinaryFrame([1, 2, 3]));

        var text = await PartAsync(harness);
        Assert.That((text.MessageType, text.EndOfMessage, text.GetText()), Is.EqualTo((WebSocketMessageType.Text, true, "whole")));
        var binary = await PartAsync(harness);
        Assert.That((binary.MessageType, binary.EndOfMessage), Is.EqualTo((WebSocketMessageType.Binary, true)));
        Assert.That(binary.Payload.ToArray(), Is.EqualTo(new byte[] { 1, 2, 3 }));
    }

    [Test]
    public async Task FragmentsAreHandedOutOneByOneAndAPingBetweenThemIsAnswered()
    {
        await using var harness = new EngineHarness();
        await harness.SendAsync(
            Build(Text, "first "u8, fin: false),
            PingFrame([9, 9]),
            Build(Continuation, "second "u8, fin: false),
            Build(Continuation, "third"u8, fin: true));

        var parts = new List<(string Text, bool End, WebSocketMessageType Type)>();
        do
        {
            var part = await PartAsync(harness);
            parts.Add((part.GetText(), part.EndOfMessage, part.MessageType));
        }
        while (!parts[^1].End);

        Assert.That(parts, Is.EqualTo(new[]
        {
            ("first ", false, WebSocketMessageType.Text),
            ("second ", false, WebSocketMessageType.Text),
            ("third", true, WebSocketMessageType.Text),
        }));
        var pong = await harness.ReadFrameAsync();
        Assert.That((pong.Opcode, pong.Payload), Is.EqualTo((Pong, new byte[] { 9, 9 })));
    }

    [Test]
    public async Task TextCutInsideACodePointIsDeliveredIntactAcrossParts()
    {
        await using var harness = new EngineHarness();
        const string sample = "κόσμε-𝄞-€ and ASCII";
        var bytes = Encoding.UTF8.GetBytes(sample);
        var frame = Build(Text, bytes);
        var headerLength = frame.Length - bytes.Length;
        var received = new List<byte>();
        // Cut after the first byte of "κ" (2 bytes) and inside "𝄞" (4 bytes).
        foreach (var (from, to) in new[] { (0, headerLength + 1), (headerLength + 1, headerLength + 13), (headerLength + 13, frame.Length) })
        {
            await harness.SendAsync(frame[from..to]);
            var part = await PartAsync(harness);
            Assert.That(part.IsClose, Is.False);
            received.AddRange(part.Payload.ToArray());
        }

        Assert.That(Encoding.UTF8.GetString(received.ToArray()), Is.EqualTo(sample));
    }

    [Test]
    public async Task InvalidUtf8InALaterPartFailsWith1007()
    {
        await using var harness = new EngineHarness();
        var bytes = Encoding.UTF8.GetBytes(new string('a', 100));
        bytes[60] = 0xFF;
        var frame = Build(Text, bytes);
        var headerLength = frame.Length - bytes.Length;
        await harness.SendAsync(frame[..(headerLength + 50)]);
        var first = await PartAsync(harness);
        Assert.That((first.IsClose, first.EndOfMessage, first.Payload.Length), Is.EqualTo((false, false, 50L)));

        await harness.SendAsync(frame[(headerLength + 50)..(headerLength + 70)]);
        var failed = await PartAsync(harness);
        Assert.That(failed.CloseStatus, Is.EqualTo(WebSocketCloseStatus.InvalidPayloadData));
        Assert.That((await harness.ReadFrameAsync()).CloseCode, Is.EqualTo(1007));
    }

    [Test]
    public async Task TextEndingInsideACodePointFailsWith1007()
    {
        await using var harness = new EngineHarness();
        // "ok" and the first byte of "€" (E2 82 AC), then its second byte and the end of the message.
        await harness.SendAsync(Build(Text, new byte[] { (byte)'o', (byte)'k', 0xE2 }, fin: false), Build(Continuation, new byte[] { 0x82 }, fin: true));
        var first = await PartAsync(harness);
        Assert.That(first.EndOfMessage, Is.False);
        var failed = await PartAsync(harness);
        Assert.That(failed.CloseStatus, Is.EqualTo(WebSocketCloseStatus.InvalidPayloadData));
    }

    [Test]
    public async Task TheMessageLimitCountsEveryPart()
    {
        await using var harness = new EngineHarness(new WebSocketTransportOptions { MaxMessageBytes = 1_000 });
        await harness.SendAsync(Build(Binary, Pattern(600), fin: false));
        var first = await PartAsync(harness);
        Assert.That(first.EndOfMessage, Is.False);

        await harness.SendAsync(Build(Continuation, Pattern(600), fin: true));
        var refused = await PartAsync(harness);
        Assert.That(refused.CloseStatus, Is.EqualTo(WebSocketCloseStatus.MessageTooBig));
        Assert.That((await harness.ReadFrameAsync()).CloseCode, Is.EqualTo(1009));
    }

    [Test]
    public async Task TheFragmentLimitHoldsInParts()
    {
        await using var harness = new EngineHarness(new WebSocketTransportOptions { MaxFragmentsPerMessage = 2 });
        await harness.SendAsync(Build(Binary, [1], fin: false), Build(Continuation, [2], fin: false), Build(Continuation, [3], fin: true));
        Assert.That((await PartAsync(harness)).EndOfMessage, Is.False);
        Assert.That((await PartAsync(harness)).EndOfMessage, Is.False);
        var refused = await PartAsync(harness);
        Assert.That(refused.CloseStatus, Is.EqualTo(WebSocketCloseStatus.PolicyViolation));
    }

    [Test]
    public async Task ReceiveAsyncIsRefusedUntilTheMessageInPartsEndsThenWorksAgain()
    {
        await using var harness = new EngineHarness();
        await harness.SendAsync(Build(Binary, [1, 2], fin: false));
        Assert.That((await PartAsync(harness)).EndOfMessage, Is.False);
        Assert.ThrowsAsync<InvalidOperationException>(async () => await harness.Connection.ReceiveAsync());

        await harness.SendAsync(Build(Continuation, [3], fin: true), TextFrame("next"));
        Assert.That((await PartAsync(harness)).EndOfMessage, Is.True);
        var next = await harness.ReceiveAsync();
        Assert.That(next.GetText(), Is.EqualTo("next"));
    }

    [Test]
    public async Task AMessageStartedWholeStaysWholeWhenTheCallerSwitchesToParts()
    {
        await using var harness = new EngineHarness();
        // ReceiveAsync is waiting while the first fragment arrives: it is assembled, not in parts.
        var whole = harness.Connection.ReceiveAsync().AsTask();
        await harness.SendAsync(Build(Binary, [1, 2], fin: false));
        await harness.SendAsync(Build(Continuation, [3], fin: true));
        var message = await whole.WaitAsync(EngineHarness.HangGuard);
        Assert.That((message.EndOfMessage, message.Payload.ToArray()), Is.EqualTo((true, new byte[] { 1, 2, 3 })));

        await harness.SendAsync(BinaryFrame([4]));
        var part = await PartAsync(harness);
        Assert.That((part.EndOfMessage, part.Payload.ToArray()), Is.EqualTo((true, new byte[] { 4 })));
    }

    [Test]
    public async Task TheInputBufferHoldsOnlyWhatArrivedSinceTheLastPart()
    {
        // A 1 MiB frame through a pipe that pauses its writer at 64 KiB: buffered whole it could never complete; in parts
        // it flows.
        var small = new System.IO.Pipelines.PipeOptions(pauseWriterThreshold: 64 * 1024, resumeWriterThreshold: 32 * 1024, useSynchronizationContext: false);
        await using var harness = new EngineHarness(clientToServer: small);
        var payload = Pattern(1024 * 1024);
        var frame = Build(Binary, payload);
        var writer = Task.Run(async () =>
        {
            for (var offset = 0; offset < frame.Length; offset += 16 * 1024)
            {
                await harness.ClientToServer.Writer.WriteAsync(frame.AsMemory(offset, Math.Min(16 * 1024, frame.Length - offset)));
            }
        });

        long total = 0;
        var matches = true;
        while (true)
        {
            var part = await PartAsync(harness);
            Assert.That(part.IsClose, Is.False);
            foreach (var segment in part.Payload)
            {
                matches &= segment.Span.SequenceEqual(payload.AsSpan((int)total, segment.Length));
                total += segment.Length;
            }

            if (part.EndOfMessage)
            {
                break;
            }
        }

        await writer.WaitAsync(EngineHarness.HangGuard);
        Assert.That(total, Is.EqualTo(payload.Length));
        Assert.That(matches, Is.True, "the parts, in order, are the payload");
    }
}
