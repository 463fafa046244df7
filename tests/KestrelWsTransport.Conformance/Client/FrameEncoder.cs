using System.Buffers.Binary;

namespace KestrelWsTransport.Conformance.Client;

/// <summary>
/// Writes client frames byte by byte (RFC 6455 section 5.2) with whatever the case asks for, legal or not:
/// any opcode, any RSV bits, FIN clear on control frames, control payloads over 125 bytes.
/// </summary>
internal static class FrameEncoder
{
    /// <summary>Opcodes by name, for readability of the case tables.</summary>
    public const int Continuation = 0x0;
    public const int Text = 0x1;
    public const int Binary = 0x2;
    public const int Close = 0x8;
    public const int Ping = 0x9;
    public const int Pong = 0xA;

    /// <summary>Encodes one frame. <paramref name="maskKey"/> null sends it unmasked.</summary>
    public static byte[] Encode(int opcode, ReadOnlySpan<byte> payload, bool fin, int rsv, byte[]? maskKey)
    {
        var header = Header(opcode, payload.Length, fin, rsv, maskKey);
        var frame = new byte[header.Length + payload.Length];
        header.CopyTo(frame, 0);
        payload.CopyTo(frame.AsSpan(header.Length));
        if (maskKey is not null)
        {
            ApplyMask(frame.AsSpan(header.Length), maskKey, 0);
        }

        return frame;
    }

    /// <summary>The header alone (flags, length, masking key) of a frame whose payload is written later in pieces.</summary>
    public static byte[] Header(int opcode, long payloadLength, bool fin, int rsv, byte[]? maskKey)
    {
        var lengthBytes = payloadLength switch { <= 125 => 0, <= ushort.MaxValue => 2, _ => 8 };
        var header = new byte[2 + lengthBytes + (maskKey is null ? 0 : 4)];
        header[0] = (byte)((fin ? 0x80 : 0) | ((rsv & 0x7) << 4) | (opcode & 0xF));
        var maskBit = maskKey is null ? 0 : 0x80;
        switch (lengthBytes)
        {
            case 0:
                header[1] = (byte)(maskBit | (int)payloadLength);
                break;
            case 2:
                header[1] = (byte)(maskBit | 126);
                BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(2), (ushort)payloadLength);
                break;
            default:
                header[1] = (byte)(maskBit | 127);
                BinaryPrimitives.WriteUInt64BigEndian(header.AsSpan(2), (ulong)payloadLength);
                break;
        }

        maskKey?.CopyTo(header, 2 + lengthBytes);
        return header;
    }

    /// <summary>XORs <paramref name="data"/> in place with the key, starting at key position <paramref name="offset"/>.</summary>
    public static void ApplyMask(Span<byte> data, byte[] maskKey, long offset)
    {
        for (var i = 0; i < data.Length; i++)
        {
            data[i] ^= maskKey[(int)((offset + i) & 3)];
        }
    }

    /// <summary>
    /// Autobahn's <c>payload_len</c>: the payload pattern repeated (and cut) to exactly <paramref name="length"/> bytes.
    /// </summary>
    public static byte[] Repeat(ReadOnlySpan<byte> pattern, int length)
    {
        var result = new byte[length];
        if (pattern.IsEmpty)
        {
            return result;
        }

        for (var offset = 0; offset < length; offset += pattern.Length)
        {
            pattern[..Math.Min(pattern.Length, length - offset)].CopyTo(result.AsSpan(offset));
        }

        return result;
    }
}
