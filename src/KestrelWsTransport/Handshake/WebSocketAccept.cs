using System.Buffers;
using System.Buffers.Text;
using System.Security.Cryptography;

namespace KestrelWsTransport.Handshake;

/// <summary>
/// Derives the <c>Sec-WebSocket-Accept</c> response header value from the client's <c>Sec-WebSocket-Key</c>.
/// </summary>
/// <remarks>
/// Every upgrade computes this, so it works on the header bytes as received and on stack buffers only:
/// no string for the key, no array for the hash, no string for the result.
/// </remarks>
internal static class WebSocketAccept
{
    /// <summary>Length of the result: base64 of a 20-byte SHA-1 hash is 28 characters.</summary>
    public const int AcceptLength = 28;

    // A 16-byte nonce in base64 is 22 significant characters plus "==" (RFC 6455 section 4.1).
    private const int KeyLength = 24;
    private const int NonceLength = 16;
    private const int Sha1Length = 20;

    /// <summary>The fixed GUID of RFC 6455 section 1.3 that the server appends to the key before hashing.</summary>
    private static ReadOnlySpan<byte> Guid => "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"u8;

    /// <summary>Validates <paramref name="key"/> and writes the accept value for it.</summary>
    /// <param name="key">
    /// The raw <c>Sec-WebSocket-Key</c> value, with surrounding optional whitespace already trimmed.
    /// </param>
    /// <param name="destination">Receives <see cref="AcceptLength"/> ASCII bytes; must be at least that long.</param>
    /// <returns>
    /// False when the key is not the base64 encoding of exactly 16 bytes; a server must then refuse the
    /// handshake (RFC 6455 section 4.2.1 item 5), and <paramref name="destination"/> is left unspecified.
    /// </returns>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than <see cref="AcceptLength"/>.</exception>
    public static bool TryCompute(ReadOnlySpan<byte> key, Span<byte> destination)
    {
        // A too-short destination is a bug in the caller, not a bad request, so it must not look like an invalid key.
        if (destination.Length < AcceptLength)
        {
            throw new ArgumentException($"Destination must hold {AcceptLength} bytes.", nameof(destination));
        }

        // The exact length also rules out whitespace inside the value, which the base64 decoder would
        // otherwise skip: 16 bytes need all 24 characters, so there is no room for anything else.
        if (key.Length != KeyLength)
        {
            return false;
        }

        // Decoding only validates; the nonce itself is never used. One spare byte lets a 24-character value
        // that decodes to more than 16 bytes (one '=' or none) finish decoding and be told apart by its length.
        Span<byte> nonce = stackalloc byte[NonceLength + 2];
        if (Base64.DecodeFromUtf8(key, nonce, out _, out var decoded) != OperationStatus.Done || decoded != NonceLength)
        {
            return false;
        }

        // RFC 6455 section 4.2.2, step 5: the accept value "is constructed by concatenating /key/ [...] with the
        // string "258EAFA5-E914-47DA-95CA-C5AB0DC85B11", taking the SHA-1 hash of this concatenated value to obtain
        // a 20-byte value and base64-encoding [...] this 20-byte hash."
        // /key/ is the header value as sent (its base64 text), not the decoded nonce.
        Span<byte> concatenated = stackalloc byte[KeyLength + Guid.Length];
        key.CopyTo(concatenated);
        Guid.CopyTo(concatenated[KeyLength..]);

        Span<byte> hash = stackalloc byte[Sha1Length];

        // SHA-1 is mandated by the protocol for this handshake value; it is not used for security here.
        SHA1.HashData(concatenated, hash);

        var status = Base64.EncodeToUtf8(hash, destination[..AcceptLength], out _, out var written);
        return status == OperationStatus.Done && written == AcceptLength;
    }
}
