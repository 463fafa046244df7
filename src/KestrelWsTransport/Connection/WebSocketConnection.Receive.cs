using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Net.WebSockets;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using KestrelWsTransport.Diagnostics;
using KestrelWsTransport.Framing;
using Microsoft.AspNetCore.Connections;

namespace KestrelWsTransport;

public sealed partial class WebSocketConnection
{
    // The unconsumed part of the read we hold. Frames already handed out were sliced off the front; they are consumed
    // (AdvanceTo) only when the next read is needed, so a message handed out from pipe memory stays valid until then.
    private ReadOnlySequence<byte> _buffer;
    private bool _holdingRead;

    private bool _inputEnded;
    private bool _failed;
    private volatile bool _receivePending;

    // True while the read we hold has bytes the handler has not been given yet: the next receive looks at them before
    // it waits, so sends made meanwhile may leave their flush to it (see FlushOrDeferAsync).
    private volatile bool _receiveHoldsMore;

    // Counts messages handed out, so the deferred-flush backstop can tell a busy handler from a stalled one.
    private int _receiveProgress;

    // A fast-path text message failed UTF-8 validation after its payload was unmasked: the loop fails the connection.
    private bool _pendingUtf8Failure;

    // A fragmented message is being assembled (in UncommonState).
    private bool _inFragmentedMessage;

    // The Close message every receive returns once the connection is over (kept as its two parts, the description in
    // UncommonState: the whole message struct would be 40 bytes more on every connection).
    private ushort _finalCode;

    // Text payload bytes of a still incomplete frame already validated (see UncommonState.PartialPayloadChecked).
    private long PartialPayloadChecked => _uncommon?.PartialPayloadChecked ?? 0;

    /// <summary>
    /// Receives the next whole message. Pings are answered and pongs absorbed on the way. When the peer closes, the
    /// transport answers its close frame and this returns a Close message (and keeps returning it); a protocol error by
    /// the peer is answered with the matching close code (1002, 1007, 1009) and also returns Close. The payload is valid
    /// until the next call.
    /// </summary>
    public ValueTask<WebSocketMessage> ReceiveAsync(CancellationToken cancellationToken = default)
    {
        if (_finalCode != 0)
        {
            return new ValueTask<WebSocketMessage>(FinalMessage());
        }

        // The common case under load: the read we hold has another whole, plain data frame. No state machine for it.
        if (TryTakeBufferedMessage(out var message))
        {
            return new ValueTask<WebSocketMessage>(message);
        }

        ThrowIfInParts();
        _receivingParts = false;
        return ReceiveCoreAsync(cancellationToken);
    }

    /// <summary>
    /// Takes the next frame off the held read when it is a whole unfragmented, uncompressed data message within the
    /// limits; anything else (control frames, fragments, errors, a frame still arriving) is left to the full loop.
    /// </summary>
    private bool TryTakeBufferedMessage(out WebSocketMessage message)
    {
        message = default;
        if (!_holdingRead || _inFragmentedMessage || _inPartedMessage || _pendingUtf8Failure || PartialPayloadChecked != 0)
        {
            return false;
        }

        if (_viewArray is not null)
        {
            return TryTakeSmallFrame(out message);
        }

        if (FrameReader.TryReadHeader(_buffer, inFragmentedMessage: false, Options.MaxFrameBytes, out var header, out _, out _, _deflate is not null) != FrameReadStatus.Header
            || !header.Fin
            || header.ReservedBits != 0
            || header.Opcode.IsControl()
            || header.PayloadLength > Options.MaxMessageBytes
            || _buffer.Length < header.FrameLength)
        {
            return false;
        }

        ReturnAssembly();
        var payload = TakePayload(header, out _);
        if (header.Opcode == Opcode.Text && !IsValidUtf8(payload))
        {
            // Unmasked in place already, so the loop cannot read it again: it fails the connection from this flag.
            _pendingUtf8Failure = true;
            return false;
        }

        _receiveHoldsMore = !_buffer.IsEmpty;
        _receiveProgress++;
        Metrics.MessageReceived(payload.Length);
        message = new WebSocketMessage(ToMessageType(header.Opcode), payload);
        return true;
    }

    // Pooled: this is the method that waits for data, so without it every wait boxes a state machine. One method, not a
    // wrapper around a loop: an idle connection holds this box while it waits, so its size is memory per connection.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<WebSocketMessage> ReceiveCoreAsync(CancellationToken cancellationToken)
    {
        ReturnAssembly();
        SyncBuffer();

        try
        {
            if (_pendingUtf8Failure)
            {
                _pendingUtf8Failure = false;
                await FailAsync(WebSocketCloseStatus.InvalidPayloadData, "Invalid UTF-8 in a text message").ConfigureAwait(false);
                return FinalMessage();
            }

            while (true)
            {
                if (!_holdingRead)
                {
                    if (IsAborted || (!ReadToken(cancellationToken).CanBeCanceled && _peerGone.IsCancellationRequested))
                    {
                        return EndWithoutHandshake();
                    }

                    // Answers written since the last read leave now, in one flush, before this waits.
                    _receiveHoldsMore = false;
                    if (_flushDeferred)
                    {
                        await FlushDeferredAsync().ConfigureAwait(false);
                    }

                    _receivePending = true;
                    ReadResult read;
                    try
                    {
                        read = await _input.ReadAsync(ReadToken(cancellationToken)).ConfigureAwait(false);
                    }
                    finally
                    {
                        _receivePending = false;
                    }

                    if (read.IsCanceled)
                    {
                        // CancelPendingRead comes from Abort.
                        _input.AdvanceTo(read.Buffer.Start, read.Buffer.End);
                        return EndWithoutHandshake();
                    }

                    _buffer = read.Buffer;
                    _holdingRead = true;
                    _inputEnded = read.IsCompleted;
                    _lastReceiveTicks = Environment.TickCount64;
                    OpenView(read.Buffer);
                    if (TryTakeBufferedMessage(out var first))
                    {
                        return first;
                    }

                    SyncBuffer();
                    if (_pendingUtf8Failure)
                    {
                        _pendingUtf8Failure = false;
                        await FailAsync(WebSocketCloseStatus.InvalidPayloadData, "Invalid UTF-8 in a text message").ConfigureAwait(false);
                        return FinalMessage();
                    }
                }

                (WebSocketCloseStatus Status, string Reason)? failure;
                while (TryTakeFrame(out var header, out var payload, out var checkedPrefix, out failure))
                {
                    switch (header.Opcode)
                    {
                        case Opcode.Ping:
                            _receiveHoldsMore = !_buffer.IsEmpty;
                            await SendControlAsync(Opcode.Pong, payload).ConfigureAwait(false);
                            continue;

                        case Opcode.Pong:
                            continue;

                        case Opcode.Close:
                            await OnCloseFrameAsync(payload).ConfigureAwait(false);
                            return FinalMessage();

                        case Opcode.Text or Opcode.Binary when header.Fin && header.ReservedBits != 0:
                            if (TryInflate(header.Opcode, payload, out var inflated, out failure))
                            {
                                return inflated;
                            }

                            break;

                        case Opcode.Text or Opcode.Binary when header.Fin:
                            if (header.Opcode == Opcode.Text && !(checkedPrefix == 0 ? IsValidUtf8(payload) : AppendUtf8(payload.Slice(checkedPrefix), fin: true)))
                            {
                                failure = (WebSocketCloseStatus.InvalidPayloadData, "Invalid UTF-8 in a text message");
                                break;
                            }

                            Metrics.MessageReceived(payload.Length);
                            return new WebSocketMessage(ToMessageType(header.Opcode), payload);

                        default:
                            if (_receivingParts && (_inPartedMessage || (header.Opcode != Opcode.Continuation && header.ReservedBits == 0 && checkedPrefix == 0)))
                            {
                                // Receiving in parts: a whole fragment is a part, not assembled. (One whose start was
                                // validated while a whole-message receive waited stays with the assembly.)
                                failure = CountPartFrame(header.Opcode, header.PayloadLength);
                                if (failure is null && TakePart(payload, checkedPrefix, header.Fin, out var part, out failure))
                                {
                                    return part;
                                }

                                break;
                            }

                            // First or further fragment of a message.
                            var uncommon = Uncommon;
                            if (header.Opcode != Opcode.Continuation)
                            {
                                _inFragmentedMessage = true;
                                uncommon.FragmentedOpcode = header.Opcode;
                                uncommon.FragmentedCompressed = header.ReservedBits != 0;
                                uncommon.FragmentCount = 0;
                                if (checkedPrefix == 0)
                                {
                                    // (Otherwise the validator already holds this frame's first bytes.)
                                    uncommon.Utf8.Reset();
                                }
                            }

                            if (++uncommon.FragmentCount > Options.MaxFragmentsPerMessage)
                            {
                                failure = (WebSocketCloseStatus.PolicyViolation, "Too many fragments in one message");
                                break;
                            }

                            Append(payload);
                            // Compressed text is validated once inflated; plain text fails fast, fragment by fragment.
                            if (uncommon.FragmentedOpcode == Opcode.Text && !uncommon.FragmentedCompressed && !AppendUtf8(payload.Slice(checkedPrefix), header.Fin))
                            {
                                failure = (WebSocketCloseStatus.InvalidPayloadData, "Invalid UTF-8 in a text message");
                                break;
                            }

                            if (!header.Fin)
                            {
                                continue;
                            }

                            _inFragmentedMessage = false;
                            if (uncommon.FragmentedCompressed)
                            {
                                if (TryInflate(uncommon.FragmentedOpcode, new ReadOnlySequence<byte>(uncommon.Assembly!, 0, uncommon.AssemblyLength), out var assembled, out failure))
                                {
                                    return assembled;
                                }

                                break;
                            }

                            Metrics.MessageReceived(uncommon.AssemblyLength);
                            return new WebSocketMessage(ToMessageType(uncommon.FragmentedOpcode), new ReadOnlySequence<byte>(uncommon.Assembly!, 0, uncommon.AssemblyLength));
                    }

                    // Only a case that set a failure gets here.
                    break;
                }

                if (failure is null && InPartFrame && TryTakePart(out var arrived, out failure))
                {
                    return arrived;
                }

                if (failure is { } error)
                {
                    await FailAsync(error.Status, error.Reason).ConfigureAwait(false);
                    return FinalMessage();
                }

                // Not a whole frame left: give back what was handed out and wait for more bytes.
                var ended = _inputEnded;
                ReleaseRead();
                if (ended)
                {
                    return EndWithoutHandshake();
                }
            }
        }
        catch (Exception ex) when (ex is IOException or ConnectionAbortedException)
        {
            // The transport failed under us (reset, aborted, an HTTP/2 stream reset): the peer is gone, whatever the
            // caller's token says. That is a 1006 Close, not an exception for the handler.
            Log.TransportFailure(Logger, Request.ConnectionId, ex);
            return EndWithoutHandshake();
        }
        finally
        {
            _receiveHoldsMore = _holdingRead && (_viewArray is not null ? _viewOffset < _viewEnd || _viewHasMoreSegments : !_buffer.IsEmpty);
            _receiveProgress++;
        }
    }

    /// <summary>
    /// Takes the next whole frame off the front of the held buffer, unmasking its payload in place. Unmasking happens
    /// exactly once per frame because the frame is sliced off as it is taken.
    /// </summary>
    private bool TryTakeFrame(out FrameHeader header, out ReadOnlySequence<byte> payload, out long checkedPrefix, out (WebSocketCloseStatus Status, string Reason)? failure)
    {
        payload = default;
        checkedPrefix = 0;
        failure = null;
        if (InPartFrame)
        {
            // The buffer starts inside a frame's payload (see TryTakePart).
            header = default;
            return false;
        }

        var status = FrameReader.TryReadHeader(_buffer, _inFragmentedMessage || _inPartedMessage, Options.MaxFrameBytes, out header, out var closeStatus, out var reason, _deflate is not null);
        if (status == FrameReadStatus.NeedMoreData)
        {
            return false;
        }

        if (status == FrameReadStatus.Error)
        {
            failure = (closeStatus, reason!);
            return false;
        }

        if (!header.Opcode.IsControl())
        {
            var messageLength = (_inFragmentedMessage ? _uncommon!.AssemblyLength : 0) + (_inPartedMessage ? _uncommon!.PartMessageBytes : 0) + header.PayloadLength;
            if (messageLength > Options.MaxMessageBytes)
            {
                failure = (WebSocketCloseStatus.MessageTooBig, "Message too big");
                return false;
            }
        }

        if (_buffer.Length < header.FrameLength)
        {
            if (CanReceiveInParts(header))
            {
                failure = StartPartFrame(header);
                return false;
            }

            if (IsPlainText(header) && !CheckPartialText(header))
            {
                failure = (WebSocketCloseStatus.InvalidPayloadData, "Invalid UTF-8 in a text message");
            }

            return false;
        }

        payload = TakePayload(header, out checkedPrefix);
        return true;
    }

    /// <summary>An uncompressed text frame: a text message's first frame, or a continuation of one.</summary>
    private bool IsPlainText(in FrameHeader header) =>
        header.ReservedBits == 0
        && (header.Opcode == Opcode.Text || (header.Opcode == Opcode.Continuation && _uncommon is { FragmentedOpcode: Opcode.Text, FragmentedCompressed: false }));

    /// <summary>
    /// Unmasks and validates the payload bytes of a still incomplete text frame that arrived since the last look, so a
    /// peer trickling invalid UTF-8 is failed at the bad byte. False when the bytes so far cannot be valid UTF-8.
    /// </summary>
    private bool CheckPartialText(in FrameHeader header)
    {
        var available = _buffer.Length - header.HeaderLength;
        var uncommon = Uncommon;
        var alreadyChecked = uncommon.PartialPayloadChecked;
        if (available <= alreadyChecked)
        {
            return true;
        }

        if (alreadyChecked == 0 && header.Opcode == Opcode.Text)
        {
            uncommon.Utf8.Reset();
        }

        var fresh = alreadyChecked == 0 ? _buffer.Slice(header.HeaderLength) : _buffer.Slice(uncommon.PartialEnd);
        var maskIndex = (int)(alreadyChecked & 3);
        uncommon.PartialPayloadChecked = available;
        uncommon.PartialEnd = _buffer.End;
        foreach (var segment in fresh)
        {
            var span = MemoryMarshal.AsMemory(segment).Span;
            maskIndex = Mask.Apply(span, header.MaskKey, maskIndex);
            if (!uncommon.Utf8.Append(span))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Slices a whole frame off the front of the held buffer and unmasks its payload in place (once: bytes already
    /// unmasked while the frame was arriving, <paramref name="checkedPrefix"/> of them, are skipped).
    /// </summary>
    private ReadOnlySequence<byte> TakePayload(in FrameHeader header, out long checkedPrefix)
    {
        _viewArray = null;
        var payload = _buffer.Slice(header.HeaderLength, header.PayloadLength);
        checkedPrefix = 0;
        if (_uncommon is { PartialPayloadChecked: not 0 } uncommon)
        {
            checkedPrefix = uncommon.PartialPayloadChecked;
            uncommon.PartialPayloadChecked = 0;
        }

        Mask.ApplyInPlace(checkedPrefix == 0 ? payload : payload.Slice(checkedPrefix), header.MaskKey, (int)(checkedPrefix & 3));

        _buffer = _buffer.Slice(payload.End);
        return payload;
    }

    /// <summary>
    /// Inflates a compressed message (RFC 7692 section 7.2.2) into pooled memory, never past MaxMessageBytes: a deflate
    /// bomb is cut at the limit with 1009, corrupt data fails the connection with 1007. Synchronous (the caller sends the
    /// failure's close frame) so the waiting receive's state machine carries no awaiter for it.
    /// </summary>
    private bool TryInflate(Opcode opcode, in ReadOnlySequence<byte> compressed, out WebSocketMessage message, out (WebSocketCloseStatus Status, string Reason)? failure)
    {
        message = default;
        failure = null;
        var uncommon = Uncommon;
        var result = _deflate!.Decompress(compressed, Options.MaxMessageBytes, ref uncommon.Inflated, out var length);
        if (result == Compression.InflateResult.TooBig)
        {
            failure = (WebSocketCloseStatus.MessageTooBig, "Message too big once decompressed");
            return false;
        }

        if (result == Compression.InflateResult.Corrupt)
        {
            failure = (WebSocketCloseStatus.InvalidPayloadData, "Invalid compressed data");
            return false;
        }

        if (opcode == Opcode.Text && !System.Text.Unicode.Utf8.IsValid(uncommon.Inflated.AsSpan(0, length)))
        {
            failure = (WebSocketCloseStatus.InvalidPayloadData, "Invalid UTF-8 in a text message");
            return false;
        }

        Metrics.MessageReceived(length);
        message = new WebSocketMessage(ToMessageType(opcode), new ReadOnlySequence<byte>(uncommon.Inflated!, 0, length));
        return true;
    }

    /// <summary>Records the peer's close, answers it and ends receiving; either way <see cref="FinalMessage"/> says how.</summary>
    private async ValueTask OnCloseFrameAsync(ReadOnlySequence<byte> payload)
    {
        WebSocketCloseStatus status;
        string? description = null;
        if (payload.Length == 0)
        {
            status = WebSocketCloseStatus.Empty;
        }
        else if (payload.Length == 1)
        {
            await FailAsync(WebSocketCloseStatus.ProtocolError, "Close frame with a one-byte payload").ConfigureAwait(false);
            return;
        }
        else
        {
            Span<byte> bytes = stackalloc byte[FrameHeader.MaxControlPayloadLength];
            payload.CopyTo(bytes);
            var code = BinaryPrimitives.ReadUInt16BigEndian(bytes);
            if (!CloseStatusRules.IsValidReceived(code))
            {
                await FailAsync(WebSocketCloseStatus.ProtocolError, "Invalid close code").ConfigureAwait(false);
                return;
            }

            var reasonBytes = bytes[2..(int)payload.Length];
            if (!System.Text.Unicode.Utf8.IsValid(reasonBytes))
            {
                await FailAsync(WebSocketCloseStatus.InvalidPayloadData, "Invalid UTF-8 in the close reason").ConfigureAwait(false);
                return;
            }

            status = (WebSocketCloseStatus)code;
            description = reasonBytes.IsEmpty ? null : Encoding.UTF8.GetString(reasonBytes);
        }

        _closeReceived = true;
        if (_closeSent == 0)
        {
            _closeCode = (ushort)status;
            RecordCloseDescription(description);
            // Echo the code (RFC 6455 section 5.5.1); a close without a code is answered with an empty close (which
            // also ends the transport's output, as the close handshake is over).
            await TrySendCloseFrameAsync(status == WebSocketCloseStatus.Empty ? null : status, null).ConfigureAwait(false);
        }
        else
        {
            // The peer answered our close: the handshake is over.
            EndOutputAfterClose();
        }

        ReleaseRead();
        SetFinal(new WebSocketMessage(status, description));
    }

    /// <summary>Fails the connection (RFC 6455 section 7.1.7): sends the close code and stops reading.</summary>
    private async ValueTask FailAsync(WebSocketCloseStatus status, string reason)
    {
        Log.ProtocolError(Logger, Request.ConnectionId, status, reason);
        _failed = true;
        _inFragmentedMessage = false;
        EndParts();
        if (_closeSent == 0)
        {
            _closeCode = (ushort)status;
            RecordCloseDescription(reason);
        }

        ReleaseRead();
        await TrySendCloseFrameAsync(status, reason).ConfigureAwait(false);
        // Nothing more is read from a failed connection, so nothing more is said to it either (RFC 6455 7.1.7).
        EndOutputAfterClose();
        SetFinal(new WebSocketMessage(status, reason));
        SignalPeerGone();
    }

    /// <summary>The Close message every receive returns from now on.</summary>
    private void SetFinal(in WebSocketMessage message)
    {
        if (message.CloseDescription is { } description)
        {
            Uncommon.FinalDescription = description;
        }
        else if (_uncommon is { } uncommon)
        {
            uncommon.FinalDescription = null;
        }

        _finalCode = (ushort)message.CloseStatus!.Value;
    }

    private WebSocketMessage FinalMessage() => new((WebSocketCloseStatus)_finalCode, _uncommon?.FinalDescription);

    // The handler usually passes our own ConnectionClosed token. Registering it on every wait would cost an object per
    // idle connection; SignalPeerGone cancels the pending read itself instead.
    private CancellationToken ReadToken(CancellationToken cancellationToken) =>
        cancellationToken == _peerGone.Token ? default : cancellationToken;

    private WebSocketMessage EndWithoutHandshake()
    {
        ReleaseRead();
        _inputEnded = true;
        if (!_closeReceived)
        {
            RecordCloseIfNone(AbnormalClosure);
        }

        var message = new WebSocketMessage(CloseStatus ?? AbnormalClosure, CloseStatusDescription);
        SetFinal(message);
        SignalPeerGone();
        return message;
    }

    private bool IsValidUtf8(in ReadOnlySequence<byte> payload)
    {
        if (payload.IsSingleSegment)
        {
            return System.Text.Unicode.Utf8.IsValid(payload.FirstSpan);
        }

        var validator = new Utf8Validator();
        foreach (var segment in payload)
        {
            if (!validator.Append(segment.Span))
            {
                return false;
            }
        }

        return validator.IsComplete;
    }

    /// <summary>Feeds the validator of a message that is checked piece by piece (fragments, parts, a frame still arriving).</summary>
    private bool AppendUtf8(in ReadOnlySequence<byte> payload, bool fin)
    {
        ref var utf8 = ref Uncommon.Utf8;
        foreach (var segment in payload)
        {
            if (!utf8.Append(segment.Span))
            {
                return false;
            }
        }

        return !fin || utf8.IsComplete;
    }

    private void Append(in ReadOnlySequence<byte> payload)
    {
        var uncommon = Uncommon;
        var needed = uncommon.AssemblyLength + (int)payload.Length;
        if (uncommon.Assembly is null || uncommon.Assembly.Length < needed)
        {
            var grown = ArrayPool<byte>.Shared.Rent(Math.Max(needed, Math.Max(4096, (uncommon.Assembly?.Length ?? 0) * 2)));
            if (uncommon.Assembly is not null)
            {
                uncommon.Assembly.AsSpan(0, uncommon.AssemblyLength).CopyTo(grown);
                ArrayPool<byte>.Shared.Return(uncommon.Assembly);
            }

            uncommon.Assembly = grown;
        }

        payload.CopyTo(uncommon.Assembly.AsSpan(uncommon.AssemblyLength));
        uncommon.AssemblyLength = needed;
    }

    /// <summary>The assembled message was handed out by the previous receive; its memory goes back to the pool now.</summary>
    private void ReturnAssembly()
    {
        if (_uncommon is not { } uncommon)
        {
            return;
        }

        if (uncommon.Inflated is not null)
        {
            ArrayPool<byte>.Shared.Return(uncommon.Inflated);
            uncommon.Inflated = null;
        }

        if (!_inFragmentedMessage && uncommon.Assembly is not null)
        {
            ArrayPool<byte>.Shared.Return(uncommon.Assembly);
            uncommon.Assembly = null;
            uncommon.AssemblyLength = 0;
        }
    }

    private void ReleaseRead()
    {
        _receiveHoldsMore = false;
        SyncBuffer();
        if (_holdingRead)
        {
            _holdingRead = false;
            _input.AdvanceTo(_buffer.Start, _buffer.End);
            _buffer = default;
        }
    }

    private void ReleaseReceiveBuffers()
    {
        try
        {
            ReleaseRead();
        }
        catch (InvalidOperationException)
        {
            // The reader was already completed by the host.
        }

        _inFragmentedMessage = false;
        ReturnAssembly();
    }

    private static WebSocketMessageType ToMessageType(Opcode opcode) =>
        opcode == Opcode.Text ? WebSocketMessageType.Text : WebSocketMessageType.Binary;
}
