using System.Buffers;
using System.Text;
using System.Text.Unicode;
using KestrelWsTransport.Framing;

namespace KestrelWsTransport.Tests.Framing;

public class Utf8ValidatorTests
{
    /// <summary>
    /// Cases after Markus Kuhn's UTF-8 decoder stress test and the Autobahn section 6 cases derived from it,
    /// with the expected verdict spelled out so the table is checked against the runtime too.
    /// </summary>
    public static IEnumerable<TestCaseData> Cases()
    {
        // Valid.
        yield return Case("empty", true);
        yield return Case("ascii", true, "Hello-\u007f"u8.ToArray());
        yield return Case("kosme", true, 0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE, 0xB5);
        yield return Case("first 1-byte U+0000", true, 0x00);
        yield return Case("first 2-byte U+0080", true, 0xC2, 0x80);
        yield return Case("first 3-byte U+0800", true, 0xE0, 0xA0, 0x80);
        yield return Case("first 4-byte U+10000", true, 0xF0, 0x90, 0x80, 0x80);
        yield return Case("last 1-byte U+007F", true, 0x7F);
        yield return Case("last 2-byte U+07FF", true, 0xDF, 0xBF);
        yield return Case("last 3-byte U+FFFF", true, 0xEF, 0xBF, 0xBF);
        yield return Case("last 4-byte U+10FFFF", true, 0xF4, 0x8F, 0xBF, 0xBF);
        yield return Case("before surrogates U+D7FF", true, 0xED, 0x9F, 0xBF);
        yield return Case("after surrogates U+E000", true, 0xEE, 0x80, 0x80);
        yield return Case("U+FFFD", true, 0xEF, 0xBF, 0xBD);
        yield return Case("noncharacter U+FFFE", true, 0xEF, 0xBF, 0xBE);
        yield return Case("noncharacter U+10FFFE", true, 0xF4, 0x8F, 0xBF, 0xBE);
        yield return Case("mixed widths", true, "a\u00e9\u20ac\U0001D11Ez\U0010FFFF\u0800"u8.ToArray());
        yield return Case("long mixed", true, Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("Hello κόσμε €𝄞 ", 40))));

        // Lone continuation bytes.
        yield return Case("continuation 80", false, 0x80);
        yield return Case("continuation BF", false, 0xBF);
        yield return Case("continuations 80 BF 80 BF", false, 0x80, 0xBF, 0x80, 0xBF);
        yield return Case("continuation after ascii", false, 0x61, 0x80);
        yield return Case("extra continuation after 2-byte", false, 0xC2, 0x80, 0x80);
        yield return Case("extra continuation after 4-byte", false, 0xF0, 0x90, 0x80, 0x80, 0x80);

        // Start bytes followed by something other than a continuation.
        yield return Case("lonely C0 then space", false, 0xC0, 0x20);
        yield return Case("lonely C2 then space", false, 0xC2, 0x20);
        yield return Case("lonely E1 then space", false, 0xE1, 0x20);
        yield return Case("lonely F1 then space", false, 0xF1, 0x20);
        yield return Case("E1 80 then space", false, 0xE1, 0x80, 0x20);
        yield return Case("F1 80 80 then space", false, 0xF1, 0x80, 0x80, 0x20);
        yield return Case("invalid then valid", false, 0x61, 0x62, 0xC3, 0x28, 0x63, 0x64);

        // Sequences cut off at the end of the message.
        yield return Case("truncated 2-byte", false, 0xC2);
        yield return Case("truncated 2-byte DF", false, 0xDF);
        yield return Case("truncated 3-byte 1", false, 0xE0);
        yield return Case("truncated 3-byte 2", false, 0xE0, 0xA0);
        yield return Case("truncated 3-byte EF BF", false, 0xEF, 0xBF);
        yield return Case("truncated 4-byte 1", false, 0xF0);
        yield return Case("truncated 4-byte 2", false, 0xF0, 0x90);
        yield return Case("truncated 4-byte 3", false, 0xF0, 0x90, 0x80);
        yield return Case("truncated 4-byte F4 8F BF", false, 0xF4, 0x8F, 0xBF);
        yield return Case("text then truncated euro", false, 0x61, 0x62, 0x63, 0xE2, 0x82);
        yield return Case("all truncations concatenated", false, 0xC0, 0xE0, 0x80, 0xF0, 0x80, 0x80, 0xDF, 0xEF, 0xBF, 0xF7, 0xBF, 0xBF);

        // Bytes that never occur in UTF-8.
        yield return Case("FE", false, 0xFE);
        yield return Case("FF", false, 0xFF);
        yield return Case("FE FE FF FF", false, 0xFE, 0xFE, 0xFF, 0xFF);
        yield return Case("5-byte form F8", false, 0xF8, 0x88, 0x80, 0x80, 0x80);
        yield return Case("6-byte form FC", false, 0xFC, 0x84, 0x80, 0x80, 0x80, 0x80);

        // Overlong encodings.
        yield return Case("overlong slash 2-byte", false, 0xC0, 0xAF);
        yield return Case("overlong slash 3-byte", false, 0xE0, 0x80, 0xAF);
        yield return Case("overlong slash 4-byte", false, 0xF0, 0x80, 0x80, 0xAF);
        yield return Case("max overlong 2-byte C1 BF", false, 0xC1, 0xBF);
        yield return Case("max overlong 3-byte E0 9F BF", false, 0xE0, 0x9F, 0xBF);
        yield return Case("max overlong 4-byte F0 8F BF BF", false, 0xF0, 0x8F, 0xBF, 0xBF);
        yield return Case("overlong NUL 2-byte", false, 0xC0, 0x80);
        yield return Case("overlong NUL 3-byte", false, 0xE0, 0x80, 0x80);
        yield return Case("overlong NUL 4-byte", false, 0xF0, 0x80, 0x80, 0x80);

        // Beyond U+10FFFF.
        yield return Case("U+110000", false, 0xF4, 0x90, 0x80, 0x80);
        yield return Case("F5 lead", false, 0xF5, 0x80, 0x80, 0x80);
        yield return Case("F7 BF BF BF", false, 0xF7, 0xBF, 0xBF, 0xBF);

        // UTF-16 surrogates encoded as if they were scalar values.
        yield return Case("U+D800", false, 0xED, 0xA0, 0x80);
        yield return Case("U+DB7F", false, 0xED, 0xAD, 0xBF);
        yield return Case("U+DB80", false, 0xED, 0xAE, 0x80);
        yield return Case("U+DBFF", false, 0xED, 0xAF, 0xBF);
        yield return Case("U+DC00", false, 0xED, 0xB0, 0x80);
        yield return Case("U+DF80", false, 0xED, 0xBE, 0x80);
        yield return Case("U+DFFF", false, 0xED, 0xBF, 0xBF);
        yield return Case("pair U+D800 U+DC00", false, 0xED, 0xA0, 0x80, 0xED, 0xB0, 0x80);
        yield return Case("pair U+DBFF U+DFFF", false, 0xED, 0xAF, 0xBF, 0xED, 0xBF, 0xBF);
        yield return Case("kosme then surrogate then text", false,
            [.. "κόσμε"u8, 0xED, 0xA0, 0x80, .. "edited"u8]);
    }

    private static TestCaseData Case(string name, bool valid, params byte[] bytes) =>
        new TestCaseData(bytes, valid).SetArgDisplayNames(name);

    [TestCaseSource(nameof(Cases))]
    public void Table_MatchesRuntime(byte[] bytes, bool valid)
    {
        Assert.That(Utf8.IsValid(bytes), Is.EqualTo(valid), "the table itself is wrong");
    }

    [TestCaseSource(nameof(Cases))]
    public void WholeMessage(byte[] bytes, bool valid)
    {
        var validator = new Utf8Validator();
        var result = validator.Append(bytes) && validator.IsComplete;

        Assert.That(result, Is.EqualTo(valid));
    }

    [TestCaseSource(nameof(Cases))]
    public void SplitInTwo_AtEveryOffset(byte[] bytes, bool valid)
    {
        for (var split = 0; split <= bytes.Length; split++)
        {
            var validator = new Utf8Validator();
            var first = validator.Append(bytes.AsSpan(0, split));
            var second = validator.Append(bytes.AsSpan(split));

            Assert.That(first, Is.EqualTo(IsValidPrefix(bytes.AsSpan(0, split))), $"first piece, split {split}");
            Assert.That(second, Is.EqualTo(IsValidPrefix(bytes)), $"second piece, split {split}");
            Assert.That(second && validator.IsComplete, Is.EqualTo(valid), $"verdict, split {split}");
        }
    }

    [TestCaseSource(nameof(Cases))]
    public void OneByteAtATime_FailsAtTheFirstImpossibleByte(byte[] bytes, bool valid)
    {
        var validator = new Utf8Validator();
        var ok = true;
        for (var i = 0; i < bytes.Length; i++)
        {
            ok = validator.Append(bytes.AsSpan(i, 1));
            Assert.That(ok, Is.EqualTo(IsValidPrefix(bytes.AsSpan(0, i + 1))), $"after byte {i}");
        }

        Assert.That(ok && validator.IsComplete, Is.EqualTo(valid));
    }

    [Test]
    public void FailsFast_OnSurrogateStartBeforeSequenceEnds()
    {
        byte[] kosme = [.. "κόσμε"u8];
        var validator = new Utf8Validator();

        Assert.That(validator.Append(kosme), Is.True);
        Assert.That(validator.Append([0xED]), Is.True, "ED alone may still become U+D000..U+D7FF");
        Assert.That(validator.Append([0xA0]), Is.False, "ED A0 can only be a surrogate");
        Assert.That(validator.Append([0x80]), Is.False, "stays invalid");
        Assert.That(validator.Append("edited"u8), Is.False, "stays invalid even for valid input");
        Assert.That(validator.IsComplete, Is.False);
    }

    [Test]
    public void FailsFast_WhenChunkEndsInsideImpossibleSequence()
    {
        var validator = new Utf8Validator();

        Assert.That(validator.Append([.. "κόσμε"u8, 0xED, 0xA0]), Is.False);
    }

    [TestCase(new byte[] { 0xE0, 0x80 }, TestName = "Overlong E0 80")]
    [TestCase(new byte[] { 0xF4, 0x90 }, TestName = "Beyond U+10FFFF F4 90")]
    [TestCase(new byte[] { 0xF0, 0x80 }, TestName = "Overlong F0 80")]
    [TestCase(new byte[] { 0xC0 }, TestName = "C0")]
    [TestCase(new byte[] { 0xC1 }, TestName = "C1")]
    [TestCase(new byte[] { 0xF5 }, TestName = "F5")]
    [TestCase(new byte[] { 0x80 }, TestName = "Lone continuation")]
    public void FailsFast_OnImpossiblePrefixAtEnd(byte[] tail)
    {
        var validator = new Utf8Validator();

        Assert.That(validator.Append([.. "ok"u8, .. tail]), Is.False);
    }

    [Test]
    public void CarriesSequenceAcrossManyPieces()
    {
        var validator = new Utf8Validator();

        Assert.That(validator.Append("a"u8), Is.True);
        Assert.That(validator.Append([0xF0]), Is.True);
        Assert.That(validator.IsComplete, Is.False);
        Assert.That(validator.Append(ReadOnlySpan<byte>.Empty), Is.True);
        Assert.That(validator.Append([0x9D]), Is.True);
        Assert.That(validator.Append([0x84]), Is.True);
        Assert.That(validator.IsComplete, Is.False);
        Assert.That(validator.Append([0x9E, 0x62, 0xE2]), Is.True);
        Assert.That(validator.IsComplete, Is.False);
        Assert.That(validator.Append([0x82, 0xAC]), Is.True);
        Assert.That(validator.IsComplete, Is.True);
    }

    [Test]
    public void Reset_ClearsInvalidAndPendingState()
    {
        var validator = new Utf8Validator();
        validator.Append([0xFF]);
        validator.Reset();

        Assert.That(validator.IsComplete, Is.True);
        Assert.That(validator.Append([0xE2, 0x82]), Is.True);
        validator.Reset();

        Assert.That(validator.IsComplete, Is.True, "a pending sequence does not survive Reset");
        Assert.That(validator.Append([0x82]), Is.False, "and its continuation is now a lone byte");
    }

    [Test]
    public void Randomized_MatchesRuntime()
    {
        var random = new Random(1234);
        for (var n = 0; n < 5000; n++)
        {
            var bytes = RandomUtf8ish(random);
            var expected = Utf8.IsValid(bytes);

            // Between 0 and 4 cut points; repeated or zero-length pieces are allowed on purpose.
            var cuts = Enumerable.Range(0, random.Next(5))
                .Select(_ => random.Next(bytes.Length + 1))
                .Append(0)
                .Append(bytes.Length)
                .Order()
                .ToArray();

            var validator = new Utf8Validator();
            var ok = true;
            for (var i = 0; i + 1 < cuts.Length; i++)
            {
                ok = validator.Append(bytes.AsSpan(cuts[i], cuts[i + 1] - cuts[i]));
                Assert.That(ok, Is.EqualTo(IsValidPrefix(bytes.AsSpan(0, cuts[i + 1]))),
                    $"case {n}: {Convert.ToHexString(bytes)}, cuts {string.Join(",", cuts)}, piece {i}");
            }

            Assert.That(ok && validator.IsComplete, Is.EqualTo(expected),
                $"case {n}: {Convert.ToHexString(bytes)}, cuts {string.Join(",", cuts)}");
        }
    }

    /// <summary>
    /// The validator relies on <see cref="Rune.DecodeFromUtf8"/> answering NeedMoreData exactly for valid but
    /// unfinished sequences. This pins that against RFC 3629's table for every input up to 3 bytes long
    /// (the most that can be unfinished), so a runtime change in that behaviour shows up here.
    /// </summary>
    [Test]
    public void RuneDecoder_NeedMoreData_MeansExactlyAValidIncompletePrefix()
    {
        var buffer = new byte[3];
        var mismatches = new List<string>();
        for (var length = 1; length <= 3; length++)
        {
            // Inputs whose first byte is ASCII or a continuation can never be unfinished sequences, and the
            // decoder must say so; covering them for lengths 1 and 2 is enough to show it, so the 16M-entry
            // 3-byte space is limited to multi-byte leads.
            var first = length == 3 ? 0xC0 : 0x00;
            var count = 1 << (8 * (length - 1));
            for (var lead = first; lead <= 0xFF; lead++)
            {
                for (var rest = 0; rest < count; rest++)
                {
                    buffer[0] = (byte)lead;
                    buffer[1] = (byte)rest;
                    buffer[2] = (byte)(rest >> 8);
                    var input = buffer.AsSpan(0, length);

                    var needMore = Rune.DecodeFromUtf8(input, out _, out _) == OperationStatus.NeedMoreData;
                    if (needMore != IsIncompletePrefixPerRfc3629(input) && mismatches.Count < 20)
                    {
                        mismatches.Add(Convert.ToHexString(input));
                    }
                }
            }
        }

        Assert.That(mismatches, Is.Empty);
    }

    /// <summary>
    /// Independent oracle for fail-fast behaviour: a byte string is a prefix of valid UTF-8 when some short
    /// completion makes it valid. Continuation bytes 80, 90, A0 and BF between them satisfy every second-byte
    /// range of RFC 3629 (80..BF, A0..BF, 80..9F, 90..BF, 80..8F), so trying them is exhaustive enough.
    /// </summary>
    private static bool IsValidPrefix(ReadOnlySpan<byte> bytes)
    {
        if (Utf8.IsValid(bytes))
        {
            return true;
        }

        ReadOnlySpan<byte> candidates = [0x80, 0x90, 0xA0, 0xBF];
        Span<byte> extended = stackalloc byte[bytes.Length + 3];
        bytes.CopyTo(extended);
        foreach (var a in candidates)
        {
            extended[bytes.Length] = a;
            if (Utf8.IsValid(extended[..(bytes.Length + 1)]))
            {
                return true;
            }

            foreach (var b in candidates)
            {
                extended[bytes.Length + 1] = b;
                if (Utf8.IsValid(extended[..(bytes.Length + 2)]))
                {
                    return true;
                }

                foreach (var c in candidates)
                {
                    extended[bytes.Length + 2] = c;
                    if (Utf8.IsValid(extended))
                    {
                        return true;
                    }
                }
            }
        }

        return false;
    }

    /// <summary>RFC 3629 section 4 syntax, applied to a sequence that stops before its last byte.</summary>
    private static bool IsIncompletePrefixPerRfc3629(ReadOnlySpan<byte> bytes)
    {
        var lead = bytes[0];
        var length = lead switch
        {
            >= 0xC2 and <= 0xDF => 2,
            >= 0xE0 and <= 0xEF => 3,
            >= 0xF0 and <= 0xF4 => 4,
            _ => 0,
        };
        if (bytes.Length >= length)
        {
            return false;
        }

        // The second byte's range depends on the lead; later bytes are always 80..BF.
        var (low, high) = lead switch
        {
            0xE0 => (0xA0, 0xBF),
            0xED => (0x80, 0x9F),
            0xF0 => (0x90, 0xBF),
            0xF4 => (0x80, 0x8F),
            _ => (0x80, 0xBF),
        };
        for (var i = 1; i < bytes.Length; i++)
        {
            var (min, max) = i == 1 ? (low, high) : (0x80, 0xBF);
            if (bytes[i] < min || bytes[i] > max)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Short strings built from pieces that exercise the edges: plain text, whole code points of every width,
    /// cut-off code points, lone continuations, arbitrary bytes, and near-miss sequences (surrogates,
    /// overlongs, beyond U+10FFFF). Uniformly random bytes would almost all fail on the first byte.
    /// </summary>
    private static byte[] RandomUtf8ish(Random random)
    {
        var bytes = new List<byte>();
        var pieces = random.Next(0, 6);
        Span<byte> encoded = stackalloc byte[4];
        for (var p = 0; p < pieces; p++)
        {
            switch (random.Next(8))
            {
                case 0:
                    bytes.Add((byte)random.Next(0x20, 0x7F));
                    break;
                case 1:
                case 2:
                case 3:
                {
                    var rune = RandomRune(random);
                    var written = rune.EncodeToUtf8(encoded);
                    var keep = random.Next(4) == 0 ? random.Next(1, written + 1) : written;
                    bytes.AddRange(encoded[..keep]);
                    break;
                }
                case 4:
                    bytes.Add((byte)random.Next(0x80, 0xC0));
                    break;
                case 5:
                    bytes.Add((byte)random.Next(256));
                    break;
                default:
                {
                    // A lead near a boundary followed by 1-3 continuation-range bytes.
                    ReadOnlySpan<byte> leads = [0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xF7, 0xF8, 0xFE, 0xFF];
                    bytes.Add(leads[random.Next(leads.Length)]);
                    var count = random.Next(1, 4);
                    for (var i = 0; i < count; i++)
                    {
                        bytes.Add((byte)random.Next(0x7F, 0xC1));
                    }

                    break;
                }
            }
        }

        return [.. bytes];
    }

    private static Rune RandomRune(Random random)
    {
        while (true)
        {
            var value = random.Next(4) switch
            {
                0 => random.Next(0x80, 0x800),
                1 => random.Next(0x800, 0x10000),
                2 => random.Next(0x10000, 0x110000),
                _ => random.Next(0xD700, 0xE100),
            };
            if (Rune.IsValid(value))
            {
                return new Rune(value);
            }
        }
    }
}
