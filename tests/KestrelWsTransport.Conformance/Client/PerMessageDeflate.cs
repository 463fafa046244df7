using System.IO.Compression;
using System.Text;

namespace KestrelWsTransport.Conformance.Client;

/// <summary>
/// One permessage-deflate offer (RFC 7692 section 7.1), with Autobahn's PerMessageDeflateOffer parameters:
/// <paramref name="AcceptNoContextTakeover"/> sends <c>client_no_context_takeover</c>, <paramref name="AcceptMaxWindowBits"/>
/// sends <c>client_max_window_bits</c>, <paramref name="RequestNoContextTakeover"/> sends <c>server_no_context_takeover</c>
/// and a non-zero <paramref name="RequestMaxWindowBits"/> sends <c>server_max_window_bits=N</c>.
/// </summary>
internal sealed record DeflateOffer(
    bool AcceptNoContextTakeover = true,
    bool AcceptMaxWindowBits = true,
    bool RequestNoContextTakeover = false,
    int RequestMaxWindowBits = 0)
{
    public override string ToString()
    {
        var text = new StringBuilder("permessage-deflate");
        if (AcceptNoContextTakeover)
        {
            text.Append("; client_no_context_takeover");
        }

        if (AcceptMaxWindowBits)
        {
            text.Append("; client_max_window_bits");
        }

        if (RequestNoContextTakeover)
        {
            text.Append("; server_no_context_takeover");
        }

        if (RequestMaxWindowBits != 0)
        {
            text.Append("; server_max_window_bits=").Append(RequestMaxWindowBits);
        }

        return text.ToString();
    }

    public static string HeaderValue(IEnumerable<DeflateOffer> offers) => string.Join(", ", offers);
}

/// <summary>What the server's <c>Sec-WebSocket-Extensions</c> answer agreed to.</summary>
internal sealed record DeflateAgreement(bool ServerNoContextTakeover, bool ClientNoContextTakeover, int ServerMaxWindowBits, int ClientMaxWindowBits)
{
    public override string ToString() =>
        $"permessage-deflate (server_no_context_takeover={ServerNoContextTakeover}, client_no_context_takeover={ClientNoContextTakeover}, " +
        $"server_max_window_bits={ServerMaxWindowBits}, client_max_window_bits={ClientMaxWindowBits})";

    /// <summary>
    /// Parses the server's answer and checks it against RFC 7692 and the offers. Null when the server declined
    /// compression; throws <see cref="InvalidDataException"/> for an answer a client must reject (7.1: fail the connection).
    /// </summary>
    public static DeflateAgreement? Parse(string? header, IReadOnlyList<DeflateOffer> offers)
    {
        if (string.IsNullOrWhiteSpace(header))
        {
            return null;
        }

        var extensions = header.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (extensions.Length != 1)
        {
            throw new InvalidDataException($"the server accepted {extensions.Length} extensions: '{header}'");
        }

        var parts = extensions[0].Split(';', StringSplitOptions.TrimEntries);
        if (!parts[0].Equals("permessage-deflate", StringComparison.OrdinalIgnoreCase))
        {
            throw new InvalidDataException($"the server accepted an extension that was not offered: '{parts[0]}'");
        }

        bool serverNoContext = false, clientNoContext = false;
        int? serverBits = null, clientBits = null;
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var parameter in parts.Skip(1))
        {
            var nameValue = parameter.Split('=', 2, StringSplitOptions.TrimEntries);
            var name = nameValue[0];
            var value = nameValue.Length == 2 ? nameValue[1].Trim('"') : null;
            if (!seen.Add(name))
            {
                throw new InvalidDataException($"parameter {name} appears twice");
            }

            switch (name.ToLowerInvariant())
            {
                case "server_no_context_takeover" when value is null:
                    serverNoContext = true;
                    break;
                case "client_no_context_takeover" when value is null:
                    clientNoContext = true;
                    break;
                case "server_max_window_bits":
                    serverBits = WindowBits(name, value);
                    break;
                case "client_max_window_bits":
                    if (!offers.Any(o => o.AcceptMaxWindowBits))
                    {
                        throw new InvalidDataException("client_max_window_bits in the answer, but no offer contained it");
                    }

                    clientBits = WindowBits(name, value);
                    break;
                default:
                    throw new InvalidDataException($"unknown or malformed parameter '{parameter}'");
            }
        }

        // The answer must accept one of the offers (RFC 7692 7.1): what the client asked of the server, the server grants.
        var mismatches = offers.Select(o => Mismatch(o, serverNoContext, serverBits, clientBits)).ToArray();
        if (mismatches.All(m => m is not null))
        {
            throw new InvalidDataException(
                $"the answer '{extensions[0]}' accepts none of the offers: " +
                string.Join("; ", mismatches.Select((m, i) => offers.Count == 1 ? m : $"offer {i + 1}: {m}")));
        }

        return new DeflateAgreement(serverNoContext, clientNoContext, serverBits ?? 15, clientBits ?? 15);

        static string? Mismatch(DeflateOffer offer, bool serverNoContext, int? serverBits, int? clientBits)
        {
            if (offer.RequestNoContextTakeover && !serverNoContext)
            {
                return "the offer asked for server_no_context_takeover, which an answer accepting it must contain (RFC 7692 7.1.1.1)";
            }

            if (offer.RequestMaxWindowBits != 0 && serverBits is null)
            {
                return $"the offer had server_max_window_bits={offer.RequestMaxWindowBits}; \"a server accepts an extension negotiation offer with this parameter " +
                       "by including the server_max_window_bits extension parameter in the extension negotiation response\" (RFC 7692 7.1.2.1), and the answer has none";
            }

            if (offer.RequestMaxWindowBits != 0 && serverBits > offer.RequestMaxWindowBits)
            {
                return $"server_max_window_bits={serverBits} is larger than the offered {offer.RequestMaxWindowBits} (RFC 7692 7.1.2.1)";
            }

            if (clientBits is not null && !offer.AcceptMaxWindowBits)
            {
                return "client_max_window_bits in an answer to an offer without it (RFC 7692 7.1.2.2)";
            }

            return null;
        }

        static int WindowBits(string name, string? value) =>
            int.TryParse(value, out var bits) && bits is >= 8 and <= 15 && value!.Length <= 2
                ? bits
                : throw new InvalidDataException($"{name} must have a value from 8 to 15, got '{value}'");
    }
}

/// <summary>
/// The client's side of permessage-deflate: compresses outgoing messages (sync flush, the trailing 00 00 FF FF
/// removed, RFC 7692 section 7.2.1) and decompresses incoming ones (the tail put back, 7.2.2), keeping or dropping the
/// LZ77 window between messages as agreed.
/// </summary>
internal sealed class DeflateCodec : IDisposable
{
    private static readonly byte[] Tail = [0x00, 0x00, 0xFF, 0xFF];

    private readonly DeflateAgreement _agreement;
    private readonly bool _clientContextTakeover;
    private readonly MemoryStream _compressed = new();
    private DeflateStream? _compressor;
    private FeedStream? _feed;
    private DeflateStream? _decompressor;

    /// <param name="offeredClientNoContextTakeover">
    /// An offer with client_no_context_takeover tells the server the client will not keep its window (RFC 7692 7.1.1.1),
    /// so the client keeps it only if it neither offered nor was told otherwise.
    /// </param>
    public DeflateCodec(DeflateAgreement agreement, bool offeredClientNoContextTakeover)
    {
        _agreement = agreement;
        _clientContextTakeover = !agreement.ClientNoContextTakeover && !offeredClientNoContextTakeover;
    }

    /// <summary>
    /// .NET's deflater always uses a 15-bit window; when the server limits the client's window, stored (uncompressed)
    /// deflate blocks keep the output valid for any window.
    /// </summary>
    public bool StoredBlocksOnly => _agreement.ClientMaxWindowBits < 15;

    public byte[] Compress(byte[] payload)
    {
        if (payload.Length == 0)
        {
            return [0x00]; // an empty stored block, tail removed (RFC 7692 7.2.3.6)
        }

        if (!_clientContextTakeover || _compressor is null)
        {
            _compressor?.Dispose();
            _compressed.SetLength(0);
            _compressor = new DeflateStream(_compressed, StoredBlocksOnly ? CompressionLevel.NoCompression : CompressionLevel.Optimal, leaveOpen: true);
        }

        _compressor.Write(payload);
        _compressor.Flush(); // Z_SYNC_FLUSH: ends with an empty stored block, 00 00 FF FF
        var bytes = _compressed.ToArray();
        _compressed.SetLength(0);
        if (!bytes.AsSpan().EndsWith(Tail))
        {
            throw new InvalidOperationException("the deflater's sync flush did not end with 00 00 FF FF");
        }

        return bytes[..^4];
    }

    /// <summary>Inflates one message; throws <see cref="InvalidDataException"/> for data that is not valid deflate.</summary>
    public byte[] Decompress(byte[] payload)
    {
        if (_agreement.ServerNoContextTakeover || _decompressor is null)
        {
            _decompressor?.Dispose();
            _feed = new FeedStream();
            _decompressor = new DeflateStream(_feed, CompressionMode.Decompress);
        }

        _feed!.Append(payload);
        _feed.Append(Tail);
        var output = new MemoryStream(payload.Length * 4 + 64);
        var buffer = new byte[16 * 1024];
        int read;
        while ((read = _decompressor.Read(buffer)) > 0)
        {
            output.Write(buffer, 0, read);
        }

        if (_feed.Remaining > 0)
        {
            throw new InvalidDataException($"{_feed.Remaining} bytes after the end of the deflate data");
        }

        return output.ToArray();
    }

    public void Dispose()
    {
        _compressor?.Dispose();
        _decompressor?.Dispose();
        _compressed.Dispose();
    }

    /// <summary>A stream that hands out what was appended and then reports "nothing more for now" (0) without ending.</summary>
    private sealed class FeedStream : Stream
    {
        private readonly Queue<byte[]> _chunks = new();
        private byte[]? _current;
        private int _position;

        public long Remaining => (_current is null ? 0 : _current.Length - _position) + _chunks.Sum(c => (long)c.Length);

        public void Append(byte[] bytes)
        {
            if (bytes.Length > 0)
            {
                _chunks.Enqueue(bytes);
            }
        }

        public override int Read(byte[] buffer, int offset, int count)
        {
            if (_current is null || _position == _current.Length)
            {
                if (!_chunks.TryDequeue(out _current))
                {
                    _current = null;
                    return 0;
                }

                _position = 0;
            }

            var n = Math.Min(count, _current.Length - _position);
            Array.Copy(_current, _position, buffer, offset, n);
            _position += n;
            return n;
        }

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
