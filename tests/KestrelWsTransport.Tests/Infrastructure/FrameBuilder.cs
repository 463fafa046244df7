using System.Buffers.Binary;
using System.Text;

namespace KestrelWsTransport.Tests.Infrastructure;

/// <summary>How the payload length is written in a frame header.</summary>
public enum LengthEncoding
{
    /// <summary>The shortest form RFC 6455 section 5.2 asks for: 7 bits up to 125, 16 bits up to 65535, else 64 bits.</summary>
    Minimal,

    /// <summary>The length in the 7-bit field itself (only for 0..125).</summary>
    Bits7,

    /// <summary>126 in the 7-bit field, then a 16-bit big-endian length (also for lengths that would fit in 7 bits).</summary>
    Bits16,

    /// <summary>127 in the 7-bit field, then a 64-bit big-endian length (also for lengths that would fit in fewer).</summary>
    Bits64,
}

/// <summary>
/// Builds client frames byte by byte, independently of the library's own writer, so the reader is tested against the
/// RFC and not against itself. Anything can be set, including what a well-behaved client never sends (reserved bits,
/// reserved opcodes, unmasked frames, non-minimal or impossible lengths).
/// <code>
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-------+-+-------------+-------------------------------+
/// |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
/// |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
/// |N|V|V|V|       |S|             |   (if payload len==126/127)   |
/// | |1|2|3|       |K|             |                               |
/// +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
/// |     Extended payload length continued, if payload len == 127  |
/// + - - - - - - - - - - - - - - - +-------------------------------+
/// |                               |Masking-key, if MASK set to 1  |
/// +-------------------------------+-------------------------------+
/// | Masking-key (continued)       |          Payload Data         |
/// +-------------------------------- - - - - - - - - - - - - - - - +
/// </code>
/// Byte 0: FIN is bit 0x80, RSV1 0x40, RSV2 0x20, RSV3 0x10, the opcode the low nibble 0x0F.
/// Byte 1: MASK is bit 0x80, the 7-bit length the low bits 0x7F (126: a 16-bit length follows, 127: a 64-bit one).
/// Then the extended length (network byte order), then the 4-byte masking key when MASK is set, then the payload,
/// where payload byte i is XORed with key byte (i mod 4) (RFC 6455 section 5.3).
/// </summary>
internal static class FrameBuilder
{
    public const int Continuation = 0x0;
    public const int Text = 0x1;
    public const int Binary = 0x2;
    public const int Close = 0x8;
    public const int Ping = 0x9;
    public const int Pong = 0xA;

    /// <summary>The masking key of the example in RFC 6455 section 5.7.</summary>
    public static readonly byte[] DefaultMaskKey = [0x37, 0xFA, 0x21, 0x3D];

    /// <summary>A whole client frame.</summary>
    /// <param name="opcode">0x0-0xF; reserved values are allowed on purpose.</param>
    /// <param name="payload">The unmasked payload.</param>
    /// <param name="fin">The FIN bit.</param>
    /// <param name="rsv">RSV1-3 as a 3-bit number (RSV1 = 4, RSV2 = 2, RSV3 = 1).</param>
    /// <param name="masked">False leaves the frame unmasked, which a server must refuse.</param>
    /// <param name="maskKey">The 4 key bytes; <see cref="DefaultMaskKey"/> when null.</param>
    /// <param name="length">How the length is encoded.</param>
    public static byte[] Build(
        int opcode,
        ReadOnlySpan<byte> payload,
        bool fin = true,
        int rsv = 0,
        bool masked = true,
        byte[]? maskKey = null,
        LengthEncoding length = LengthEncoding.Minimal)
    {
        var header = Header(opcode, payload.Length, fin, rsv, masked, maskKey, length);
        var frame = new byte[header.Length + payload.Length];
        header.CopyTo(frame, 0);
        var key = maskKey ?? DefaultMaskKey;
        for (var i = 0; i < payload.Length; i++)
        {
            frame[header.Length + i] = masked ? (byte)(payload[i] ^ key[i % 4]) : payload[i];
        }

        return frame;
    }

    /// <summary>
    /// Only the header of a frame announcing <paramref name="payloadLength"/> bytes (which may be more than will ever
    /// be sent, or, with <see cref="LengthEncoding.Bits64"/>, a value with the most significant bit set).
    /// </summary>
    public static byte[] HeaderRaw(
        int opcode,
        ulong payloadLength,
        bool fin = true,
        int rsv = 0,
        bool masked = true,
        byte[]? maskKey = null,
        LengthEncoding length = LengthEncoding.Minimal)
    {
        if (opcode is < 0 or > 0xF)
        {
            throw new ArgumentOutOfRangeException(nameof(opcode));
        }

        if (rsv is < 0 or > 7)
        {
            throw new ArgumentOutOfRangeException(nameof(rsv));
        }

        if (length == LengthEncoding.Minimal)
        {
            length = payloadLength <= 125 ? LengthEncoding.Bits7 : payloadLength <= ushort.MaxValue ? LengthEncoding.Bits16 : LengthEncoding.Bits64;
        }

        var extended = length switch
        {
            LengthEncoding.Bits7 => 0,
            LengthEncoding.Bits16 => 2,
            _ => 8,
        };
        var header = new byte[2 + extended + (masked ? 4 : 0)];

        // Byte 0: FIN (bit 7), RSV1-3 (bits 6-4), opcode (bits 3-0).
        header[0] = (byte)((fin ? 0x80 : 0) | (rsv << 4) | opcode);

        // Byte 1: MASK (bit 7), then the 7-bit length or the marker 126/127 for an extended length.
        var mask = masked ? 0x80 : 0;
        switch (length)
        {
            case LengthEncoding.Bits7:
                if (payloadLength > 125)
                {
                    throw new ArgumentOutOfRangeException(nameof(payloadLength), "A 7-bit length holds at most 125.");
                }

                header[1] = (byte)(mask | (int)payloadLength);
                break;
            case LengthEncoding.Bits16:
                if (payloadLength > ushort.MaxValue)
                {
                    throw new ArgumentOutOfRangeException(nameof(payloadLength), "A 16-bit length holds at most 65535.");
                }

                header[1] = (byte)(mask | 126);
                BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(2, 2), (ushort)payloadLength);
                break;
            default:
                header[1] = (byte)(mask | 127);
                BinaryPrimitives.WriteUInt64BigEndian(header.AsSpan(2, 8), payloadLength);
                break;
        }

        // Then the masking key, in the order it is applied: key[0] masks payload byte 0.
        if (masked)
        {
            (maskKey ?? DefaultMaskKey).AsSpan(0, 4).CopyTo(header.AsSpan(2 + extended));
        }

        return header;
    }

    /// <summary>Only the header of a frame announcing <paramref name="payloadLength"/> bytes (see <see cref="HeaderRaw"/>).</summary>
    public static byte[] Header(int opcode, long payloadLength, bool fin = true, int rsv = 0, bool masked = true, byte[]? maskKey = null, LengthEncoding length = LengthEncoding.Minimal)
        => HeaderRaw(opcode, checked((ulong)payloadLength), fin, rsv, masked, maskKey, length);

    public static byte[] TextFrame(string text, bool fin = true) => Build(Text, Encoding.UTF8.GetBytes(text), fin);

    public static byte[] BinaryFrame(byte[] payload, bool fin = true) => Build(Binary, payload, fin);

    public static byte[] PingFrame(byte[] payload) => Build(Ping, payload);

    public static byte[] PongFrame(byte[] payload) => Build(Pong, payload);

    /// <summary>A close frame: the 2-byte code (network order) then the UTF-8 reason.</summary>
    public static byte[] CloseFrame(int code, string? reason = null)
    {
        var reasonBytes = reason is null ? [] : Encoding.UTF8.GetBytes(reason);
        var payload = new byte[2 + reasonBytes.Length];
        BinaryPrimitives.WriteUInt16BigEndian(payload, (ushort)code);
        reasonBytes.CopyTo(payload, 2);
        return Build(Close, payload);
    }

    /// <summary>Joins frames (or any byte arrays) into one buffer, as if they arrived in one read.</summary>
    public static byte[] Concat(params byte[][] parts)
    {
        var result = new byte[parts.Sum(p => p.Length)];
        var offset = 0;
        foreach (var part in parts)
        {
            part.CopyTo(result, offset);
            offset += part.Length;
        }

        return result;
    }
}
