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
    }

    public IMessageObserver? Observer => _settings.Observer;

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
        var template = RequestTemplate.For(target);
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

        private RequestTemplate(Target target)
        {
            Target = target;
            var before = $"GET {target.PathAndQuery} HTTP/1.1\r\nHost: {target.HostHeader}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ";
            const string after = "\r\nSec-WebSocket-Version: 13\r\n\r\n";
            Bytes = Encoding.ASCII.GetBytes(before + new string('A', 24) + after);
            KeyOffset = Encoding.ASCII.GetByteCount(before);
        }

        public Target Target { get; }

        public byte[] Bytes { get; }

        public int KeyOffset { get; }

        public int Length => Bytes.Length;

        public static RequestTemplate For(Target target)
        {
            var last = Volatile.Read(ref s_last);
            if (last is not null && ReferenceEquals(last.Target, target))
            {
                return last;
            }

            last = new RequestTemplate(target);
            Volatile.Write(ref s_last, last);
            return last;
        }
    }

    public async ValueTask SendAsync(int count, CancellationToken cancellationToken)
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
                        _settings.Observer?.OnMessage(_prefix.AsSpan(0, _prefixLength), _messageLength);
                    }

                    break;
            }
        }

        return messages;
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
    IPayloadStamper? Stamper = null)
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
