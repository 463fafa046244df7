using LoadTool.Client;

namespace LoadTool.Content;

/// <summary>A fixed list of messages (generated once per run) that every connection walks through, each from its own start.</summary>
internal sealed class PayloadPool
{
    private PayloadPool(byte[][] messages, bool text, string description)
    {
        Messages = messages;
        Text = text;
        Description = description;
    }

    public byte[][] Messages { get; }

    public bool Text { get; }

    public string Description { get; }

    public static PayloadPool Json(int seed, int count, bool text)
    {
        var messages = JsonPayloads.Generate(seed, count);
        var sizes = messages.Select(m => m.Length).ToArray();
        return new PayloadPool(
            messages,
            text,
            $"json (seed {seed}, {count:N0} messages, {sizes.Min():N0}-{sizes.Max():N0} B, mean {sizes.Average():N0} B)");
    }

    public static PayloadPool Fixed(byte[] payload, bool text) =>
        new([payload], text, $"fixed ({payload.Length:N0} B of a-z)");

    private readonly Lock _lock = new();
    private byte[][]? _compressed;
    private int _compressedWindowBits;

    /// <summary>
    /// Every message compressed on its own (what a client with client_no_context_takeover sends), made once per run:
    /// the load tool then spends no CPU compressing in deflate-nct runs.
    /// </summary>
    public byte[][] Compressed(int windowBits)
    {
        lock (_lock)
        {
            if (_compressed is null || _compressedWindowBits != windowBits)
            {
                using var deflater = new ClientDeflater(ClientDeflater.Level, windowBits, ClientDeflater.MemoryLevel, resetEachMessage: true);
                var output = System.Buffers.ArrayPool<byte>.Shared.Rent(4096);
                _compressed = Messages.Select(m =>
                {
                    var length = deflater.Compress(m, ref output);
                    return output.AsSpan(0, length).ToArray();
                }).ToArray();
                System.Buffers.ArrayPool<byte>.Shared.Return(output);
                _compressedWindowBits = windowBits;
            }

            return _compressed;
        }
    }

    /// <summary>The content of connection number <paramref name="connection"/>.</summary>
    public PoolContent For(int connection) =>
        new(this, (int)((ulong)connection * 2654435761UL % (ulong)Messages.Length));
}

/// <summary>
/// Sends the pool's messages in order from a start of its own, and checks that the echoes come back in the same order,
/// byte for byte (after inflating), with the same type. Counts what does not.
/// </summary>
internal sealed class PoolContent(PayloadPool pool, int start) : IMessageContent
{
    private readonly byte[][] _messages = pool.Messages;
    private long _sendIndex;
    private long _receiveIndex;
    private byte[] _expected = [];
    private int _offset;
    private bool _bad;

    public long Verified { get; private set; }

    public long Mismatches { get; private set; }

    public string? FirstMismatch { get; private set; }

    public int NextLength(out bool text, out int frames)
    {
        text = pool.Text;
        frames = 1;
        return _messages[(int)((start + _sendIndex) % _messages.Length)].Length;
    }

    public byte[]? PrecompressedNext(int windowBits) => pool.Compressed(windowBits)[(int)((start + _sendIndex) % _messages.Length)];

    public void WriteNext(Span<byte> destination)
    {
        _messages[(int)((start + _sendIndex) % _messages.Length)].CopyTo(destination);
        _sendIndex++;
    }

    public void BeginMessage(bool text)
    {
        _expected = _messages[(int)((start + _receiveIndex) % _messages.Length)];
        _offset = 0;
        _bad = false;
        if (text != pool.Text)
        {
            Fail($"echo {_receiveIndex} came back as {(text ? "text" : "binary")}");
        }
    }

    public void OnInflated(ReadOnlySpan<byte> plain)
    {
        if (!_bad)
        {
            if (_offset + plain.Length > _expected.Length)
            {
                Fail($"echo {_receiveIndex} is longer than the {_expected.Length} bytes sent");
            }
            else if (!plain.SequenceEqual(_expected.AsSpan(_offset, plain.Length)))
            {
                Fail($"echo {_receiveIndex} differs from what was sent at bytes {_offset}-{_offset + plain.Length}");
            }
        }

        _offset += plain.Length;
    }

    public void EndMessage()
    {
        if (!_bad && _offset != _expected.Length)
        {
            Fail($"echo {_receiveIndex} has {_offset} bytes, {_expected.Length} were sent");
        }

        if (_bad)
        {
            Mismatches++;
        }
        else
        {
            Verified++;
        }

        _receiveIndex++;
    }

    private void Fail(string what)
    {
        _bad = true;
        FirstMismatch ??= what;
    }
}
