using System.Buffers;
using System.Buffers.Binary;
using System.Buffers.Text;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using LoadTool.Infrastructure;

namespace LoadTool.Client;

/// <summary>
/// A minimal RFC 6455 client over a socket, written so the load generator is not the bottleneck: messages in flight are
/// masked straight into one send buffer and written with one call; the receive side parses frame headers in place and
/// skips payloads without copying them; nothing is allocated per message.
/// </summary>
internal sealed class FastWsConnection : ILoadConnection
{
    /// <summary>How many leading payload bytes an <see cref="IMessageObserver"/> gets to see.</summary>
    public const int PrefixLength = 32;

    // Messages are batched into writes of about this size (a single larger message goes alone).
    private const int BatchBytes = 64 * 1024;

    // Close code 1000, big-endian.
    private static readonly byte[] NormalClosure = [0x03, 0xE8];

    private static ReadOnlySpan<byte> AcceptGuid => "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"u8;

    private readonly Socket _socket;
    private readonly Stream _stream;
    private readonly ConnectionSettings _settings;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly byte _opcode;
    private readonly int _headerLength;
    private readonly int _frameLength;
    private byte[] _receive;
    private int _receiveStart;
    private int _receiveEnd;
    private byte[]? _send;
    private byte[]? _stampScratch;
    private ulong _random;

    // Frame parser state.
    private bool _inPayload;
    private long _payloadRemaining;
    private int _frameOpcode;
    private bool _frameFin;
    private long _messageLength;
    private readonly byte[] _control = new byte[125];
    private readonly byte[] _controlFrame = new byte[6 + 125];
    private int _controlLength;
    private readonly byte[]? _prefix;
    private int _prefixLength;
    private bool _pongPending;
    private bool _closeReceived;
    private bool _closeSent;
    private bool _disposed;

    // Content mode (settings.Content set): real messages, checked on the way back; permessage-deflate when negotiated.
    private readonly IMessageContent? _content;
    private ClientDeflater? _deflater;
    private ClientInflater? _inflater;
    private byte[]? _deflated;
    private bool _frameRsv1;
    private bool _messageCompressed;
    private long _messagePlain;
    private readonly Lock _deflateLock = new();
    private readonly Lock _inflateLock = new();
    private bool _codecsDisposed;

    private FastWsConnection(Socket socket, Stream stream, ConnectionSettings settings)
    {
        _socket = socket;
        _stream = stream;
        _settings = settings;
        _opcode = settings.Text ? (byte)0x1 : (byte)0x2;
        var size = settings.Payload.Length;
        _headerLength = (size <= 125 ? 2 : size <= ushort.MaxValue ? 4 : 10) + 4;
        _frameLength = _headerLength + size;
        _receive = ArrayPool<byte>.Shared.Rent(Math.Max(1024, settings.ReceiveBufferSize));
        _random = (ulong)Random.Shared.NextInt64() | 1;
        _prefix = settings.Observer is null ? null : new byte[PrefixLength];
        _content = settings.Content;
    }

    public IMessageObserver? Observer => _settings.Observer;

    /// <summary>What this connection sends and checks in content mode (null: the fixed payload, unchecked).</summary>
    public IMessageContent? Content => _content;

    /// <summary>Bytes and messages in each direction (counted in content mode only).</summary>
    public WireStats Stats { get; } = new();

    /// <summary>What the server answered to the permessage-deflate offer (null: not offered or declined).</summary>
    public DeflateParameters? Deflate { get; private set; }

    /// <summary>Whether the server's close frame arrived, and its status code (0: none in the frame).</summary>
    public bool CloseReceived => _closeReceived;

    public int CloseCode { get; private set; }

    /// <summary>Connects, upgrades (checking the 101 and Sec-WebSocket-Accept) and returns the open WebSocket.</summary>
    public static async Task<FastWsConnection> ConnectAsync(Target target, ConnectionSettings settings, CancellationToken cancellationToken)
    {
        var socket = new Socket(target.EndPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        Stream? stream = null;
        try
        {
            await socket.ConnectAsync(target.EndPoint, cancellationToken).ConfigureAwait(false);
            stream = new NetworkStream(socket, ownsSocket: false);
            if (target.Secure)
            {
                var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
                stream = ssl;
                await ssl.AuthenticateAsClientAsync(
                    new SslClientAuthenticationOptions
                    {
                        TargetHost = target.Uri.IdnHost,
                        // Loopback test servers use self-signed certificates; the tool measures, it does not trust.
                        RemoteCertificateValidationCallback = settings.SkipCertificateCheck ? static (_, _, _, _) => true : null,
                        ApplicationProtocols = [SslApplicationProtocol.Http11],
                    },
                    cancellationToken).ConfigureAwait(false);
            }

            var connection = new FastWsConnection(socket, stream, settings);
            await connection.UpgradeAsync(target, cancellationToken).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            stream?.Dispose();
            socket.Dispose();
            throw;
        }
    }

    private async Task UpgradeAsync(Target target, CancellationToken cancellationToken)
    {
        // The request is built once per target; only the 24-byte key differs per connection.
        var template = RequestTemplate.For(target, _settings.Deflate?.OfferHeader);
        var request = ArrayPool<byte>.Shared.Rent(template.Length);
        try
        {
            template.Bytes.CopyTo(request, 0);
            Span<byte> nonce = stackalloc byte[16];
            Random.Shared.NextBytes(nonce);
            Base64.EncodeToUtf8(nonce, request.AsSpan(template.KeyOffset, 24), out _, out _);
            var expected = new byte[28];
            ComputeAccept(request.AsSpan(template.KeyOffset, 24), expected);
            await _stream.WriteAsync(request.AsMemory(0, template.Length), cancellationToken).ConfigureAwait(false);

            // Read the response head; frames may follow it in the same read and stay in the buffer.
            int headEnd;
            while ((headEnd = _receive.AsSpan(0, _receiveEnd).IndexOf("\r\n\r\n"u8)) < 0)
            {
                if (_receiveEnd == _receive.Length)
                {
                    throw new IOException("The upgrade response head is too long.");
                }

                var read = await _stream.ReadAsync(_receive.AsMemory(_receiveEnd), cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    throw new IOException("The server closed the connection during the upgrade.");
                }

                _receiveEnd += read;
            }

            var head = _receive.AsSpan(0, headEnd);
            _receiveStart = headEnd + 4;
            if (!head.StartsWith("HTTP/1.1 101 "u8))
            {
                throw new IOException($"Upgrade refused: {Encoding.ASCII.GetString(head[..Math.Max(0, head.IndexOf((byte)'\r'))])}");
            }

            // The accept value is 28 base64 characters derived from our key: finding it in the head is the check.
            if (head.IndexOf(expected) < 0)
            {
                throw new IOException("The 101 response has no valid Sec-WebSocket-Accept.");
            }

            if (_settings.Deflate is { } offer)
            {
                Deflate = DeflateParameters.FromResponse(Encoding.ASCII.GetString(head), offer);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(request);
        }
    }

    private static void ComputeAccept(ReadOnlySpan<byte> key, Span<byte> destination)
    {
        Span<byte> input = stackalloc byte[24 + 36];
        key.CopyTo(input);
        AcceptGuid.CopyTo(input[24..]);
        Span<byte> hash = stackalloc byte[20];
        SHA1.HashData(input, hash);
        Base64.EncodeToUtf8(hash, destination, out _, out _);
    }

    /// <summary>The upgrade request for one target, with a hole for the key.</summary>
    private sealed class RequestTemplate
    {
        private static RequestTemplate? s_last;

        private RequestTemplate(Target target, string? extensions)
        {
            Target = target;
            Extensions = extensions;
            var before = $"GET {target.PathAndQuery} HTTP/1.1\r\nHost: {target.HostHeader}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ";
            var after = "\r\nSec-WebSocket-Version: 13\r\n" + (extensions is null ? "" : $"Sec-WebSocket-Extensions: {extensions}\r\n") + "\r\n";
            Bytes = Encoding.ASCII.GetBytes(before + new string('A', 24) + after);
            KeyOffset = Encoding.ASCII.GetByteCount(before);
        }

        public Target Target { get; }

        public string? Extensions { get; }

        public byte[] Bytes { get; }

        public int KeyOffset { get; }

        public int Length => Bytes.Length;

        public static RequestTemplate For(Target target, string? extensions)
        {
            var last = Volatile.Read(ref s_last);
            if (last is not null && ReferenceEquals(last.Target, target) && last.Extensions == extensions)
            {
                return last;
            }

            last = new RequestTemplate(target, extensions);
            Volatile.Write(ref s_last, last);
            return last;
        }
    }

    public ValueTask SendAsync(int count, CancellationToken cancellationToken) =>
        _content is null ? SendPayloadAsync(count, cancellationToken) : SendContentAsync(count, cancellationToken);

    private async ValueTask SendPayloadAsync(int count, CancellationToken cancellationToken)
    {
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            while (count > 0)
            {
                var batch = _frameLength >= BatchBytes ? 1 : Math.Min(count, BatchBytes / _frameLength);
                var bytes = batch * _frameLength;
                if (_send is null || _send.Length < bytes)
                {
                    if (_send is not null)
                    {
                        ArrayPool<byte>.Shared.Return(_send);
                    }

                    _send = ArrayPool<byte>.Shared.Rent(bytes);
                }

                var span = _send.AsSpan(0, bytes);
                for (var i = 0; i < batch; i++)
                {
                    WriteFrame(span.Slice(i * _frameLength, _frameLength));
                }

                await _stream.WriteAsync(_send.AsMemory(0, bytes), cancellationToken).ConfigureAwait(false);
                count -= batch;
            }
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>
    /// Content mode: each message comes from the content (it varies), is compressed when permessage-deflate was
    /// negotiated (RSV1 on the first frame, the 00 00 FF FF tail stripped), split into the frames the content asks for,
    /// masked into one buffer with the messages around it, and written in batches of about <see cref="BatchBytes"/>.
    /// </summary>
    private async ValueTask SendContentAsync(int count, CancellationToken cancellationToken)
    {
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        var buffer = ArrayPool<byte>.Shared.Rent(BatchBytes);
        try
        {
            var used = 0;
            for (; count > 0; count--)
            {
                var encoded = EncodeNextLocked(ref buffer, used);
                if (encoded < 0)
                {
                    // No room next to what is queued: write that first, then encode into the emptied buffer.
                    await _stream.WriteAsync(buffer.AsMemory(0, used), cancellationToken).ConfigureAwait(false);
                    used = 0;
                    encoded = EncodeNextLocked(ref buffer, used);
                }

                used += encoded;
            }

            if (used > 0)
            {
                await _stream.WriteAsync(buffer.AsMemory(0, used), cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            _writeLock.Release();
        }
    }

    private int EncodeNextLocked(ref byte[] buffer, int used)
    {
        lock (_deflateLock)
        {
            ObjectDisposedException.ThrowIf(_codecsDisposed, this);
            return EncodeNext(ref buffer, used);
        }
    }

    // The message taken from the content but not yet encoded (it did not fit next to the others).
    private byte[]? _pendingPlain;
    private int _pendingLength;
    private bool _pendingText;
    private int _pendingFrames;
    private byte[]? _pendingPrecompressed;

    /// <summary>
    /// Encodes the next message into <paramref name="buffer"/> at <paramref name="used"/>; returns the bytes written, or
    /// -1 when it does not fit beside the <paramref name="used"/> bytes already there (it is kept for the next call).
    /// Grows the buffer for a message larger than it.
    /// </summary>
    private int EncodeNext(ref byte[] buffer, int used)
    {
        var content = _content!;
        var deflate = Deflate;
        if (_pendingPlain is null)
        {
            _pendingLength = content.NextLength(out _pendingText, out _pendingFrames);
            _pendingPlain = ArrayPool<byte>.Shared.Rent(Math.Max(1, _pendingLength));
            _pendingPrecompressed = deflate is { ClientContextTakeover: false } ? content.PrecompressedNext(deflate.ClientWindowBits) : null;
            content.WriteNext(_pendingPlain.AsSpan(0, _pendingLength));
        }

        ReadOnlySpan<byte> plain = _pendingPlain.AsSpan(0, _pendingLength);
        ReadOnlySpan<byte> body = plain;
        var compressed = false;
        if (_pendingPrecompressed is not null)
        {
            // Without context takeover a message compresses to the same bytes every time: the content made them once.
            body = _pendingPrecompressed;
            compressed = true;
        }
        else if (deflate is not null)
        {
            _deflater ??= new ClientDeflater(ClientDeflater.Level, deflate.ClientWindowBits, ClientDeflater.MemoryLevel, resetEachMessage: !deflate.ClientContextTakeover);
            _deflated ??= ArrayPool<byte>.Shared.Rent(Math.Max(1024, plain.Length / 2 + 64));
            var length = _deflater.Compress(plain, ref _deflated);
            body = _deflated.AsSpan(0, length);
            compressed = true;
        }

        var frames = Math.Clamp(_pendingFrames, 1, Math.Max(1, body.Length));
        var needed = frames * 14 + body.Length;
        if (needed > buffer.Length - used)
        {
            if (used > 0 && !compressed)
            {
                return -1;
            }

            // Compressed (the deflater has seen it: it cannot be compressed again later) or alone: make room.
            var grown = ArrayPool<byte>.Shared.Rent(used + needed);
            buffer.AsSpan(0, used).CopyTo(grown);
            ArrayPool<byte>.Shared.Return(buffer);
            buffer = grown;
        }

        var written = WriteMessageFrames(buffer.AsSpan(used), body, _pendingText, frames, compressed);
        var stats = Stats;
        stats.MessagesSent++;
        stats.FramesSent += frames;
        stats.PayloadBytesSent += plain.Length;
        stats.WireBytesSent += written;
        if (compressed)
        {
            stats.CompressedMessagesSent++;
        }

        ArrayPool<byte>.Shared.Return(_pendingPlain);
        _pendingPlain = null;
        _pendingPrecompressed = null;
        if (_deflated is { Length: > 256 * 1024 })
        {
            // A rare large message: do not keep its buffer for the life of the connection.
            ArrayPool<byte>.Shared.Return(_deflated);
            _deflated = null;
        }

        return written;
    }

    /// <summary>Writes <paramref name="body"/> as <paramref name="frames"/> masked frames; returns the bytes written.</summary>
    private int WriteMessageFrames(Span<byte> destination, ReadOnlySpan<byte> body, bool text, int frames, bool compressed)
    {
        var position = 0;
        var chunk = (body.Length + frames - 1) / Math.Max(1, frames);
        var offset = 0;
        for (var i = 0; i < frames; i++)
        {
            var size = i == frames - 1 ? body.Length - offset : Math.Min(chunk, body.Length - offset);
            var b0 = (byte)(i == 0 ? (text ? 0x1 : 0x2) : 0x0);
            if (i == frames - 1)
            {
                b0 |= 0x80;
            }

            if (i == 0 && compressed)
            {
                b0 |= 0x40;
            }

            var frame = destination[position..];
            frame[0] = b0;
            int header;
            if (size <= 125)
            {
                frame[1] = (byte)(0x80 | size);
                header = 2;
            }
            else if (size <= ushort.MaxValue)
            {
                frame[1] = 0x80 | 126;
                BinaryPrimitives.WriteUInt16BigEndian(frame[2..], (ushort)size);
                header = 4;
            }
            else
            {
                frame[1] = 0x80 | 127;
                BinaryPrimitives.WriteUInt64BigEndian(frame[2..], (ulong)size);
                header = 10;
            }

            var key = NextKey();
            BitConverter.TryWriteBytes(frame.Slice(header, 4), key);
            header += 4;
            Masking.Apply(body.Slice(offset, size), frame.Slice(header, size), key);
            position += header + size;
            offset += size;
        }

        return position;
    }

    private void WriteFrame(Span<byte> frame)
    {
        var payload = _settings.Payload;
        frame[0] = (byte)(0x80 | _opcode);
        var size = payload.Length;
        if (size <= 125)
        {
            frame[1] = (byte)(0x80 | size);
        }
        else if (size <= ushort.MaxValue)
        {
            frame[1] = 0x80 | 126;
            BinaryPrimitives.WriteUInt16BigEndian(frame[2..], (ushort)size);
        }
        else
        {
            frame[1] = 0x80 | 127;
            BinaryPrimitives.WriteUInt64BigEndian(frame[2..], (ulong)size);
        }

        var key = NextKey();
        BitConverter.TryWriteBytes(frame.Slice(_headerLength - 4, 4), key);
        ReadOnlySpan<byte> source = payload;
        if (_settings.Stamper is { } stamper)
        {
            _stampScratch ??= new byte[size];
            payload.CopyTo(_stampScratch, 0);
            stamper.Stamp(_stampScratch);
            source = _stampScratch;
        }

        Masking.Apply(source, frame[_headerLength..], key);
    }

    private uint NextKey()
    {
        // xorshift64*: a fresh, unpredictable-enough key per frame at no cost.
        var x = _random;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        _random = x;
        return (uint)((x * 0x2545F4914F6CDD1DUL) >> 32);
    }

    public async ValueTask<int> ReceiveAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var messages = Parse();
            if (_pongPending)
            {
                _pongPending = false;
                await SendControlAsync(0xA, _control.AsMemory(0, _controlLength), cancellationToken).ConfigureAwait(false);
            }

            if (messages > 0)
            {
                return messages;
            }

            if (_closeReceived)
            {
                return -1;
            }

            // What is left is at most part of a header: move it to the front and read more.
            if (_receiveStart == _receiveEnd)
            {
                _receiveStart = _receiveEnd = 0;
            }
            else if (_receiveStart > 0)
            {
                Buffer.BlockCopy(_receive, _receiveStart, _receive, 0, _receiveEnd - _receiveStart);
                _receiveEnd -= _receiveStart;
                _receiveStart = 0;
            }

            var read = await _stream.ReadAsync(_receive.AsMemory(_receiveEnd), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                return -1;
            }

            _receiveEnd += read;
        }
    }

    /// <summary>Consumes every whole header and every available payload byte; returns the data messages completed.</summary>
    private int Parse()
    {
        if (_content is null)
        {
            return ParseFrames();
        }

        // The inflater is native memory: never free it under a parse (a close that timed out may dispose the
        // connection while its receive loop still runs).
        lock (_inflateLock)
        {
            ObjectDisposedException.ThrowIf(_codecsDisposed, this);
            return ParseFrames();
        }
    }

    private int ParseFrames()
    {
        var messages = 0;
        var buffer = _receive;
        while (!_closeReceived)
        {
            if (!_inPayload)
            {
                var available = _receiveEnd - _receiveStart;
                if (available < 2)
                {
                    break;
                }

                var b0 = buffer[_receiveStart];
                var b1 = buffer[_receiveStart + 1];
                var length7 = b1 & 0x7F;
                var headerLength = 2 + (length7 == 126 ? 2 : length7 == 127 ? 8 : 0) + ((b1 & 0x80) != 0 ? 4 : 0);
                if (available < headerLength)
                {
                    break;
                }

                var header = buffer.AsSpan(_receiveStart + 2);
                _payloadRemaining = length7 switch
                {
                    126 => BinaryPrimitives.ReadUInt16BigEndian(header),
                    127 => (long)BinaryPrimitives.ReadUInt64BigEndian(header),
                    _ => length7,
                };
                _receiveStart += headerLength;
                _frameOpcode = b0 & 0x0F;
                _frameFin = (b0 & 0x80) != 0;
                _inPayload = true;
                if (_frameOpcode >= 0x8)
                {
                    _controlLength = 0;
                }
                else if (_frameOpcode != 0)
                {
                    // The first frame of a data message.
                    _messageLength = 0;
                    _prefixLength = 0;
                }

                if (_content is not null)
                {
                    BeginContentFrame(b0, headerLength);
                }
            }

            var take = (int)Math.Min(_payloadRemaining, _receiveEnd - _receiveStart);
            if (take > 0)
            {
                if (_frameOpcode >= 0x8)
                {
                    var copy = Math.Min(take, _control.Length - _controlLength);
                    buffer.AsSpan(_receiveStart, copy).CopyTo(_control.AsSpan(_controlLength));
                    _controlLength += copy;
                }
                else if (_content is not null)
                {
                    ContentPayload(buffer.AsSpan(_receiveStart, take));
                }
                else
                {
                    if (_prefix is not null && _prefixLength < PrefixLength)
                    {
                        var copy = Math.Min(take, PrefixLength - _prefixLength);
                        buffer.AsSpan(_receiveStart, copy).CopyTo(_prefix.AsSpan(_prefixLength));
                        _prefixLength += copy;
                    }

                    _messageLength += take;
                }

                _receiveStart += take;
                _payloadRemaining -= take;
            }

            if (_payloadRemaining > 0)
            {
                break;
            }

            _inPayload = false;
            switch (_frameOpcode)
            {
                case 0x8:
                    _closeReceived = true;
                    CloseCode = _controlLength >= 2 ? BinaryPrimitives.ReadUInt16BigEndian(_control) : 0;
                    break;
                case 0x9:
                    _pongPending = true;
                    break;
                case 0xA:
                    break;
                default:
                    if (_frameFin)
                    {
                        messages++;
                        if (_content is not null)
                        {
                            EndContentMessage();
                        }
                        else
                        {
                            _settings.Observer?.OnMessage(_prefix.AsSpan(0, _prefixLength), _messageLength);
                        }
                    }

                    break;
            }
        }

        return messages;
    }

    // A message the server sends back can be no larger than what the tool sends; this only stops a runaway inflate.
    private const long MaxInflatedMessage = 64L * 1024 * 1024;

    /// <summary>Content mode: checks the frame's RSV bits and starts a data message.</summary>
    private void BeginContentFrame(byte b0, int headerLength)
    {
        _frameRsv1 = (b0 & 0x40) != 0;
        if ((b0 & 0x30) != 0)
        {
            throw new InvalidDataException("The server set RSV2 or RSV3.");
        }

        if (_frameOpcode >= 0x8)
        {
            if (_frameRsv1)
            {
                throw new InvalidDataException("The server set RSV1 on a control frame.");
            }

            return;
        }

        if (_frameRsv1 && (Deflate is null || _frameOpcode == 0))
        {
            throw new InvalidDataException(Deflate is null
                ? "The server set RSV1 without permessage-deflate."
                : "The server set RSV1 on a continuation frame.");
        }

        if (_frameOpcode != 0)
        {
            _messageCompressed = _frameRsv1;
            _messagePlain = 0;
            _content!.BeginMessage(_frameOpcode == 0x1);
        }

        Stats.FramesReceived++;
        Stats.WireBytesReceived += headerLength;
    }

    /// <summary>Content mode: payload bytes of a data frame, inflated when the message is compressed.</summary>
    private void ContentPayload(ReadOnlySpan<byte> payload)
    {
        Stats.WireBytesReceived += payload.Length;
        if (_messageCompressed)
        {
            (_inflater ??= new ClientInflater()).Feed(payload, _content!, MaxInflatedMessage, ref _messagePlain);
        }
        else
        {
            _messagePlain += payload.Length;
            _content!.OnInflated(payload);
        }
    }

    private void EndContentMessage()
    {
        if (_messageCompressed)
        {
            (_inflater ??= new ClientInflater()).EndMessage(_content!, MaxInflatedMessage, ref _messagePlain, reset: !Deflate!.ServerContextTakeover);
            Stats.CompressedMessagesReceived++;
        }

        Stats.MessagesReceived++;
        Stats.PayloadBytesReceived += _messagePlain;
        _content!.EndMessage();
    }

    private async ValueTask SendControlAsync(byte opcode, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var frame = _controlFrame;
            frame[0] = (byte)(0x80 | opcode);
            frame[1] = (byte)(0x80 | payload.Length);
            var key = NextKey();
            BitConverter.TryWriteBytes(frame.AsSpan(2, 4), key);
            Masking.Apply(payload.Span, frame.AsSpan(6), key);
            await _stream.WriteAsync(frame.AsMemory(0, 6 + payload.Length), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    public async ValueTask SendCloseAsync(CancellationToken cancellationToken)
    {
        if (!_closeSent)
        {
            _closeSent = true;
            await SendControlAsync(0x8, NormalClosure, cancellationToken).ConfigureAwait(false);
        }
    }

    public async ValueTask CloseAsync(CancellationToken cancellationToken)
    {
        await SendCloseAsync(cancellationToken).ConfigureAwait(false);

        // Read (and drop) until the server's close, then until it ends the TCP connection (RFC 6455 section 7.1.1:
        // the server closes first, so the client keeps no TIME_WAIT).
        while (await ReceiveAsync(cancellationToken).ConfigureAwait(false) >= 0)
        {
        }

        while (_closeReceived && await _stream.ReadAsync(_receive, cancellationToken).ConfigureAwait(false) > 0)
        {
        }
    }

    public ValueTask DisposeAsync()
    {
        if (!_disposed)
        {
            _disposed = true;
            _stream.Dispose();
            _socket.Dispose();
            ArrayPool<byte>.Shared.Return(_receive);
            _receive = [];
            if (_send is not null)
            {
                ArrayPool<byte>.Shared.Return(_send);
                _send = null;
            }

            lock (_deflateLock)
            lock (_inflateLock)
            {
                _codecsDisposed = true;
                if (_deflated is not null)
                {
                    ArrayPool<byte>.Shared.Return(_deflated);
                    _deflated = null;
                }

                if (_pendingPlain is not null)
                {
                    ArrayPool<byte>.Shared.Return(_pendingPlain);
                    _pendingPlain = null;
                }

                _deflater?.Dispose();
                _inflater?.Dispose();
            }
        }

        return default;
    }
}

/// <summary>What every connection of one run sends and how it reads.</summary>
internal sealed record ConnectionSettings(
    byte[] Payload,
    bool Text,
    int ReceiveBufferSize,
    bool SkipCertificateCheck,
    IMessageObserver? Observer = null,
    IPayloadStamper? Stamper = null,
    IMessageContent? Content = null,
    DeflateOffer? Deflate = null)
{
    /// <summary>Printable ASCII (valid UTF-8, so a text message is a valid one) of <paramref name="size"/> bytes.</summary>
    public static byte[] MakePayload(int size)
    {
        var payload = new byte[size];
        for (var i = 0; i < size; i++)
        {
            payload[i] = (byte)('a' + i % 26);
        }

        return payload;
    }
}
