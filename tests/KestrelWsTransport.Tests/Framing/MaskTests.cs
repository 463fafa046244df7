using System.Runtime.InteropServices;
using KestrelWsTransport.Framing;

namespace KestrelWsTransport.Tests.Framing;

public class MaskTests
{
    // Lengths around every block size the implementation switches between (64/32/16/8/4 and the 1-3 byte tail),
    // plus page-sized and odd large buffers where the main vector loop runs many times.
    private static readonly int[] Lengths = [.. Enumerable.Range(0, 301), 4095, 4096, 65537];

    /// <summary>RFC 6455 section 5.3 taken literally: byte i is XORed with key octet (i + start) mod 4.</summary>
    private static void Reference(Span<byte> data, ReadOnlySpan<byte> keyBytes, int maskIndex)
    {
        for (var i = 0; i < data.Length; i++)
        {
            data[i] ^= keyBytes[(maskIndex + i) & 3];
        }
    }

    private static int ReadKey(ReadOnlySpan<byte> keyBytes) => MemoryMarshal.Read<int>(keyBytes);

    [Test]
    public void InPlace_MatchesReference_ForAllLengthsAndIndices()
    {
        var random = new Random(1234);
        var keyBytes = new byte[4];
        foreach (var length in Lengths)
        {
            var original = new byte[length];
            random.NextBytes(original);
            random.NextBytes(keyBytes);
            var key = ReadKey(keyBytes);

            for (var maskIndex = 0; maskIndex < 4; maskIndex++)
            {
                var expected = (byte[])original.Clone();
                Reference(expected, keyBytes, maskIndex);

                var actual = (byte[])original.Clone();
                var next = Mask.Apply(actual, key, maskIndex);

                Assert.That(actual, Is.EqualTo(expected), $"length {length}, maskIndex {maskIndex}");
                Assert.That(next, Is.EqualTo((maskIndex + length) & 3), $"length {length}, maskIndex {maskIndex}");
            }
        }
    }

    [Test]
    public void Copy_MatchesReference_AndLeavesSourceAndExtraDestinationAlone()
    {
        var random = new Random(1234);
        var keyBytes = new byte[4];
        foreach (var length in Lengths)
        {
            var source = new byte[length];
            random.NextBytes(source);
            random.NextBytes(keyBytes);
            var key = ReadKey(keyBytes);
            var sourceCopy = (byte[])source.Clone();

            for (var maskIndex = 0; maskIndex < 4; maskIndex++)
            {
                var expected = (byte[])source.Clone();
                Reference(expected, keyBytes, maskIndex);

                // A longer destination, to show nothing past source.Length is touched.
                var destination = new byte[length + 5];
                destination.AsSpan(length).Fill(0xAB);
                var next = Mask.Apply(source, destination, key, maskIndex);

                Assert.That(destination.AsSpan(0, length).ToArray(), Is.EqualTo(expected), $"length {length}, maskIndex {maskIndex}");
                Assert.That(destination.AsSpan(length).ToArray(), Is.All.EqualTo(0xAB));
                Assert.That(source, Is.EqualTo(sourceCopy));
                Assert.That(next, Is.EqualTo((maskIndex + length) & 3));
            }
        }
    }

    [Test]
    public void Copy_IntoSameMemory_MatchesReference()
    {
        var random = new Random(1234);
        var keyBytes = new byte[4];
        foreach (var length in Lengths)
        {
            var buffer = new byte[length];
            random.NextBytes(buffer);
            random.NextBytes(keyBytes);
            var expected = (byte[])buffer.Clone();
            Reference(expected, keyBytes, 3);

            Mask.Apply(buffer, buffer, ReadKey(keyBytes), 3);

            Assert.That(buffer, Is.EqualTo(expected), $"length {length}");
        }
    }

    [Test]
    public void AppliedInPieces_MatchesOneCall_ForEverySplitPoint()
    {
        var random = new Random(1234);
        var original = new byte[70];
        random.NextBytes(original);
        var keyBytes = new byte[4];
        random.NextBytes(keyBytes);
        var key = ReadKey(keyBytes);

        for (var startIndex = 0; startIndex < 4; startIndex++)
        {
            var whole = (byte[])original.Clone();
            Mask.Apply(whole, key, startIndex);

            for (var split = 0; split <= original.Length; split++)
            {
                var inPlace = (byte[])original.Clone();
                var index = Mask.Apply(inPlace.AsSpan(0, split), key, startIndex);
                Mask.Apply(inPlace.AsSpan(split), key, index);
                Assert.That(inPlace, Is.EqualTo(whole), $"in place, split {split}, start {startIndex}");

                var copied = new byte[original.Length];
                index = Mask.Apply(original.AsSpan(0, split), copied, key, startIndex);
                Mask.Apply(original.AsSpan(split), copied.AsSpan(split), key, index);
                Assert.That(copied, Is.EqualTo(whole), $"copy, split {split}, start {startIndex}");
            }
        }
    }

    [Test]
    public void ApplyInPlace_OverASequence_MatchesReference_AcrossSegmentsAndStartIndices()
    {
        var random = new Random(99);
        var keyBytes = new byte[] { 0x37, 0xFA, 0x21, 0x3D };
        var original = new byte[1000];
        random.NextBytes(original);
        var sequences = new (string Name, Func<byte[], System.Buffers.ReadOnlySequence<byte>> Make)[]
        {
            ("one segment", d => Infrastructure.SequenceFactory.Single(d)),
            ("split at 1, 7, 500", d => Infrastructure.SequenceFactory.SplitAt(d, 1, 7, 500)),
            ("one-byte segments", d => Infrastructure.SequenceFactory.OneByteSegments(d)),
        };

        foreach (var (name, make) in sequences)
        {
            for (var maskIndex = 0; maskIndex < 4; maskIndex++)
            {
                var expected = (byte[])original.Clone();
                Reference(expected, keyBytes, maskIndex);

                var sequence = make(original);
                var next = Mask.ApplyInPlace(sequence, ReadKey(keyBytes), maskIndex);

                Assert.That(System.Buffers.BuffersExtensions.ToArray(sequence), Is.EqualTo(expected), $"{name}, index {maskIndex}");
                Assert.That(next, Is.EqualTo((maskIndex + original.Length) & 3), $"{name}, index {maskIndex}");
            }
        }
    }

    [Test]
    public void AppliedTwice_IsIdentity()
    {
        var random = new Random(1234);
        var keyBytes = new byte[4];
        foreach (var length in Lengths)
        {
            var original = new byte[length];
            random.NextBytes(original);
            random.NextBytes(keyBytes);
            var key = ReadKey(keyBytes);
            var maskIndex = length & 3;

            var buffer = (byte[])original.Clone();
            Mask.Apply(buffer, key, maskIndex);
            Mask.Apply(buffer, key, maskIndex);

            Assert.That(buffer, Is.EqualTo(original), $"length {length}");
        }
    }

    [Test]
    public void KeyIsTakenInWireOrder()
    {
        // Zero data makes the output the key stream itself, so this pins the meaning of the int
        // independently of the reference implementation above.
        var data = new byte[6];
        var next = Mask.Apply(data, ReadKey([0x11, 0x22, 0x33, 0x44]), 1);

        Assert.That(data, Is.EqualTo(new byte[] { 0x22, 0x33, 0x44, 0x11, 0x22, 0x33 }));
        Assert.That(next, Is.EqualTo(3));
    }

    [Test]
    public void Copy_RejectsShortDestination()
    {
        var source = new byte[10];
        var destination = new byte[9];

        Assert.That(() => Mask.Apply(source, destination, 1, 0), Throws.ArgumentException);
    }

    [Test]
    public void Copy_RejectsPartialOverlap()
    {
        var buffer = new byte[20];

        Assert.That(() => Mask.Apply(buffer.AsSpan(0, 10), buffer.AsSpan(1, 10), 1, 0), Throws.ArgumentException);
    }
}
