namespace KestrelWsTransport;

/// <summary>
/// permessage-deflate (RFC 7692). Off unless <see cref="Enabled"/> is set. Compression uses the system zlib (libz); where
/// none can be loaded, offers are declined and WebSockets run uncompressed.
/// </summary>
/// <remarks>
/// Compressing secrets together with data an attacker can choose leaks the secrets through the compressed size
/// (CRIME/BREACH). Send such messages with <see cref="System.Net.WebSockets.WebSocketMessageFlags.DisableCompression"/>,
/// or turn off <see cref="ServerContextTakeover"/> so messages do not share a window.
/// </remarks>
public sealed class WebSocketCompressionOptions
{
    private int _level = 6;
    private int _memoryLevel = 8;
    private int _serverMaxWindowBits = 15;
    private int _clientMaxWindowBits = 15;
    private int _minMessageBytes = 64;

    /// <summary>Whether permessage-deflate offers are accepted. Defaults to <see langword="false"/>.</summary>
    public bool Enabled { get; set; }

    /// <summary>
    /// Whether the server keeps its compression window from one message to the next (better ratio, and about 256 KiB of
    /// zlib state per connection at the default memory level). When false the server answers
    /// <c>server_no_context_takeover</c> and borrows a compressor from a pool only while it sends. Defaults to
    /// <see langword="true"/>. A client's own <c>server_no_context_takeover</c> is always honoured.
    /// </summary>
    public bool ServerContextTakeover { get; set; } = true;

    /// <summary>
    /// Whether the client may keep its window across messages. When false the server answers
    /// <c>client_no_context_takeover</c>, and needs a decompressor only while a compressed message arrives.
    /// Defaults to <see langword="true"/>.
    /// </summary>
    public bool ClientContextTakeover { get; set; } = true;

    /// <summary>
    /// The largest LZ77 window the server compresses with, 9 to 15 bits. Offers that demand a smaller server window
    /// than zlib's raw deflate can use (8 bits) are declined. Defaults to 15.
    /// </summary>
    public int ServerMaxWindowBits
    {
        get => _serverMaxWindowBits;
        set => _serverMaxWindowBits = value is >= 9 and <= 15 ? value : throw new ArgumentOutOfRangeException(nameof(value), "9 to 15.");
    }

    /// <summary>
    /// The largest window the client may compress with, 8 to 15 bits; answered as <c>client_max_window_bits</c> when the
    /// client offered that parameter and this is below 15. Defaults to 15.
    /// </summary>
    public int ClientMaxWindowBits
    {
        get => _clientMaxWindowBits;
        set => _clientMaxWindowBits = value is >= 8 and <= 15 ? value : throw new ArgumentOutOfRangeException(nameof(value), "8 to 15.");
    }

    /// <summary>zlib compression level, 1 (fastest) to 9 (smallest). Defaults to 6, zlib's own default.</summary>
    public int Level
    {
        get => _level;
        set => _level = value is >= 1 and <= 9 ? value : throw new ArgumentOutOfRangeException(nameof(value), "1 to 9.");
    }

    /// <summary>zlib memLevel, 1 to 9: lower uses less memory per compressor at some cost in ratio. Defaults to 8.</summary>
    public int MemoryLevel
    {
        get => _memoryLevel;
        set => _memoryLevel = value is >= 1 and <= 9 ? value : throw new ArgumentOutOfRangeException(nameof(value), "1 to 9.");
    }

    /// <summary>Messages shorter than this are sent uncompressed (deflate would only add bytes). Defaults to 64 bytes.</summary>
    public int MinMessageBytes
    {
        get => _minMessageBytes;
        set => _minMessageBytes = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(value), "Must not be negative.");
    }

    internal WebSocketCompressionOptions Clone() => (WebSocketCompressionOptions)MemberwiseClone();
}
