namespace KestrelWsTransport.Conformance.Cases;

/// <summary>
/// The byte sequences of Autobahn's cases 6.5 to 6.23, in Autobahn's order: Markus Kuhn's UTF-8 decoder stress test
/// (https://www.cl.cam.ac.uk/~mgk25/ucs/examples/UTF-8-test.txt) plus prefixes of a valid string, non-characters and
/// Unicode specials. Each group becomes sub-section 6.N and each sequence case 6.N.M, sent as one text frame:
/// valid ones must be echoed, invalid ones must fail the connection with 1007.
/// </summary>
internal static class Utf8TestSequences
{
    /// <summary>The first group is sub-section 6.5.</summary>
    public const int FirstSubSection = 5;

    /// <summary>"κόσμε", the string whose prefixes make up 6.6.</summary>
    public static readonly byte[] Kosme = [0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE, 0xB5];

    public static IReadOnlyList<(string Title, IReadOnlyList<(bool Valid, byte[] Bytes)> Sequences)> Groups { get; } = Build();

    private static List<(string, IReadOnlyList<(bool, byte[])>)> Build()
    {
        var groups = new List<(string, IReadOnlyList<(bool, byte[])>)>();

        void Add(string title, params (bool Valid, byte[] Bytes)[] sequences) => groups.Add((title, sequences));

        static byte[] B(params int[] values) => values.Select(v => (byte)v).ToArray();

        static byte[] Hello(params int[] middle) => [.. "hello"u8, .. B(middle), .. "world"u8];

        // 6.5: some correct UTF-8 text
        Add("Some valid UTF-8 sequences",
            (true, Hello(0x24)),                    // U+0024
            (true, Hello(0xC2, 0xA2)),              // U+00A2
            (true, Hello(0xE2, 0x82, 0xAC)),        // U+20AC
            (true, Hello(0xF0, 0xA4, 0xAD, 0xA2)),  // U+24B62
            (true, Kosme));

        // 6.6: every prefix of "κόσμε"; valid exactly when it ends on a code point boundary
        int[] boundaries = [2, 5, 7, 9, 11];
        Add("All prefixes of a valid UTF-8 string that contains multi-byte code points",
            Enumerable.Range(1, Kosme.Length).Select(n => (boundaries.Contains(n), Kosme[..n])).ToArray());

        // 6.7 / 6.8: first possible sequence of a certain length (2.1), and lengths 5/6 (beyond U+10FFFF)
        Add("First possible sequence of a certain length",
            (true, B(0x00)), (true, B(0xC2, 0x80)), (true, B(0xE0, 0xA0, 0x80)), (true, B(0xF0, 0x90, 0x80, 0x80)));
        Add("First possible sequence length 5/6 (invalid codepoints)",
            (false, B(0xF8, 0x88, 0x80, 0x80, 0x80)), (false, B(0xFC, 0x84, 0x80, 0x80, 0x80, 0x80)));

        // 6.9 / 6.10: last possible sequence of a certain length (2.2), and lengths 4/5/6 beyond U+10FFFF
        Add("Last possible sequence of a certain length",
            (true, B(0x7F)), (true, B(0xDF, 0xBF)), (true, B(0xEF, 0xBF, 0xBF)), (true, B(0xF4, 0x8F, 0xBF, 0xBF)));
        Add("Last possible sequence length 4/5/6 (invalid codepoints)",
            (false, B(0xF7, 0xBF, 0xBF, 0xBF)), (false, B(0xFB, 0xBF, 0xBF, 0xBF, 0xBF)), (false, B(0xFD, 0xBF, 0xBF, 0xBF, 0xBF, 0xBF)));

        // 6.11: other boundary conditions (2.3)
        Add("Other boundary conditions",
            (true, B(0xED, 0x9F, 0xBF)), (true, B(0xEE, 0x80, 0x80)), (true, B(0xEF, 0xBF, 0xBD)),
            (true, B(0xF4, 0x8F, 0xBF, 0xBF)), (false, B(0xF4, 0x90, 0x80, 0x80)));

        // 6.12: unexpected continuation bytes (3.1); the last one is every byte 0x80..0xBE
        Add("Unexpected continuation bytes",
            (false, B(0x80)), (false, B(0xBF)), (false, B(0x80, 0xBF)), (false, B(0x80, 0xBF, 0x80)),
            (false, B(0x80, 0xBF, 0x80, 0xBF)), (false, B(0x80, 0xBF, 0x80, 0xBF, 0x80)),
            (false, B(0x80, 0xBF, 0x80, 0xBF, 0x80, 0xBF)),
            (false, Enumerable.Range(0x80, 0xBF - 0x80).Select(i => (byte)i).ToArray()));

        // 6.13: lonely start characters (3.2), each followed by a space; ranges are [from, to)
        Add("Lonely start characters",
            new[] { (0xC0, 0xDF), (0xE0, 0xEF), (0xF0, 0xF7), (0xF8, 0xFB), (0xFC, 0xFD) }
                .Select(r => (false, Enumerable.Range(r.Item1, r.Item2 - r.Item1).SelectMany(i => new[] { (byte)i, (byte)0x20 }).ToArray()))
                .ToArray());

        // 6.14 / 6.15: sequences with the last continuation byte missing (3.3), and all of them concatenated (3.4)
        byte[][] incomplete =
        [
            B(0xC0), B(0xE0, 0x80), B(0xF0, 0x80, 0x80), B(0xF8, 0x80, 0x80, 0x80), B(0xFC, 0x80, 0x80, 0x80, 0x80),
            B(0xDF), B(0xEF, 0xBF), B(0xF7, 0xBF, 0xBF), B(0xFB, 0xBF, 0xBF, 0xBF), B(0xFD, 0xBF, 0xBF, 0xBF, 0xBF),
        ];
        Add("Sequences with last continuation byte missing", incomplete.Select(s => (false, s)).ToArray());
        Add("Concatenation of incomplete sequences", (false, incomplete.SelectMany(s => s).ToArray()));

        // 6.16: impossible bytes (3.5)
        Add("Impossible bytes", (false, B(0xFE)), (false, B(0xFF)), (false, B(0xFE, 0xFE, 0xFF, 0xFF)));

        // 6.17 - 6.19: overlong forms (4.1 - 4.3)
        Add("Examples of an overlong ASCII character",
            (false, B(0xC0, 0xAF)), (false, B(0xE0, 0x80, 0xAF)), (false, B(0xF0, 0x80, 0x80, 0xAF)),
            (false, B(0xF8, 0x80, 0x80, 0x80, 0xAF)), (false, B(0xFC, 0x80, 0x80, 0x80, 0x80, 0xAF)));
        Add("Maximum overlong sequences",
            (false, B(0xC1, 0xBF)), (false, B(0xE0, 0x9F, 0xBF)), (false, B(0xF0, 0x8F, 0xBF, 0xBF)),
            (false, B(0xF8, 0x87, 0xBF, 0xBF, 0xBF)), (false, B(0xFC, 0x83, 0xBF, 0xBF, 0xBF, 0xBF)));
        Add("Overlong representation of the NUL character",
            (false, B(0xC0, 0x80)), (false, B(0xE0, 0x80, 0x80)), (false, B(0xF0, 0x80, 0x80, 0x80)),
            (false, B(0xF8, 0x80, 0x80, 0x80, 0x80)), (false, B(0xFC, 0x80, 0x80, 0x80, 0x80, 0x80)));

        // 6.20 / 6.21: UTF-16 surrogates, single and paired (5.1, 5.2)
        Add("Single UTF-16 surrogates",
            (false, B(0xED, 0xA0, 0x80)), (false, B(0xED, 0xAD, 0xBF)), (false, B(0xED, 0xAE, 0x80)), (false, B(0xED, 0xAF, 0xBF)),
            (false, B(0xED, 0xB0, 0x80)), (false, B(0xED, 0xBE, 0x80)), (false, B(0xED, 0xBF, 0xBF)));
        Add("Paired UTF-16 surrogates",
            (false, B(0xED, 0xA0, 0x80, 0xED, 0xB0, 0x80)), (false, B(0xED, 0xA0, 0x80, 0xED, 0xBF, 0xBF)),
            (false, B(0xED, 0xAD, 0xBF, 0xED, 0xB0, 0x80)), (false, B(0xED, 0xAD, 0xBF, 0xED, 0xBF, 0xBF)),
            (false, B(0xED, 0xAE, 0x80, 0xED, 0xB0, 0x80)), (false, B(0xED, 0xAE, 0x80, 0xED, 0xBF, 0xBF)),
            (false, B(0xED, 0xAF, 0xBF, 0xED, 0xB0, 0x80)), (false, B(0xED, 0xAF, 0xBF, 0xED, 0xBF, 0xBF)));

        // 6.22: non-characters, which are valid UTF-8 (RFC 3629): EF BF BE/BF and F[0-4] [89AB]F BF BE/BF up to U+10FFFF,
        // leaving out the overlong F0 8F BF BE/BF
        var nonCharacters = new List<(bool, byte[])> { (true, B(0xEF, 0xBF, 0xBE)), (true, B(0xEF, 0xBF, 0xBF)) };
        foreach (var z1 in new[] { 0xF0, 0xF1, 0xF2, 0xF3, 0xF4 })
        {
            foreach (var z2 in new[] { 0x8F, 0x9F, 0xAF, 0xBF })
            {
                if (z1 == 0xF4 && z2 != 0x8F)
                {
                    continue; // beyond U+10FFFF
                }

                foreach (var z3 in new[] { 0xBE, 0xBF })
                {
                    if (z1 == 0xF0 && z2 == 0x8F)
                    {
                        continue; // overlong
                    }

                    nonCharacters.Add((true, B(z1, z2, 0xBF, z3)));
                }
            }
        }

        Add("Non-character code points (valid UTF-8)", nonCharacters.ToArray());

        // 6.23: the Specials block, replacement character included
        Add("Unicode specials (i.e. replacement char)",
            Enumerable.Range(0xB9, 7).Select(b => (true, B(0xEF, 0xBF, b))).ToArray());

        return groups;
    }
}
