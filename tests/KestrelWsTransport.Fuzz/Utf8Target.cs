using System.Text.Unicode;
using KestrelWsTransport.Framing;

namespace KestrelWsTransport.Fuzz;

/// <summary>
/// <see cref="Utf8Validator"/> fed the input in input-derived pieces (and byte by byte, and whole). After every
/// piece, <c>Append</c> must answer whether the bytes so far are a prefix of valid UTF-8 (by <see cref="PrefixState"/>,
/// a byte-at-a-time automaton written from RFC 3629's table); at the end <c>IsComplete</c> must equal
/// <see cref="Utf8.IsValid(ReadOnlySpan{byte})"/> on the whole input.
/// </summary>
internal static class Utf8Target
{
    public static void Run(byte[] input)
    {
        var whole = Utf8.IsValid(input);

        // Sanity of the reference itself: the automaton and the runtime agree on complete strings.
        var reference = new PrefixState();
        var prefixValid = new bool[input.Length + 1];
        prefixValid[0] = true;
        for (var i = 0; i < input.Length; i++)
        {
            prefixValid[i + 1] = reference.Feed(input[i]);
        }

        Check.Equal(whole, reference.Valid && reference.AtBoundary, "reference automaton vs Utf8.IsValid");

        var hash = Segments.Hash(input);
        Feed(input, Segments.Cuts(input.Length, hash, 12), prefixValid, whole, "split");
        Feed(input, Segments.Cuts(input.Length, hash * 31 + 7, 3), prefixValid, whole, "split2");
        Feed(input, [], prefixValid, whole, "whole");
        if (input.Length <= 4096)
        {
            Feed(input, Enumerable.Range(1, Math.Max(0, input.Length - 1)).ToArray(), prefixValid, whole, "bytewise");
        }

        // Empty pieces anywhere change nothing.
        var validator = new Utf8Validator();
        Check.Equal(true, validator.Append(default), "empty first piece");
        var ok = validator.Append(input) & validator.Append(default);
        Check.Equal(prefixValid[input.Length], ok, "whole then empty");
        Check.Equal(whole, validator.IsComplete, "IsComplete after empty piece");
    }

    private static void Feed(byte[] input, int[] cuts, bool[] prefixValid, bool whole, string name)
    {
        var validator = new Utf8Validator();
        var start = 0;
        var failedAt = -1;
        for (var i = 0; i <= cuts.Length; i++)
        {
            var end = i < cuts.Length ? cuts[i] : input.Length;
            var ok = validator.Append(input.AsSpan(start, end - start));
            Check.Equal(prefixValid[end], ok, $"{name}: Append of [{start}, {end}) (cuts {string.Join(',', cuts)})");
            if (!ok && failedAt < 0)
            {
                failedAt = end;
            }

            start = end;
        }

        Check.Equal(whole, validator.IsComplete, $"{name}: IsComplete (cuts {string.Join(',', cuts)})");
        validator.Reset();
        Check.That(validator.IsComplete && validator.Append("ok"u8), $"{name}: Reset");
    }

    /// <summary>RFC 3629 section 4, one byte at a time: Valid stays true while the bytes so far can still be completed.</summary>
    internal struct PrefixState
    {
        private int _needed;
        private byte _lower;
        private byte _upper;

        public PrefixState() => Valid = true;

        public bool Valid { get; private set; }

        public readonly bool AtBoundary => _needed == 0;

        public bool Feed(byte b)
        {
            if (!Valid)
            {
                return false;
            }

            if (_needed > 0)
            {
                if (b < _lower || b > _upper)
                {
                    return Valid = false;
                }

                _needed--;
                _lower = 0x80;
                _upper = 0xBF;
                return true;
            }

            // UTF8-1 = %x00-7F; UTF8-2 = %xC2-DF UTF8-tail; UTF8-3 = %xE0 %xA0-BF tail / %xE1-EC 2tail / %xED %x80-9F tail
            // / %xEE-EF 2tail; UTF8-4 = %xF0 %x90-BF 2tail / %xF1-F3 3tail / %xF4 %x80-8F 2tail.
            (_needed, _lower, _upper) = b switch
            {
                <= 0x7F => (0, (byte)0, (byte)0),
                >= 0xC2 and <= 0xDF => (1, (byte)0x80, (byte)0xBF),
                0xE0 => (2, (byte)0xA0, (byte)0xBF),
                >= 0xE1 and <= 0xEC or 0xEE or 0xEF => (2, (byte)0x80, (byte)0xBF),
                0xED => (2, (byte)0x80, (byte)0x9F),
                0xF0 => (3, (byte)0x90, (byte)0xBF),
                >= 0xF1 and <= 0xF3 => (3, (byte)0x80, (byte)0xBF),
                0xF4 => (3, (byte)0x80, (byte)0x8F),
                _ => (-1, (byte)0, (byte)0),
            };

            if (_needed < 0)
            {
                _needed = 0;
                return Valid = false;
            }

            return true;
        }
    }
}
