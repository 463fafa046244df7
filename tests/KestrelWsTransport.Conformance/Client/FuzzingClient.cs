using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace KestrelWsTransport.Conformance.Client;

/// <summary>Where the client is in the WebSocket lifecycle (Autobahn's STATE_OPEN / STATE_CLOSING / STATE_CLOSED).</summary>
internal enum ClientState
{
    Open,
    Closing,
    Closed,
}

/// <summary>
/// A WebSocket client on a raw socket that sends whatever bytes a case asks for and records, the way Autobahn's
/// fuzzing client does, everything that decides a grade: the events received, who started the closing handshake
/// (<see cref="ClosedByMe"/>), whether it completed and the server then dropped TCP (<see cref="WasClean"/>), who dropped
/// TCP (<see cref="DroppedByMe"/>), and the close code the server sent (<see cref="RemoteCloseCode"/>).
/// </summary>
/// <remarks>
/// A background reader parses server frames and reacts like Autobahn's protocol: pings are answered, a server close
/// is answered with a close (1000), frames that break RFC 6455 fail the connection by dropping TCP. Every wait is
/// bounded: the closing handshake and the server's TCP drop each have a timeout, and the case driver kills a case that
/// outlives its own deadline, so a server that hangs makes a case fail, never the test run hang.
/// </remarks>
internal sealed class FuzzingClient : IAsyncDisposable
{
    private const string WebSocketGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

    // Close codes a server may send (Autobahn's CLOSE_STATUS_CODES_ALLOWED); 3000-4999 are allowed as well.
    private static readonly int[] AllowedCloseCodes = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013];

    private readonly Socket _socket;
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _lifetime = new();
    private readonly MemoryStream _pending = new();
    private readonly Random _random;
    private readonly object _stateLock = new();
    private readonly List<string> _wireLog = new();

    private byte[] _inbox = new byte[64 * 1024];
    private int _inboxCount;

    // Reassembly of a fragmented server message.
    private MemoryStream? _message;
    private bool _messageIsBinary;
    private bool _messageIsCompressed;
    private int _messageFrames;

    private DeflateCodec? _codec;

    private FuzzingClient(Socket socket, Random random, ClientTimeouts timeouts)
    {
        _socket = socket;
        _random = random;
        Timeouts = timeouts;
    }

    public ClientTimeouts Timeouts { get; }

    /// <summary>Called for every message, ping and pong received, in order, from the reader.</summary>
    public Func<Observed, Task>? EventReceived { get; set; }

    public ClientState State { get; private set; } = ClientState.Open;

    /// <summary>Completes when the TCP connection is gone (either side dropped it).</summary>
    public Task Closed => _closed.Task;

    /// <summary>True iff this client sent the first close frame.</summary>
    public bool ClosedByMe { get; private set; }

    /// <summary>True iff this client failed the connection (a protocol violation by the server, or a case deadline).</summary>
    public bool FailedByMe { get; private set; }

    /// <summary>True iff this client dropped the TCP connection.</summary>
    public bool DroppedByMe { get; private set; }

    /// <summary>True iff close frames went both ways and then the server dropped TCP.</summary>
    public bool WasClean { get; private set; }

    public string? WasNotCleanReason { get; private set; }

    public bool WasCloseHandshakeTimeout { get; private set; }

    public bool WasServerConnectionDropTimeout { get; private set; }

    public int? LocalCloseCode { get; private set; }

    public bool RemoteCloseReceived { get; private set; }

    public int? RemoteCloseCode { get; private set; }

    public string? RemoteCloseReason { get; private set; }

    /// <summary>The first RFC 6455 violation in what the server sent, if any.</summary>
    public string? ServerViolation { get; private set; }

    /// <summary>The permessage-deflate parameters the server agreed to, or null when compression is not in use.</summary>
    public DeflateAgreement? Deflate { get; private set; }

    /// <summary>Messages received compressed (RSV1 set) and decompressed.</summary>
    public int CompressedMessagesReceived { get; private set; }

    /// <summary>Frames this client transmitted, by opcode (Autobahn's txFrameStats).</summary>
    public Dictionary<int, int> TxFrames { get; } = new();

    /// <summary>Frames received from the server, by opcode.</summary>
    public Dictionary<int, int> RxFrames { get; } = new();

    /// <summary>A short log of frames and events on the wire, for the report of a case that did not pass.</summary>
    public IReadOnlyList<string> WireLog
    {
        get
        {
            lock (_wireLog)
            {
                return _wireLog.ToArray();
            }
        }
    }

    /// <summary>Opens a TCP connection and performs the opening handshake; throws if the server does not answer 101.</summary>
    public static async Task<FuzzingClient> ConnectAsync(IPEndPoint endPoint, string path, Random random, ClientTimeouts timeouts, IReadOnlyList<DeflateOffer>? deflateOffers = null)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        var client = new FuzzingClient(socket, random, timeouts);
        try
        {
            using var timeout = new CancellationTokenSource(timeouts.OpeningHandshake);
            await socket.ConnectAsync(endPoint, timeout.Token);
            var keyBytes = new byte[16];
            random.NextBytes(keyBytes);
            var key = Convert.ToBase64String(keyBytes);
            var request =
                $"GET {path} HTTP/1.1\r\n" +
                $"Host: {endPoint}\r\n" +
                "Upgrade: websocket\r\n" +
                "Connection: Upgrade\r\n" +
                $"Sec-WebSocket-Key: {key}\r\n" +
                "Sec-WebSocket-Version: 13\r\n" +
                (deflateOffers is { Count: > 0 } ? $"Sec-WebSocket-Extensions: {DeflateOffer.HeaderValue(deflateOffers)}\r\n" : string.Empty) +
                "User-Agent: KestrelWsTransport.Conformance\r\n\r\n";
            await socket.SendAsync(Encoding.ASCII.GetBytes(request), SocketFlags.None, timeout.Token);
            var extensions = await client.ReadHandshakeResponseAsync(key, timeout.Token);
            if (deflateOffers is { Count: > 0 })
            {
                // An answer the client cannot accept fails the connection (RFC 7692 7.1): the caller grades it FAILED.
                client.Deflate = DeflateAgreement.Parse(extensions, deflateOffers);
                if (client.Deflate is { } agreement)
                {
                    client._codec = new DeflateCodec(agreement, deflateOffers.Any(o => o.AcceptNoContextTakeover));
                    client.Log("negotiated " + agreement);
                }
            }
            else if (!string.IsNullOrEmpty(extensions))
            {
                throw new InvalidDataException($"the server answered Sec-WebSocket-Extensions: {extensions} without an offer");
            }

            return client;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Reads the 101 answer, checks Sec-WebSocket-Accept and returns the Sec-WebSocket-Extensions value, if any.</summary>
    private async Task<string?> ReadHandshakeResponseAsync(string key, CancellationToken cancellationToken)
    {
        while (true)
        {
            var end = _inbox.AsSpan(0, _inboxCount).IndexOf("\r\n\r\n"u8);
            if (end >= 0)
            {
                var head = Encoding.ASCII.GetString(_inbox, 0, end);
                Consume(end + 4);
                var lines = head.Split("\r\n");
                if (!lines[0].StartsWith("HTTP/1.1 101", StringComparison.Ordinal))
                {
                    throw new InvalidOperationException($"Opening handshake refused: {lines[0]}");
                }

                var headers = lines.Skip(1).Select(l => l.Split(':', 2)).Where(p => p.Length == 2).ToArray();
                string? Header(string name)
                {
                    var values = headers.Where(p => p[0].Trim().Equals(name, StringComparison.OrdinalIgnoreCase)).Select(p => p[1].Trim()).ToArray();
                    return values.Length == 0 ? null : string.Join(", ", values);
                }

                var expectedAccept = Convert.ToBase64String(SHA1.HashData(Encoding.ASCII.GetBytes(key + WebSocketGuid)));
                var accept = Header("Sec-WebSocket-Accept");
                if (accept != expectedAccept)
                {
                    throw new InvalidOperationException($"Sec-WebSocket-Accept was '{accept}', expected '{expectedAccept}'");
                }

                return Header("Sec-WebSocket-Extensions");
            }

            if (_inboxCount > 16 * 1024)
            {
                throw new InvalidOperationException("Handshake response head over 16 KiB");
            }

            EnsureInboxSpace(4096);
            var read = await _socket.ReceiveAsync(_inbox.AsMemory(_inboxCount), SocketFlags.None, cancellationToken);
            if (read == 0)
            {
                throw new InvalidOperationException("The server closed the connection during the opening handshake");
            }

            _inboxCount += read;
        }
    }

    /// <summary>Starts the background reader. Bytes that came right after the 101 response are already in the inbox.</summary>
    public void StartReading() => _ = Task.Run(ReadLoopAsync);

    /// <summary>A fresh random masking key (Autobahn masks every client frame with a random key).</summary>
    public byte[] NewMaskKey()
    {
        var key = new byte[4];
        _random.NextBytes(key);
        return key;
    }

    // ---------------------------------------------------------------- sending

    /// <summary>
    /// Sends a frame. Without <paramref name="chopSize"/> and <paramref name="sync"/> the frame is queued and goes out
    /// with the frames queued next to it in one write (Autobahn: "sent in one chop"); with <paramref name="sync"/> it goes
    /// out in a write of its own ("frame-wise chops"); with <paramref name="chopSize"/> it goes out in writes of that many
    /// octets ("octet-wise chops").
    /// </summary>
    public async Task SendFrameAsync(int opcode, byte[] payload, bool fin = true, int rsv = 0, bool mask = true, int? chopSize = null, bool sync = false)
    {
        var frame = FrameEncoder.Encode(opcode, payload, fin, rsv, mask ? NewMaskKey() : null);
        Count(TxFrames, opcode);
        Log($"TX {OpcodeName(opcode)} fin={(fin ? 1 : 0)} rsv={rsv} len={payload.Length}{(chopSize is { } c ? $" chop={c}" : string.Empty)}{(sync ? " sync" : string.Empty)}");
        await _sendLock.WaitAsync();
        try
        {
            if (chopSize is null && !sync)
            {
                _pending.Write(frame);
                return;
            }

            await FlushPendingLockedAsync();
            if (chopSize is { } chop)
            {
                await SendChoppedLockedAsync(frame, chop);
            }
            else
            {
                await SendLockedAsync(frame);
            }

            if (sync)
            {
                await Task.Delay(Timeouts.SyncDelay);
            }
        }
        finally
        {
            _sendLock.Release();
        }
    }

    /// <summary>
    /// Autobahn's <c>sendMessage</c>: one frame, or frames of <paramref name="fragmentSize"/> octets (the first with the
    /// message opcode, the rest continuations), all queued to go out together. With permessage-deflate in use the
    /// message is compressed first (RSV1 on its first frame) and the compressed bytes are fragmented.
    /// </summary>
    public async Task SendMessageAsync(byte[] payload, bool isBinary, int? fragmentSize = null)
    {
        var opcode = isBinary ? FrameEncoder.Binary : FrameEncoder.Text;
        var rsv = 0;
        var wire = payload;
        if (_codec is not null)
        {
            wire = _codec.Compress(payload);
            rsv = 0x4;
        }

        var size = fragmentSize is > 0 ? fragmentSize.Value : Math.Max(1, wire.Length);
        var frames = new MemoryStream(wire.Length + (wire.Length / size + 1) * 14);
        var count = 0;
        var offset = 0;
        do
        {
            var length = Math.Min(size, wire.Length - offset);
            var frameOpcode = offset == 0 ? opcode : FrameEncoder.Continuation;
            frames.Write(FrameEncoder.Encode(frameOpcode, wire.AsSpan(offset, length), offset + length == wire.Length, offset == 0 ? rsv : 0, NewMaskKey()));
            Count(TxFrames, frameOpcode);
            count++;
            offset += length;
        }
        while (offset < wire.Length);

        Log($"TX {(isBinary ? "binary" : "text")} message len={payload.Length}{(_codec is null ? string.Empty : $" compressed to {wire.Length}")} in {count} frame(s)");
        await _sendLock.WaitAsync();
        try
        {
            _pending.Write(frames.GetBuffer(), 0, (int)frames.Length);
        }
        finally
        {
            _sendLock.Release();
        }
    }

    /// <summary>Sends raw bytes in a write of their own (after anything queued), for a frame streamed in parts.</summary>
    public async Task SendRawAsync(byte[] bytes, string description)
    {
        Log("TX " + description);
        await _sendLock.WaitAsync();
        try
        {
            await FlushPendingLockedAsync();
            await SendLockedAsync(bytes);
        }
        finally
        {
            _sendLock.Release();
        }
    }

    public void CountTx(int opcode) => Count(TxFrames, opcode);

    /// <summary>Writes out whatever frames are queued.</summary>
    public async Task FlushAsync()
    {
        await _sendLock.WaitAsync();
        try
        {
            await FlushPendingLockedAsync();
        }
        finally
        {
            _sendLock.Release();
        }
    }

    /// <summary>Autobahn's <c>sendClose(code, reason)</c>: a close frame with a code and an optional UTF-8 reason.</summary>
    public Task SendCloseAsync(int? code, string? reason = null)
    {
        byte[] payload = [];
        if (code is { } c)
        {
            var reasonBytes = reason is null ? [] : Encoding.UTF8.GetBytes(reason);
            payload = new byte[2 + reasonBytes.Length];
            BinaryPrimitives.WriteUInt16BigEndian(payload, (ushort)c);
            reasonBytes.CopyTo(payload, 2);
        }

        return SendCloseFrameAsync(payload, code, isReply: false);
    }

    /// <summary>
    /// Autobahn's <c>sendCloseFrame</c>: sends a close frame with exactly <paramref name="payload"/> (which may be
    /// malformed on purpose) if the connection is open, and moves to closing. Ignored once closing or closed.
    /// </summary>
    public async Task SendCloseFrameAsync(byte[] payload, int? code, bool isReply)
    {
        lock (_stateLock)
        {
            if (State != ClientState.Open)
            {
                return;
            }

            State = ClientState.Closing;
            ClosedByMe = !isReply;
            LocalCloseCode = code;
        }

        Count(TxFrames, FrameEncoder.Close);
        Log($"TX close{(isReply ? " (reply)" : string.Empty)} len={payload.Length}{(code is { } c ? $" code={c}" : string.Empty)}");
        var frame = FrameEncoder.Encode(FrameEncoder.Close, payload, true, 0, NewMaskKey());
        await _sendLock.WaitAsync();
        try
        {
            await FlushPendingLockedAsync();
            await SendLockedAsync(frame);
        }
        finally
        {
            _sendLock.Release();
        }

        if (!isReply)
        {
            // The server has this long to answer our close before we drop TCP (Autobahn's closeHandshakeTimeout).
            Schedule(Timeouts.CloseHandshake, () =>
            {
                lock (_stateLock)
                {
                    if (RemoteCloseReceived || State == ClientState.Closed)
                    {
                        return;
                    }

                    WasClean = false;
                    WasNotCleanReason = "peer did not respond (in time) in closing handshake";
                    WasCloseHandshakeTimeout = true;
                }

                Drop();
            });
        }
    }

    /// <summary>
    /// Fails the connection by dropping TCP (Autobahn's failConnection with failByDrop): used when the server broke the
    /// protocol and when a case ran past its deadline.
    /// </summary>
    public void Fail(string reason)
    {
        lock (_stateLock)
        {
            if (State == ClientState.Closed)
            {
                return;
            }

            FailedByMe = true;
            WasClean = false;
            WasNotCleanReason ??= reason;
        }

        Drop();
    }

    /// <summary>Drops the TCP connection at once (a reset, like Twisted's abortConnection).</summary>
    public void Drop()
    {
        lock (_stateLock)
        {
            if (State == ClientState.Closed)
            {
                return;
            }

            State = ClientState.Closed;
            DroppedByMe = true;
        }

        Log("dropped TCP");
        try
        {
            _socket.LingerState = new LingerOption(true, 0);
            _socket.Close();
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
        }
    }

    private async Task FlushPendingLockedAsync()
    {
        if (_pending.Length == 0)
        {
            return;
        }

        var bytes = _pending.ToArray();
        _pending.SetLength(0);
        await SendLockedAsync(bytes);
    }

    private async Task SendChoppedLockedAsync(byte[] frame, int chop)
    {
        var chops = (frame.Length + chop - 1) / chop;
        var pause = chops <= Timeouts.MaxPausedChops ? Timeouts.ChopDelay : TimeSpan.Zero;
        for (var offset = 0; offset < frame.Length; offset += chop)
        {
            await SendLockedAsync(frame.AsMemory(offset, Math.Min(chop, frame.Length - offset)));
            if (pause > TimeSpan.Zero && offset + chop < frame.Length)
            {
                await Task.Delay(pause);
            }
        }
    }

    private async Task SendLockedAsync(ReadOnlyMemory<byte> bytes)
    {
        if (State == ClientState.Closed)
        {
            return;
        }

        try
        {
            while (!bytes.IsEmpty)
            {
                var sent = await _socket.SendAsync(bytes, SocketFlags.None, _lifetime.Token);
                bytes = bytes[sent..];
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // The server already closed (it may fail the connection while we are still sending): what it sent before
            // that is still read and graded.
            Log("send failed: " + ex.GetType().Name);
        }
    }

    // ---------------------------------------------------------------- receiving

    private async Task ReadLoopAsync()
    {
        try
        {
            while (true)
            {
                if (!await ProcessInboxAsync())
                {
                    break;
                }

                EnsureInboxSpace(64 * 1024);
                int read;
                try
                {
                    read = await _socket.ReceiveAsync(_inbox.AsMemory(_inboxCount), SocketFlags.None);
                }
                catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
                {
                    if (!DroppedByMe)
                    {
                        Log("RX connection reset: " + ex.Message);
                    }

                    break;
                }

                if (read == 0)
                {
                    Log("RX end of stream (server closed TCP)");
                    break;
                }

                _inboxCount += read;
            }
        }
        catch (Exception ex)
        {
            // A bug in the client itself: report it through the case rather than losing it on a background task.
            ServerViolation ??= "client error: " + ex;
        }
        finally
        {
            OnConnectionLost();
        }
    }

    /// <summary>Handles every whole frame in the inbox. False once the connection is to be torn down.</summary>
    private async Task<bool> ProcessInboxAsync()
    {
        while (true)
        {
            if (State == ClientState.Closed)
            {
                return false;
            }

            if (_inboxCount < 2)
            {
                return true;
            }

            var b0 = _inbox[0];
            var b1 = _inbox[1];
            var fin = (b0 & 0x80) != 0;
            var rsv = (b0 >> 4) & 0x7;
            var opcode = b0 & 0xF;
            var masked = (b1 & 0x80) != 0;
            long length = b1 & 0x7F;
            var headerLength = 2;
            if (length == 126)
            {
                if (_inboxCount < 4)
                {
                    return true;
                }

                length = BinaryPrimitives.ReadUInt16BigEndian(_inbox.AsSpan(2));
                headerLength = 4;
            }
            else if (length == 127)
            {
                if (_inboxCount < 10)
                {
                    return true;
                }

                length = (long)BinaryPrimitives.ReadUInt64BigEndian(_inbox.AsSpan(2));
                headerLength = 10;
            }

            if (masked)
            {
                headerLength += 4;
            }

            if (length < 0 || length > int.MaxValue - 64)
            {
                return Violation($"frame length {length} out of range");
            }

            var frameLength = headerLength + (int)length;
            if (_inboxCount < frameLength)
            {
                EnsureInboxSpace(frameLength - _inboxCount);
                return true;
            }

            var payload = _inbox.AsSpan(headerLength, (int)length).ToArray();
            if (masked)
            {
                FrameEncoder.ApplyMask(payload, _inbox.AsSpan(headerLength - 4, 4).ToArray(), 0);
            }

            Consume(frameLength);
            Count(RxFrames, opcode);
            Log($"RX {OpcodeName(opcode)} fin={(fin ? 1 : 0)} rsv={rsv} len={payload.Length}{(opcode == FrameEncoder.Close && payload.Length >= 2 ? $" code={BinaryPrimitives.ReadUInt16BigEndian(payload)}" : string.Empty)}");

            if (RemoteCloseReceived)
            {
                // Nothing may follow a close frame; Autobahn ignores it, and so do we (it cannot change the grade).
                continue;
            }

            if (masked)
            {
                return Violation("the server sent a masked frame (RFC 6455 5.1: a server MUST NOT mask)");
            }

            var compressed = false;
            if (rsv == 0x4 && Deflate is not null && opcode is FrameEncoder.Text or FrameEncoder.Binary)
            {
                compressed = true; // RSV1 on the first frame of a message: permessage-deflate (RFC 7692 6)
            }
            else if (rsv != 0)
            {
                return Violation(Deflate is null
                    ? $"the server set RSV bits {rsv} without a negotiated extension"
                    : $"the server set RSV bits {rsv} on a {OpcodeName(opcode)} frame (only RSV1 on a message's first frame is allowed)");
            }

            if (!await HandleFrameAsync(fin, opcode, payload, compressed))
            {
                return false;
            }
        }
    }

    private async Task<bool> HandleFrameAsync(bool fin, int opcode, byte[] payload, bool compressed)
    {
        switch (opcode)
        {
            case FrameEncoder.Close or FrameEncoder.Ping or FrameEncoder.Pong when !fin || payload.Length > 125:
                return Violation("the server sent a fragmented or oversized control frame");

            case FrameEncoder.Continuation:
                if (_message is null)
                {
                    return Violation("the server sent a continuation frame outside a fragmented message");
                }

                _message.Write(payload);
                _messageFrames++;
                return !fin || await CompleteMessageAsync();

            case FrameEncoder.Text or FrameEncoder.Binary:
                if (_message is not null)
                {
                    return Violation("the server started a new message inside a fragmented one");
                }

                _message = new MemoryStream(payload.Length);
                _message.Write(payload);
                _messageIsBinary = opcode == FrameEncoder.Binary;
                _messageIsCompressed = compressed;
                _messageFrames = 1;
                return !fin || await CompleteMessageAsync();

            case FrameEncoder.Ping:
                await RaiseAsync(Observed.Ping(payload));
                if (State == ClientState.Open)
                {
                    await SendFrameAsync(FrameEncoder.Pong, payload);
                    await FlushAsync();
                }

                return true;

            case FrameEncoder.Pong:
                await RaiseAsync(Observed.Pong(payload));
                return true;

            case FrameEncoder.Close:
                return await OnCloseFrameAsync(payload);

            default:
                return Violation($"the server sent reserved opcode {opcode}");
        }
    }

    private async Task<bool> CompleteMessageAsync()
    {
        var payload = _message!.ToArray();
        var isBinary = _messageIsBinary;
        var frames = _messageFrames;
        _message = null;
        if (_messageIsCompressed)
        {
            try
            {
                payload = _codec!.Decompress(payload);
                CompressedMessagesReceived++;
            }
            catch (InvalidDataException ex)
            {
                return Violation("the server sent a compressed message that does not inflate: " + ex.Message);
            }
        }
        if (!isBinary && !System.Text.Unicode.Utf8.IsValid(payload))
        {
            return Violation("the server sent a text message that is not valid UTF-8");
        }

        await RaiseAsync(Observed.Message(payload, isBinary, frames));
        return true;
    }

    private async Task<bool> OnCloseFrameAsync(byte[] payload)
    {
        int? code = null;
        string? reason = null;
        if (payload.Length == 1)
        {
            return Violation("the server sent a close frame with a 1-byte payload");
        }

        if (payload.Length >= 2)
        {
            var value = BinaryPrimitives.ReadUInt16BigEndian(payload);
            if (!(AllowedCloseCodes.Contains(value) || value is >= 3000 and <= 4999))
            {
                return Violation($"the server sent close code {value}, which may not be sent (RFC 6455 7.4)");
            }

            if (!System.Text.Unicode.Utf8.IsValid(payload.AsSpan(2)))
            {
                return Violation("the server sent a close reason that is not valid UTF-8");
            }

            code = value;
            reason = Encoding.UTF8.GetString(payload, 2, payload.Length - 2);
        }

        bool reply;
        lock (_stateLock)
        {
            RemoteCloseReceived = true;
            RemoteCloseCode = code;
            RemoteCloseReason = reason;
            if (State == ClientState.Closed)
            {
                return false;
            }

            // Closing: the answer to our close. Open: the server closes first, and we answer.
            WasClean = true;
            reply = State == ClientState.Open;
        }

        if (reply)
        {
            // Autobahn answers with 1000 (echoCloseCodeReason is off by default).
            var answer = new byte[2];
            BinaryPrimitives.WriteUInt16BigEndian(answer, 1000);
            await SendCloseFrameAsync(answer, 1000, isReply: true);
        }

        // Now it is the server's turn to drop TCP (RFC 6455 7.1.1); if it does not, we do, and it was not clean.
        Schedule(Timeouts.ServerConnectionDrop, () =>
        {
            lock (_stateLock)
            {
                if (State == ClientState.Closed)
                {
                    return;
                }

                WasClean = false;
                WasNotCleanReason = "server did not drop TCP connection (in time)";
                WasServerConnectionDropTimeout = true;
            }

            Drop();
        });
        return true;
    }

    private bool Violation(string reason)
    {
        ServerViolation ??= reason;
        Log("violation: " + reason);
        Fail("I failed the WebSocket connection by dropping the TCP connection: " + reason);
        return false;
    }

    private async Task RaiseAsync(Observed observed)
    {
        if (EventReceived is { } handler)
        {
            await handler(observed);
        }
    }

    private void OnConnectionLost()
    {
        lock (_stateLock)
        {
            State = ClientState.Closed;
            if (!WasClean && !DroppedByMe && WasNotCleanReason is null)
            {
                WasNotCleanReason = "peer dropped the TCP connection without previous WebSocket closing handshake";
            }
        }

        _lifetime.Cancel();
        _closed.TrySetResult();
    }

    private void Schedule(TimeSpan delay, Action action)
    {
        var token = _lifetime.Token;
        _ = Task.Run(async () =>
        {
            try
            {
                await Task.Delay(delay, token);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            action();
        });
    }

    // ---------------------------------------------------------------- helpers

    private void EnsureInboxSpace(int needed)
    {
        if (_inbox.Length - _inboxCount >= needed)
        {
            return;
        }

        var grown = new byte[Math.Max(_inbox.Length * 2, _inboxCount + needed)];
        _inbox.AsSpan(0, _inboxCount).CopyTo(grown);
        _inbox = grown;
    }

    private void Consume(int count)
    {
        _inbox.AsSpan(count, _inboxCount - count).CopyTo(_inbox);
        _inboxCount -= count;
    }

    private static void Count(Dictionary<int, int> counts, int opcode)
    {
        lock (counts)
        {
            counts[opcode] = counts.GetValueOrDefault(opcode) + 1;
        }
    }

    public void Log(string line)
    {
        lock (_wireLog)
        {
            if (_wireLog.Count < 60)
            {
                _wireLog.Add(line);
            }
            else if (_wireLog.Count == 60)
            {
                _wireLog.Add("...");
            }
        }
    }

    public static string OpcodeName(int opcode) => opcode switch
    {
        FrameEncoder.Continuation => "continuation",
        FrameEncoder.Text => "text",
        FrameEncoder.Binary => "binary",
        FrameEncoder.Close => "close",
        FrameEncoder.Ping => "ping",
        FrameEncoder.Pong => "pong",
        _ => $"opcode {opcode}",
    };

    public async ValueTask DisposeAsync()
    {
        Drop();
        try
        {
            await _closed.Task.WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (TimeoutException)
        {
        }

        _lifetime.Cancel();
        _lifetime.Dispose();
        _sendLock.Dispose();
        _socket.Dispose();
        _codec?.Dispose();
    }
}

/// <summary>The client's timeouts and pacing (see ConformanceSettings for the values and why).</summary>
internal sealed record ClientTimeouts(
    TimeSpan OpeningHandshake,
    TimeSpan CloseHandshake,
    TimeSpan ServerConnectionDrop,
    TimeSpan SyncDelay,
    TimeSpan ChopDelay,
    int MaxPausedChops);
