namespace KestrelWsTransport.Framing;

/// <summary>The fixed part of one frame as it was on the wire (RFC 6455 section 5.2).</summary>
internal readonly struct FrameHeader
{
    /// <summary>2 bytes of flags and length, 8 bytes of extended length, 4 bytes of masking key.</summary>
    public const int MaxLength = 14;

    /// <summary>Control frames carry at most 125 bytes of payload (RFC 6455 section 5.5).</summary>
    public const int MaxControlPayloadLength = 125;

    public FrameHeader(bool fin, byte reservedBits, Opcode opcode, bool masked, int maskKey, long payloadLength, int headerLength)
    {
        Fin = fin;
        ReservedBits = reservedBits;
        Opcode = opcode;
        Masked = masked;
        MaskKey = maskKey;
        PayloadLength = payloadLength;
        HeaderLength = headerLength;
    }

    public bool Fin { get; }

    /// <summary>RSV1-3 as the bits 0x70 of the first byte.</summary>
    public byte ReservedBits { get; }

    public Opcode Opcode { get; }

    public bool Masked { get; }

    /// <summary>The four key bytes in wire order, read as a machine-order int (see <see cref="Mask"/>).</summary>
    public int MaskKey { get; }

    public long PayloadLength { get; }

    /// <summary>Bytes before the payload: 2 to 14.</summary>
    public int HeaderLength { get; }

    public long FrameLength => HeaderLength + PayloadLength;
}
