using System.Buffers;
using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using static KestrelWsTransport.Compression.ZLibNative;

namespace KestrelWsTransport.Compression;

/// <summary>
/// One zlib stream (deflate or inflate, raw: no zlib header) in native memory, so zlib's pointer back to it stays valid.
/// </summary>
internal abstract unsafe class ZLibCodec : IDisposable
{
    protected readonly ZStream* Stream;
    private bool _disposed;

    protected ZLibCodec()
    {
        Stream = (ZStream*)NativeMemory.AllocZeroed((nuint)sizeof(ZStream));
    }

    /// <summary>Forgets the sliding window (no context takeover) but keeps the allocated state for the next message.</summary>
    public abstract void Reset();

    protected abstract void End();

    public void Dispose()
    {
        if (!_disposed)
        {
            _disposed = true;
            End();
            NativeMemory.Free(Stream);
            GC.SuppressFinalize(this);
        }
    }

    ~ZLibCodec()
    {
        Dispose();
    }
}

/// <summary>Compresses messages for permessage-deflate (RFC 7692 section 7.2.1).</summary>
internal sealed unsafe class MessageDeflater : ZLibCodec
{
    public MessageDeflater(int level, int windowBits, int memLevel)
    {
        if (DeflateInit(Stream, level, -windowBits, memLevel) != Ok)
        {
            throw new InvalidOperationException("zlib deflateInit2 failed.");
        }
    }

    /// <summary>
    /// Compresses <paramref name="payload"/> with a sync flush and returns the compressed bytes without the final
    /// 00 00 FF FF, in <paramref name="output"/> (rented from the shared pool; the caller returns it).
    /// </summary>
    public int Compress(in ReadOnlySequence<byte> payload, bool stripTail, ref byte[]? output)
    {
        output ??= ArrayPool<byte>.Shared.Rent((int)Math.Max(64, payload.Length / 2 + 64));
        var written = 0;
        foreach (var segment in payload)
        {
            fixed (byte* input = segment.Span)
            {
                Stream->NextIn = input;
                Stream->AvailIn = (uint)segment.Length;
                while (Stream->AvailIn > 0)
                {
                    written = Run(NoFlush, ref output, written);
                }
            }
        }

        // Sync flush until zlib has room to spare: then everything is out, ending in the empty stored block.
        Stream->NextIn = null;
        Stream->AvailIn = 0;
        do
        {
            written = Run(SyncFlush, ref output, written);
        }
        while (Stream->AvailOut == 0);

        return stripTail && written >= 4 ? written - 4 : written;
    }

    private int Run(int flush, ref byte[] output, int written)
    {
        if (written == output.Length)
        {
            Grow(ref output, written);
        }

        fixed (byte* outPtr = output)
        {
            Stream->NextOut = outPtr + written;
            Stream->AvailOut = (uint)(output.Length - written);
            var status = deflate(Stream, flush);
            if (status is not (Ok or BufError))
            {
                throw new InvalidOperationException($"zlib deflate failed ({status}).");
            }

            var produced = output.Length - written - (int)Stream->AvailOut;
            Stream->NextOut = null;
            return written + produced;
        }
    }

    private static void Grow(ref byte[] output, int written)
    {
        var grown = ArrayPool<byte>.Shared.Rent(output.Length * 2);
        output.AsSpan(0, written).CopyTo(grown);
        ArrayPool<byte>.Shared.Return(output);
        output = grown;
    }

    public override void Reset() => deflateReset(Stream);

    protected override void End() => deflateEnd(Stream);
}

/// <summary>What went wrong inflating a message.</summary>
internal enum InflateResult
{
    Ok,
    TooBig,
    Corrupt,
}

/// <summary>Decompresses permessage-deflate messages (RFC 7692 section 7.2.2), never past a size limit.</summary>
internal sealed unsafe class MessageInflater : ZLibCodec
{
    private static ReadOnlySpan<byte> Tail => [0x00, 0x00, 0xFF, 0xFF];

    public MessageInflater(int windowBits)
    {
        if (InflateInit(Stream, -windowBits) != Ok)
        {
            throw new InvalidOperationException("zlib inflateInit2 failed.");
        }
    }

    /// <summary>
    /// Inflates <paramref name="compressed"/> plus the tail the sender stripped into <paramref name="output"/> (a pooled
    /// array, grown as needed). Stops, with <see cref="InflateResult.TooBig"/>, as soon as the output would pass
    /// <paramref name="maxLength"/>: a deflate bomb never inflates past the limit.
    /// </summary>
    public InflateResult Inflate(in ReadOnlySequence<byte> compressed, long maxLength, ref byte[]? output, out int length)
    {
        output ??= ArrayPool<byte>.Shared.Rent((int)Math.Min(maxLength + 1, Math.Max(4096, compressed.Length * 4)));
        length = 0;
        _ended = false;
        foreach (var segment in compressed)
        {
            if (_ended && !segment.IsEmpty)
            {
                // Bytes after the end of the deflate stream.
                return InflateResult.Corrupt;
            }

            var result = Feed(segment.Span, maxLength, ref output, ref length);
            if (result != InflateResult.Ok)
            {
                return result;
            }
        }

        // A sender that ended its deflate stream (BFINAL) has nothing for the tail to complete.
        return _ended ? InflateResult.Ok : Feed(Tail, maxLength, ref output, ref length);
    }

    private bool _ended;

    private InflateResult Feed(ReadOnlySpan<byte> input, long maxLength, ref byte[] output, ref int length)
    {
        fixed (byte* inPtr = input)
        {
            Stream->NextIn = inPtr;
            Stream->AvailIn = (uint)input.Length;
            while (true)
            {
                if (length == output.Length)
                {
                    if (length > maxLength)
                    {
                        return InflateResult.TooBig;
                    }

                    var grown = ArrayPool<byte>.Shared.Rent((int)Math.Min((long)output.Length * 2, maxLength + 1));
                    output.AsSpan(0, length).CopyTo(grown);
                    ArrayPool<byte>.Shared.Return(output);
                    output = grown;
                }

                int status;
                int produced;
                fixed (byte* outPtr = output)
                {
                    // Never let zlib write more than one byte past the limit: that byte is how "too big" is seen.
                    var room = (int)Math.Min(output.Length - length, maxLength + 1 - length);
                    Stream->NextOut = outPtr + length;
                    Stream->AvailOut = (uint)room;
                    status = inflate(Stream, SyncFlush);
                    produced = room - (int)Stream->AvailOut;
                    Stream->NextOut = null;
                }

                length += produced;
                if (length > maxLength)
                {
                    return InflateResult.TooBig;
                }

                if (status == StreamEnd)
                {
                    // The sender ended the deflate stream (BFINAL); the next message starts a new one.
                    var trailing = Stream->AvailIn;
                    inflateReset(Stream);
                    _ended = true;
                    return trailing > 0 ? InflateResult.Corrupt : InflateResult.Ok;
                }

                if (status is not (Ok or BufError))
                {
                    return InflateResult.Corrupt;
                }

                if (Stream->AvailIn == 0 && Stream->AvailOut > 0)
                {
                    return InflateResult.Ok;
                }

                if (status == BufError && produced == 0 && Stream->AvailOut > 0)
                {
                    return InflateResult.Corrupt;
                }
            }
        }
    }

    public override void Reset() => inflateReset(Stream);

    protected override void End() => inflateEnd(Stream);
}

/// <summary>
/// Codecs kept between messages of connections that negotiated no context takeover: such a connection needs one only
/// while it handles a message, so idle connections hold no zlib memory. Bounded per parameter set.
/// </summary>
internal static class ZLibCodecPool
{
    private const int MaxPerKey = 64;
    private static readonly ConcurrentDictionary<long, ConcurrentStack<ZLibCodec>> s_pools = new();

    public static MessageDeflater RentDeflater(int level, int windowBits, int memLevel)
    {
        var key = Key(1, level, windowBits, memLevel);
        return s_pools.TryGetValue(key, out var stack) && stack.TryPop(out var codec)
            ? (MessageDeflater)codec
            : new MessageDeflater(level, windowBits, memLevel);
    }

    public static MessageInflater RentInflater(int windowBits)
    {
        var key = Key(2, 0, windowBits, 0);
        return s_pools.TryGetValue(key, out var stack) && stack.TryPop(out var codec)
            ? (MessageInflater)codec
            : new MessageInflater(windowBits);
    }

    public static void Return(MessageDeflater codec, int level, int windowBits, int memLevel) => Return(codec, Key(1, level, windowBits, memLevel));

    public static void Return(MessageInflater codec, int windowBits) => Return(codec, Key(2, 0, windowBits, 0));

    private static void Return(ZLibCodec codec, long key)
    {
        codec.Reset();
        var stack = s_pools.GetOrAdd(key, static _ => new ConcurrentStack<ZLibCodec>());
        if (stack.Count < MaxPerKey)
        {
            stack.Push(codec);
        }
        else
        {
            codec.Dispose();
        }
    }

    private static long Key(int kind, int level, int windowBits, int memLevel) => (long)(kind | (level << 4) | (windowBits << 8) | (memLevel << 16));
}
