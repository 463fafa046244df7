using System.Text;

namespace KestrelWsTransport.Compression;

/// <summary>The permessage-deflate parameters both sides agreed on.</summary>
/// <param name="ServerNoContextTakeover">The server starts every message with an empty window.</param>
/// <param name="ClientNoContextTakeover">The client starts every message with an empty window.</param>
/// <param name="ServerMaxWindowBits">The window the server compresses with.</param>
/// <param name="ClientMaxWindowBits">The largest window the client may compress with.</param>
/// <param name="ServerMaxWindowBitsOffered">
/// The client's offer named <c>server_max_window_bits</c>: RFC 7692 section 7.1.2.1 accepts it only by answering with
/// the parameter, even at 15.
/// </param>
internal readonly record struct DeflateParameters(bool ServerNoContextTakeover, bool ClientNoContextTakeover, int ServerMaxWindowBits, int ClientMaxWindowBits, bool ServerMaxWindowBitsOffered = false)
{
    /// <summary>The <c>Sec-WebSocket-Extensions</c> response value.</summary>
    public string ToResponse()
    {
        var text = new StringBuilder("permessage-deflate");
        if (ServerNoContextTakeover)
        {
            text.Append("; server_no_context_takeover");
        }

        if (ClientNoContextTakeover)
        {
            text.Append("; client_no_context_takeover");
        }

        if (ServerMaxWindowBits < 15 || ServerMaxWindowBitsOffered)
        {
            text.Append("; server_max_window_bits=").Append(ServerMaxWindowBits);
        }

        if (ClientMaxWindowBits < 15)
        {
            text.Append("; client_max_window_bits=").Append(ClientMaxWindowBits);
        }

        return text.ToString();
    }
}

/// <summary>
/// Picks the first acceptable permessage-deflate offer from <c>Sec-WebSocket-Extensions</c> (RFC 7692 section 5 and 7.1):
/// an offer with an unknown, duplicate or malformed parameter, or one the server cannot honour, is declined and the next
/// one considered; other extensions are ignored.
/// </summary>
internal static class DeflateNegotiation
{
    public static bool TryNegotiate(ReadOnlySpan<byte> headerValue, WebSocketCompressionOptions options, out DeflateParameters parameters)
    {
        parameters = default;
        foreach (var range in headerValue.Split((byte)','))
        {
            if (TryAccept(headerValue[range], options, out parameters))
            {
                return true;
            }
        }

        return false;
    }

    private static bool TryAccept(ReadOnlySpan<byte> offer, WebSocketCompressionOptions options, out DeflateParameters parameters)
    {
        parameters = default;
        var first = true;
        bool serverNoContext = false, clientNoContext = false, serverBitsSeen = false, clientBitsSeen = false;
        int serverBits = 15, clientBits = -1;
        foreach (var range in offer.Split((byte)';'))
        {
            var part = offer[range].Trim(" \t"u8);
            if (first)
            {
                if (!Ascii.EqualsIgnoreCase(part, "permessage-deflate"u8))
                {
                    return false;
                }

                first = false;
                continue;
            }

            var equals = part.IndexOf((byte)'=');
            var name = (equals < 0 ? part : part[..equals]).Trim(" \t"u8);
            var value = equals < 0 ? default : Unquote(part[(equals + 1)..].Trim(" \t"u8));
            var hasValue = equals >= 0;

            if (Ascii.EqualsIgnoreCase(name, "server_no_context_takeover"u8))
            {
                if (serverNoContext || hasValue)
                {
                    return false;
                }

                serverNoContext = true;
            }
            else if (Ascii.EqualsIgnoreCase(name, "client_no_context_takeover"u8))
            {
                if (clientNoContext || hasValue)
                {
                    return false;
                }

                clientNoContext = true;
            }
            else if (Ascii.EqualsIgnoreCase(name, "server_max_window_bits"u8))
            {
                if (serverBitsSeen || !hasValue || !TryWindowBits(value, out serverBits))
                {
                    return false;
                }

                serverBitsSeen = true;
            }
            else if (Ascii.EqualsIgnoreCase(name, "client_max_window_bits"u8))
            {
                if (clientBitsSeen)
                {
                    return false;
                }

                clientBitsSeen = true;
                clientBits = 15;
                if (hasValue && !TryWindowBits(value, out clientBits))
                {
                    return false;
                }
            }
            else
            {
                return false;
            }
        }

        if (first)
        {
            return false;
        }

        // zlib's raw deflate cannot use an 8-bit window, so a demand for one is declined (RFC 7692 section 7.1.2.1).
        var server = Math.Min(serverBits, options.ServerMaxWindowBits);
        if (server < 9)
        {
            return false;
        }

        // The server may limit the client's window only if the client said it can be limited.
        var client = clientBitsSeen ? Math.Min(clientBits, options.ClientMaxWindowBits) : 15;
        parameters = new DeflateParameters(
            serverNoContext || !options.ServerContextTakeover,
            clientNoContext || !options.ClientContextTakeover,
            server,
            client,
            serverBitsSeen);
        return true;
    }

    private static ReadOnlySpan<byte> Unquote(ReadOnlySpan<byte> value) =>
        value.Length >= 2 && value[0] == '"' && value[^1] == '"' ? value[1..^1] : value;

    private static bool TryWindowBits(ReadOnlySpan<byte> value, out int bits)
    {
        bits = 0;
        if (value.Length is < 1 or > 2)
        {
            return false;
        }

        foreach (var b in value)
        {
            if (b is < (byte)'0' or > (byte)'9')
            {
                return false;
            }

            bits = bits * 10 + (b - '0');
        }

        // RFC 7692: a decimal integer from 8 to 15, no leading zeros.
        return bits is >= 8 and <= 15 && value[0] != '0';
    }
}
