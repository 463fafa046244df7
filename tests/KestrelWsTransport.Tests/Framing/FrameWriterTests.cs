using System.Buffers;
using System.Buffers.Binary;
using KestrelWsTransport.Framing;
using KestrelWsTransport.Tests.Infrastructure;

namespace KestrelWsTransport.Tests.Framing;

/// <summary>
/// <see cref="FrameWriter"/> output checked against the bit layout of RFC 6455 section 5.2 directly (server frames are
/// unmasked, which <see cref="FrameReader"/> refuses, so the reader cannot be the judge), and then, once masked by the
/// test, read back by <see cref="FrameReader"/>.
/// </summary>
[TestFixture]
internal sealed class FrameWriterTests
{
    private static IEnumerable<TestCaseData> LengthClasses()
    {
        // payload length, expected header bytes of a final binary frame
        yield return new TestCaseData(0L, new byte[] { 0x82, 0x00 });
        yield return new TestCaseData(1L, new byte[] { 0x82, 0x01 });
        yield return new TestCaseData(125L, new byte[] { 0x82, 0x7D });
        yield return new TestCaseData(126L, new byte[] { 0x82, 0x7E, 0x00, 0x7E });
        yield return new TestCaseData(65535L, new byte[] { 0x82, 0x7E, 0xFF, 0xFF });
        yield return new TestCaseData(65536L, new byte[] { 0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00 });
        yield return new TestCaseData(1L << 20, new byte[] { 0x82, 0x7F, 0, 0, 0, 0, 0, 0x10, 0x00, 0x00 });
        yield return new TestCaseData(0x0102_0304_0506L, new byte[] { 0x82, 0x7F, 0, 0, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06 });
    }

    [TestCaseSource(nameof(LengthClasses))]
    public void HeaderOfEveryLengthClassFollowsTheRfcLayout(long payloadLength, byte[] expected)
    {
        var destination = new byte[FrameHeader.MaxLength];
        var written = FrameWriter.WriteHeader(destination, Opcode.Binary, fin: true, payloadLength);

        Assert.That(written, Is.EqualTo(expected.Length));
        Assert.That(destination[..written], Is.EqualTo(expected));
        Assert.That(FrameWriter.HeaderLength(payloadLength), Is.EqualTo(expected.Length));
    }

    [TestCaseSource(nameof(LengthClasses))]
    public void HeaderFieldsDecodedByHandMatch(long payloadLength, byte[] unused)
    {
        var destination = new byte[FrameHeader.MaxLength];
        var written = FrameWriter.WriteHeader(destination, Opcode.Text, fin: false, payloadLength);
        var frame = ServerFrame.ParseHeader(destination.AsSpan(0, written));

        Assert.That(frame.Fin, Is.False);
        Assert.That(frame.Rsv, Is.EqualTo(0));
        Assert.That(frame.Opcode, Is.EqualTo(0x1));
        Assert.That(frame.Masked, Is.False);
        Assert.That(frame.PayloadLength, Is.EqualTo(payloadLength));
        Assert.That(frame.HeaderLength, Is.EqualTo(written));
    }

    [TestCase(Opcode.Text, true, 0x81)]
    [TestCase(Opcode.Text, false, 0x01)]
    [TestCase(Opcode.Binary, true, 0x82)]
    [TestCase(Opcode.Binary, false, 0x02)]
    [TestCase(Opcode.Continuation, false, 0x00)]
    [TestCase(Opcode.Continuation, true, 0x80)]
    [TestCase(Opcode.Close, true, 0x88)]
    [TestCase(Opcode.Ping, true, 0x89)]
    [TestCase(Opcode.Pong, true, 0x8A)]
    public void FirstByteIsFinAndOpcode(Opcode opcode, bool fin, int expected)
    {
        var destination = new byte[FrameHeader.MaxLength];
        FrameWriter.WriteHeader(destination, opcode, fin, 3);

        Assert.That(destination[0], Is.EqualTo(expected));
        Assert.That(destination[1], Is.EqualTo(3), "no mask bit, 7-bit length");
    }

    [TestCase(0)]
    [TestCase(1)]
    [TestCase(125)]
    [TestCase(126)]
    [TestCase(4096)]
    [TestCase(65535)]
    [TestCase(65536)]
    [TestCase(1 << 20)]
    public void WholeFrameIsHeaderThenPayloadUnmasked(int payloadLength)
    {
        var payload = Payload(payloadLength);
        var output = new ArrayBufferWriter<byte>();
        FrameWriter.WriteFrame(output, Opcode.Binary, true, payload);

        AssertFrame(output.WrittenSpan.ToArray(), 0x2, true, payload);
    }

    [TestCase(0)]
    [TestCase(125)]
    [TestCase(126)]
    [TestCase(4000)]
    [TestCase(4096)]
    [TestCase(5000)]
    [TestCase(65536)]
    public void WholeFrameIsRightWithAWriterThatGivesOnlyWhatIsAskedFor(int payloadLength)
    {
        // A writer that never hands out more than the size hint (and 7 bytes when asked for any): both the
        // one-span path and the header-then-payload path have to get every byte in the right place.
        var payload = Payload(payloadLength);
        var output = new StingyBufferWriter();
        FrameWriter.WriteFrame(output, Opcode.Text, false, payload);

        AssertFrame(output.Written, 0x1, false, payload);
    }

    [TestCase(0, new int[0])]
    [TestCase(10, new[] { 3 })]
    [TestCase(300, new[] { 1, 299 })]
    [TestCase(300, new[] { 0, 0 })]
    [TestCase(70000, new[] { 4096, 65536 })]
    public void SequencePayloadIsWrittenWhole(int payloadLength, int[] splits)
    {
        var payload = Payload(payloadLength);
        var sequence = SequenceFactory.SplitAt(payload, splits);

        var output = new ArrayBufferWriter<byte>();
        FrameWriter.WriteFrame(output, Opcode.Binary, true, sequence);
        AssertFrame(output.WrittenSpan.ToArray(), 0x2, true, payload);

        var stingy = new StingyBufferWriter();
        FrameWriter.WriteFrame(stingy, Opcode.Binary, true, sequence);
        AssertFrame(stingy.Written, 0x2, true, payload);
    }

    [Test]
    public void SequencePayloadInOneByteSegmentsIsWrittenWhole()
    {
        var payload = Payload(200);
        var output = new ArrayBufferWriter<byte>();
        FrameWriter.WriteFrame(output, Opcode.Ping, true, SequenceFactory.OneByteSegments(payload));

        AssertFrame(output.WrittenSpan.ToArray(), 0x9, true, payload);
    }

    [Test]
    public void FramesWrittenOneAfterAnotherFollowEachOther()
    {
        var output = new ArrayBufferWriter<byte>();
        FrameWriter.WriteFrame(output, Opcode.Text, false, "ab"u8);
        FrameWriter.WriteFrame(output, Opcode.Ping, true, ReadOnlySpan<byte>.Empty);
        FrameWriter.WriteFrame(output, Opcode.Continuation, true, "c"u8);

        Assert.That(output.WrittenSpan.ToArray(), Is.EqualTo(new byte[] { 0x01, 0x02, (byte)'a', (byte)'b', 0x89, 0x00, 0x80, 0x01, (byte)'c' }));
    }

    [TestCaseSource(nameof(LengthClasses))]
    public void WrittenHeaderOnceMaskedIsReadBackByTheReader(long payloadLength, byte[] unused)
    {
        var destination = new byte[FrameHeader.MaxLength];
        var written = FrameWriter.WriteHeader(destination, Opcode.Binary, fin: false, payloadLength);

        // What a client would send: the same header with MASK set and a key after the length.
        byte[] key = [9, 8, 7, 6];
        var masked = FrameBuilder.Concat(destination[..written], key);
        masked[1] |= 0x80;

        var status = FrameReader.TryReadHeader(new ReadOnlySequence<byte>(masked), false, long.MaxValue, out var header, out _, out _);
        Assert.That(status, Is.EqualTo(FrameReadStatus.Header));
        Assert.That(header.PayloadLength, Is.EqualTo(payloadLength));
        Assert.That(header.Opcode, Is.EqualTo(Opcode.Binary));
        Assert.That(header.Fin, Is.False);
        Assert.That(header.HeaderLength, Is.EqualTo(written + 4));
    }

    private static byte[] Payload(int length)
    {
        var payload = new byte[length];
        new Random(length).NextBytes(payload);
        return payload;
    }

    private static void AssertFrame(byte[] frame, int opcode, bool fin, byte[] payload)
    {
        var parsed = ServerFrame.ParseHeader(frame);
        Assert.That(parsed.Fin, Is.EqualTo(fin));
        Assert.That(parsed.Rsv, Is.EqualTo(0));
        Assert.That(parsed.Opcode, Is.EqualTo(opcode));
        Assert.That(parsed.Masked, Is.False);
        Assert.That(parsed.PayloadLength, Is.EqualTo(payload.Length));
        Assert.That(parsed.HeaderLength, Is.EqualTo(payload.Length <= 125 ? 2 : payload.Length <= 65535 ? 4 : 10), "minimal length encoding");
        Assert.That(frame.Length, Is.EqualTo(parsed.HeaderLength + payload.Length));
        Assert.That(frame.AsSpan(parsed.HeaderLength).SequenceEqual(payload), Is.True, "payload bytes");
    }

    /// <summary>A server frame header decoded by hand from the RFC layout.</summary>
    private readonly record struct ServerFrame(bool Fin, int Rsv, int Opcode, bool Masked, long PayloadLength, int HeaderLength)
    {
        public static ServerFrame ParseHeader(ReadOnlySpan<byte> bytes)
        {
            var fin = (bytes[0] & 0x80) != 0;
            var rsv = (bytes[0] >> 4) & 0x7;
            var opcode = bytes[0] & 0x0F;
            var masked = (bytes[1] & 0x80) != 0;
            var length7 = bytes[1] & 0x7F;
            return length7 switch
            {
                126 => new(fin, rsv, opcode, masked, BinaryPrimitives.ReadUInt16BigEndian(bytes[2..]), 4),
                127 => new(fin, rsv, opcode, masked, checked((long)BinaryPrimitives.ReadUInt64BigEndian(bytes[2..])), 10),
                _ => new(fin, rsv, opcode, masked, length7, 2),
            };
        }
    }

    /// <summary>An <see cref="IBufferWriter{T}"/> that hands out exactly the size asked for (7 bytes when asked for any).</summary>
    private sealed class StingyBufferWriter : IBufferWriter<byte>
    {
        private readonly List<byte> _written = new();
        private byte[] _current = [];

        public byte[] Written => _written.ToArray();

        public void Advance(int count)
        {
            if (count < 0 || count > _current.Length)
            {
                throw new InvalidOperationException($"Advance({count}) past the {_current.Length} bytes handed out.");
            }

            _written.AddRange(_current.AsSpan(0, count));
            _current = [];
        }

        public Memory<byte> GetMemory(int sizeHint = 0)
        {
            // Poison the span so a writer that advances over bytes it did not write is caught.
            _current = new byte[sizeHint > 0 ? sizeHint : 7];
            _current.AsSpan().Fill(0xCC);
            return _current;
        }

        public Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;
    }
}
