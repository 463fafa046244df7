using System.Buffers;
using System.Net.WebSockets;
using System.Runtime.InteropServices;
using KestrelWsTransport.Framing;
using KestrelWsTransport.Tests.Infrastructure;
using static KestrelWsTransport.Tests.Infrastructure.FrameBuilder;

namespace KestrelWsTransport.Tests.Framing;

/// <summary>
/// <see cref="FrameReader.TryReadHeader"/> against headers built byte by byte from RFC 6455 section 5.2 by
/// <see cref="FrameBuilder"/>: every length class, every way of running short, every rule a client can break.
/// </summary>
[TestFixture]
internal sealed class FrameReaderTests
{
    private const long DefaultMax = 16 * 1024 * 1024;

    private static readonly byte[] OtherKey = [0x01, 0x80, 0xFE, 0x7F];

    private static FrameReadStatus Read(in ReadOnlySequence<byte> buffer, out FrameHeader header, out WebSocketCloseStatus error, bool inFragmentedMessage = false, long max = DefaultMax)
        => FrameReader.TryReadHeader(buffer, inFragmentedMessage, max, out header, out error, out _);

    private static FrameReadStatus Read(byte[] bytes, out FrameHeader header, out WebSocketCloseStatus error, bool inFragmentedMessage = false, long max = DefaultMax)
        => Read(new ReadOnlySequence<byte>(bytes), out header, out error, inFragmentedMessage, max);

    /// <summary>Payload lengths at the edges of the three length encodings, and one large one.</summary>
    private static IEnumerable<TestCaseData> LengthClasses()
    {
        yield return new TestCaseData(0L, 6);
        yield return new TestCaseData(1L, 6);
        yield return new TestCaseData(125L, 6);
        yield return new TestCaseData(126L, 8);
        yield return new TestCaseData(65535L, 8);
        yield return new TestCaseData(65536L, 14);
        yield return new TestCaseData(1L << 20, 14);
    }

    [TestCaseSource(nameof(LengthClasses))]
    public void HeaderOfEveryLengthClassIsRead(long payloadLength, int headerLength)
    {
        var bytes = Header(Binary, payloadLength, maskKey: OtherKey);
        Assert.That(bytes.Length, Is.EqualTo(headerLength));

        var status = Read(bytes, out var header, out _);

        Assert.That(status, Is.EqualTo(FrameReadStatus.Header));
        Assert.That(header.PayloadLength, Is.EqualTo(payloadLength));
        Assert.That(header.HeaderLength, Is.EqualTo(headerLength));
        Assert.That(header.FrameLength, Is.EqualTo(headerLength + payloadLength));
        Assert.That(header.Fin, Is.True);
        Assert.That(header.Opcode, Is.EqualTo(Opcode.Binary));
        Assert.That(header.Masked, Is.True);
        Assert.That(header.ReservedBits, Is.EqualTo(0));
        Assert.That(header.MaskKey, Is.EqualTo(MemoryMarshal.Read<int>(OtherKey)));
    }

    [TestCase(Text, true)]
    [TestCase(Text, false)]
    [TestCase(Binary, false)]
    [TestCase(Close, true)]
    [TestCase(Ping, true)]
    [TestCase(Pong, true)]
    public void FinAndOpcodeAreRead(int opcode, bool fin)
    {
        var status = Read(Build(opcode, [1, 2, 3], fin), out var header, out _);

        Assert.That(status, Is.EqualTo(FrameReadStatus.Header));
        Assert.That(header.Opcode, Is.EqualTo((Opcode)opcode));
        Assert.That(header.Fin, Is.EqualTo(fin));
        Assert.That(header.PayloadLength, Is.EqualTo(3));
    }

    [Test]
    public void ContinuationInsideAFragmentedMessageIsRead()
    {
        Assert.That(Read(Build(Continuation, [1], fin: false), out var middle, out _, inFragmentedMessage: true), Is.EqualTo(FrameReadStatus.Header));
        Assert.That((middle.Opcode, middle.Fin), Is.EqualTo((Opcode.Continuation, false)));
        Assert.That(Read(Build(Continuation, [1], fin: true), out var last, out _, inFragmentedMessage: true), Is.EqualTo(FrameReadStatus.Header));
        Assert.That((last.Opcode, last.Fin), Is.EqualTo((Opcode.Continuation, true)));
    }

    [TestCase(Ping)]
    [TestCase(Pong)]
    [TestCase(Close)]
    public void ControlFrameInsideAFragmentedMessageIsRead(int opcode)
    {
        Assert.That(Read(Build(opcode, [1, 2]), out var header, out _, inFragmentedMessage: true), Is.EqualTo(FrameReadStatus.Header));
        Assert.That(header.Opcode, Is.EqualTo((Opcode)opcode));
    }

    [TestCase(0L, LengthEncoding.Bits16, 8)]
    [TestCase(5L, LengthEncoding.Bits16, 8)]
    [TestCase(125L, LengthEncoding.Bits16, 8)]
    [TestCase(5L, LengthEncoding.Bits64, 14)]
    [TestCase(300L, LengthEncoding.Bits64, 14)]
    [TestCase(65535L, LengthEncoding.Bits64, 14)]
    public void NonMinimalLengthEncodingIsReadAsTheValueItHolds(long payloadLength, LengthEncoding encoding, int headerLength)
    {
        // RFC 6455 asks senders for the minimal encoding; the reader takes the value as written (as most servers do).
        var status = Read(Header(Binary, payloadLength, length: encoding), out var header, out _);

        Assert.That(status, Is.EqualTo(FrameReadStatus.Header));
        Assert.That(header.PayloadLength, Is.EqualTo(payloadLength));
        Assert.That(header.HeaderLength, Is.EqualTo(headerLength));
    }

    [TestCaseSource(nameof(LengthClasses))]
    public void EveryPrefixOfAHeaderNeedsMoreData(long payloadLength, int headerLength)
    {
        var bytes = Header(Text, payloadLength);
        var segmented = SequenceFactory.OneByteSegments(bytes);
        var failures = new List<string>();
        for (var length = 0; length < headerLength; length++)
        {
            if (Read(new ReadOnlySequence<byte>(bytes, 0, length), out _, out _) != FrameReadStatus.NeedMoreData)
            {
                failures.Add($"contiguous prefix of {length}");
            }

            if (Read(segmented.Slice(0, length), out _, out _) != FrameReadStatus.NeedMoreData)
            {
                failures.Add($"one-byte segments, prefix of {length}");
            }

            for (var split = 0; split <= length; split++)
            {
                if (Read(SequenceFactory.SplitAt(bytes.AsSpan(0, length), split), out _, out _) != FrameReadStatus.NeedMoreData)
                {
                    failures.Add($"prefix of {length} split at {split}");
                }
            }
        }

        Assert.That(failures, Is.Empty);
    }

    [TestCaseSource(nameof(LengthClasses))]
    public void HeaderIsReadTheSameWhateverTheSegmentBoundaries(long payloadLength, int headerLength)
    {
        // The header, then the first bytes of the payload (the reader must not need the rest).
        var header = Header(Text, payloadLength, fin: false, maskKey: OtherKey);
        var bytes = Concat(header, new byte[Math.Min(payloadLength, 20)]);
        var failures = new List<string>();

        void Check(ReadOnlySequence<byte> buffer, string how)
        {
            var status = Read(buffer, out var h, out _);
            if (status != FrameReadStatus.Header || h.PayloadLength != payloadLength || h.HeaderLength != headerLength
                || h.MaskKey != MemoryMarshal.Read<int>(OtherKey) || h.Fin || h.Opcode != Opcode.Text)
            {
                failures.Add($"{how}: {status}, length {h.PayloadLength}, header {h.HeaderLength}");
            }
        }

        Check(SequenceFactory.OneByteSegments(bytes), "one-byte segments");
        Check(SequenceFactory.OneByteSegments(header), "header only, one-byte segments");
        for (var first = 0; first <= bytes.Length; first++)
        {
            Check(SequenceFactory.SplitAt(bytes, first), $"split at {first}");
            for (var second = first; second <= bytes.Length; second++)
            {
                Check(SequenceFactory.SplitAt(bytes, first, second), $"split at {first} and {second}");
            }
        }

        Assert.That(failures, Is.Empty);
    }

    // ---------------------------------------------------------------- protocol errors (1002) and limits (1009)

    private static IEnumerable<TestCaseData> ProtocolErrors()
    {
        foreach (var rsv in new[] { 4, 2, 1, 7 })
        {
            yield return new TestCaseData(Build(Text, [1], rsv: rsv), false).SetArgDisplayNames($"ProtocolError_ReservedBits{rsv}");
        }

        foreach (var opcode in new[] { 3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF })
        {
            yield return new TestCaseData(Build(opcode, [1]), false).SetArgDisplayNames($"ProtocolError_ReservedOpcode0x{opcode:X}");
        }

        yield return new TestCaseData(Build(Text, [1, 2], masked: false), false).SetArgDisplayNames("ProtocolError_UnmaskedText");
        yield return new TestCaseData(Build(Close, [3, 232], masked: false), false).SetArgDisplayNames("ProtocolError_UnmaskedClose");
        yield return new TestCaseData(Build(Binary, new byte[70000], masked: false), false).SetArgDisplayNames("ProtocolError_UnmaskedLongBinary");
        yield return new TestCaseData(Build(Ping, [1], fin: false), false).SetArgDisplayNames("ProtocolError_FragmentedPing");
        yield return new TestCaseData(Build(Pong, [1], fin: false), false).SetArgDisplayNames("ProtocolError_FragmentedPong");
        yield return new TestCaseData(Build(Close, [3, 232], fin: false), true).SetArgDisplayNames("ProtocolError_FragmentedCloseInsideMessage");
        yield return new TestCaseData(Build(Ping, new byte[126]), false).SetArgDisplayNames("ProtocolError_Ping126Bytes");
        yield return new TestCaseData(Build(Close, new byte[200]), false).SetArgDisplayNames("ProtocolError_Close200Bytes");
        yield return new TestCaseData(Header(Pong, 70000), false).SetArgDisplayNames("ProtocolError_PongWith64BitLength");
        yield return new TestCaseData(Build(Continuation, [1]), false).SetArgDisplayNames("ProtocolError_ContinuationWithoutMessage");
        yield return new TestCaseData(Build(Continuation, [1], fin: false), false).SetArgDisplayNames("ProtocolError_UnfinishedContinuationWithoutMessage");
        yield return new TestCaseData(Build(Text, [1]), true).SetArgDisplayNames("ProtocolError_TextInsideFragmentedMessage");
        yield return new TestCaseData(Build(Binary, [1], fin: false), true).SetArgDisplayNames("ProtocolError_BinaryInsideFragmentedMessage");
        yield return new TestCaseData(HeaderRaw(Binary, 0x8000_0000_0000_0000UL), false).SetArgDisplayNames("ProtocolError_LengthWithMostSignificantBitSet");
        yield return new TestCaseData(HeaderRaw(Binary, ulong.MaxValue), false).SetArgDisplayNames("ProtocolError_LengthAllOnes");
    }

    [TestCaseSource(nameof(ProtocolErrors))]
    public void BrokenRuleIsAProtocolError(byte[] frame, bool inFragmentedMessage)
    {
        var status = FrameReader.TryReadHeader(new ReadOnlySequence<byte>(frame), inFragmentedMessage, DefaultMax, out _, out var error, out var reason);

        Assert.That(status, Is.EqualTo(FrameReadStatus.Error));
        Assert.That(error, Is.EqualTo(WebSocketCloseStatus.ProtocolError));
        Assert.That(reason, Is.Not.Null.And.Not.Empty);
    }

    [TestCaseSource(nameof(ProtocolErrors))]
    public void BrokenRuleIsAProtocolErrorWhateverTheSegmentBoundaries(byte[] frame, bool inFragmentedMessage)
    {
        var bytes = frame.AsSpan(0, Math.Min(frame.Length, 32)).ToArray();
        var failures = new List<string>();
        var buffers = new List<(string, ReadOnlySequence<byte>)> { ("one-byte segments", SequenceFactory.OneByteSegments(bytes)) };
        for (var split = 0; split <= bytes.Length; split++)
        {
            buffers.Add(($"split at {split}", SequenceFactory.SplitAt(bytes, split)));
        }

        foreach (var (how, buffer) in buffers)
        {
            var status = Read(buffer, out _, out var error, inFragmentedMessage);
            if (status != FrameReadStatus.Error || error != WebSocketCloseStatus.ProtocolError)
            {
                failures.Add($"{how}: {status} {error}");
            }
        }

        Assert.That(failures, Is.Empty);
    }

    [TestCase(1025L, 1024L)]
    [TestCase(65536L, 65535L)]
    [TestCase(1L << 40, DefaultMax)]
    [TestCase(DefaultMax + 1, DefaultMax)]
    [TestCase(long.MaxValue, DefaultMax)]
    public void PayloadOverTheLimitIsMessageTooBigFromTheHeaderAlone(long payloadLength, long max)
    {
        // Only the header: the verdict must not wait for payload bytes that may never be buffered.
        var status = Read(Header(Binary, payloadLength), out _, out var error, max: max);

        Assert.That(status, Is.EqualTo(FrameReadStatus.Error));
        Assert.That(error, Is.EqualTo(WebSocketCloseStatus.MessageTooBig));
    }

    [TestCase(1024L, 1024L)]
    [TestCase(125L, 125L)]
    [TestCase(DefaultMax, DefaultMax)]
    public void PayloadAtTheLimitIsAccepted(long payloadLength, long max)
    {
        Assert.That(Read(Header(Binary, payloadLength), out var header, out _, max: max), Is.EqualTo(FrameReadStatus.Header));
        Assert.That(header.PayloadLength, Is.EqualTo(payloadLength));
    }

    [Test]
    public void ControlFrameOf125BytesIsAccepted()
    {
        Assert.That(Read(Build(Ping, new byte[125]), out var header, out _), Is.EqualTo(FrameReadStatus.Header));
        Assert.That(header.PayloadLength, Is.EqualTo(125));
    }
}
