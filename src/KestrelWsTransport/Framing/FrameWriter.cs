using System.Buffers;
using System.Buffers.Binary;

namespace KestrelWsTransport.Framing;

/// <summary>Writes server frames: never masked (RFC 6455 section 5.1), so one encoded frame can go to many peers.</summary>
internal static class FrameWriter
{
    /// <summary>
    /// Writes a frame header into <paramref name="destination"/> (at least <see cref="FrameHeader.MaxLength"/> bytes)
    /// and returns its length.
    /// <code>
    ///  0                   1                   2                   3
    ///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    /// +-+-+-+-+-------+-+-------------+-------------------------------+
    /// |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
    /// |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
    /// |N|V|V|V|       |S|             |   (if payload len==126/127)   |
    /// | |1|2|3|       |K|             |                               |
    /// +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
    /// </code>
    /// </summary>
    public static int WriteHeader(Span<byte> destination, Opcode opcode, bool fin, long payloadLength, bool compressed = false)
    {
        destination[0] = (byte)((fin ? 0x80 : 0) | (compressed ? 0x40 : 0) | (byte)opcode);
        if (payloadLength <= 125)
        {
            destination[1] = (byte)payloadLength;
            return 2;
        }

        if (payloadLength <= ushort.MaxValue)
        {
            destination[1] = 126;
            BinaryPrimitives.WriteUInt16BigEndian(destination.Slice(2), (ushort)payloadLength);
            return 4;
        }

        destination[1] = 127;
        BinaryPrimitives.WriteUInt64BigEndian(destination.Slice(2), (ulong)payloadLength);
        return 10;
    }

    /// <summary>The header length <see cref="WriteHeader"/> will use for a payload of this size.</summary>
    public static int HeaderLength(long payloadLength) => payloadLength <= 125 ? 2 : payloadLength <= ushort.MaxValue ? 4 : 10;

    /// <summary>Writes a whole frame (header and payload) to <paramref name="output"/> without flushing.</summary>
    public static void WriteFrame(IBufferWriter<byte> output, Opcode opcode, bool fin, ReadOnlySpan<byte> payload, bool compressed = false)
    {
        var headerLength = HeaderLength(payload.Length);
        var span = output.GetSpan(headerLength + Math.Min(payload.Length, 4096));
        WriteHeader(span, opcode, fin, payload.Length, compressed);
        if (span.Length - headerLength >= payload.Length)
        {
            // Small frames: header and payload in one span, one Advance.
            payload.CopyTo(span.Slice(headerLength));
            output.Advance(headerLength + payload.Length);
            return;
        }

        output.Advance(headerLength);
        output.Write(payload);
    }

    /// <summary>Writes a whole frame whose payload is a sequence, without flushing.</summary>
    public static void WriteFrame(IBufferWriter<byte> output, Opcode opcode, bool fin, in ReadOnlySequence<byte> payload)
    {
        if (payload.IsSingleSegment)
        {
            WriteFrame(output, opcode, fin, payload.FirstSpan);
            return;
        }

        var span = output.GetSpan(FrameHeader.MaxLength);
        output.Advance(WriteHeader(span, opcode, fin, payload.Length));
        foreach (var segment in payload)
        {
            output.Write(segment.Span);
        }
    }
}
