using System.Buffers;

namespace KestrelWsTransport.Fuzz;

/// <summary>Builds multi-segment sequences and input-derived split points.</summary>
internal static class Segments
{
    /// <summary>FNV-1a of the input: a deterministic source of split points that changes with every mutation.</summary>
    public static ulong Hash(ReadOnlySpan<byte> data)
    {
        var hash = 14695981039346656037UL;
        foreach (var b in data)
        {
            hash = (hash ^ b) * 1099511628211UL;
        }

        return hash;
    }

    /// <summary>Sorted distinct cut offsets in (0, length), up to <paramref name="max"/>, derived from <paramref name="seed"/>.</summary>
    public static int[] Cuts(int length, ulong seed, int max)
    {
        if (length < 2)
        {
            return [];
        }

        var cuts = new SortedSet<int>();
        var state = seed | 1;
        var count = (int)(seed % (ulong)(max + 1));
        for (var i = 0; i < count; i++)
        {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // Bias towards small pieces near the start: most parsing decisions happen in the first bytes.
            var bound = (state & 1) == 0 ? Math.Min(length, 16) : length;
            cuts.Add(1 + (int)((state >> 8) % (ulong)(bound - 1 < 1 ? 1 : bound - 1)));
        }

        cuts.RemoveWhere(c => c <= 0 || c >= length);
        return cuts.ToArray();
    }

    /// <summary>
    /// A sequence over <paramref name="data"/> cut at <paramref name="cuts"/>. Each segment is a fresh array with
    /// <paramref name="poison"/> bytes after the segment's end, so a read past the data would see them.
    /// </summary>
    public static ReadOnlySequence<byte> Build(ReadOnlySpan<byte> data, ReadOnlySpan<int> cuts, byte poison)
    {
        var start = 0;
        Segment? first = null, last = null;
        for (var i = 0; i <= cuts.Length; i++)
        {
            var end = i < cuts.Length ? cuts[i] : data.Length;
            var array = new byte[end - start + 16];
            array.AsSpan().Fill(poison);
            data[start..end].CopyTo(array);
            var memory = new ReadOnlyMemory<byte>(array, 0, end - start);
            if (first is null)
            {
                first = last = new Segment(memory, 0);
            }
            else
            {
                last = last!.Append(memory);
            }

            start = end;
        }

        return new ReadOnlySequence<byte>(first!, 0, last!, last!.Memory.Length);
    }

    /// <summary>One array with poison after the data.</summary>
    public static ReadOnlySequence<byte> Single(ReadOnlySpan<byte> data, byte poison)
    {
        var array = new byte[data.Length + 16];
        array.AsSpan().Fill(poison);
        data.CopyTo(array);
        return new ReadOnlySequence<byte>(array, 0, data.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
