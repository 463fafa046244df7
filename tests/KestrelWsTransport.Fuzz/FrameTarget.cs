using System.Buffers;
using System.Net.WebSockets;
using KestrelWsTransport.Framing;

namespace KestrelWsTransport.Fuzz;

/// <summary>
/// <see cref="FrameReader.TryReadHeader"/> against <see cref="Reference"/>, a byte-by-byte decoder written from
/// RFC 6455 section 5.2 (and RFC 7692 section 6 for RSV1), for every combination of inFragmentedMessage and
/// compressionNegotiated, several frame limits, and the input as one segment or cut into input-derived segments.
/// </summary>
internal static class FrameTarget
{
    private static readonly long[] Limits = [0, 1, 125, 126, 65535, 65536, 16 * 1024 * 1024, long.MaxValue];

    public static void Run(byte[] input)
    {
        var hash = Segments.Hash(input);
        var sequences = new List<(string Name, ReadOnlySequence<byte> Buffer)>
        {
            ("single/00", Segments.Single(input, 0x00)),
            ("single/ff", Segments.Single(input, 0xFF)),
            ("split", Segments.Build(input, Segments.Cuts(input.Length, hash, 6), 0xA5)),
        };
        if (input.Length <= 64)
        {
            // Every byte its own segment: the header always straddles.
            sequences.Add(("bytewise", Segments.Build(input, Enumerable.Range(1, Math.Max(0, input.Length - 1)).ToArray(), 0x5A)));
        }

        // One limit from the input too, so the fuzzer can steer the 1009 boundary.
        var limits = Limits.Append((long)(hash % 70000)).ToArray();
        foreach (var fragmented in new[] { false, true })
        {
            foreach (var compression in new[] { false, true })
            {
                foreach (var limit in limits)
                {
                    var expected = Reference(input, fragmented, limit, compression);
                    foreach (var (name, buffer) in sequences)
                    {
                        var status = FrameReader.TryReadHeader(buffer, fragmented, limit, out var header, out var error, out var reason, compression);
                        var context = $"[{name} fragmented={fragmented} compression={compression} limit={limit}]";
                        Check.Equal(expected.Status, status, $"status {context}");
                        if (status == FrameReadStatus.Error)
                        {
                            Check.Equal(expected.Error, error, $"close status {context}");
                            Check.That(!string.IsNullOrEmpty(reason), $"error without a reason {context}");
                            Check.That(System.Text.Encoding.UTF8.GetByteCount(reason!) <= 123, $"reason longer than a close frame allows {context}");
                        }
                        else if (status == FrameReadStatus.Header)
                        {
                            Check.Equal(expected.Fin, header.Fin, $"fin {context}");
                            Check.Equal(expected.Rsv, header.ReservedBits, $"rsv {context}");
                            Check.Equal(expected.Opcode, (byte)header.Opcode, $"opcode {context}");
                            Check.Equal(true, header.Masked, $"masked {context}");
                            Check.Equal(expected.PayloadLength, header.PayloadLength, $"payload length {context}");
                            Check.Equal(expected.HeaderLength, header.HeaderLength, $"header length {context}");
                            Check.Equal(expected.MaskKey, BitConverter.ToUInt32(BitConverter.GetBytes(header.MaskKey)), $"mask key {context}");
                            Check.That(header.HeaderLength <= input.Length, $"header longer than the data {context}");
                        }
                    }
                }
            }
        }
    }

    internal readonly record struct Expected(FrameReadStatus Status, WebSocketCloseStatus Error, bool Fin, byte Rsv, byte Opcode, long PayloadLength, int HeaderLength, uint MaskKey);

    /// <summary>RFC 6455 section 5.2, one byte at a time. MaskKey is the four key bytes in wire order, read little-endian.</summary>
    internal static Expected Reference(byte[] data, bool inFragmented, long maxPayload, bool compression)
    {
        Expected Fail(WebSocketCloseStatus status) => new(FrameReadStatus.Error, status, false, 0, 0, 0, 0, 0);
        var needMore = new Expected(FrameReadStatus.NeedMoreData, 0, false, 0, 0, 0, 0, 0);

        if (data.Length < 2)
        {
            return needMore;
        }

        int b0 = data[0], b1 = data[1];
        var fin = b0 >= 128;
        var rsv1 = (b0 >> 6 & 1) == 1;
        var rsv2 = (b0 >> 5 & 1) == 1;
        var rsv3 = (b0 >> 4 & 1) == 1;
        var opcode = b0 % 16;
        var mask = b1 >= 128;
        var len7 = b1 % 128;
        var isControl = opcode >= 8;
        var isData = opcode == 1 || opcode == 2;
        var isContinuation = opcode == 0;

        // RSV2/RSV3: no extension defines them. RSV1: permessage-deflate's "compressed" bit, first frame of a data message only.
        if (rsv2 || rsv3)
        {
            return Fail(WebSocketCloseStatus.ProtocolError);
        }

        if (rsv1 && !(compression && isData))
        {
            return Fail(WebSocketCloseStatus.ProtocolError);
        }

        if (!(isContinuation || isData || opcode == 8 || opcode == 9 || opcode == 10))
        {
            return Fail(WebSocketCloseStatus.ProtocolError);
        }

        // Section 5.1: a server MUST close on an unmasked client frame.
        if (!mask)
        {
            return Fail(WebSocketCloseStatus.ProtocolError);
        }

        // Section 5.5: control frames are not fragmented and carry at most 125 bytes.
        if (isControl && (!fin || len7 > 125))
        {
            return Fail(WebSocketCloseStatus.ProtocolError);
        }

        // Section 5.4: continuation only inside a fragmented message, no new data frame inside one.
        if (isContinuation && !inFragmented)
        {
            return Fail(WebSocketCloseStatus.ProtocolError);
        }

        if (isData && inFragmented)
        {
            return Fail(WebSocketCloseStatus.ProtocolError);
        }

        var extended = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
        var headerLength = 2 + extended + 4;
        if (data.Length < headerLength)
        {
            return needMore;
        }

        ulong length = (ulong)len7;
        if (extended > 0)
        {
            length = 0;
            for (var i = 0; i < extended; i++)
            {
                length = length * 256 + data[2 + i];
            }
        }

        if (length >= 1UL << 63)
        {
            return Fail(WebSocketCloseStatus.ProtocolError);
        }

        if ((long)length > maxPayload)
        {
            return Fail(WebSocketCloseStatus.MessageTooBig);
        }

        var k = 2 + extended;
        var key = (uint)(data[k] | data[k + 1] << 8 | data[k + 2] << 16 | data[k + 3] << 24);
        return new Expected(FrameReadStatus.Header, 0, fin, (byte)(b0 & 0x70), (byte)opcode, (long)length, headerLength, key);
    }
}
