using System.Buffers;
using System.IO.Pipelines;
using System.Net.WebSockets;
using BenchmarkDotNet.Attributes;
using KestrelWsTransport.Diagnostics;
using KestrelWsTransport.Framing;
using Microsoft.Extensions.Logging.Abstractions;

namespace KestrelWsTransport.Benchmarks;

/// <summary>
/// One whole echo through a server-side WebSocket over a pair of in-memory pipes, no sockets: the client's masked frame
/// is written to the client-to-server pipe, the server receives the message and sends it back, the client reads the
/// server's frame. The engine (<see cref="WebSocketConnection"/> straight on the pipes) beside the runtime's
/// ManagedWebSocket (<see cref="WebSocket.CreateFromStream(Stream, WebSocketCreationOptions)"/> over a stream on the
/// same kind of pipes), the peer this transport is measured against.
/// </summary>
/// <remarks>
/// As in a real server, the server's receive is already waiting when the frame arrives (the handler loops on receive),
/// so the receive completes asynchronously, the way it does on a socket; both pipes run continuations inline so one
/// operation is one echo on one thread. Allocated bytes per operation are allocations per message.
/// </remarks>
[MemoryDiagnoser]
public class EchoBenchmarks
{
    private static readonly PipeOptions Inline = new(
        readerScheduler: PipeScheduler.Inline,
        writerScheduler: PipeScheduler.Inline,
        pauseWriterThreshold: 0,
        resumeWriterThreshold: 0,
        useSynchronizationContext: false);

    private byte[] _clientFrame = null!;

    // Frames that arrive together, as they do under load (the comparison's echo keeps 16 messages in flight per
    // connection): one read, 16 receives and sends, one flush.
    public const int Batch = 16;
    private byte[] _clientBatch = null!;

    private Pipe _engineIn = null!;
    private Pipe _engineOut = null!;
    private WebSocketConnection _engine = null!;
    private CancellationTokenSource _engineGone = null!;

    private Pipe _managedIn = null!;
    private Pipe _managedOut = null!;
    private WebSocket _managed = null!;
    private byte[] _managedBuffer = null!;

    [Params(1, 32, 1024, 65536)]
    public int MessageSize { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var payload = new byte[MessageSize];
        Random.Shared.NextBytes(payload);
        _clientFrame = MaskedFrame(Opcode.Binary, payload, maskKey: Random.Shared.Next());
        _clientBatch = Enumerable.Range(0, Batch).SelectMany(_ => MaskedFrame(Opcode.Binary, payload, maskKey: Random.Shared.Next())).ToArray();

        _engineIn = new Pipe(Inline);
        _engineOut = new Pipe(Inline);
        var request = new WebSocketRequest("bench", "/echo", null, null, null, null, null, false, null, WebSocketRoute.Connection);
        _engine = new WebSocketConnection(
            new DuplexPipe(_engineIn.Reader, _engineOut.Writer),
            request,
            new WebSocketTransportOptions { KeepAliveInterval = Timeout.InfiniteTimeSpan },
            new WebSocketTransportMetrics(null),
            NullLogger.Instance,
            transportOwner: null);
        // A handler passes the connection's token (or its own) to every receive and send.
        _engineGone = new CancellationTokenSource();

        _managedIn = new Pipe(Inline);
        _managedOut = new Pipe(Inline);
        _managed = WebSocket.CreateFromStream(
            new DuplexPipeStream(_managedIn.Reader, _managedOut.Writer),
            new WebSocketCreationOptions { IsServer = true, KeepAliveInterval = Timeout.InfiniteTimeSpan });
        _managedBuffer = new byte[Math.Max(MessageSize, 16)];

        // Check both echo the payload exactly.
        foreach (var run in new Func<ValueTask<int>>[] { EngineEcho, ManagedWebSocketEcho })
        {
            var received = run().AsTask().GetAwaiter().GetResult();
            if (received != FrameWriter.HeaderLength(MessageSize) + MessageSize)
            {
                throw new InvalidOperationException($"Echo returned {received} bytes.");
            }
        }

        foreach (var run in new Func<ValueTask<int>>[] { EngineEchoBatch, ManagedWebSocketEchoBatch })
        {
            var received = run().AsTask().GetAwaiter().GetResult();
            if (received != Batch * (FrameWriter.HeaderLength(MessageSize) + MessageSize))
            {
                throw new InvalidOperationException($"Batched echo returned {received} bytes.");
            }
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _engineIn.Writer.Complete();
        _engineOut.Reader.Complete();
        _managed.Abort();
        _managed.Dispose();
        _engineGone.Dispose();
    }

    [Benchmark(Baseline = true)]
    public async ValueTask<int> ManagedWebSocketEcho()
    {
        var receive = _managed.ReceiveAsync(_managedBuffer.AsMemory(), default);
        _managedIn.Writer.Write(_clientFrame);
        await _managedIn.Writer.FlushAsync();

        // What ASP.NET Core's WebSockets middleware echo does: send back each piece the receive returned.
        var result = await receive;
        await _managed.SendAsync(_managedBuffer.AsMemory(0, result.Count), result.MessageType, result.EndOfMessage, default);
        while (!result.EndOfMessage)
        {
            result = await _managed.ReceiveAsync(_managedBuffer.AsMemory(), default);
            await _managed.SendAsync(_managedBuffer.AsMemory(0, result.Count), result.MessageType, result.EndOfMessage, default);
        }

        return await DrainAsync(_managedOut.Reader);
    }

    [Benchmark]
    public async ValueTask<int> EngineEcho()
    {
        var receive = _engine.ReceiveAsync(_engineGone.Token);
        _engineIn.Writer.Write(_clientFrame);
        await _engineIn.Writer.FlushAsync();

        // What samples/EchoServer does: the payload is sent back straight from the input pipe's memory.
        var message = await receive;
        await _engine.SendAsync(message.Payload, message.MessageType, true, _engineGone.Token);

        return await DrainAsync(_engineOut.Reader);
    }

    /// <summary>
    /// The engine echo with the frame already in the pipe when the receive starts, so the receive completes
    /// synchronously: the difference to <see cref="EngineEcho"/> is what a receive that has to wait costs.
    /// </summary>
    [Benchmark]
    public async ValueTask<int> EngineEchoDataFirst()
    {
        _engineIn.Writer.Write(_clientFrame);
        await _engineIn.Writer.FlushAsync();
        var message = await _engine.ReceiveAsync(_engineGone.Token);
        await _engine.SendAsync(message.Payload, message.MessageType, true, _engineGone.Token);
        return await DrainAsync(_engineOut.Reader);
    }

    /// <summary>
    /// <see cref="Batch"/> frames arrive in one write, the way they do under the comparison's load: each is received and
    /// echoed, and the answers leave in one flush. Times and allocations are per message.
    /// </summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public async ValueTask<int> EngineEchoBatch()
    {
        _engineIn.Writer.Write(_clientBatch);
        await _engineIn.Writer.FlushAsync();
        for (var i = 0; i < Batch; i++)
        {
            var message = await _engine.ReceiveAsync(_engineGone.Token);
            await _engine.SendAsync(message.Payload, message.MessageType, true, _engineGone.Token);
        }

        return await DrainAsync(_engineOut.Reader);
    }

    /// <summary>The runtime's WebSocket under the same batched arrival (it flushes each send).</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public async ValueTask<int> ManagedWebSocketEchoBatch()
    {
        _managedIn.Writer.Write(_clientBatch);
        await _managedIn.Writer.FlushAsync();
        for (var i = 0; i < Batch; i++)
        {
            ValueWebSocketReceiveResult result;
            do
            {
                result = await _managed.ReceiveAsync(_managedBuffer.AsMemory(), default);
                await _managed.SendAsync(_managedBuffer.AsMemory(0, result.Count), result.MessageType, result.EndOfMessage, default);
            }
            while (!result.EndOfMessage);
        }

        return await DrainAsync(_managedOut.Reader, Batch * (FrameWriter.HeaderLength(MessageSize) + MessageSize));
    }

    private static async ValueTask<int> DrainAsync(PipeReader reader, int expected = 0)
    {
        var length = 0;
        do
        {
            var read = await reader.ReadAsync();
            length += (int)read.Buffer.Length;
            reader.AdvanceTo(read.Buffer.End);
        }
        while (length < expected);

        return length;
    }

    /// <summary>A whole masked client frame: header, key, masked payload.</summary>
    internal static byte[] MaskedFrame(Opcode opcode, ReadOnlySpan<byte> payload, int maskKey)
    {
        var header = FrameBenchmarks.ClientHeader(opcode, payload.Length, maskKey);
        var frame = new byte[header.Length + payload.Length];
        header.CopyTo(frame, 0);
        payload.CopyTo(frame.AsSpan(header.Length));
        Mask.Apply(frame.AsSpan(header.Length), maskKey, 0);
        return frame;
    }
}

/// <summary>The two pipe ends a server-side WebSocket runs over.</summary>
internal sealed record DuplexPipe(PipeReader Input, PipeWriter Output) : IDuplexPipe;

/// <summary>A read/write <see cref="Stream"/> over a reader and a writer, for WebSocket.CreateFromStream.</summary>
internal sealed class DuplexPipeStream : Stream
{
    private readonly Stream _read;
    private readonly Stream _write;

    public DuplexPipeStream(PipeReader reader, PipeWriter writer)
    {
        _read = reader.AsStream(leaveOpen: true);
        _write = writer.AsStream(leaveOpen: true);
    }

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => _read.ReadAsync(buffer, cancellationToken);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => _read.ReadAsync(buffer, offset, count, cancellationToken);

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => _write.WriteAsync(buffer, cancellationToken);

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => _write.WriteAsync(buffer, offset, count, cancellationToken);

    public override Task FlushAsync(CancellationToken cancellationToken) => _write.FlushAsync(cancellationToken);

    public override void Flush() => _write.Flush();

    public override int Read(byte[] buffer, int offset, int count) => _read.Read(buffer, offset, count);

    public override void Write(byte[] buffer, int offset, int count) => _write.Write(buffer, offset, count);

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();
}
