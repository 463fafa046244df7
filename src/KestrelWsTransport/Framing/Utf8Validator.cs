using System.Buffers;
using System.Text;
using System.Text.Unicode;

namespace KestrelWsTransport.Framing;

/// <summary>
/// Incremental UTF-8 validation of a text message that arrives in pieces (fragments, or one frame spread
/// over several buffer segments), where a code point may be cut anywhere.
/// </summary>
/// <remarks>
/// <para>
/// RFC 6455 section 8.1 requires failing the connection on invalid UTF-8 in a text message, and the Autobahn
/// test suite (section 6) checks that this happens <em>as soon as</em> the received bytes can no longer be the
/// start of valid UTF-8, not only at the end of the message. So <see cref="Append"/> rejects not just invalid
/// complete sequences but also an unfinished trailing sequence that no continuation could ever make valid
/// (a surrogate start such as <c>ED A0</c>, an overlong start such as <c>E0 80</c>, <c>F4 90</c> beyond U+10FFFF).
/// </para>
/// <para>
/// It is a mutable struct so a connection can hold one in a field and reuse it per message without allocating;
/// keep it in a field or local and never copy it mid-message, or the copy loses the carried bytes.
/// </para>
/// </remarks>
internal struct Utf8Validator
{
    // An unfinished sequence is at most 3 bytes (a 4-byte sequence missing its last byte). Separate fields
    // rather than an array keep the struct free of heap references.
    private byte _pending0;
    private byte _pending1;
    private byte _pending2;
    private byte _pendingCount;
    private bool _invalid;

    /// <summary>
    /// True when everything appended so far is valid and ends on a code point boundary: what must hold at the end
    /// of a text message, since an unfinished sequence there can no longer be completed.
    /// </summary>
    public readonly bool IsComplete => !_invalid && _pendingCount == 0;

    /// <summary>Forgets all state so the next message starts fresh.</summary>
    public void Reset() => this = default;

    /// <summary>Validates the next piece of the message.</summary>
    /// <param name="data">The next bytes of the message, possibly empty.</param>
    /// <returns>
    /// False if the bytes seen so far (across all calls since <see cref="Reset"/>) are not a prefix of any valid
    /// UTF-8 string. Once false, every later call also returns false.
    /// </returns>
    public bool Append(ReadOnlySpan<byte> data)
    {
        if (_invalid)
        {
            return false;
        }

        if (_pendingCount != 0 && !data.IsEmpty && !CompletePending(ref data))
        {
            return Fail();
        }

        if (data.IsEmpty)
        {
            return true;
        }

        // Where does the last code point start? A sequence is at most 4 bytes, so its lead byte is within the last
        // 4; walk back over continuation bytes (10xxxxxx) from the end.
        var start = data.Length - 1;
        var stop = Math.Max(0, data.Length - 4);
        while (start > stop && (data[start] & 0xC0) == 0x80)
        {
            start--;
        }

        var tail = data[start..];
        var expected = SequenceLength(data[start]);
        if (expected == 0 || expected <= tail.Length)
        {
            // The piece ends on a boundary (or its end is invalid anyway): one vectorized check of the whole piece.
            return Utf8.IsValid(data) || Fail();
        }

        // The piece ends inside a sequence: everything before it is checked once, and the cut sequence must be a valid
        // beginning. NeedMoreData from the runtime decoder means exactly "a valid but unfinished sequence": it checks
        // the second byte's narrower ranges after E0, ED, F0 and F4, so surrogates, overlongs and values beyond
        // U+10FFFF are InvalidData even when cut short (the unit tests check this against RFC 3629's table for every
        // 1- to 3-byte input).
        if (!Utf8.IsValid(data[..start]) || Rune.DecodeFromUtf8(tail, out _, out _) != OperationStatus.NeedMoreData)
        {
            return Fail();
        }

        Carry(tail);
        return true;
    }

    /// <summary>
    /// Feeds the start of <paramref name="data"/> into the carried unfinished sequence. On success, either the
    /// sequence is finished and <paramref name="data"/> is advanced past its bytes, or <paramref name="data"/>
    /// was too short to finish it, was consumed whole, and the longer unfinished sequence is carried instead.
    /// </summary>
    private bool CompletePending(ref ReadOnlySpan<byte> data)
    {
        // A UTF-8 sequence is at most 4 bytes, so 4 bytes always reach a verdict.
        Span<byte> sequence = stackalloc byte[4];
        sequence[0] = _pending0;
        sequence[1] = _pending1;
        sequence[2] = _pending2;
        int pending = _pendingCount;
        var taken = Math.Min(4 - pending, data.Length);
        data[..taken].CopyTo(sequence[pending..]);
        sequence = sequence[..(pending + taken)];

        switch (Rune.DecodeFromUtf8(sequence, out _, out var consumed))
        {
            case OperationStatus.Done:
                // The carried bytes were a valid prefix, so the finished code point includes all of them.
                data = data[(consumed - pending)..];
                _pendingCount = 0;
                return true;

            case OperationStatus.NeedMoreData:
                // Only possible when data was shorter than what the sequence still needed.
                data = default;
                Carry(sequence);
                return true;

            default:
                return false;
        }
    }

    /// <summary>The length a lead byte announces (RFC 3629 section 3), or 0 for a byte that cannot start a sequence.</summary>
    private static int SequenceLength(byte lead) => lead switch
    {
        < 0x80 => 1,
        >= 0xC2 and <= 0xDF => 2,
        >= 0xE0 and <= 0xEF => 3,
        >= 0xF0 and <= 0xF4 => 4,
        _ => 0,
    };

    private void Carry(ReadOnlySpan<byte> sequence)
    {
        _pendingCount = (byte)sequence.Length;
        _pending0 = sequence[0];
        _pending1 = sequence.Length > 1 ? sequence[1] : (byte)0;
        _pending2 = sequence.Length > 2 ? sequence[2] : (byte)0;
    }

    private bool Fail()
    {
        _invalid = true;
        _pendingCount = 0;
        return false;
    }
}
