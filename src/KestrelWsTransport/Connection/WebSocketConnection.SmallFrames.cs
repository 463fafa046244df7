using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using KestrelWsTransport.Framing;

namespace KestrelWsTransport;

/// <summary>
/// The fast path for small frames: whole FIN text or binary frames in the first segment of a read are parsed, unmasked
/// and validated on the segment's array and handed out without slicing the read's <see cref="ReadOnlySequence{T}"/>.
/// </summary>
public sealed partial class WebSocketConnection
{
    // The first segment of the held read as an array, for TryTakeSmallFrame: frames taken from it move _viewOffset
    // only, and _buffer catches up (SyncBuffer) before anything else looks at it. Null when there is no such view
    // (memory that is not an array, or the general loop took a frame from this read).
    private byte[]? _viewArray;
    private int _viewOffset;
    private int _viewEnd;
    private int _viewConsumed;
    private bool _viewHasMoreSegments;

    /// <summary>
    /// <see cref="TryTakeBufferedMessage"/> for a frame inside the first segment of the read, read straight from its
    /// array: an unfragmented, uncompressed text or binary frame with a 7- or 16-bit length. It applies the same checks
    /// as <see cref="FrameReader.TryReadHeader"/> (anything it does not accept is left to the general loop, which
    /// answers errors) and hands out the payload without slicing the read's sequence.
    /// </summary>
    private bool TryTakeSmallFrame(out WebSocketMessage message)
    {
        message = default;
        var array = _viewArray!;
        var offset = _viewOffset;
        var available = _viewEnd - offset;
        if (available < 6)
        {
            return false;
        }

        var b0 = array[offset];
        var b1 = array[offset + 1];
        // FIN set, RSV clear, opcode 1 (text) or 2 (binary), mask bit set.
        if ((b0 & 0xF0) != 0x80 || (uint)((b0 & 0x0F) - 1) > 1 || (b1 & 0x80) == 0)
        {
            return false;
        }

        int headerLength;
        int payloadLength;
        var length7 = b1 & 0x7F;
        if (length7 < 126)
        {
            headerLength = 6;
            payloadLength = length7;
        }
        else if (length7 == 126 && available >= 8)
        {
            headerLength = 8;
            payloadLength = BinaryPrimitives.ReadUInt16BigEndian(array.AsSpan(offset + 2, 2));
        }
        else
        {
            return false;
        }

        if (payloadLength > available - headerLength || payloadLength > Options.MaxFrameBytes || payloadLength > Options.MaxMessageBytes)
        {
            return false;
        }

        ReturnAssembly();
        var payloadStart = offset + headerLength;
        var payload = array.AsSpan(payloadStart, payloadLength);
        Mask.Apply(payload, MemoryMarshal.Read<int>(array.AsSpan(payloadStart - 4, 4)), 0);
        var consumed = headerLength + payloadLength;
        _viewOffset = offset + consumed;
        _viewConsumed += consumed;
        var opcode = (Opcode)(b0 & 0x0F);
        if (opcode == Opcode.Text && !System.Text.Unicode.Utf8.IsValid(payload))
        {
            // Unmasked in place already, so the loop cannot read it again: it fails the connection from this flag.
            _pendingUtf8Failure = true;
            return false;
        }

        _receiveHoldsMore = _viewOffset < _viewEnd || _viewHasMoreSegments;
        _receiveProgress++;
        Metrics.MessageReceived(payloadLength);
        message = new WebSocketMessage(ToMessageType(opcode), new ReadOnlySequence<byte>(array, payloadStart, payloadLength));
        return true;
    }

    /// <summary>Brings <see cref="_buffer"/> up to what the array view took, and ends the view for this read.</summary>
    private void SyncBuffer()
    {
        if (_viewConsumed != 0)
        {
            _buffer = _buffer.Slice(_viewConsumed);
            _viewConsumed = 0;
        }

        _viewArray = null;
    }

    /// <summary>Starts the array view of a new read (see <see cref="TryTakeSmallFrame"/>).</summary>
    private void OpenView(in ReadOnlySequence<byte> buffer)
    {
        _viewConsumed = 0;
        if (MemoryMarshal.TryGetArray(buffer.First, out var segment) && segment.Array is not null)
        {
            _viewArray = segment.Array;
            _viewOffset = segment.Offset;
            _viewEnd = segment.Offset + segment.Count;
            _viewHasMoreSegments = !buffer.IsSingleSegment;
        }
        else
        {
            _viewArray = null;
        }
    }
}
