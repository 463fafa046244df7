namespace LoadTool.Client;

/// <summary>The client's permessage-deflate offer (RFC 7692 section 5).</summary>
internal sealed record DeflateOffer(bool NoContextTakeover)
{
    /// <summary>
    /// The Sec-WebSocket-Extensions value: what browsers send (<c>client_max_window_bits</c> without a value: "I can
    /// compress with a smaller window if you want"), plus both no-context-takeover parameters when asked for.
    /// </summary>
    public string OfferHeader => NoContextTakeover
        ? "permessage-deflate; client_max_window_bits; client_no_context_takeover; server_no_context_takeover"
        : "permessage-deflate; client_max_window_bits";
}

/// <summary>What the server accepted (its Sec-WebSocket-Extensions answer), checked against the offer.</summary>
internal sealed record DeflateParameters(string Response, bool ServerContextTakeover, bool ClientContextTakeover, int ServerWindowBits, int ClientWindowBits)
{
    /// <summary>Reads the answer out of a 101 response head; throws if the server declined or answered something the offer does not allow.</summary>
    public static DeflateParameters FromResponse(string head, DeflateOffer offer)
    {
        string? value = null;
        foreach (var line in head.Split("\r\n"))
        {
            var colon = line.IndexOf(':');
            if (colon > 0 && line.AsSpan(0, colon).Trim().Equals("Sec-WebSocket-Extensions", StringComparison.OrdinalIgnoreCase))
            {
                value = value is null ? line[(colon + 1)..].Trim() : value + ", " + line[(colon + 1)..].Trim();
            }
        }

        if (value is null)
        {
            throw new IOException("The server declined permessage-deflate (no Sec-WebSocket-Extensions in its 101).");
        }

        var extensions = value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (extensions.Length != 1)
        {
            throw new IOException($"The server accepted more than the one extension offered: '{value}'.");
        }

        var parts = extensions[0].Split(';', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (!parts[0].Equals("permessage-deflate", StringComparison.OrdinalIgnoreCase))
        {
            throw new IOException($"The server accepted an extension that was not offered: '{value}'.");
        }

        bool serverNoContext = false, clientNoContext = false;
        int serverBits = 15, clientBits = 15;
        foreach (var part in parts.Skip(1))
        {
            var eq = part.IndexOf('=');
            var name = (eq < 0 ? part : part[..eq]).Trim().ToLowerInvariant();
            var argument = eq < 0 ? null : part[(eq + 1)..].Trim().Trim('"');
            switch (name)
            {
                case "server_no_context_takeover" when argument is null:
                    serverNoContext = true;
                    break;
                case "client_no_context_takeover" when argument is null:
                    clientNoContext = true;
                    break;
                case "server_max_window_bits" when int.TryParse(argument, out var s) && s is >= 8 and <= 15:
                    serverBits = s;
                    break;
                case "client_max_window_bits" when int.TryParse(argument, out var c) && c is >= 8 and <= 15:
                    clientBits = c;
                    break;
                default:
                    throw new IOException($"The server's permessage-deflate answer has a parameter the offer does not allow: '{part}'.");
            }
        }

        if (offer.NoContextTakeover && !serverNoContext)
        {
            // RFC 7692 7.1.1.1: a server that accepts an offer with server_no_context_takeover must say so.
            throw new IOException($"The server ignored server_no_context_takeover: '{value}'.");
        }

        if (clientBits < 9)
        {
            // zlib's raw deflate cannot compress with a 256-byte window.
            throw new IOException($"client_max_window_bits={clientBits} cannot be honoured with zlib: '{value}'.");
        }

        return new DeflateParameters(value, !serverNoContext, !clientNoContext && !offer.NoContextTakeover, serverBits, clientBits);
    }
}

/// <summary>
/// One connection's traffic in content mode. Payload bytes are the messages as the application sees them (before
/// compression, after inflating); wire bytes are whole data frames as they cross the socket (headers, masking keys and
/// the compressed payload). The send side and the receive side each write only their own fields.
/// </summary>
internal sealed class WireStats
{
    public long MessagesSent;
    public long CompressedMessagesSent;
    public long FramesSent;
    public long PayloadBytesSent;
    public long WireBytesSent;
    public long MessagesReceived;
    public long CompressedMessagesReceived;
    public long FramesReceived;
    public long PayloadBytesReceived;
    public long WireBytesReceived;

    public void Add(WireStats other)
    {
        MessagesSent += other.MessagesSent;
        CompressedMessagesSent += other.CompressedMessagesSent;
        FramesSent += other.FramesSent;
        PayloadBytesSent += other.PayloadBytesSent;
        WireBytesSent += other.WireBytesSent;
        MessagesReceived += other.MessagesReceived;
        CompressedMessagesReceived += other.CompressedMessagesReceived;
        FramesReceived += other.FramesReceived;
        PayloadBytesReceived += other.PayloadBytesReceived;
        WireBytesReceived += other.WireBytesReceived;
    }
}

/// <summary>
/// What a connection in content mode sends, and the check of what comes back. The send side calls
/// <see cref="NextLength"/> then <see cref="WriteNext"/> for each message; the receive side calls
/// <see cref="BeginMessage"/>, then <see cref="IInflateSink.OnInflated"/> with the message's plain bytes in order (in
/// pieces), then <see cref="EndMessage"/>. The two sides run on different tasks; each touches only its own state.
/// </summary>
internal interface IMessageContent : IInflateSink
{
    /// <summary>The length of the next message to send, its type, and how many frames to send it in.</summary>
    int NextLength(out bool text, out int frames);

    /// <summary>Writes that message (exactly the length given) and moves on to the next.</summary>
    void WriteNext(Span<byte> destination);

    /// <summary>
    /// The next message (the one <see cref="WriteNext"/> writes) already compressed on its own with a window of
    /// <paramref name="windowBits"/>, level 6, memLevel 8, tail stripped, if the content keeps such copies; null
    /// otherwise. Only used with client_no_context_takeover, where a message compresses the same every time.
    /// </summary>
    byte[]? PrecompressedNext(int windowBits) => null;

    void BeginMessage(bool text);

    void EndMessage();
}
