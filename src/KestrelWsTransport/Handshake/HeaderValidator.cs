using System.Buffers;
using System.Text;
using KestrelWsTransport.Compression;

namespace KestrelWsTransport.Handshake;

/// <summary>
/// Checks the header block of an upgrade request against RFC 6455 section 4.2.1 and the endpoint's policy,
/// reading each line where it lies. Strings are made only for the query, the chosen subprotocol (a configured
/// string, so none) and headers the endpoint asked to capture.
/// </summary>
internal static class HeaderValidator
{
    /// <summary>Validates the header block; <paramref name="headers"/> holds the header lines, each ending in CRLF, without the final empty line.</summary>
    public static SniffOutcome Validate(in ReadOnlySequence<byte> headers, WebSocketEndpoint endpoint, WebSocketTransportOptions options, ref HandshakeResult result)
    {
        var state = new State
        {
            AllowedOrigins = endpoint.Options.AllowedOrigins ?? options.AllowedOrigins,
            SubProtocols = endpoint.Options.SubProtocols ?? options.SubProtocols,
            Captured = endpoint.Options.CapturedHeaders,
            Compression = endpoint.Options.Compression ?? options.Compression,
            ProtocolIndex = int.MaxValue,
        };
        state.CaptureAll = state.Captured.Contains("*");

        var reader = new SequenceReader<byte>(headers);
        while (!reader.End)
        {
            if (!reader.TryReadTo(out ReadOnlySequence<byte> line, (byte)'\n'))
            {
                state.Malformed = true;
                break;
            }

            if (line.IsSingleSegment)
            {
                ParseLine(line.FirstSpan, ref state, ref result);
            }
            else
            {
                var rented = ArrayPool<byte>.Shared.Rent((int)line.Length);
                line.CopyTo(rented);
                ParseLine(rented.AsSpan(0, (int)line.Length), ref state, ref result);
                ArrayPool<byte>.Shared.Return(rented);
            }
        }

        if (!state.UpgradeWebSocket)
        {
            // A plain GET on a mapped path: HTTP may well serve it (or answer 404 itself).
            result.PassReason = PassReason.NotUpgrade;
            return SniffOutcome.PassThrough;
        }

        var rejection =
            state.Malformed ? HandshakeRejection.MalformedHeader :
            state.HostCount != 1 ? HandshakeRejection.MissingHost :
            !state.ConnectionUpgrade ? HandshakeRejection.MissingConnectionUpgrade :
            state.VersionCount == 0 ? HandshakeRejection.MissingVersion :
            !state.Version13 ? HandshakeRejection.UnsupportedVersion :
            state.KeyCount != 1 || !state.KeyValid ? HandshakeRejection.InvalidKey :
            state.OriginRefused ? HandshakeRejection.OriginNotAllowed :
            HandshakeRejection.None;

        if (rejection != HandshakeRejection.None)
        {
            result.Rejection = rejection;
            return SniffOutcome.Reject;
        }

        result.SubProtocol = state.ProtocolIndex == int.MaxValue ? null : state.SubProtocols[state.ProtocolIndex];
        return SniffOutcome.Upgrade;
    }

    private static void ParseLine(ReadOnlySpan<byte> line, ref State state, ref HandshakeResult result)
    {
        // field-name ":" OWS field-value OWS CRLF (RFC 9112 section 5); no whitespace before the colon.
        // The line arrives without its LF (the delimiter it was cut at), so it must end in CR.
        if (line.Length < 1 || line[^1] != '\r')
        {
            state.Malformed = true;
            return;
        }

        line = line[..^1];

        // RFC 9110 section 5.5 and RFC 9112 section 2.2: no bare CR or NUL in a field line.
        if (line.IndexOfAny((byte)'\r', (byte)0) >= 0)
        {
            state.Malformed = true;
            return;
        }

        var colon = line.IndexOf((byte)':');
        if (colon <= 0 || line[colon - 1] is (byte)' ' or (byte)'\t' || line[0] is (byte)' ' or (byte)'\t')
        {
            state.Malformed = true;
            return;
        }

        var name = line[..colon];
        if (name.IndexOfAnyExcept(TokenChars) >= 0)
        {
            state.Malformed = true;
            return;
        }

        var value = Trim(line[(colon + 1)..]);

        if (state.CaptureAll || (state.Captured.Count > 0 && IsCaptured(name, state.Captured)))
        {
            (result.CapturedHeaders ??= new()).Add(new(Encoding.ASCII.GetString(name), Encoding.UTF8.GetString(value)));
        }

        switch (name.Length)
        {
            case 4 when Ascii.EqualsIgnoreCase(name, "Host"u8):
                state.HostCount++;
                break;
            case 6 when Ascii.EqualsIgnoreCase(name, "Origin"u8):
                if (state.AllowedOrigins.Count > 0 && !IsAllowedOrigin(value, state.AllowedOrigins))
                {
                    state.OriginRefused = true;
                }
                break;
            case 7 when Ascii.EqualsIgnoreCase(name, "Upgrade"u8):
                state.UpgradeWebSocket |= ContainsToken(value, "websocket"u8);
                break;
            case 10 when Ascii.EqualsIgnoreCase(name, "Connection"u8):
                state.ConnectionUpgrade |= ContainsToken(value, "upgrade"u8);
                break;
            case 17 when Ascii.EqualsIgnoreCase(name, "Sec-WebSocket-Key"u8):
                state.KeyCount++;
                state.KeyValid = WebSocketAccept.TryCompute(value, result.Accept);
                break;
            case 21 when Ascii.EqualsIgnoreCase(name, "Sec-WebSocket-Version"u8):
                state.VersionCount++;
                state.Version13 = value.SequenceEqual("13"u8) && state.VersionCount == 1;
                break;
            case 24 when Ascii.EqualsIgnoreCase(name, "Sec-WebSocket-Extensions"u8):
                if (result.Deflate is null && state.Compression is { Enabled: true } compression && ZLibNative.IsAvailable
                    && DeflateNegotiation.TryNegotiate(value, compression, out var deflate))
                {
                    result.Deflate = deflate;
                }
                break;
            case 22 when Ascii.EqualsIgnoreCase(name, "Sec-WebSocket-Protocol"u8):
                state.ProtocolIndex = ChooseProtocol(value, state.SubProtocols, state.ProtocolIndex);
                break;
        }
    }

    /// <summary>
    /// Server preference: of the tokens offered in <paramref name="value"/>, keeps the one that comes first in
    /// <paramref name="protocols"/>. Returns the better of that index and <paramref name="bestSoFar"/>
    /// (<see cref="int.MaxValue"/> for none), so several header lines can be folded in.
    /// </summary>
    internal static int ChooseProtocol(ReadOnlySpan<byte> value, IList<string> protocols, int bestSoFar)
    {
        foreach (var range in value.Split((byte)','))
        {
            var token = Trim(value[range]);
            for (var i = 0; i < protocols.Count && i < bestSoFar; i++)
            {
                if (Ascii.Equals(token, protocols[i]))
                {
                    bestSoFar = i;
                    break;
                }
            }
        }

        return bestSoFar;
    }

    internal static bool ContainsToken(ReadOnlySpan<byte> value, ReadOnlySpan<byte> token)
    {
        foreach (var range in value.Split((byte)','))
        {
            if (Ascii.EqualsIgnoreCase(Trim(value[range]), token))
            {
                return true;
            }
        }

        return false;
    }

    internal static bool IsAllowedOrigin(ReadOnlySpan<byte> origin, IList<string> allowed)
    {
        foreach (var candidate in allowed)
        {
            if (candidate == "*" || Ascii.EqualsIgnoreCase(origin, candidate))
            {
                return true;
            }
        }

        return false;
    }

    private static bool IsCaptured(ReadOnlySpan<byte> name, ISet<string> captured)
    {
        foreach (var candidate in captured)
        {
            if (Ascii.EqualsIgnoreCase(name, candidate))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>tchar of RFC 9110 section 5.6.2: the bytes a field name may hold.</summary>
    private static readonly System.Buffers.SearchValues<byte> TokenChars = System.Buffers.SearchValues.Create(
        "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"u8);

    private static ReadOnlySpan<byte> Trim(ReadOnlySpan<byte> value) => value.Trim(" \t"u8);

    private ref struct State
    {
        public IList<string> AllowedOrigins;
        public IList<string> SubProtocols;
        public ISet<string> Captured;
        public WebSocketCompressionOptions Compression;
        public bool CaptureAll;
        public int HostCount;
        public bool UpgradeWebSocket;
        public bool ConnectionUpgrade;
        public int KeyCount;
        public bool KeyValid;
        public int VersionCount;
        public bool Version13;
        public bool OriginRefused;
        public bool Malformed;
        public int ProtocolIndex;
    }
}
