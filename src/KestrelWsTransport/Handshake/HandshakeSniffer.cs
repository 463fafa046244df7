using System.Buffers;

namespace KestrelWsTransport.Handshake;

/// <summary>
/// Decides, from the first bytes of a connection, whether it is a WebSocket upgrade for a mapped path. Pure and
/// incremental: call <see cref="Sniff"/> again with the grown buffer after each read; it never consumes anything and
/// resumes its searches where the previous call stopped, so a head that trickles in byte by byte costs O(n).
/// </summary>
internal struct HandshakeSniffer
{
    private static ReadOnlySpan<byte> Get => "GET "u8;

    private long _lineScanned;
    private long _headScanned;
    private long _requestLineLength;
    private WebSocketEndpoint? _endpoint;
    private string? _query;

    public SniffOutcome Sniff(in ReadOnlySequence<byte> buffer, WebSocketTransportOptions options, ref HandshakeResult result)
    {
        var limit = options.MaxRequestHeadBytes;

        if (_endpoint is null)
        {
            // Stage 1: the method. Anything that is not "GET " is not ours (h2c preface, TLS records, POST, junk).
            var prefixLength = (int)Math.Min(buffer.Length, Get.Length);
            Span<byte> prefix = stackalloc byte[4];
            buffer.Slice(0, prefixLength).CopyTo(prefix);
            if (!prefix[..prefixLength].SequenceEqual(Get[..prefixLength]))
            {
                return Pass(ref result, PassReason.NotGet);
            }

            // Stage 2: the request line.
            var searchFrom = Math.Min(_lineScanned, buffer.Length);
            var lineEnd = IndexOf(buffer.Slice(searchFrom), (byte)'\n');
            if (lineEnd < 0)
            {
                _lineScanned = buffer.Length;
                return buffer.Length >= limit ? Pass(ref result, PassReason.NotHttp11) : SniffOutcome.NeedMoreData;
            }

            var lineLength = searchFrom + lineEnd + 1;
            if (lineLength > limit)
            {
                return Pass(ref result, PassReason.NotHttp11);
            }

            var outcome = ParseRequestLine(buffer.Slice(0, lineLength), options, ref result);
            if (outcome != SniffOutcome.NeedMoreData)
            {
                return outcome;
            }

            _requestLineLength = lineLength;
            // The head ends with CRLF CRLF; the search may start at the request line's CRLF.
            _headScanned = lineLength - 2;
        }

        // Stage 3: the end of the head, within the limit.
        result.Endpoint = _endpoint;
        var from = Math.Max(0, Math.Min(_headScanned, buffer.Length));
        var end = IndexOfHeadEnd(buffer.Slice(from));
        if (end < 0)
        {
            _headScanned = Math.Max(from, buffer.Length - 3);
            if (buffer.Length > limit)
            {
                return Reject(ref result, HandshakeRejection.HeadTooLarge);
            }

            return SniffOutcome.NeedMoreData;
        }

        var headLength = from + end + 4;
        if (headLength > limit)
        {
            return Reject(ref result, HandshakeRejection.HeadTooLarge);
        }

        result.QueryString = _query;
        result.HeadLength = headLength;
        var headers = buffer.Slice(_requestLineLength, headLength - _requestLineLength - 2);
        return HeaderValidator.Validate(headers, _endpoint!, options, ref result);
    }

    private SniffOutcome ParseRequestLine(ReadOnlySequence<byte> line, WebSocketTransportOptions options, ref HandshakeResult result)
    {
        byte[]? rented = null;
        try
        {
            ReadOnlySpan<byte> span;
            if (line.IsSingleSegment)
            {
                span = line.FirstSpan;
            }
            else
            {
                rented = ArrayPool<byte>.Shared.Rent((int)line.Length);
                line.CopyTo(rented);
                span = rented.AsSpan(0, (int)line.Length);
            }

            // "GET " target " HTTP/1.1\r\n"
            if (span.Length < 4 + 1 + 11 || span[^2] != '\r')
            {
                return Pass(ref result, PassReason.NotHttp11);
            }

            var rest = span[4..^2];
            var space = rest.IndexOf((byte)' ');
            if (space <= 0 || rest[0] != '/')
            {
                return Pass(ref result, PassReason.NotHttp11);
            }

            var target = rest[..space];
            // RFC 9112 section 3.2: a request target is visible ASCII. Anything else (NUL, DEL, raw UTF-8) is for HTTP
            // to refuse with 400, never to reach a handler's query string.
            if (target.ContainsAnyExceptInRange((byte)0x21, (byte)0x7E))
            {
                return Pass(ref result, PassReason.NotHttp11);
            }

            var version = rest[(space + 1)..];
            if (!version.SequenceEqual("HTTP/1.1"u8))
            {
                return Pass(ref result, PassReason.NotHttp11);
            }

            var question = target.IndexOf((byte)'?');
            var path = question < 0 ? target : target[..question];
            var endpoint = options.FindEndpoint(path);
            if (endpoint is null)
            {
                return Pass(ref result, PassReason.PathNotMapped);
            }

            _endpoint = endpoint;
            if (question >= 0 && question + 1 < target.Length)
            {
                _query = System.Text.Encoding.UTF8.GetString(target[(question + 1)..]);
            }

            return SniffOutcome.NeedMoreData;
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    private static long IndexOf(in ReadOnlySequence<byte> buffer, byte value)
    {
        var position = buffer.PositionOf(value);
        return position is null ? -1 : buffer.Slice(0, position.Value).Length;
    }

    /// <summary>Offset of CR LF CR LF in <paramref name="buffer"/>, or -1.</summary>
    private static long IndexOfHeadEnd(in ReadOnlySequence<byte> buffer)
    {
        var reader = new SequenceReader<byte>(buffer);
        while (reader.TryAdvanceTo((byte)'\r', advancePastDelimiter: false))
        {
            if (reader.IsNext("\r\n\r\n"u8))
            {
                return reader.Consumed;
            }

            reader.Advance(1);
        }

        return -1;
    }

    private static SniffOutcome Pass(ref HandshakeResult result, PassReason reason)
    {
        result.PassReason = reason;
        return SniffOutcome.PassThrough;
    }

    private static SniffOutcome Reject(ref HandshakeResult result, HandshakeRejection rejection)
    {
        result.Rejection = rejection;
        return SniffOutcome.Reject;
    }
}
