using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using KestrelWsTransport.Diagnostics;
using Microsoft.Extensions.Logging.Abstractions;

namespace KestrelWsTransport.Tests.Engine;

/// <summary>The two pipe ends a <see cref="WebSocketConnection"/> runs over, as Kestrel would hand them out.</summary>
internal sealed record DuplexPipe(PipeReader Input, PipeWriter Output) : IDuplexPipe;

/// <summary>A frame the server wrote, decoded by hand from the RFC 6455 layout.</summary>
internal sealed record ServerFrame(bool Fin, int Rsv, int Opcode, bool Masked, int HeaderLength, byte[] Payload)
{
    /// <summary>The close code of a close frame with a payload, or null.</summary>
    public int? CloseCode => Opcode == 0x8 && Payload.Length >= 2 ? BinaryPrimitives.ReadUInt16BigEndian(Payload) : null;

    /// <summary>
    /// Decodes one frame from the start of <paramref name="buffer"/>; false when the buffer holds less than a whole frame.
    /// </summary>
    public static bool TryParse(ref ReadOnlySequence<byte> buffer, out ServerFrame? frame)
    {
        frame = null;
        if (buffer.Length < 2)
        {
            return false;
        }

        Span<byte> head = stackalloc byte[14];
        var available = (int)Math.Min(buffer.Length, 14);
        buffer.Slice(0, available).CopyTo(head);

        // Byte 0: FIN 0x80, RSV1-3 0x70, opcode 0x0F. Byte 1: MASK 0x80, 7-bit length 0x7F (126/127: extended).
        var fin = (head[0] & 0x80) != 0;
        var rsv = (head[0] >> 4) & 0x7;
        var opcode = head[0] & 0x0F;
        var masked = (head[1] & 0x80) != 0;
        var length7 = head[1] & 0x7F;
        var extended = length7 switch { 126 => 2, 127 => 8, _ => 0 };
        var headerLength = 2 + extended + (masked ? 4 : 0);
        if (available < headerLength)
        {
            return false;
        }

        long payloadLength = extended switch
        {
            2 => BinaryPrimitives.ReadUInt16BigEndian(head[2..]),
            8 => checked((long)BinaryPrimitives.ReadUInt64BigEndian(head[2..])),
            _ => length7,
        };

        if (buffer.Length < headerLength + payloadLength)
        {
            return false;
        }

        var payload = buffer.Slice(headerLength, payloadLength).ToArray();
        if (masked)
        {
            var key = head.Slice(2 + extended, 4);
            for (var i = 0; i < payload.Length; i++)
            {
                payload[i] ^= key[i % 4];
            }
        }

        frame = new ServerFrame(fin, rsv, opcode, masked, headerLength, payload);
        buffer = buffer.Slice(headerLength + payloadLength);
        return true;
    }
}

/// <summary>
/// A <see cref="WebSocketConnection"/> over two in-memory pipes, no Kestrel: the test writes client frames into the
/// client-to-server pipe and reads the server's frames from the server-to-client pipe.
/// </summary>
internal sealed class EngineHarness : IAsyncDisposable
{
    /// <summary>Guards every wait on the server so a broken engine fails the test instead of hanging it; never asserted on.</summary>
    public static readonly TimeSpan HangGuard = TimeSpan.FromSeconds(30);

    /// <summary>Pipes without backpressure, so a test can write a whole large frame before the server reads.</summary>
    public static PipeOptions Unbounded { get; } = new(pauseWriterThreshold: 0, resumeWriterThreshold: 0, useSynchronizationContext: false);

    public EngineHarness(WebSocketTransportOptions? options = null, PipeOptions? clientToServer = null, PipeOptions? serverToClient = null)
    {
        Options = options ?? new WebSocketTransportOptions();
        ClientToServer = new Pipe(clientToServer ?? Unbounded);
        ServerToClient = new Pipe(serverToClient ?? Unbounded);
        Output = new CountingPipeWriter(ServerToClient.Writer);
        var request = new WebSocketRequest("test", "/echo", null, null, null, null, null, false, null, WebSocketRoute.Connection);
        Connection = new WebSocketConnection(
            new DuplexPipe(ClientToServer.Reader, Output),
            request,
            Options,
            new WebSocketTransportMetrics(null),
            NullLogger.Instance,
            transportOwner: null);
    }

    public WebSocketTransportOptions Options { get; }

    public Pipe ClientToServer { get; }

    public Pipe ServerToClient { get; }

    /// <summary>The server's output as the engine sees it: counts its flushes.</summary>
    public CountingPipeWriter Output { get; }

    public WebSocketConnection Connection { get; }

    /// <summary>Writes bytes as one pipe write (one read for the server, unless it is slower than us).</summary>
    public async Task SendAsync(params byte[][] frames)
    {
        foreach (var frame in frames)
        {
            ClientToServer.Writer.Write(frame);
        }

        await ClientToServer.Writer.FlushAsync();
    }

    /// <summary>Ends the client's side of the connection without a close frame.</summary>
    public Task CompleteClientOutputAsync() => ClientToServer.Writer.CompleteAsync().AsTask();

    /// <summary>Receives with a hang guard.</summary>
    public async Task<WebSocketMessage> ReceiveAsync()
    {
        using var guard = new CancellationTokenSource(HangGuard);
        return await Connection.ReceiveAsync(guard.Token);
    }

    /// <summary>Receives and copies the payload, which is only valid until the next receive.</summary>
    public async Task<(WebSocketMessage Message, byte[] Payload)> ReceiveCopyAsync()
    {
        var message = await ReceiveAsync();
        return (message, message.Payload.ToArray());
    }

    /// <summary>Reads the next whole frame the server wrote.</summary>
    public async Task<ServerFrame> ReadFrameAsync()
    {
        using var guard = new CancellationTokenSource(HangGuard);
        var reader = ServerToClient.Reader;
        while (true)
        {
            var result = await reader.ReadAsync(guard.Token);
            var buffer = result.Buffer;
            if (ServerFrame.TryParse(ref buffer, out var frame))
            {
                reader.AdvanceTo(buffer.Start);
                return frame!;
            }

            if (result.IsCompleted)
            {
                reader.AdvanceTo(buffer.Start, buffer.End);
                throw new InvalidOperationException($"The server's output ended with {buffer.Length} bytes of an unfinished frame.");
            }

            reader.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    /// <summary>Every whole frame the server has written so far, without waiting; a partial frame is left unread.</summary>
    public List<ServerFrame> ReadAvailableFrames()
    {
        var frames = new List<ServerFrame>();
        var reader = ServerToClient.Reader;
        if (!reader.TryRead(out var result))
        {
            return frames;
        }

        var buffer = result.Buffer;
        while (ServerFrame.TryParse(ref buffer, out var frame))
        {
            frames.Add(frame!);
        }

        reader.AdvanceTo(buffer.Start, buffer.End);
        return frames;
    }

    public async ValueTask DisposeAsync()
    {
        await ClientToServer.Writer.CompleteAsync();
        await ServerToClient.Reader.CompleteAsync();
    }
}

/// <summary>A pipe writer that passes everything through and counts flushes (how many times the server pushed bytes out).</summary>
internal sealed class CountingPipeWriter(PipeWriter inner) : PipeWriter
{
    private int _flushes;

    private long _largestFlush;

    public int Flushes => Volatile.Read(ref _flushes);

    /// <summary>The most bytes one flush pushed out.</summary>
    public long LargestFlush => Volatile.Read(ref _largestFlush);

    public override void Advance(int bytes) => inner.Advance(bytes);

    public override Memory<byte> GetMemory(int sizeHint = 0) => inner.GetMemory(sizeHint);

    public override Span<byte> GetSpan(int sizeHint = 0) => inner.GetSpan(sizeHint);

    public override void CancelPendingFlush() => inner.CancelPendingFlush();

    public override void Complete(Exception? exception = null) => inner.Complete(exception);

    public override ValueTask CompleteAsync(Exception? exception = null) => inner.CompleteAsync(exception);

    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref _flushes);
        if (inner.CanGetUnflushedBytes && inner.UnflushedBytes > _largestFlush)
        {
            _largestFlush = inner.UnflushedBytes;
        }

        return inner.FlushAsync(cancellationToken);
    }

    public override bool CanGetUnflushedBytes => inner.CanGetUnflushedBytes;

    public override long UnflushedBytes => inner.UnflushedBytes;
}
