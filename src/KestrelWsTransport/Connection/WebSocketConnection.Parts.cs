using System.Buffers;
using System.Net.WebSockets;
using System.Runtime.InteropServices;
using KestrelWsTransport.Framing;

namespace KestrelWsTransport;

/// <summary>
/// Receiving in parts (<see cref="ReceivePartAsync"/>): a data frame that has not fully arrived is handed out as its
/// bytes come, unmasked and (for text) validated on the way, instead of being buffered whole; the fragments of a
/// message are handed out one by one instead of being assembled. The input buffer then holds at most what arrived
/// since the last receive, whatever the size of the message.
/// </summary>
public sealed partial class WebSocketConnection
{
    // The current receive is ReceivePartAsync (read by the loop, which is shared with ReceiveAsync).
    private bool _receivingParts;

    // A message was started in parts and its last part has not been handed out.
    private bool _inPartedMessage;

    // Payload bytes of the current frame still to come; its header is consumed (see InPartFrame).
    private long _partRemaining;
    private bool _partFrameFin;
    private byte _partMaskIndex;
    private Opcode _partOpcode;
    private int _partMaskKey;

    // Announced payload bytes of the message in parts so far, for MaxMessageBytes.
    private long _partMessageBytes;

    /// <summary>
    /// Receives the next part of a message: as soon as any payload bytes of a data frame have arrived they are handed
    /// out, and <see cref="WebSocketMessage.EndOfMessage"/> says whether the message is complete. A message that arrived
    /// whole (the usual case for small ones) comes as one part. Use it to stream large messages with bounded memory, or to
    /// relay them without waiting for their end.
    /// </summary>
    /// <remarks>
    /// <para>Parts follow the bytes as they arrive, not the peer's frames, so their boundaries mean nothing; a text part
    /// may end inside a UTF-8 sequence (the whole message is still validated: invalid text fails the connection with 1007
    /// at the bad byte). Limits are those of <see cref="ReceiveAsync"/>: <c>MaxMessageBytes</c> for the sum of the parts,
    /// <c>MaxFrameBytes</c> and <c>MaxFragmentsPerMessage</c> as announced by the peer.</para>
    /// <para>Compressed (permessage-deflate) messages are inflated whole, so they come as one part.</para>
    /// <para>Sending each part on to this same peer as it arrives (an echo in parts) needs a peer that reads while it
    /// sends: sends wait for the peer to read, and a peer that writes a whole large message before reading would wait
    /// for us in turn.</para>
    /// <para>Once a message is in parts, keep calling this until <see cref="WebSocketMessage.EndOfMessage"/>:
    /// <see cref="ReceiveAsync"/> throws <see cref="InvalidOperationException"/> meanwhile. Pings, pongs and the close
    /// are handled as in <see cref="ReceiveAsync"/>. Each part's payload is valid until the next receive.</para>
    /// </remarks>
    public ValueTask<WebSocketMessage> ReceivePartAsync(CancellationToken cancellationToken = default)
    {
        if (_finalStatus is not null)
        {
            return new ValueTask<WebSocketMessage>(FinalMessage());
        }

        if (TryTakeBufferedMessage(out var message))
        {
            return new ValueTask<WebSocketMessage>(message);
        }

        _receivingParts = true;
        return ReceiveCoreAsync(cancellationToken);
    }

    private void ThrowIfInParts()
    {
        if (_inPartedMessage)
        {
            throw new InvalidOperationException("A message is being received in parts: call ReceivePartAsync until its EndOfMessage.");
        }
    }

    /// <summary>
    /// Whether a data frame that has not fully arrived should be handed out in parts: in a parts receive, uncompressed,
    /// starting a message or continuing one that is in parts (a message being assembled stays assembled).
    /// </summary>
    private bool CanReceiveInParts(in FrameHeader header) =>
        _receivingParts
        && _partialPayloadChecked == 0
        && header.ReservedBits == 0
        && !header.Opcode.IsControl()
        && (header.Opcode == Opcode.Continuation ? _inPartedMessage : !_inFragmentedMessage);

    // A frame is being handed out in parts: the buffer starts inside its payload. Only ever within a message in parts
    // (a frame starts in parts only while incomplete, so with payload left), so _inPartedMessage alone keeps the fast
    // paths away.
    private bool InPartFrame => _partRemaining != 0;

    /// <summary>Consumes the header of a frame whose payload is handed out in parts as it arrives.</summary>
    private (WebSocketCloseStatus Status, string Reason)? StartPartFrame(in FrameHeader header)
    {
        if (CountPartFrame(header.Opcode, header.PayloadLength) is { } failure)
        {
            return failure;
        }

        _partFrameFin = header.Fin;
        _partRemaining = header.PayloadLength;
        _partMaskKey = header.MaskKey;
        _partMaskIndex = 0;
        _buffer = _buffer.Slice(header.HeaderLength);
        return null;
    }

    /// <summary>Starts a message in parts on its first frame, and counts each frame against the limits.</summary>
    private (WebSocketCloseStatus Status, string Reason)? CountPartFrame(Opcode opcode, long payloadLength)
    {
        if (opcode != Opcode.Continuation)
        {
            _inPartedMessage = true;
            _partOpcode = opcode;
            _partMessageBytes = 0;
            _fragmentCount = 0;
            _utf8.Reset();
        }

        _partMessageBytes += payloadLength;
        return ++_fragmentCount > _options.MaxFragmentsPerMessage ? (WebSocketCloseStatus.PolicyViolation, "Too many fragments in one message") : null;
    }

    /// <summary>Hands out what has arrived of the current frame's payload; false when nothing has (or on failure).</summary>
    private bool TryTakePart(out WebSocketMessage message, out (WebSocketCloseStatus Status, string Reason)? failure)
    {
        message = default;
        failure = null;
        var length = Math.Min(_buffer.Length, _partRemaining);
        if (length == 0)
        {
            return false;
        }

        var part = _buffer.Slice(0, length);
        var maskIndex = (int)_partMaskIndex;
        foreach (var segment in part)
        {
            maskIndex = Mask.Apply(MemoryMarshal.AsMemory(segment).Span, _partMaskKey, maskIndex);
        }

        _partMaskIndex = (byte)maskIndex;
        _buffer = _buffer.Slice(part.End);
        _partRemaining -= length;
        return TakePart(part, 0, end: _partRemaining == 0 && _partFrameFin, out message, out failure);
    }

    /// <summary>
    /// Hands out an unmasked part of the message in parts (of which <paramref name="checkedPrefix"/> bytes were already
    /// validated), ending the message when <paramref name="end"/>.
    /// </summary>
    private bool TakePart(in ReadOnlySequence<byte> payload, long checkedPrefix, bool end, out WebSocketMessage message, out (WebSocketCloseStatus Status, string Reason)? failure)
    {
        message = default;
        failure = null;
        if (_partOpcode == Opcode.Text && !AppendUtf8(payload.Slice(checkedPrefix), end))
        {
            failure = (WebSocketCloseStatus.InvalidPayloadData, "Invalid UTF-8 in a text message");
            return false;
        }

        if (end)
        {
            _inPartedMessage = false;
            _metrics.MessageReceived(_partMessageBytes);
        }

        message = new WebSocketMessage(ToMessageType(_partOpcode), payload, end);
        return true;
    }

    /// <summary>The connection failed or closed: no message is in parts any more.</summary>
    private void EndParts()
    {
        _inPartedMessage = false;
        _partRemaining = 0;
    }
}
