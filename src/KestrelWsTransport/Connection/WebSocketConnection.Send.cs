using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Net.WebSockets;
using System.Runtime.CompilerServices;
using System.Text;
using KestrelWsTransport.Diagnostics;
using KestrelWsTransport.Framing;
using Microsoft.AspNetCore.Connections;

namespace KestrelWsTransport;

public sealed partial class WebSocketConnection
{
    // Sends are written one at a time. A mutable struct: never make this field readonly.
    private SendLock _sendLock;
    private long _queuedSendBytes;
    private bool _sendingFragmented;
    private bool _sendingCompressed;
    private Opcode _sendingOpcode;

    // _closeSent: 0 until a close is decided, CloseDecided from then, CloseWritten once the frame is in the output (set
    // under the send lock; nothing else is ever written after it). One field: every byte here is per connection.
    private const int CloseDecided = 1;
    private const int CloseWritten = 2;

    // A send made while the receive side still holds unread bytes of the same read leaves the flush to the receive loop
    // (it flushes before it waits for more data), so everything answered from one read leaves in one flush, as a raw
    // echo's would. The pool work item is the backstop for a handler that sends and then does not receive for a while.
    private const int MaxUnflushedBytes = 64 * 1024;
    private bool _flushDeferred;
    private int _unflushedBytes;
    private int _deferredFlushScheduled;
    private int _progressAtSchedule;
    private DeferredFlushWorkItem? _deferredFlushWorkItem;

    /// <summary>
    /// Sends a message, or a part of one when <paramref name="endOfMessage"/> is false. Completes when the bytes are
    /// handed to the transport (it waits while the transport's output buffer is full: backpressure). Safe to call from
    /// several tasks at once for whole messages.
    /// </summary>
    /// <exception cref="InvalidOperationException">A close frame was already sent, or the outgoing buffer limit was hit.</exception>
    public ValueTask SendAsync(ReadOnlyMemory<byte> payload, WebSocketMessageType messageType, bool endOfMessage = true, CancellationToken cancellationToken = default)
        => SendDataAsync(new ReadOnlySequence<byte>(payload), messageType, endOfMessage, compressible: true, cancellationToken);

    /// <summary>Sends a message whose payload is a sequence (for example one just received, to echo it).</summary>
    public ValueTask SendAsync(ReadOnlySequence<byte> payload, WebSocketMessageType messageType, bool endOfMessage = true, CancellationToken cancellationToken = default)
        => SendDataAsync(payload, messageType, endOfMessage, compressible: true, cancellationToken);

    /// <summary>
    /// Sends a message with the runtime's flags: <see cref="WebSocketMessageFlags.EndOfMessage"/>, and
    /// <see cref="WebSocketMessageFlags.DisableCompression"/> to send this message uncompressed even when permessage-deflate
    /// was negotiated (for secrets mixed with attacker-chosen data: CRIME/BREACH).
    /// </summary>
    public ValueTask SendAsync(ReadOnlySequence<byte> payload, WebSocketMessageType messageType, WebSocketMessageFlags flags, CancellationToken cancellationToken = default)
        => SendDataAsync(payload, messageType, (flags & WebSocketMessageFlags.EndOfMessage) != 0, (flags & WebSocketMessageFlags.DisableCompression) == 0, cancellationToken);

    /// <summary>
    /// Sends a message encoded once for many connections (see <see cref="WebSocketPreparedMessage"/>): its bytes are copied
    /// to the output as they are, compressed or not as this connection's negotiation allows.
    /// </summary>
    public async ValueTask SendAsync(WebSocketPreparedMessage message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (_closeSent != 0 || IsAborted)
        {
            throw new InvalidOperationException("The WebSocket is closing or closed; no more messages can be sent.");
        }

        var frame = message.FrameFor(_deflate?.Parameters);
        ReserveOutgoing(frame.Length);

        try
        {
            await _sendLock.EnterAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                if (_closeSent != 0 || _sendingFragmented)
                {
                    throw new InvalidOperationException("The WebSocket is closing, or a message sent in parts is not finished.");
                }

                try
                {
                    _output.Write(frame.Span);
                }
                catch (Exception ex) when (WriteCutByAbort(ex))
                {
                    throw AbortedDuringWrite(ex);
                }

                await FlushOrDeferAsync(frame.Length, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                _sendLock.Exit();
            }

            Metrics.DataSent(message.PayloadLength, endOfMessage: true);
        }
        finally
        {
            Interlocked.Add(ref _queuedSendBytes, -frame.Length);
        }
    }

    /// <summary>Sends <paramref name="text"/> as one text message (encodes it to UTF-8 in pooled memory).</summary>
    public async ValueTask SendTextAsync(string text, CancellationToken cancellationToken = default)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(Encoding.UTF8.GetMaxByteCount(text.Length));
        try
        {
            var length = Encoding.UTF8.GetBytes(text, buffer);
            await SendAsync(buffer.AsMemory(0, length), WebSocketMessageType.Text, true, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// Sends a close frame and waits, up to <see cref="WebSocketTransportOptions.CloseTimeout"/>, for the peer's close
    /// (discarding data that arrives meanwhile); then the connection is closed. If the peer does not answer, the
    /// connection is aborted. Reads, so do not call it while a <see cref="ReceiveAsync"/> is running.
    /// </summary>
    public async ValueTask CloseAsync(WebSocketCloseStatus closeStatus, string? statusDescription = null, CancellationToken cancellationToken = default)
    {
        await CloseOutputAsync(closeStatus, statusDescription, cancellationToken).ConfigureAwait(false);
        if (_closeReceived || _failed || _inputEnded || IsAborted)
        {
            return;
        }

        if (HasHeartbeat)
        {
            // The heartbeat aborts a close that is not answered within CloseTimeout, which ends this receive with
            // 1006: no timer of our own per closing connection.
            while (!(await ReceiveAsync(cancellationToken).ConfigureAwait(false)).IsClose)
            {
            }

            return;
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Options.CloseTimeout);
        try
        {
            while (true)
            {
                var message = await ReceiveAsync(timeout.Token).ConfigureAwait(false);
                if (message.IsClose)
                {
                    return;
                }
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            Log.CloseTimeout(Logger, Request.ConnectionId);
            Abort();
        }
    }

    /// <summary>Sends a close frame without waiting for the peer's; keep receiving to see its answer.</summary>
    public async ValueTask CloseOutputAsync(WebSocketCloseStatus closeStatus, string? statusDescription = null, CancellationToken cancellationToken = default)
    {
        if (!CloseStatusRules.IsValidToSend((int)closeStatus))
        {
            throw new ArgumentOutOfRangeException(nameof(closeStatus), closeStatus, "Not a close code that may be sent (RFC 6455 section 7.4).");
        }

        if (statusDescription is not null && Encoding.UTF8.GetByteCount(statusDescription) > FrameHeader.MaxControlPayloadLength - 2)
        {
            throw new ArgumentException("The close reason may be at most 123 bytes of UTF-8.", nameof(statusDescription));
        }

        if (_closeSent == 0 && !_closeReceived)
        {
            RecordCloseIfNone(closeStatus);
            if (statusDescription is not null)
            {
                RecordCloseDescriptionIfNone(statusDescription);
            }
        }

        await TrySendCloseFrameAsync(closeStatus, statusDescription, cancellationToken).ConfigureAwait(false);
    }

    private ValueTask SendDataAsync(ReadOnlySequence<byte> payload, WebSocketMessageType messageType, bool endOfMessage, bool compressible, CancellationToken cancellationToken)
    {
        if (messageType is not (WebSocketMessageType.Text or WebSocketMessageType.Binary))
        {
            throw new ArgumentOutOfRangeException(nameof(messageType), messageType, "Use CloseAsync to close.");
        }

        if (_closeSent != 0 || IsAborted)
        {
            throw new InvalidOperationException("The WebSocket is closing or closed; no more messages can be sent.");
        }

        var opcode = messageType == WebSocketMessageType.Text ? Opcode.Text : Opcode.Binary;
        if (!_sendLock.TryEnter())
        {
            ReserveOutgoing(payload.Length);
            return SendDataCoreAsync(payload, opcode, endOfMessage, compressible, cancellationToken);
        }

        // Nobody else is sending (an echo loop, a handler that sends from one task): write and flush, or leave the flush
        // to the receive loop, without an async state machine. Nothing waits behind this send, so it only counts
        // against MaxOutgoingBufferBytes if its flush has to wait.
        var length = payload.Length;
        ValueTask<FlushResult> flush;
        try
        {
            WriteDataLocked(payload, opcode, endOfMessage, compressible);
            flush = FlushOrDeferAsync(length + FrameHeader.MaxLength, cancellationToken);
        }
        catch
        {
            _sendLock.Exit();
            throw;
        }

        if (!flush.IsCompletedSuccessfully)
        {
            Interlocked.Add(ref _queuedSendBytes, length);
            return AwaitFlushAsync(flush, length, endOfMessage);
        }

        _ = flush.Result;
        _sendLock.Exit();
        Metrics.DataSent(length, endOfMessage);
        return default;
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask AwaitFlushAsync(ValueTask<FlushResult> flush, long length, bool endOfMessage)
    {
        try
        {
            try
            {
                await flush.ConfigureAwait(false);
            }
            finally
            {
                _sendLock.Exit();
            }

            Metrics.DataSent(length, endOfMessage);
        }
        finally
        {
            Interlocked.Add(ref _queuedSendBytes, -length);
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask SendDataCoreAsync(ReadOnlySequence<byte> payload, Opcode opcode, bool endOfMessage, bool compressible, CancellationToken cancellationToken)
    {
        var length = payload.Length;
        try
        {
            await _sendLock.EnterAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                WriteDataLocked(payload, opcode, endOfMessage, compressible);
                await FlushOrDeferAsync(length + FrameHeader.MaxLength, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                _sendLock.Exit();
            }

            Metrics.DataSent(length, endOfMessage);
        }
        finally
        {
            Interlocked.Add(ref _queuedSendBytes, -length);
        }
    }

    /// <summary>
    /// A write into the output failed because the connection was aborted under it (ours, at the outgoing limit, or the
    /// transport's): the pipe's memory can go away between GetSpan and Advance, and the pipe then throws what it throws
    /// (ArgumentOutOfRangeException from Advance, seen when a slow broadcast subscriber was dropped mid-send). To the
    /// caller it is what it is, a send to a connection that is gone.
    /// </summary>
    private static IOException AbortedDuringWrite(Exception ex) => new("The connection was aborted while a frame was being written.", ex);

    /// <summary>The filter for <see cref="AbortedDuringWrite"/>: a failure of a write once the transport is gone.</summary>
    private bool WriteCutByAbort(Exception ex) => IsTransportGone && ex is not IOException;

    /// <summary>Under the send lock: writes one data frame (compressed if this message is), without flushing.</summary>
    private void WriteDataLocked(in ReadOnlySequence<byte> payload, Opcode opcode, bool endOfMessage, bool compressible)
    {
        if (_closeSent != 0)
        {
            throw new InvalidOperationException("The WebSocket is closing or closed; no more messages can be sent.");
        }

        Opcode wireOpcode;
        if (_sendingFragmented)
        {
            if (opcode != _sendingOpcode)
            {
                throw new InvalidOperationException("A message sent in parts must keep its type until its last part.");
            }

            wireOpcode = Opcode.Continuation;
        }
        else
        {
            wireOpcode = opcode;
        }

        // A message is compressed (under the lock: the compressor's window is shared) when its first part is at least
        // the threshold; its later parts follow that choice. RFC 7692 allows the choice message by message.
        var compress = _sendingFragmented
            ? _sendingCompressed
            : _deflate is not null && compressible && payload.Length >= _deflate.MinMessageBytes;
        try
        {
            if (compress)
            {
                WriteCompressed(wireOpcode, payload, firstFrame: !_sendingFragmented, endOfMessage);
            }
            else
            {
                FrameWriter.WriteFrame(_output, wireOpcode, endOfMessage, payload);
            }
        }
        catch (Exception ex) when (WriteCutByAbort(ex))
        {
            throw AbortedDuringWrite(ex);
        }

        _sendingCompressed = compress && !endOfMessage;
        _sendingFragmented = !endOfMessage;
        _sendingOpcode = opcode;
    }

    /// <summary>
    /// Writes a whole compressed message, or one frame of a compressed message sent in parts (RSV1 on its first frame
    /// only, RFC 7692 section 6.1).
    /// </summary>
    private void WriteCompressed(Opcode opcode, in ReadOnlySequence<byte> payload, bool firstFrame, bool endOfMessage)
    {
        byte[]? compressed = null;
        try
        {
            var length = firstFrame && endOfMessage
                ? _deflate!.Compress(payload, ref compressed)
                : _deflate!.CompressPart(payload, endOfMessage, ref compressed);
            FrameWriter.WriteFrame(_output, opcode, endOfMessage, compressed.AsSpan(0, length), compressed: firstFrame);
        }
        finally
        {
            if (compressed is not null)
            {
                ArrayPool<byte>.Shared.Return(compressed);
            }
        }
    }

    /// <summary>
    /// Writes a control frame (pong, ping) under the send lock. A pong for a ping that came with more frames in the same
    /// read is flushed with the answers to those frames.
    /// </summary>
    private async ValueTask SendControlAsync(Opcode opcode, ReadOnlySequence<byte> payload)
    {
        await _sendLock.EnterAsync().ConfigureAwait(false);
        try
        {
            if (_closeSent != 0)
            {
                return;
            }

            try
            {
                FrameWriter.WriteFrame(_output, opcode, true, payload);
            }
            catch (Exception ex) when (WriteCutByAbort(ex))
            {
                throw AbortedDuringWrite(ex);
            }

            await FlushOrDeferAsync((int)payload.Length + 2, default).ConfigureAwait(false);
        }
        finally
        {
            _sendLock.Exit();
        }
    }

    /// <summary>Sends the close frame once; later calls do nothing. Failures to write mean the peer is gone already.</summary>
    private async ValueTask TrySendCloseFrameAsync(WebSocketCloseStatus? status, string? description, CancellationToken cancellationToken = default)
    {
        if (Interlocked.CompareExchange(ref _closeSent, CloseDecided, 0) != 0)
        {
            return;
        }

        _closeSentAtTicks = Environment.TickCount64;
        if (Volatile.Read(ref _state) == StateOpen)
        {
            Interlocked.CompareExchange(ref _state, StateClosing, StateOpen);
        }

        Span<byte> payload = stackalloc byte[FrameHeader.MaxControlPayloadLength];
        var length = 0;
        if (status is { } code)
        {
            BinaryPrimitives.WriteUInt16BigEndian(payload, (ushort)code);
            length = 2;
            if (description is not null)
            {
                length += Encoding.UTF8.GetBytes(description, payload[2..]);
            }
        }

        // Rented, not copied to a new array: every connection sends one close, and the payload must outlive the stack
        // frame across the wait for the send lock.
        var rented = ArrayPool<byte>.Shared.Rent(FrameHeader.MaxControlPayloadLength);
        payload[..length].CopyTo(rented);
        var frame = new ReadOnlyMemory<byte>(rented, 0, length);
        try
        {
            // The close is already marked as sent, so it must be written: wait for the lock whatever the caller's token
            // says, but no longer than the close timeout (a send stuck behind a peer that reads nothing).
            if (!await _sendLock.EnterAsync(timeout: Options.CloseTimeout).ConfigureAwait(false))
            {
                Log.CloseTimeout(Logger, Request.ConnectionId);
                Abort();
                return;
            }

            try
            {
                try
                {
                    FrameWriter.WriteFrame(_output, Opcode.Close, true, frame.Span);
                }
                catch (Exception ex) when (WriteCutByAbort(ex))
                {
                    throw AbortedDuringWrite(ex);
                }

                Volatile.Write(ref _closeSent, CloseWritten);
                // Flushed before the output is ended: a transport wrapped by connection middleware (TLS's stream
                // adapter) sends only what was flushed.
                await FlushLockedAsync(cancellationToken).ConfigureAwait(false);
                if (_closeReceived && OwnsTransport)
                {
                    // The answer to the peer's close ends the close handshake (see EndOutputAfterClose).
                    EndOutputLocked();
                }
            }
            finally
            {
                _sendLock.Exit();
            }
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException or Microsoft.AspNetCore.Connections.ConnectionAbortedException)
        {
            Log.TransportFailure(Logger, Request.ConnectionId, ex);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    // At connection level the transport is this WebSocket's alone; through HTTP it belongs to the request.
    private bool OwnsTransport => _transportOwner is ConnectionContext;

    /// <summary>
    /// Once our close frame is written and no frame will be read (the peer's close came, or the connection failed),
    /// RFC 6455 (5.5.1, 7.1.1) wants the TCP connection closed, by the server first. At connection level completing the
    /// output does that on Kestrel's socket transport: it sends what is buffered, then FIN, and closes the socket,
    /// without waiting for the handler to return (a handler may go on with other work after its Close message). Behind
    /// connection middleware that wraps the transport in a stream (TLS), completing delivers what was flushed but TCP
    /// ends when the handler returns, as it does through HTTP, where the request owns the transport. If a send holds the
    /// lock at that moment, the handler's return ends it too.
    /// </summary>
    private void EndOutputAfterClose()
    {
        if (!OwnsTransport || !_sendLock.TryEnter())
        {
            return;
        }

        try
        {
            if (Volatile.Read(ref _closeSent) == CloseWritten)
            {
                EndOutputLocked();
            }
        }
        finally
        {
            _sendLock.Exit();
        }
    }

    // Called only after the close frame's flush: nothing is written after it, so nothing is left deferred.
    private void EndOutputLocked()
    {
        try
        {
            _output.Complete();
        }
        catch (Exception ex) when (WriteCutByAbort(ex) || ex is InvalidOperationException)
        {
            Log.TransportFailure(Logger, Request.ConnectionId, ex);
        }
    }

    /// <summary>
    /// Under the send lock, after a write: flushes, or leaves the flush to the receive loop when it still holds unread
    /// bytes of its current read (and not too much is waiting already). The bytes count for the deferral bound only.
    /// </summary>
    private ValueTask<FlushResult> FlushOrDeferAsync(long written, CancellationToken cancellationToken)
    {
        if (_receiveHoldsMore && _unflushedBytes + written <= MaxUnflushedBytes)
        {
            _unflushedBytes += (int)written;
            _flushDeferred = true;
            if (Interlocked.Exchange(ref _deferredFlushScheduled, 1) == 0)
            {
                // Local queue: it runs after the current work item, by when the echo loop has usually flushed itself.
                _progressAtSchedule = Volatile.Read(ref _receiveProgress);
                ThreadPool.UnsafeQueueUserWorkItem(_deferredFlushWorkItem ??= new DeferredFlushWorkItem(this), preferLocal: true);
            }

            return default;
        }

        return FlushLockedAsync(cancellationToken);
    }

    /// <summary>Flushes under the send lock; whatever earlier sends left unflushed goes with it.</summary>
    private ValueTask<FlushResult> FlushLockedAsync(CancellationToken cancellationToken)
    {
        _flushDeferred = false;
        _unflushedBytes = 0;
        return _output.FlushAsync(cancellationToken);
    }

    /// <summary>Flushes what sends left unflushed, if anything; called before waiting for data and by the backstop.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask FlushDeferredAsync()
    {
        await _sendLock.EnterAsync().ConfigureAwait(false);
        try
        {
            if (_flushDeferred && !IsAborted)
            {
                await FlushLockedAsync(default).ConfigureAwait(false);
            }
        }
        catch (InvalidOperationException)
        {
            // The output was completed under us: the connection is ending, and its next read says so.
        }
        finally
        {
            _sendLock.Exit();
        }
    }

    private async Task RunDeferredFlushAsync()
    {
        var progress = Volatile.Read(ref _receiveProgress);
        if (_receiveHoldsMore && progress != _progressAtSchedule && Volatile.Read(ref _flushDeferred))
        {
            // The receive side handed out messages since this was queued (another thread picked the item up while the
            // handler works through the read): it will flush before it waits. Look again later instead of splitting
            // its batch.
            _progressAtSchedule = progress;
            ThreadPool.UnsafeQueueUserWorkItem(_deferredFlushWorkItem!, preferLocal: false);
            return;
        }

        Volatile.Write(ref _deferredFlushScheduled, 0);
        if (!Volatile.Read(ref _flushDeferred))
        {
            return;
        }

        try
        {
            await FlushDeferredAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or Microsoft.AspNetCore.Connections.ConnectionAbortedException)
        {
            Log.TransportFailure(Logger, Request.ConnectionId, ex);
        }
    }

    private sealed class DeferredFlushWorkItem(WebSocketConnection connection) : IThreadPoolWorkItem
    {
        public void Execute() => _ = connection.RunDeferredFlushAsync();
    }

    /// <summary>
    /// Counts <paramref name="length"/> bytes as queued for the peer. Past MaxOutgoingBufferBytes (with other sends still
    /// queued) the peer is dropped and the send fails; the caller gives the bytes back once they are flushed.
    /// </summary>
    private void ReserveOutgoing(long length)
    {
        var queued = Interlocked.Add(ref _queuedSendBytes, length);
        if (queued > Options.MaxOutgoingBufferBytes && queued != length)
        {
            Interlocked.Add(ref _queuedSendBytes, -length);
            DropSlowPeer();
            throw new InvalidOperationException($"The outgoing buffer limit of {Options.MaxOutgoingBufferBytes} bytes was exceeded; the connection was closed.");
        }
    }

    private void DropSlowPeer()
    {
        Log.BackpressureLimit(Logger, Request.ConnectionId, Options.MaxOutgoingBufferBytes);
        RecordCloseIfNone(WebSocketCloseStatus.PolicyViolation);
        RecordCloseDescriptionIfNone("Outgoing buffer limit exceeded");
        // The peer is not reading; a close frame would queue behind the backlog, so end the connection now.
        Abort();
    }
}
