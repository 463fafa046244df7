using System.Buffers;

namespace KestrelWsTransport.Benchmarks;

/// <summary>Builds multi-segment <see cref="ReadOnlySequence{T}"/>s, as a transport that delivers small reads would.</summary>
internal sealed class Segment : ReadOnlySequenceSegment<byte>
{
    private Segment(ReadOnlyMemory<byte> memory, long runningIndex)
    {
        Memory = memory;
        RunningIndex = runningIndex;
    }

    /// <summary>One sequence over <paramref name="data"/>, cut at each offset in <paramref name="cuts"/> (ascending).</summary>
    public static ReadOnlySequence<byte> Split(byte[] data, params int[] cuts)
    {
        if (cuts.Length == 0)
        {
            return new ReadOnlySequence<byte>(data);
        }

        var first = new Segment(data.AsMemory(0, cuts[0]), 0);
        var last = first;
        for (var i = 0; i < cuts.Length; i++)
        {
            var start = cuts[i];
            var end = i + 1 < cuts.Length ? cuts[i + 1] : data.Length;
            // Each segment gets its own array, as pipe segments would.
            var next = new Segment(data.AsSpan(start, end - start).ToArray(), start);
            last.Next = next;
            last = next;
        }

        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    /// <summary>Cuts <paramref name="data"/> into segments of <paramref name="size"/> bytes.</summary>
    public static ReadOnlySequence<byte> Chunked(byte[] data, int size)
    {
        var cuts = new List<int>();
        for (var at = size; at < data.Length; at += size)
        {
            cuts.Add(at);
        }

        return Split(data, cuts.ToArray());
    }
}
