using System.Buffers;
using System.IO.Pipelines;
using System.Net.WebSockets;
using System.Text;
using KestrelWsTransport.Tests.Infrastructure;
using static KestrelWsTransport.Tests.Infrastructure.FrameBuilder;

namespace KestrelWsTransport.Tests.Engine;

/// <summary>
/// The RFC 6455 engine of <see cref="WebSocketConnection"/> over in-memory pipes: the test plays the client byte by
/// byte (frames from <see cref="FrameBuilder"/>) and decodes what the server writes by hand.
/// </summary>
[TestFixture]
internal sealed class WebSocketConnectionTests
{
    private const WebSocketCloseStatus AbnormalClosure = (WebSocketCloseStatus)1006;

    // "κόσμε" (the Markus Kuhn UTF-8 test word), a 4-byte code point (U+1D11E) and a 3-byte one (U+20AC).
    private const string MultiByteText = "κόσμε-𝄞-€";

    private static byte[] PayloadFor(int length, bool text)
    {
        var payload = new byte[length];
        if (text)
        {
            for (var i = 0; i < length; i++)
            {
                payload[i] = (byte)('a' + (i % 26));
            }
        }
        else
        {
            new Random(length).NextBytes(payload);
        }

        return payload;
    }

    private static int MinimalHeaderLength(int payloadLength) => payloadLength <= 125 ? 2 : payloadLength <= 65535 ? 4 : 10;

    private static void AssertCloseFrame(ServerFrame frame, int code)
    {
        Assert.That(frame.Opcode, Is.EqualTo(Close), "opcode");
        Assert.That(frame.Fin, Is.True, "FIN");
        Assert.That(frame.Masked, Is.False, "server frames are unmasked");
        Assert.That(frame.CloseCode, Is.EqualTo(code), "close code");
        Assert.That(System.Text.Unicode.Utf8.IsValid(frame.Payload.AsSpan(Math.Min(2, frame.Payload.Length))), Is.True, "close reason is UTF-8");
    }

    private static void AssertClose(WebSocketMessage message, WebSocketCloseStatus status)
    {
        Assert.That(message.IsClose, Is.True, $"expected Close {status}, got {message.MessageType}");
        Assert.That(message.MessageType, Is.EqualTo(WebSocketMessageType.Close));
        Assert.That(message.CloseStatus, Is.EqualTo(status));
    }

    // ---------------------------------------------------------------- messages in one frame

    private static IEnumerable<TestCaseData> OneFrameMessages()
    {
        foreach (var length in new[] { 0, 1, 125, 126, 65535, 65536 })
        {
            foreach (var type in new[] { WebSocketMessageType.Text, WebSocketMessageType.Binary })
            {
                foreach (var receiveFirst in new[] { false, true })
                {
                    yield return new TestCaseData(length, type, receiveFirst);
                }
            }
        }
    }

    [TestCaseSource(nameof(OneFrameMessages))]
    public async Task OneFrameMessageIsReceivedWholeAndEchoedAsACorrectFrame(int length, WebSocketMessageType type, bool receiveFirst)
    {
        await using var harness = new EngineHarness();
        var payload = PayloadFor(length, type == WebSocketMessageType.Text);
        var frame = Build(type == WebSocketMessageType.Text ? Text : Binary, payload, maskKey: [0x12, 0x34, 0x56, 0x78]);

        // Either the bytes are there before the receive, or the receive waits for them.
        Task<WebSocketMessage> receive;
        if (receiveFirst)
        {
            receive = harness.ReceiveAsync();
            await harness.SendAsync(frame);
        }
        else
        {
            await harness.SendAsync(frame);
            receive = harness.ReceiveAsync();
        }

        var message = await receive;
        Assert.That(message.MessageType, Is.EqualTo(type));
        Assert.That(message.IsClose, Is.False);
        Assert.That(message.CloseStatus, Is.Null);
        Assert.That(message.Payload.Length, Is.EqualTo(length));
        Assert.That(message.Payload.ToArray().AsSpan().SequenceEqual(payload), Is.True, "payload bytes, unmasked");

        // Echo straight from the received memory.
        await harness.Connection.SendAsync(message.Payload, message.MessageType);
        var echoed = await harness.ReadFrameAsync();

        Assert.That(echoed.Fin, Is.True);
        Assert.That(echoed.Rsv, Is.EqualTo(0));
        Assert.That(echoed.Opcode, Is.EqualTo(type == WebSocketMessageType.Text ? Text : Binary));
        Assert.That(echoed.Masked, Is.False);
        Assert.That(echoed.HeaderLength, Is.EqualTo(MinimalHeaderLength(length)));
        Assert.That(echoed.Payload.AsSpan().SequenceEqual(payload), Is.True, "echoed payload bytes");
        Assert.That(harness.ReadAvailableFrames(), Is.Empty, "nothing else was written");
    }

    [Test]
    public async Task SendOfMemoryAndTextProduceTheSameFramesAsTheRfcLayout()
    {
        await using var harness = new EngineHarness();
        await harness.Connection.SendAsync(new byte[] { 1, 2, 3 }, WebSocketMessageType.Binary);
        await harness.Connection.SendTextAsync("héllo");

        var binary = await harness.ReadFrameAsync();
        var text = await harness.ReadFrameAsync();
        Assert.That((binary.Fin, binary.Opcode, binary.Masked, binary.Payload), Is.EqualTo((true, Binary, false, new byte[] { 1, 2, 3 })));
        Assert.That((text.Fin, text.Opcode, text.Masked, Encoding.UTF8.GetString(text.Payload)), Is.EqualTo((true, Text, false, "héllo")));
    }

    [Test]
    public async Task MessageSentInPartsIsFramedAsFirstFrameThenContinuations()
    {
        await using var harness = new EngineHarness();
        await harness.Connection.SendAsync("ab"u8.ToArray(), WebSocketMessageType.Text, endOfMessage: false);
        await harness.Connection.SendAsync("cd"u8.ToArray(), WebSocketMessageType.Text, endOfMessage: false);
        await harness.Connection.SendAsync("e"u8.ToArray(), WebSocketMessageType.Text, endOfMessage: true);
        await harness.Connection.SendAsync("f"u8.ToArray(), WebSocketMessageType.Binary);

        var frames = new List<ServerFrame>();
        for (var i = 0; i < 4; i++)
        {
            frames.Add(await harness.ReadFrameAsync());
        }

        Assert.That(frames.Select(f => (f.Fin, f.Opcode, Encoding.ASCII.GetString(f.Payload))), Is.EqualTo(new[]
        {
            (false, Text, "ab"),
            (false, Continuation, "cd"),
            (true, Continuation, "e"),
            (true, Binary, "f"),
        }));
    }

    // ---------------------------------------------------------------- fragmentation

    [TestCase(WebSocketMessageType.Text)]
    [TestCase(WebSocketMessageType.Binary)]
    public async Task FragmentedMessageWithAPingBetweenFragmentsIsAssembledAndThePingAnswered(WebSocketMessageType type)
    {
        await using var harness = new EngineHarness();
        var opcode = type == WebSocketMessageType.Text ? Text : Binary;

        // All in one write: the server meets the ping while assembling.
        await harness.SendAsync(
            Build(opcode, "Hel"u8, fin: false),
            Build(Continuation, "lo, "u8, fin: false),
            Build(Ping, "p!"u8),
            Build(Continuation, "world"u8, fin: true));

        var message = await harness.ReceiveAsync();
        Assert.That(message.MessageType, Is.EqualTo(type));
        Assert.That(Encoding.ASCII.GetString(message.Payload.ToArray()), Is.EqualTo("Hello, world"));

        var pong = await harness.ReadFrameAsync();
        Assert.That((pong.Fin, pong.Opcode, pong.Masked, Encoding.ASCII.GetString(pong.Payload)), Is.EqualTo((true, Pong, false, "p!")));
        Assert.That(harness.ReadAvailableFrames(), Is.Empty);
    }

    [Test]
    public async Task PingBetweenFragmentsIsAnsweredBeforeTheMessageEnds()
    {
        await using var harness = new EngineHarness();
        var receive = harness.ReceiveAsync();

        await harness.SendAsync(Build(Text, "one "u8, fin: false));
        await harness.SendAsync(Build(Ping, [0xDE, 0xAD]));
        var pong = await harness.ReadFrameAsync();
        Assert.That((pong.Opcode, pong.Payload), Is.EqualTo((Pong, new byte[] { 0xDE, 0xAD })));

        // The last fragment has not been sent: the message cannot be complete yet.
        Assert.That(receive.IsCompleted, Is.False);

        await harness.SendAsync(Build(Continuation, "two "u8, fin: false));
        await harness.SendAsync(Build(Continuation, "three"u8, fin: true));
        var message = await receive;
        Assert.That(message.GetText(), Is.EqualTo("one two three"));
    }

    [Test]
    public async Task FragmentedMessagesFollowEachOtherAndEmptyFragmentsCount()
    {
        await using var harness = new EngineHarness();
        await harness.SendAsync(
            Build(Binary, ReadOnlySpan<byte>.Empty, fin: false),
            Build(Continuation, [1, 2], fin: false),
            Build(Continuation, ReadOnlySpan<byte>.Empty, fin: true),
            Build(Text, ""u8, fin: false),
            Build(Continuation, ""u8, fin: true),
            Build(Text, "x"u8, fin: false),
            Build(Continuation, "y"u8, fin: true));

        var first = await harness.ReceiveCopyAsync();
        var second = await harness.ReceiveCopyAsync();
        var third = await harness.ReceiveCopyAsync();

        Assert.That((first.Message.MessageType, first.Payload), Is.EqualTo((WebSocketMessageType.Binary, new byte[] { 1, 2 })));
        Assert.That((second.Message.MessageType, second.Payload.Length), Is.EqualTo((WebSocketMessageType.Text, 0)));
        Assert.That((third.Message.MessageType, Encoding.ASCII.GetString(third.Payload)), Is.EqualTo((WebSocketMessageType.Text, "xy")));
    }

    [Test]
    public async Task LargeFragmentedMessageIsAssembledInOrder()
    {
        await using var harness = new EngineHarness();
        var payload = PayloadFor(200_000, text: false);
        var frames = new List<byte[]>();
        var offsets = new[] { 0, 1, 126, 70_000, 70_001, 140_000, 200_000 };
        for (var i = 0; i + 1 < offsets.Length; i++)
        {
            frames.Add(Build(i == 0 ? Binary : Continuation, payload.AsSpan(offsets[i]..offsets[i + 1]), fin: i + 2 == offsets.Length, maskKey: [(byte)i, 0xFF, 0x01, 0x80]));
        }

        await harness.SendAsync(frames.ToArray());
        var message = await harness.ReceiveAsync();

        Assert.That(message.Payload.ToArray().AsSpan().SequenceEqual(payload), Is.True);
    }

    // ---------------------------------------------------------------- how the bytes arrive

    [Test]
    public async Task SeveralFramesInOneWriteAreSeveralMessages()
    {
        await using var harness = new EngineHarness();
        var big = PayloadFor(70_000, text: false);
        await harness.SendAsync(
            TextFrame("one"),
            BinaryFrame([1, 2, 3]),
            TextFrame(""),
            BinaryFrame(big),
            TextFrame("last"));

        var expected = new (WebSocketMessageType, byte[])[]
        {
            (WebSocketMessageType.Text, "one"u8.ToArray()),
            (WebSocketMessageType.Binary, [1, 2, 3]),
            (WebSocketMessageType.Text, []),
            (WebSocketMessageType.Binary, big),
            (WebSocketMessageType.Text, "last"u8.ToArray()),
        };

        foreach (var (type, payload) in expected)
        {
            var (message, received) = await harness.ReceiveCopyAsync();
            Assert.That(message.MessageType, Is.EqualTo(type));
            Assert.That(received.AsSpan().SequenceEqual(payload), Is.True, $"{type} of {payload.Length} bytes");
        }
    }

    [Test]
    public async Task PayloadOfAMessageStaysValidUntilTheNextReceive()
    {
        await using var harness = new EngineHarness();
        await harness.SendAsync(TextFrame("first"), TextFrame("second"));

        var first = await harness.ReceiveAsync();
        // More bytes arrive while the application still holds the first payload.
        await harness.SendAsync(TextFrame("third"));
        Assert.That(first.GetText(), Is.EqualTo("first"));

        Assert.That((await harness.ReceiveAsync()).GetText(), Is.EqualTo("second"));
        Assert.That((await harness.ReceiveAsync()).GetText(), Is.EqualTo("third"));
    }

    [TestCase(5)]
    [TestCase(300)]
    public async Task FrameWrittenOneByteAtATimeArrivesWhole(int length)
    {
        await using var harness = new EngineHarness();
        var payload = PayloadFor(length, text: false);
        var frame = BinaryFrame(payload);
        var receive = harness.ReceiveAsync();

        foreach (var b in frame)
        {
            Assert.That(receive.IsCompleted, Is.False, "completed before the last byte");
            await harness.SendAsync(new[] { b });
        }

        var message = await receive;
        Assert.That(message.MessageType, Is.EqualTo(WebSocketMessageType.Binary));
        Assert.That(message.Payload.ToArray().AsSpan().SequenceEqual(payload), Is.True);
    }

    [Test]
    public async Task FrameWithA64BitLengthWrittenInPiecesArrivesWhole()
    {
        await using var harness = new EngineHarness();
        var payload = PayloadFor(65536 + 3, text: true);
        var frame = Build(Text, payload);
        var receive = harness.ReceiveAsync();

        // The 14 header bytes one by one, then the payload in uneven pieces.
        var offset = 0;
        var step = 1;
        while (offset < frame.Length)
        {
            var size = offset < 20 ? 1 : Math.Min(step, frame.Length - offset);
            await harness.SendAsync(frame.AsSpan(offset, size).ToArray());
            offset += size;
            step = step * 3 % 4099 + 1;
        }

        var message = await receive;
        Assert.That(message.Payload.ToArray().AsSpan().SequenceEqual(payload), Is.True);
    }

    [Test]
    public async Task FramesSplitAtEveryOffsetOfTwoWritesArriveWhole()
    {
        var frames = Concat(TextFrame("κόσμε"), Build(Ping, [7]), BinaryFrame(PayloadFor(130, text: false)));
        var failures = new List<string>();
        for (var split = 1; split < frames.Length; split++)
        {
            await using var harness = new EngineHarness();
            var first = harness.ReceiveAsync();
            await harness.SendAsync(frames[..split]);
            await harness.SendAsync(frames[split..]);

            var text = await first;
            var binary = await harness.ReceiveCopyAsync();
            var pong = await harness.ReadFrameAsync();
            if (text.MessageType != WebSocketMessageType.Text || binary.Payload.Length != 130 || pong.Opcode != Pong || pong.Payload is not [7])
            {
                failures.Add($"split at {split}");
            }
        }

        Assert.That(failures, Is.Empty);
    }

    // ---------------------------------------------------------------- input cut into small pipe segments

    /// <summary>
    /// A pipe whose buffers are 16 bytes (the smallest array the shared pool hands out), so the server's reads are
    /// long chains of tiny segments: headers, masks and code points all straddle segment boundaries.
    /// </summary>
    private static PipeOptions SixteenByteSegments => new(pauseWriterThreshold: 0, resumeWriterThreshold: 0, minimumSegmentSize: 16, useSynchronizationContext: false);

    [Test]
    public async Task SixteenByteSegmentPipeReallyHandsOutSixteenByteSegments()
    {
        // The tests below rely on this; if the runtime ever changes it they would silently test less.
        var pipe = new Pipe(SixteenByteSegments);
        pipe.Writer.Write(new byte[100]);
        await pipe.Writer.FlushAsync();
        Assert.That(pipe.Reader.TryRead(out var result), Is.True);
        Assert.That(result.Buffer.IsSingleSegment, Is.False);
        Assert.That(result.Buffer.First.Length, Is.EqualTo(16));
        pipe.Reader.AdvanceTo(result.Buffer.End);
    }

    private static byte[] Utf8TextOfLength(int length)
    {
        // Multi-byte text cut to a code point boundary at or below length, padded with ASCII to exactly length.
        var text = new StringBuilder();
        while (Encoding.UTF8.GetByteCount(text.ToString()) < length)
        {
            text.Append(MultiByteText);
        }

        var bytes = Encoding.UTF8.GetBytes(text.ToString());
        var cut = Math.Min(length, bytes.Length);
        while (cut > 0 && cut < bytes.Length && (bytes[cut] & 0xC0) == 0x80)
        {
            cut--;
        }

        var result = new byte[length];
        bytes.AsSpan(0, cut).CopyTo(result);
        result.AsSpan(cut).Fill((byte)'.');
        return result;
    }

    [TestCase(0)]
    [TestCase(1)]
    [TestCase(125)]
    [TestCase(126)]
    [TestCase(65535)]
    [TestCase(65536)]
    public async Task MessagesInSixteenByteSegmentsAreReceivedWholeAndEchoed(int length)
    {
        await using var harness = new EngineHarness(clientToServer: SixteenByteSegments, serverToClient: SixteenByteSegments);
        var text = Utf8TextOfLength(length);
        Assert.That(System.Text.Unicode.Utf8.IsValid(text), Is.True);
        var binary = PayloadFor(length, text: false);
        await harness.SendAsync(Build(Text, text, maskKey: [1, 2, 3, 4]), Build(Binary, binary, maskKey: [0xFF, 0, 0x80, 0x7F]));

        foreach (var (type, payload) in new[] { (WebSocketMessageType.Text, text), (WebSocketMessageType.Binary, binary) })
        {
            var message = await harness.ReceiveAsync();
            Assert.That(message.MessageType, Is.EqualTo(type));
            Assert.That(message.Payload.ToArray().AsSpan().SequenceEqual(payload), Is.True, $"{type} payload");

            // Echo the multi-segment payload as it lies.
            await harness.Connection.SendAsync(message.Payload, type);
            var echoed = await harness.ReadFrameAsync();
            Assert.That((echoed.Fin, echoed.Opcode, echoed.Masked, echoed.HeaderLength), Is.EqualTo((true, type == WebSocketMessageType.Text ? Text : Binary, false, MinimalHeaderLength(length))));
            Assert.That(echoed.Payload.AsSpan().SequenceEqual(payload), Is.True, $"echoed {type} payload");
        }
    }

    [Test]
    public async Task FramesOfEveryKindInSixteenByteSegmentsAreHandled()
    {
        await using var harness = new EngineHarness(clientToServer: SixteenByteSegments);
        await harness.SendAsync(
            TextFrame("κόσμε κόσμε κόσμε", fin: false),
            Build(Ping, Encoding.UTF8.GetBytes("a ping payload that spans segments")),
            Build(Continuation, Encoding.UTF8.GetBytes("-𝄞-€-𝄞-€"), fin: false),
            PongFrame([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17]),
            Build(Continuation, Encoding.UTF8.GetBytes("!"), fin: true),
            CloseFrame(4000, "a close reason of some length, in segments"));

        var message = await harness.ReceiveAsync();
        Assert.That(message.GetText(), Is.EqualTo("κόσμε κόσμε κόσμε-𝄞-€-𝄞-€!"));
        var close = await harness.ReceiveAsync();
        AssertClose(close, (WebSocketCloseStatus)4000);
        Assert.That(close.CloseDescription, Is.EqualTo("a close reason of some length, in segments"));

        var pong = await harness.ReadFrameAsync();
        Assert.That((pong.Opcode, Encoding.UTF8.GetString(pong.Payload)), Is.EqualTo((Pong, "a ping payload that spans segments")));
        AssertCloseFrame(await harness.ReadFrameAsync(), 4000);
    }

    [Test]
    public async Task TextFrameWithCodePointsAcrossSegmentBoundariesIsValidAtEveryShift()
    {
        await using var harness = new EngineHarness(clientToServer: SixteenByteSegments);
        var failures = new List<string>();
        for (var shift = 0; shift < 16; shift++)
        {
            var text = new string('a', shift) + string.Concat(Enumerable.Repeat(MultiByteText, 4));
            await harness.SendAsync(TextFrame(text));
            var message = await harness.ReceiveAsync();
            if (message.MessageType != WebSocketMessageType.Text || message.GetText() != text)
            {
                failures.Add($"shift {shift}: {message.MessageType} {message.CloseStatus}");
                break;
            }
        }

        Assert.That(failures, Is.Empty);
    }

    [TestCase(0)]
    [TestCase(1)]
    [TestCase(2)]
    [TestCase(3)]
    public async Task InvalidUtf8AcrossASegmentBoundaryIs1007(int shift)
    {
        // A surrogate (ED A0 80) starting 2, 1, 0 or -1 bytes before the first segment boundary (6 header bytes come first).
        await using var harness = new EngineHarness(clientToServer: SixteenByteSegments);
        var payload = Concat(Enumerable.Repeat((byte)'a', 16 - 6 - 2 + shift).ToArray(), [0xED, 0xA0, 0x80], "tail"u8.ToArray());
        await harness.SendAsync(Build(Text, payload));

        AssertClose(await harness.ReceiveAsync(), WebSocketCloseStatus.InvalidPayloadData);
        AssertCloseFrame(await harness.ReadFrameAsync(), 1007);
    }

    // ---------------------------------------------------------------- UTF-8

    private static IEnumerable<int> MultiByteOffsets() => Enumerable.Range(0, Encoding.UTF8.GetByteCount(MultiByteText) + 1);

    [TestCaseSource(nameof(MultiByteOffsets))]
    public async Task TextSplitAcrossTwoFragmentsAtAnyByteIsValid(int split)
    {
        await using var harness = new EngineHarness();
        var bytes = Encoding.UTF8.GetBytes(MultiByteText);
        await harness.SendAsync(Build(Text, bytes.AsSpan(0, split), fin: false), Build(Continuation, bytes.AsSpan(split), fin: true));

        var message = await harness.ReceiveAsync();
        Assert.That(message.MessageType, Is.EqualTo(WebSocketMessageType.Text));
        Assert.That(message.GetText(), Is.EqualTo(MultiByteText));
    }

    [Test]
    public async Task TextSplitAcrossThreeFragmentsAtEveryPairOfOffsetsIsValid()
    {
        // One connection, one message per pair: the validator must also start afresh for every message.
        await using var harness = new EngineHarness();
        var bytes = Encoding.UTF8.GetBytes(MultiByteText);
        var failures = new List<string>();
        for (var first = 0; first <= bytes.Length; first++)
        {
            for (var second = first; second <= bytes.Length; second++)
            {
                await harness.SendAsync(
                    Build(Text, bytes.AsSpan(0, first), fin: false),
                    Build(Continuation, bytes.AsSpan(first, second - first), fin: false),
                    Build(Continuation, bytes.AsSpan(second), fin: true));
                var message = await harness.ReceiveAsync();
                if (message.MessageType != WebSocketMessageType.Text || message.GetText() != MultiByteText)
                {
                    failures.Add($"{first}/{second}: {message.MessageType} {message.CloseStatus}");
                    break;
                }
            }
        }

        Assert.That(failures, Is.Empty);
    }

    [Test]
    public async Task TextOneByteFragmentAtATimeIsValid()
    {
        await using var harness = new EngineHarness();
        var bytes = Encoding.UTF8.GetBytes(MultiByteText);
        var frames = bytes.Select((b, i) => Build(i == 0 ? Text : Continuation, [b], fin: i == bytes.Length - 1)).ToArray();
        await harness.SendAsync(frames);

        Assert.That((await harness.ReceiveAsync()).GetText(), Is.EqualTo(MultiByteText));
    }

    [Test]
    public async Task TextFrameSplitAcrossWritesInsideACodePointIsValid()
    {
        // One frame whose payload reaches the server in two reads, cut inside the 4-byte code point.
        await using var harness = new EngineHarness();
        var frame = TextFrame(MultiByteText);
        var cut = frame.Length - Encoding.UTF8.GetByteCount("𝄞-€") + 2;
        var receive = harness.ReceiveAsync();
        await harness.SendAsync(frame[..cut]);
        await harness.SendAsync(frame[cut..]);

        Assert.That((await receive).GetText(), Is.EqualTo(MultiByteText));
    }

    private static IEnumerable<TestCaseData> InvalidUtf8Messages()
    {
        yield return new TestCaseData((object)new[] { Build(Text, [0xCE, 0xBA, 0xFF]) }).SetArgDisplayNames("InOneFrame");
        yield return new TestCaseData((object)new[] { Build(Text, [0xED, 0xA0, 0x80]) }).SetArgDisplayNames("SurrogateInOneFrame");
        yield return new TestCaseData((object)new[] { Build(Text, [(byte)'a', 0xE2, 0x82]) }).SetArgDisplayNames("TruncatedAtTheEndOfOneFrame");
        yield return new TestCaseData((object)new[] { Build(Text, "κό"u8, fin: false), Build(Continuation, [0xC0, 0x80], fin: true) }).SetArgDisplayNames("InTheSecondFragment");
        yield return new TestCaseData((object)new[] { Build(Text, [(byte)'a', 0xED], fin: false), Build(Continuation, [0xA0, 0x80], fin: true) }).SetArgDisplayNames("SurrogateAcrossFragments");
        yield return new TestCaseData((object)new[] { Build(Text, [(byte)'a', 0xE2, 0x82], fin: false), Build(Continuation, ReadOnlySpan<byte>.Empty, fin: true) }).SetArgDisplayNames("TruncatedAtTheEndOfAFragmentedMessage");
    }

    [TestCaseSource(nameof(InvalidUtf8Messages))]
    public async Task InvalidUtf8FailsTheConnectionWith1007(byte[][] frames)
    {
        await using var harness = new EngineHarness();
        await harness.SendAsync(frames);

        var message = await harness.ReceiveAsync();
        AssertClose(message, WebSocketCloseStatus.InvalidPayloadData);
        AssertCloseFrame(await harness.ReadFrameAsync(), 1007);
        Assert.That(harness.Connection.CloseStatus, Is.EqualTo(WebSocketCloseStatus.InvalidPayloadData));

        // And it stays closed.
        AssertClose(await harness.ReceiveAsync(), WebSocketCloseStatus.InvalidPayloadData);
    }

    [Test]
    public async Task InvalidUtf8InAnUnfinishedFragmentFailsAtOnce()
    {
        // RFC 6455 section 8.1 (and Autobahn 6.x): fail as soon as the bytes can no longer be valid, not at the end.
        await using var harness = new EngineHarness();
        await harness.SendAsync(Build(Text, [(byte)'o', (byte)'k', 0xF8], fin: false));

        AssertClose(await harness.ReceiveAsync(), WebSocketCloseStatus.InvalidPayloadData);
        AssertCloseFrame(await harness.ReadFrameAsync(), 1007);
    }

    [Test]
    public async Task BinaryMessagesAreNotCheckedForUtf8()
    {
        await using var harness = new EngineHarness();
        await harness.SendAsync(BinaryFrame([0xFF, 0xFE, 0xC0]), Build(Binary, [0xED], fin: false), Build(Continuation, [0xA0, 0x80]));

        Assert.That((await harness.ReceiveCopyAsync()).Payload, Is.EqualTo(new byte[] { 0xFF, 0xFE, 0xC0 }));
        Assert.That((await harness.ReceiveCopyAsync()).Payload, Is.EqualTo(new byte[] { 0xED, 0xA0, 0x80 }));
    }

    // ---------------------------------------------------------------- protocol errors and limits

    private static IEnumerable<TestCaseData> ProtocolErrors()
    {
        yield return new TestCaseData((object)new[] { Build(Text, "hi"u8, masked: false) }).SetArgDisplayNames("UnmaskedFrame");
        yield return new TestCaseData((object)new[] { Build(3, [1]) }).SetArgDisplayNames("ReservedOpcode3");
        yield return new TestCaseData((object)new[] { Build(0xB, [1]) }).SetArgDisplayNames("ReservedOpcodeB");
        yield return new TestCaseData((object)new[] { Build(Text, "hi"u8, rsv: 4) }).SetArgDisplayNames("Rsv1Bit");
        yield return new TestCaseData((object)new[] { Build(Binary, [1], rsv: 1) }).SetArgDisplayNames("Rsv3Bit");
        yield return new TestCaseData((object)new[] { Build(Continuation, "hi"u8) }).SetArgDisplayNames("ContinuationWithoutStart");
        yield return new TestCaseData((object)new[] { Build(Text, "a"u8, fin: false), Build(Text, "b"u8) }).SetArgDisplayNames("NewTextInsideFragmentedMessage");
        yield return new TestCaseData((object)new[] { Build(Ping, [1], fin: false) }).SetArgDisplayNames("FragmentedPing");
        yield return new TestCaseData((object)new[] { Build(Ping, new byte[126]) }).SetArgDisplayNames("PingOver125Bytes");
        yield return new TestCaseData((object)new[] { HeaderRaw(Binary, 0x8000_0000_0000_0001UL) }).SetArgDisplayNames("LengthWithMostSignificantBitSet");
    }

    [TestCaseSource(nameof(ProtocolErrors))]
    public async Task ProtocolErrorIsAnsweredWithClose1002(byte[][] frames)
    {
        await using var harness = new EngineHarness();
        await harness.SendAsync(frames);

        AssertClose(await harness.ReceiveAsync(), WebSocketCloseStatus.ProtocolError);
        AssertCloseFrame(await harness.ReadFrameAsync(), 1002);
        Assert.That(harness.Connection.CloseStatus, Is.EqualTo(WebSocketCloseStatus.ProtocolError));
        AssertClose(await harness.ReceiveAsync(), WebSocketCloseStatus.ProtocolError);
        Assert.That(harness.ReadAvailableFrames(), Is.Empty, "one close frame only");
    }

    [Test]
    public async Task MessagesBeforeAProtocolErrorAreStillDelivered()
    {
        await using var harness = new EngineHarness();
        await harness.SendAsync(TextFrame("fine"), Build(Text, "bad"u8, masked: false));

        Assert.That((await harness.ReceiveAsync()).GetText(), Is.EqualTo("fine"));
        AssertClose(await harness.ReceiveAsync(), WebSocketCloseStatus.ProtocolError);
        AssertCloseFrame(await harness.ReadFrameAsync(), 1002);
    }

    [Test]
    public async Task SendAfterTheConnectionFailedIsRefused()
    {
        await using var harness = new EngineHarness();
        await harness.SendAsync(Build(Continuation, "x"u8));
        AssertClose(await harness.ReceiveAsync(), WebSocketCloseStatus.ProtocolError);

        Assert.That(async () => await harness.Connection.SendAsync(new byte[] { 1 }, WebSocketMessageType.Binary), Throws.InvalidOperationException);
    }

    [TestCase(1025, false)]
    [TestCase(70_000, false)]
    [TestCase(1025, true)]
    public async Task FrameOverMaxFrameBytesIsAnsweredWithClose1009(int length, bool headerOnly)
    {
        var options = new WebSocketTransportOptions { MaxFrameBytes = 1024 };
        await using var harness = new EngineHarness(options);
        var frame = Build(Binary, PayloadFor(length, text: false));
        // Only the header: the verdict must not wait for a payload that is not going to be buffered.
        await harness.SendAsync(headerOnly ? frame[..(MinimalHeaderLength(length) + 4)] : frame);

        AssertClose(await harness.ReceiveAsync(), WebSocketCloseStatus.MessageTooBig);
        AssertCloseFrame(await harness.ReadFrameAsync(), 1009);
    }

    [Test]
    public async Task FrameOfExactlyMaxFrameBytesIsAccepted()
    {
        var options = new WebSocketTransportOptions { MaxFrameBytes = 1024 };
        await using var harness = new EngineHarness(options);
        await harness.SendAsync(BinaryFrame(new byte[1024]));

        Assert.That((await harness.ReceiveAsync()).Payload.Length, Is.EqualTo(1024));
    }

    [Test]
    public async Task FragmentedMessageOverMaxMessageBytesIsAnsweredWithClose1009()
    {
        var options = new WebSocketTransportOptions { MaxFrameBytes = 1024, MaxMessageBytes = 1000 };
        await using var harness = new EngineHarness(options);
        await harness.SendAsync(
            Build(Binary, new byte[400], fin: false),
            Build(Continuation, new byte[400], fin: false),
            Build(Continuation, new byte[400], fin: true));

        AssertClose(await harness.ReceiveAsync(), WebSocketCloseStatus.MessageTooBig);
        AssertCloseFrame(await harness.ReadFrameAsync(), 1009);
    }

    [Test]
    public async Task FragmentedMessageOfExactlyMaxMessageBytesIsAccepted()
    {
        var options = new WebSocketTransportOptions { MaxFrameBytes = 1024, MaxMessageBytes = 1000 };
        await using var harness = new EngineHarness(options);
        await harness.SendAsync(
            Build(Binary, new byte[400], fin: false),
            Build(Continuation, new byte[400], fin: false),
            Build(Continuation, new byte[200], fin: true),
            // The limit is per message: the next one starts from zero.
            Build(Binary, new byte[600], fin: false),
            Build(Continuation, new byte[400], fin: true));

        Assert.That((await harness.ReceiveAsync()).Payload.Length, Is.EqualTo(1000));
        Assert.That((await harness.ReceiveAsync()).Payload.Length, Is.EqualTo(1000));
    }

    [Test]
    public async Task SingleFrameMessageOverMaxMessageBytesIsAnsweredWithClose1009()
    {
        var options = new WebSocketTransportOptions { MaxFrameBytes = 4096, MaxMessageBytes = 1000 };
        await using var harness = new EngineHarness(options);
        await harness.SendAsync(TextFrame(new string('x', 1001)));

        AssertClose(await harness.ReceiveAsync(), WebSocketCloseStatus.MessageTooBig);
        AssertCloseFrame(await harness.ReadFrameAsync(), 1009);
    }

    // ---------------------------------------------------------------- close handshake

    [Test]
    public async Task ClientCloseIsEchoedAndReturnedAsClose()
    {
        await using var harness = new EngineHarness();
        await harness.SendAsync(CloseFrame(1000, "bye"));

        var message = await harness.ReceiveAsync();
        AssertClose(message, WebSocketCloseStatus.NormalClosure);
        Assert.That(message.CloseDescription, Is.EqualTo("bye"));
        Assert.That(message.Payload.Length, Is.EqualTo(0));

        AssertCloseFrame(await harness.ReadFrameAsync(), 1000);
        Assert.That(harness.Connection.State, Is.EqualTo(WebSocketState.Closed));
        Assert.That(harness.Connection.CloseStatus, Is.EqualTo(WebSocketCloseStatus.NormalClosure));
        Assert.That(harness.Connection.CloseStatusDescription, Is.EqualTo("bye"));

        // Receiving again returns the same Close, and nothing more goes out.
        var again = await harness.ReceiveAsync();
        AssertClose(again, WebSocketCloseStatus.NormalClosure);
        Assert.That(again.CloseDescription, Is.EqualTo("bye"));
        Assert.That(harness.ReadAvailableFrames(), Is.Empty);
    }

    [Test]
    public async Task FramesAfterTheClientsCloseAreIgnored()
    {
        await using var harness = new EngineHarness();
        await harness.SendAsync(TextFrame("before"), CloseFrame(1001), TextFrame("after"), Build(Ping, [1]));

        Assert.That((await harness.ReceiveAsync()).GetText(), Is.EqualTo("before"));
        AssertClose(await harness.ReceiveAsync(), WebSocketCloseStatus.EndpointUnavailable);
        AssertClose(await harness.ReceiveAsync(), WebSocketCloseStatus.EndpointUnavailable);
        AssertCloseFrame(await harness.ReadFrameAsync(), 1001);
        Assert.That(harness.ReadAvailableFrames(), Is.Empty, "no pong after the close");
    }

    [TestCase(1000)]
    [TestCase(1001)]
    [TestCase(1002)]
    [TestCase(1003)]
    [TestCase(1007)]
    [TestCase(1008)]
    [TestCase(1009)]
    [TestCase(1010)]
    [TestCase(1011)]
    [TestCase(3000)]
    [TestCase(3999)]
    [TestCase(4000)]
    [TestCase(4999)]
    public async Task ValidCloseCodeIsReturnedAndEchoed(int code)
    {
        await using var harness = new EngineHarness();
        await harness.SendAsync(CloseFrame(code, "r"));

        var message = await harness.ReceiveAsync();
        AssertClose(message, (WebSocketCloseStatus)code);
        Assert.That(message.CloseDescription, Is.EqualTo("r"));
        AssertCloseFrame(await harness.ReadFrameAsync(), code);
    }

    [TestCase(0)]
    [TestCase(999)]
    [TestCase(1004)]
    [TestCase(1005)]
    [TestCase(1006)]
    [TestCase(1015)]
    [TestCase(1016)]
    [TestCase(1100)]
    [TestCase(2000)]
    [TestCase(2999)]
    [TestCase(5000)]
    [TestCase(65535)]
    public async Task InvalidCloseCodeIsAProtocolError(int code)
    {
        await using var harness = new EngineHarness();
        await harness.SendAsync(CloseFrame(code));

        AssertClose(await harness.ReceiveAsync(), WebSocketCloseStatus.ProtocolError);
        AssertCloseFrame(await harness.ReadFrameAsync(), 1002);
    }

    [Test]
    public async Task OneByteClosePayloadIsAProtocolError()
    {
        await using var harness = new EngineHarness();
        await harness.SendAsync(Build(Close, [0x03]));

        AssertClose(await harness.ReceiveAsync(), WebSocketCloseStatus.ProtocolError);
        AssertCloseFrame(await harness.ReadFrameAsync(), 1002);
    }

    [Test]
    public async Task CloseReasonThatIsNotUtf8Is1007()
    {
        await using var harness = new EngineHarness();
        await harness.SendAsync(Build(Close, [0x03, 0xE8, (byte)'o', 0xFF, (byte)'k']));

        AssertClose(await harness.ReceiveAsync(), WebSocketCloseStatus.InvalidPayloadData);
        AssertCloseFrame(await harness.ReadFrameAsync(), 1007);
    }

    [Test]
    public async Task CloseReasonOf123BytesIsAccepted()
    {
        await using var harness = new EngineHarness();
        var reason = new string('é', 61) + "x";
        Assert.That(Encoding.UTF8.GetByteCount(reason), Is.EqualTo(123));
        await harness.SendAsync(CloseFrame(1000, reason));

        var message = await harness.ReceiveAsync();
        AssertClose(message, WebSocketCloseStatus.NormalClosure);
        Assert.That(message.CloseDescription, Is.EqualTo(reason));
    }

    [Test]
    public async Task EmptyCloseIsReportedAsEmptyAndAnsweredWithAnEmptyClose()
    {
        await using var harness = new EngineHarness();
        await harness.SendAsync(Build(Close, ReadOnlySpan<byte>.Empty));

        var message = await harness.ReceiveAsync();
        AssertClose(message, WebSocketCloseStatus.Empty);
        Assert.That(message.CloseDescription, Is.Null);

        var frame = await harness.ReadFrameAsync();
        Assert.That((frame.Fin, frame.Opcode, frame.Masked, frame.Payload.Length), Is.EqualTo((true, Close, false, 0)));
    }

    [Test]
    public async Task CloseInsideAFragmentedMessageEndsIt()
    {
        await using var harness = new EngineHarness();
        await harness.SendAsync(Build(Text, "part"u8, fin: false), CloseFrame(1000));

        AssertClose(await harness.ReceiveAsync(), WebSocketCloseStatus.NormalClosure);
        AssertCloseFrame(await harness.ReadFrameAsync(), 1000);
    }

    [Test]
    public async Task InputEndingWithoutACloseFrameIsAbnormalClosure()
    {
        await using var harness = new EngineHarness();
        await harness.SendAsync(TextFrame("last words"));
        await harness.CompleteClientOutputAsync();

        Assert.That((await harness.ReceiveAsync()).GetText(), Is.EqualTo("last words"));
        var message = await harness.ReceiveAsync();
        AssertClose(message, AbnormalClosure);
        Assert.That(harness.Connection.CloseStatus, Is.EqualTo(AbnormalClosure));
        Assert.That(harness.Connection.ConnectionClosed.IsCancellationRequested, Is.True);
        AssertClose(await harness.ReceiveAsync(), AbnormalClosure);
        Assert.That(harness.ReadAvailableFrames(), Is.Empty, "nobody to send a close frame to");
    }

    [Test]
    public async Task InputEndingInsideAFrameIsAbnormalClosure()
    {
        await using var harness = new EngineHarness();
        var receive = harness.ReceiveAsync();
        await harness.SendAsync(TextFrame("cut short")[..5]);
        await harness.CompleteClientOutputAsync();

        AssertClose(await receive, AbnormalClosure);
    }

    [Test]
    public async Task ServerCloseWaitsForTheClientsClose()
    {
        var options = new WebSocketTransportOptions { CloseTimeout = TimeSpan.FromMinutes(5) };
        await using var harness = new EngineHarness(options);

        var close = harness.Connection.CloseAsync(WebSocketCloseStatus.NormalClosure, "done").AsTask();
        var frame = await harness.ReadFrameAsync();
        AssertCloseFrame(frame, 1000);
        Assert.That(Encoding.UTF8.GetString(frame.Payload.AsSpan(2)), Is.EqualTo("done"));
        Assert.That(harness.Connection.State, Is.EqualTo(WebSocketState.CloseSent));

        // The client has not answered yet, so the close cannot be complete; data it sends meanwhile is discarded.
        Assert.That(close.IsCompleted, Is.False);
        await harness.SendAsync(TextFrame("late data"));
        Assert.That(close.IsCompleted, Is.False);

        await harness.SendAsync(CloseFrame(1000));
        await close;

        Assert.That(harness.Connection.State, Is.EqualTo(WebSocketState.Closed));
        Assert.That(harness.Connection.CloseStatus, Is.EqualTo(WebSocketCloseStatus.NormalClosure));
        Assert.That(harness.ReadAvailableFrames(), Is.Empty, "the server's close is not sent twice");
        Assert.That(async () => await harness.Connection.SendAsync(new byte[] { 1 }, WebSocketMessageType.Binary), Throws.InvalidOperationException);
    }

    // ---------------------------------------------------------------- control frames

    [TestCase(0)]
    [TestCase(1)]
    [TestCase(125)]
    public async Task PingIsAnsweredWithAPongCarryingItsPayload(int length)
    {
        await using var harness = new EngineHarness();
        var payload = PayloadFor(length, text: false);
        await harness.SendAsync(Build(Ping, payload), TextFrame("after"));

        Assert.That((await harness.ReceiveAsync()).GetText(), Is.EqualTo("after"));
        var pong = await harness.ReadFrameAsync();
        Assert.That((pong.Fin, pong.Opcode, pong.Masked), Is.EqualTo((true, Pong, false)));
        Assert.That(pong.Payload, Is.EqualTo(payload));
        Assert.That(harness.ReadAvailableFrames(), Is.Empty);
    }

    [Test]
    public async Task PongFromTheClientIsAbsorbed()
    {
        await using var harness = new EngineHarness();
        await harness.SendAsync(PongFrame([1, 2, 3]), PongFrame([]), TextFrame("data"));

        var message = await harness.ReceiveAsync();
        Assert.That(message.MessageType, Is.EqualTo(WebSocketMessageType.Text));
        Assert.That(message.GetText(), Is.EqualTo("data"));
        Assert.That(harness.ReadAvailableFrames(), Is.Empty, "a pong is not answered");
    }

    // ---------------------------------------------------------------- concurrent sends

    [Test]
    public async Task ConcurrentSendsProduceWholeFramesThatDoNotInterleave()
    {
        const int Senders = 8;
        const int MessagesPerSender = 200;

        // A small output pipe, so senders also queue behind backpressure while the test reads.
        var bounded = new PipeOptions(pauseWriterThreshold: 4096, resumeWriterThreshold: 1024, useSynchronizationContext: false);
        await using var harness = new EngineHarness(serverToClient: bounded);

        static byte[] MessageFor(int sender, int sequence)
        {
            // [sender][sequence, big-endian][filler derived from both], lengths across the 7- and 16-bit classes.
            var payload = new byte[3 + (sequence * 37 + sender * 11) % 400];
            payload[0] = (byte)sender;
            payload[1] = (byte)(sequence >> 8);
            payload[2] = (byte)sequence;
            payload.AsSpan(3).Fill((byte)(sender * 31 + sequence));
            return payload;
        }

        var reader = Task.Run(async () =>
        {
            var frames = new List<ServerFrame>(Senders * MessagesPerSender);
            for (var i = 0; i < Senders * MessagesPerSender; i++)
            {
                frames.Add(await harness.ReadFrameAsync());
            }

            return frames;
        });

        var senders = Enumerable.Range(0, Senders).Select(sender => Task.Run(async () =>
        {
            for (var sequence = 0; sequence < MessagesPerSender; sequence++)
            {
                await harness.Connection.SendAsync(MessageFor(sender, sequence), WebSocketMessageType.Binary);
            }
        })).ToArray();

        await Task.WhenAll(senders);
        var received = await reader;

        Assert.That(received.Count, Is.EqualTo(Senders * MessagesPerSender));
        var next = new int[Senders];
        var failures = new List<string>();
        foreach (var frame in received)
        {
            var sender = frame.Payload[0];
            var sequence = (frame.Payload[1] << 8) | frame.Payload[2];
            if (!frame.Fin || frame.Opcode != Binary || frame.Masked || sender >= Senders || !frame.Payload.AsSpan().SequenceEqual(MessageFor(sender, sequence)))
            {
                failures.Add($"bad frame: sender {sender}, sequence {sequence}, {frame.Payload.Length} bytes");
                continue;
            }

            // Each sender awaits each send, so its own messages must come out in order.
            if (sequence != next[sender])
            {
                failures.Add($"sender {sender}: expected {next[sender]}, got {sequence}");
            }

            next[sender] = sequence + 1;
        }

        Assert.That(failures, Is.Empty);
        Assert.That(next, Is.All.EqualTo(MessagesPerSender));
        Assert.That(harness.ReadAvailableFrames(), Is.Empty);
    }

    // ---------------------------------------------------------------- allocations

    [Test]
    [NonParallelizable]
    public async Task SteadyStateReceiveAndSendAllocateNothing()
    {
        // In a Debug build the C# compiler emits every async state machine as a class (for Edit and Continue), so
        // each call of ReceiveAsync/ReceiveCoreAsync (832 bytes together) and SendDataCoreAsync (112 bytes) allocates
        // even when it completes synchronously. The zero-allocation hot path is a property of the optimized build that
        // ships (build.ps1 and CI test with -c Release); in Debug there is nothing meaningful to measure.
        var debuggable = typeof(WebSocketConnection).Assembly.GetCustomAttributes(typeof(System.Diagnostics.DebuggableAttribute), false)
            .OfType<System.Diagnostics.DebuggableAttribute>().FirstOrDefault();
        if (debuggable is { IsJITOptimizerDisabled: true })
        {
            Assert.Ignore("KestrelWsTransport was built without optimizations (Debug): its async state machines are classes there. Run with -c Release.");
        }

        // Everything completes synchronously: the frame is in the pipe before the receive, the output pipe never
        // pushes back, and the test reads the answer with TryRead. The loop itself allocates nothing (frame and
        // expected answer built up front, no async in the loop), so any byte counted is the library's.
        var inline = new PipeOptions(
            readerScheduler: PipeScheduler.Inline,
            writerScheduler: PipeScheduler.Inline,
            pauseWriterThreshold: 0,
            resumeWriterThreshold: 0,
            useSynchronizationContext: false);
        await using var harness = new EngineHarness(clientToServer: inline, serverToClient: inline);
        var payload = PayloadFor(32, text: false);
        var frame = BinaryFrame(payload);
        var expected = Concat([0x82, 32], payload);

        var warmUpFailures = RoundTrips(1000, frame, expected, harness.ClientToServer.Writer, harness.ServerToClient.Reader, harness.Connection);
        Assert.That(warmUpFailures, Is.EqualTo(0), "warm-up round trips that did not complete synchronously or echoed the wrong bytes");

        var before = GC.GetAllocatedBytesForCurrentThread();
        var failures = RoundTrips(1000, frame, expected, harness.ClientToServer.Writer, harness.ServerToClient.Reader, harness.Connection);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.That(failures, Is.EqualTo(0), "measured round trips that did not complete synchronously or echoed the wrong bytes");
        Assert.That(allocated, Is.EqualTo(0), "bytes allocated by 1000 receive+send round trips of a 32-byte message");
    }

    /// <summary>Client frame in, receive, echo, answer out; returns how many round trips went wrong.</summary>
    private static int RoundTrips(int count, byte[] frame, byte[] expected, PipeWriter input, PipeReader output, WebSocketConnection connection)
    {
        var failures = 0;
        for (var i = 0; i < count; i++)
        {
            input.Write(frame);
            var flush = input.FlushAsync();
            if (!flush.IsCompletedSuccessfully)
            {
                failures++;
                flush.AsTask().GetAwaiter().GetResult();
            }
            else
            {
                _ = flush.Result;
            }

            var receive = connection.ReceiveAsync();
            WebSocketMessage message;
            if (receive.IsCompletedSuccessfully)
            {
                message = receive.Result;
            }
            else
            {
                failures++;
                message = receive.AsTask().GetAwaiter().GetResult();
            }

            if (message.MessageType != WebSocketMessageType.Binary || message.Payload.Length != 32)
            {
                failures++;
                continue;
            }

            var send = connection.SendAsync(message.Payload, WebSocketMessageType.Binary);
            if (send.IsCompletedSuccessfully)
            {
                send.GetAwaiter().GetResult();
            }
            else
            {
                failures++;
                send.AsTask().GetAwaiter().GetResult();
            }

            if (!output.TryRead(out var result))
            {
                failures++;
                continue;
            }

            var buffer = result.Buffer;
            if (buffer.Length != expected.Length || !buffer.FirstSpan.SequenceEqual(expected))
            {
                failures++;
            }

            output.AdvanceTo(buffer.End);
        }

        return failures;
    }
}
