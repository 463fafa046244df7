using System.Buffers;

namespace KestrelWsTransport.Tests.Infrastructure;

/// <summary>
/// Builds multi-segment <see cref="ReadOnlySequence{T}"/>s, the shape a <c>PipeReader</c> hands out when bytes arrived
/// in several reads, so parsers can be checked at every segment boundary.
/// Every segment gets its own copy of the bytes, so code that writes into the sequence (unmasking in place) never
/// changes the caller's array.
/// </summary>
internal static class SequenceFactory
{
    /// <summary>One segment holding all of <paramref name="data"/>.</summary>
    public static ReadOnlySequence<byte> Single(ReadOnlySpan<byte> data) => new(data.ToArray());

    /// <summary>One segment per byte: every boundary a parser could trip over is there.</summary>
    public static ReadOnlySequence<byte> OneByteSegments(ReadOnlySpan<byte> data)
    {
        var segments = new byte[data.Length][];
        for (var i = 0; i < data.Length; i++)
        {
            segments[i] = [data[i]];
        }

        return FromSegments(segments);
    }

    /// <summary>
    /// Splits <paramref name="data"/> at the given offsets (ascending, each 0..length): <c>SplitAt(d, 3)</c> gives
    /// segments [0,3) and [3,length). An offset of 0 or length gives an empty segment, which is legal in a sequence.
    /// </summary>
    public static ReadOnlySequence<byte> SplitAt(ReadOnlySpan<byte> data, params int[] offsets)
    {
        var segments = new List<byte[]>(offsets.Length + 1);
        var start = 0;
        foreach (var offset in offsets)
        {
            if (offset < start || offset > data.Length)
            {
                throw new ArgumentOutOfRangeException(nameof(offsets), $"Offset {offset} is not in [{start}, {data.Length}].");
            }

            segments.Add(data[start..offset].ToArray());
            start = offset;
        }

        segments.Add(data[start..].ToArray());
        return FromSegments(segments);
    }

    /// <summary>The given arrays (copied), in order, as one sequence.</summary>
    public static ReadOnlySequence<byte> FromSegments(IReadOnlyList<byte[]> segments)
    {
        if (segments.Count == 0)
        {
            return ReadOnlySequence<byte>.Empty;
        }

        var first = new Segment(segments[0].ToArray(), 0);
        var last = first;
        for (var i = 1; i < segments.Count; i++)
        {
            last = last.Append(segments[i].ToArray());
        }

        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(byte[] memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(byte[] memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
