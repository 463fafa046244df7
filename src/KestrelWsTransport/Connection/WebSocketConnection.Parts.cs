using System.Buffers;
using System.Net.WebSockets;
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

    // A message was started in parts and its last part has not been handed out. (The rest of the parts state is in
    // UncommonState.)
    private bool _inPartedMessage;

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
        if (_finalCode != 0)
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
        && PartialPayloadChecked == 0
        && header.ReservedBits == 0
        && !header.Opcode.IsControl()
        && (header.Opcode == Opcode.Continuation ? _inPartedMessage : !_inFragmentedMessage);

    // A frame is being handed out in parts: the buffer starts inside its payload. Only ever within a message in parts
    // (a frame starts in parts only while incomplete, so with payload left), so _inPartedMessage alone keeps the fast
    // paths away.
    private bool InPartFrame => _uncommon is { PartRemaining: not 0 };

    /// <summary>Consumes the header of a frame whose payload is handed out in parts as it arrives.</summary>
    private (WebSocketCloseStatus Status, string Reason)? StartPartFrame(in FrameHeader header)
    {
        if (CountPartFrame(header.Opcode, header.PayloadLength) is { } failure)
        {
            return failure;
        }

        var uncommon = Uncommon;
        uncommon.PartFrameFin = header.Fin;
        uncommon.PartRemaining = header.PayloadLength;
        uncommon.PartMaskKey = header.MaskKey;
        uncommon.PartMaskIndex = 0;
        _buffer = _buffer.Slice(header.HeaderLength);
        return null;
    }

    /// <summary>Starts a message in parts on its first frame, and counts each frame against the limits.</summary>
    private (WebSocketCloseStatus Status, string Reason)? CountPartFrame(Opcode opcode, long payloadLength)
    {
        var uncommon = Uncommon;
        if (opcode != Opcode.Continuation)
        {
            _inPartedMessage = true;
            uncommon.PartOpcode = opcode;
            uncommon.PartMessageBytes = 0;
            uncommon.FragmentCount = 0;
            uncommon.Utf8.Reset();
        }

        uncommon.PartMessageBytes += payloadLength;
        return ++uncommon.FragmentCount > Options.MaxFragmentsPerMessage ? (WebSocketCloseStatus.PolicyViolation, "Too many fragments in one message") : null;
    }

    /// <summary>Hands out what has arrived of the current frame's payload; false when nothing has (or on failure).</summary>
    private bool TryTakePart(out WebSocketMessage message, out (WebSocketCloseStatus Status, string Reason)? failure)
    {
        message = default;
        failure = null;
        var uncommon = _uncommon!;
        var length = Math.Min(_buffer.Length, uncommon.PartRemaining);
        if (length == 0)
        {
            return false;
        }

        var part = _buffer.Slice(0, length);
        uncommon.PartMaskIndex = (byte)Mask.ApplyInPlace(part, uncommon.PartMaskKey, uncommon.PartMaskIndex);
        _buffer = _buffer.Slice(part.End);
        uncommon.PartRemaining -= length;
        return TakePart(part, 0, end: uncommon.PartRemaining == 0 && uncommon.PartFrameFin, out message, out failure);
    }

    /// <summary>
    /// Hands out an unmasked part of the message in parts (of which <paramref name="checkedPrefix"/> bytes were already
    /// validated), ending the message when <paramref name="end"/>.
    /// </summary>
    private bool TakePart(in ReadOnlySequence<byte> payload, long checkedPrefix, bool end, out WebSocketMessage message, out (WebSocketCloseStatus Status, string Reason)? failure)
    {
        message = default;
        failure = null;
        var uncommon = _uncommon!;
        if (uncommon.PartOpcode == Opcode.Text && !AppendUtf8(payload.Slice(checkedPrefix), end))
        {
            failure = (WebSocketCloseStatus.InvalidPayloadData, "Invalid UTF-8 in a text message");
            return false;
        }

        if (end)
        {
            _inPartedMessage = false;
            Metrics.MessageReceived(uncommon.PartMessageBytes);
        }

        message = new WebSocketMessage(ToMessageType(uncommon.PartOpcode), payload, end);
        return true;
    }

    /// <summary>The connection failed or closed: no message is in parts any more.</summary>
    private void EndParts()
    {
        _inPartedMessage = false;
        if (_uncommon is { } uncommon)
        {
            uncommon.PartRemaining = 0;
        }
    }
}
