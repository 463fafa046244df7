using System.Buffers;
using System.IO.Compression;
using KestrelWsTransport.Compression;

namespace KestrelWsTransport.Tests.Compression;

/// <summary>The zlib codecs against the runtime's own raw deflate (DeflateStream), in both directions.</summary>
[TestFixture]
public class ZLibCodecTests
{
    [OneTimeSetUp]
    public void RequireZlib() => Assert.That(ZLibNative.IsAvailable, Is.True, "the system zlib (libz.so.1) must be loadable");

    private static byte[] Json(int count) => System.Text.Encoding.UTF8.GetBytes(string.Concat(Enumerable.Range(0, count).Select(i => $"{{\"id\":{i},\"price\":{i * 7 % 1000}.25,\"symbol\":\"ABC{i % 10}\"}},")));

    [TestCase(0)]
    [TestCase(10)]
    [TestCase(5000)]
    public void DeflatedMessageInflatesWithTheRuntimesDeflateStream(int records)
    {
        var payload = Json(records);
        using var deflater = new MessageDeflater(6, 15, 8);
        byte[]? output = null;
        var length = deflater.Compress(new ReadOnlySequence<byte>(payload), stripTail: true, ref output);

        // RFC 7692 7.2.2: the receiver appends 00 00 FF FF before inflating.
        var withTail = output!.AsSpan(0, length).ToArray().Concat(new byte[] { 0, 0, 0xFF, 0xFF }).ToArray();
        using var inflate = new DeflateStream(new MemoryStream(withTail), CompressionMode.Decompress);
        var roundTrip = new MemoryStream();
        inflate.CopyTo(roundTrip);
        Assert.That(roundTrip.ToArray(), Is.EqualTo(payload));
        if (records > 100)
        {
            Assert.That(length, Is.LessThan(payload.Length / 3), "JSON-like data compresses several-fold");
        }

        ArrayPool<byte>.Shared.Return(output!);
    }

    [Test]
    public void ContextTakeoverMakesTheSecondCopySmallerAndStillInflates()
    {
        var payload = Json(200);
        using var deflater = new MessageDeflater(6, 15, 8);
        using var inflater = new MessageInflater(15);
        byte[]? compressed = null;
        byte[]? inflated = null;
        var first = deflater.Compress(new ReadOnlySequence<byte>(payload), true, ref compressed);
        Assert.That(inflater.Inflate(new ReadOnlySequence<byte>(compressed!, 0, first), 1 << 20, ref inflated, out var l1), Is.EqualTo(InflateResult.Ok));
        Assert.That(inflated.AsSpan(0, l1).ToArray(), Is.EqualTo(payload));
        var second = deflater.Compress(new ReadOnlySequence<byte>(payload), true, ref compressed);
        Assert.That(second, Is.LessThan(first / 4), "the second copy refers back into the shared window");
        Assert.That(inflater.Inflate(new ReadOnlySequence<byte>(compressed!, 0, second), 1 << 20, ref inflated, out var l2), Is.EqualTo(InflateResult.Ok));
        Assert.That(inflated.AsSpan(0, l2).ToArray(), Is.EqualTo(payload));
    }

    [Test]
    public void InflateStopsAtTheLimit()
    {
        var bomb = new byte[4 * 1024 * 1024];
        using var deflater = new MessageDeflater(9, 15, 8);
        byte[]? compressed = null;
        var length = deflater.Compress(new ReadOnlySequence<byte>(bomb), true, ref compressed);
        Assert.That(length, Is.LessThan(10_000));

        using var inflater = new MessageInflater(15);
        byte[]? inflated = null;
        var result = inflater.Inflate(new ReadOnlySequence<byte>(compressed!, 0, length), 64 * 1024, ref inflated, out var produced);
        Assert.That(result, Is.EqualTo(InflateResult.TooBig));
        Assert.That(produced, Is.LessThanOrEqualTo(64 * 1024 + 1), "never inflates past the limit");
        Assert.That(inflated!.Length, Is.LessThanOrEqualTo(128 * 1024), "the buffer never grew toward the bomb's size");
    }

    [Test]
    public void CorruptDataIsReported()
    {
        using var inflater = new MessageInflater(15);
        byte[]? inflated = null;
        var garbage = new byte[] { 0xFF, 0xFF, 0xFF, 0x00, 0x12, 0x34 };
        Assert.That(inflater.Inflate(new ReadOnlySequence<byte>(garbage), 1 << 20, ref inflated, out _), Is.EqualTo(InflateResult.Corrupt));
    }

    [Test]
    public void InflatesAcrossSegmentsAndFromDeflateStream()
    {
        var payload = Json(1000);
        var raw = new MemoryStream();
        using (var deflate = new DeflateStream(raw, CompressionLevel.Optimal, leaveOpen: true))
        {
            deflate.Write(payload);
            deflate.Flush();
        }

        // DeflateStream ends with a final block; permessage-deflate senders may do that too.
        var compressed = raw.ToArray();
        var split = Infrastructure.SequenceFactory.OneByteSegments(compressed);
        using var inflater = new MessageInflater(15);
        byte[]? inflated = null;
        Assert.That(inflater.Inflate(split, 1 << 20, ref inflated, out var length), Is.EqualTo(InflateResult.Ok));
        Assert.That(inflated.AsSpan(0, length).ToArray(), Is.EqualTo(payload));
    }
}
