using System.Buffers;
using System.Net.WebSockets;
using KestrelWsTransport.Compression;
using KestrelWsTransport.Framing;

namespace KestrelWsTransport;

/// <summary>
/// A message encoded once, as whole frames, for sending to many connections (broadcast). Server frames are never
/// masked, so the same bytes go to every peer. With compression, the message is also deflated once without context;
/// connections that negotiated <c>server_no_context_takeover</c> with a large enough window get the compressed frame,
/// the others get the plain one (a compressor that keeps context must see every message it sends).
/// </summary>
public sealed class WebSocketPreparedMessage
{
    private readonly byte[] _plainFrame;
    private readonly byte[]? _compressedFrame;
    private readonly int _windowBits;

    private WebSocketPreparedMessage(WebSocketMessageType messageType, long payloadLength, byte[] plainFrame, byte[]? compressedFrame, int windowBits)
    {
        MessageType = messageType;
        PayloadLength = payloadLength;
        _plainFrame = plainFrame;
        _compressedFrame = compressedFrame;
        _windowBits = windowBits;
    }

    /// <summary>Text or Binary.</summary>
    public WebSocketMessageType MessageType { get; }

    /// <summary>The uncompressed payload length.</summary>
    public long PayloadLength { get; }

    /// <summary>Whether a compressed form was made (compression on, zlib present, payload over the threshold).</summary>
    public bool HasCompressedForm => _compressedFrame is not null;

    /// <summary>
    /// Encodes <paramref name="payload"/>. When <paramref name="compression"/> is enabled, a compressed form is made as
    /// well, at its level and <see cref="WebSocketCompressionOptions.ServerMaxWindowBits"/>.
    /// </summary>
    public static WebSocketPreparedMessage Create(ReadOnlySpan<byte> payload, WebSocketMessageType messageType, WebSocketCompressionOptions? compression = null)
    {
        if (messageType is not (WebSocketMessageType.Text or WebSocketMessageType.Binary))
        {
            throw new ArgumentOutOfRangeException(nameof(messageType));
        }

        var opcode = messageType == WebSocketMessageType.Text ? Opcode.Text : Opcode.Binary;
        var plain = Encode(opcode, payload, compressed: false);
        byte[]? compressedFrame = null;
        var windowBits = 15;
        if (compression is { Enabled: true } && payload.Length >= compression.MinMessageBytes && ZLibNative.IsAvailable)
        {
            windowBits = compression.ServerMaxWindowBits;
            var deflater = ZLibCodecPool.RentDeflater(compression.Level, windowBits, compression.MemoryLevel);
            byte[]? output = null;
            try
            {
                var length = deflater.Compress(new ReadOnlySequence<byte>(payload.ToArray()), stripTail: true, ref output);
                compressedFrame = Encode(opcode, output.AsSpan(0, length), compressed: true);
            }
            finally
            {
                ZLibCodecPool.Return(deflater, compression.Level, windowBits, compression.MemoryLevel);
                if (output is not null)
                {
                    ArrayPool<byte>.Shared.Return(output);
                }
            }
        }

        return new WebSocketPreparedMessage(messageType, payload.Length, plain, compressedFrame, windowBits);
    }

    /// <summary>The frame to write to a connection with these parameters (null parameters: uncompressed connection).</summary>
    internal ReadOnlyMemory<byte> FrameFor(DeflateParameters? parameters) =>
        _compressedFrame is not null && parameters is { ServerNoContextTakeover: true } p && p.ServerMaxWindowBits >= _windowBits
            ? _compressedFrame
            : _plainFrame;

    private static byte[] Encode(Opcode opcode, ReadOnlySpan<byte> payload, bool compressed)
    {
        var headerLength = FrameWriter.HeaderLength(payload.Length);
        var frame = new byte[headerLength + payload.Length];
        FrameWriter.WriteHeader(frame, opcode, fin: true, payload.Length, compressed);
        payload.CopyTo(frame.AsSpan(headerLength));
        return frame;
    }
}
