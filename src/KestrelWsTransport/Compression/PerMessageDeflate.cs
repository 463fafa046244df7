using System.Buffers;

namespace KestrelWsTransport.Compression;

/// <summary>
/// permessage-deflate for one connection: the agreed parameters and the zlib streams they need. A side without context
/// takeover borrows its codec from <see cref="ZLibCodecPool"/> for one message at a time, so an idle connection holds
/// zlib memory only for the sides that keep their window.
/// </summary>
internal sealed class PerMessageDeflate : IDisposable
{
    private readonly DeflateParameters _parameters;
    private readonly int _level;
    private readonly int _memoryLevel;
    private readonly int _inflateWindowBits;
    private MessageDeflater? _deflater;
    private MessageInflater? _inflater;

    // Without server context takeover: the codec borrowed for a message being sent in parts, until its last part.
    private MessageDeflater? _partDeflater;

    public PerMessageDeflate(DeflateParameters parameters, WebSocketCompressionOptions options)
    {
        _parameters = parameters;
        _level = options.Level;
        _memoryLevel = options.MemoryLevel;
        MinMessageBytes = options.MinMessageBytes;
        // A larger inflate window than the peer's is always safe; zlib's raw inflate wants at least 9 bits here.
        _inflateWindowBits = Math.Max(9, parameters.ClientMaxWindowBits);
    }

    public int MinMessageBytes { get; }

    public DeflateParameters Parameters => _parameters;

    /// <summary>Compresses one whole message into <paramref name="output"/> (rented); returns its length.</summary>
    public int Compress(in ReadOnlySequence<byte> payload, ref byte[]? output)
    {
        if (!_parameters.ServerNoContextTakeover)
        {
            _deflater ??= new MessageDeflater(_level, _parameters.ServerMaxWindowBits, _memoryLevel);
            return _deflater.Compress(payload, stripTail: true, ref output);
        }

        var deflater = ZLibCodecPool.RentDeflater(_level, _parameters.ServerMaxWindowBits, _memoryLevel);
        try
        {
            return deflater.Compress(payload, stripTail: true, ref output);
        }
        finally
        {
            ZLibCodecPool.Return(deflater, _level, _parameters.ServerMaxWindowBits, _memoryLevel);
        }
    }

    /// <summary>
    /// Compresses one part of a message sent in parts into <paramref name="output"/> (rented); returns its length. Each
    /// part ends with a sync flush, so its bytes can go out at once; only the last part's 00 00 FF FF is removed
    /// (RFC 7692 section 7.2.1: the tail is stripped from the message, not from each frame).
    /// </summary>
    public int CompressPart(in ReadOnlySequence<byte> payload, bool lastPart, ref byte[]? output)
    {
        MessageDeflater deflater = !_parameters.ServerNoContextTakeover
            ? _deflater ??= new MessageDeflater(_level, _parameters.ServerMaxWindowBits, _memoryLevel)
            : _partDeflater ??= ZLibCodecPool.RentDeflater(_level, _parameters.ServerMaxWindowBits, _memoryLevel);
        var length = deflater.Compress(payload, stripTail: lastPart, ref output);
        if (lastPart && _partDeflater is not null)
        {
            ZLibCodecPool.Return(_partDeflater, _level, _parameters.ServerMaxWindowBits, _memoryLevel);
            _partDeflater = null;
        }

        return length;
    }

    /// <summary>Decompresses one whole message, never past <paramref name="maxLength"/>.</summary>
    public InflateResult Decompress(in ReadOnlySequence<byte> compressed, long maxLength, ref byte[]? output, out int length)
    {
        if (!_parameters.ClientNoContextTakeover)
        {
            _inflater ??= new MessageInflater(_inflateWindowBits);
            var kept = _inflater.Inflate(compressed, maxLength, ref output, out length);
            if (kept != InflateResult.Ok)
            {
                // The window is in an unknown state after a failure; the connection is failing anyway.
                _inflater.Dispose();
                _inflater = null;
            }

            return kept;
        }

        var inflater = ZLibCodecPool.RentInflater(_inflateWindowBits);
        var result = inflater.Inflate(compressed, maxLength, ref output, out length);
        if (result == InflateResult.Ok)
        {
            ZLibCodecPool.Return(inflater, _inflateWindowBits);
        }
        else
        {
            inflater.Dispose();
        }

        return result;
    }

    public void Dispose()
    {
        _deflater?.Dispose();
        _inflater?.Dispose();
        _partDeflater?.Dispose();
        _deflater = null;
        _inflater = null;
        _partDeflater = null;
    }
}
