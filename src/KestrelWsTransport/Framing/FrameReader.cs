using System.Buffers;
using System.Buffers.Binary;
using System.Net.WebSockets;
using System.Runtime.InteropServices;

namespace KestrelWsTransport.Framing;

/// <summary>
/// Reads and validates frame headers sent by a client. Pure: no I/O, no state beyond what the caller passes.
/// </summary>
internal static class FrameReader
{
    /// <summary>
    /// Reads the header at the start of <paramref name="buffer"/> and checks it against RFC 6455 section 5
    /// for a server without extensions: reserved bits clear, a defined opcode, client frames masked,
    /// control frames unfragmented and at most 125 bytes, continuation only inside a fragmented message,
    /// no new data frame inside one, and the 64-bit length with its most significant bit clear.
    /// RSV1 is allowed, on the first frame of a data message only, when <paramref name="compressionNegotiated"/>.
    /// A payload over <paramref name="maxFramePayload"/> is refused with 1009 as soon as the length is known,
    /// before any of it is buffered.
    /// </summary>
    public static FrameReadStatus TryReadHeader(
        in ReadOnlySequence<byte> buffer,
        bool inFragmentedMessage,
        long maxFramePayload,
        out FrameHeader header,
        out WebSocketCloseStatus error,
        out string? errorReason,
        bool compressionNegotiated = false)
    {
        header = default;
        error = default;
        errorReason = null;

        if (buffer.Length < 2)
        {
            return FrameReadStatus.NeedMoreData;
        }

        Span<byte> scratch = stackalloc byte[FrameHeader.MaxLength];
        scoped ReadOnlySpan<byte> bytes;
        var first = buffer.FirstSpan;
        if (first.Length >= FrameHeader.MaxLength || first.Length == buffer.Length)
        {
            bytes = first;
        }
        else
        {
            // The header straddles segments: copy at most 14 bytes so the parse below sees them contiguous.
            var take = (int)Math.Min(buffer.Length, FrameHeader.MaxLength);
            buffer.Slice(0, take).CopyTo(scratch);
            bytes = scratch[..take];
        }

        var b0 = bytes[0];
        var b1 = bytes[1];
        var fin = (b0 & 0x80) != 0;
        var rsv = (byte)(b0 & 0x70);
        var opcode = (Opcode)(b0 & 0x0F);
        var masked = (b1 & 0x80) != 0;
        var length7 = b1 & 0x7F;

        // RSV1 means "compressed" once permessage-deflate is negotiated (RFC 7692 section 6), and only on the first
        // frame of a data message; RSV2 and RSV3 have no meaning here.
        if (rsv != 0 && (!compressionNegotiated || rsv != 0x40))
        {
            return Fail(WebSocketCloseStatus.ProtocolError, "Reserved bits set without a negotiated extension", out error, out errorReason);
        }

        if (rsv != 0 && (((byte)opcode & 0x8) != 0 || opcode == Opcode.Continuation))
        {
            return Fail(WebSocketCloseStatus.ProtocolError, "RSV1 on a control or continuation frame", out error, out errorReason);
        }

        if (!opcode.IsDefined())
        {
            return Fail(WebSocketCloseStatus.ProtocolError, "Reserved opcode", out error, out errorReason);
        }

        if (!masked)
        {
            return Fail(WebSocketCloseStatus.ProtocolError, "Client frames must be masked", out error, out errorReason);
        }

        if (opcode.IsControl())
        {
            if (!fin)
            {
                return Fail(WebSocketCloseStatus.ProtocolError, "Fragmented control frame", out error, out errorReason);
            }

            if (length7 > FrameHeader.MaxControlPayloadLength)
            {
                return Fail(WebSocketCloseStatus.ProtocolError, "Control frame payload over 125 bytes", out error, out errorReason);
            }
        }
        else if (opcode == Opcode.Continuation)
        {
            if (!inFragmentedMessage)
            {
                return Fail(WebSocketCloseStatus.ProtocolError, "Continuation frame without a message to continue", out error, out errorReason);
            }
        }
        else if (inFragmentedMessage)
        {
            return Fail(WebSocketCloseStatus.ProtocolError, "New data frame before the fragmented message ended", out error, out errorReason);
        }

        int lengthBytes = length7 switch { 126 => 2, 127 => 8, _ => 0 };
        var headerLength = 2 + lengthBytes + 4;
        if (bytes.Length < headerLength)
        {
            return FrameReadStatus.NeedMoreData;
        }

        long payloadLength = lengthBytes switch
        {
            2 => BinaryPrimitives.ReadUInt16BigEndian(bytes.Slice(2, 2)),
            8 => (long)BinaryPrimitives.ReadUInt64BigEndian(bytes.Slice(2, 8)),
            _ => length7,
        };

        if (payloadLength < 0)
        {
            return Fail(WebSocketCloseStatus.ProtocolError, "Payload length with the most significant bit set", out error, out errorReason);
        }

        if (payloadLength > maxFramePayload)
        {
            return Fail(WebSocketCloseStatus.MessageTooBig, "Frame too big", out error, out errorReason);
        }

        var maskKey = MemoryMarshal.Read<int>(bytes.Slice(2 + lengthBytes, 4));
        header = new FrameHeader(fin, rsv, opcode, masked, maskKey, payloadLength, headerLength);
        return FrameReadStatus.Header;
    }

    private static FrameReadStatus Fail(WebSocketCloseStatus status, string reason, out WebSocketCloseStatus error, out string? errorReason)
    {
        error = status;
        errorReason = reason;
        return FrameReadStatus.Error;
    }
}
