using System.Text;

namespace KestrelWsTransport.Conformance.Cases;

/// <summary>
/// Stand-ins for Autobahn's compression test files (a JSON file, a bitmap, German prose, an HTML file, a PDF), made
/// here from fixed seeds with the same sizes and the same kind of content, so sections 12 and 13 need no download.
/// The text sets are pure ASCII: Autobahn slices them at arbitrary offsets and sends the slices as text messages.
/// </summary>
internal sealed class CompressionTestData
{
    private readonly Lazy<byte[]> _bytes;

    private CompressionTestData(string description, bool binary, int size, Func<Random, int, byte[]> generate, int seed)
    {
        Description = description;
        Binary = binary;
        Size = size;
        _bytes = new Lazy<byte[]>(() => generate(new Random(seed), size));
    }

    public string Description { get; }

    /// <summary>Whether messages cut from it are sent as binary (else as text).</summary>
    public bool Binary { get; }

    public int Size { get; }

    public byte[] Bytes => _bytes.Value;

    public static CompressionTestData Json { get; } = new("Large JSON data file", false, 194056, GenerateJson, 1);

    public static CompressionTestData Bitmap { get; } = new("Picture, bitmap 512x512 grey scale", true, 263222, GenerateBitmap, 2);

    public static CompressionTestData Prose { get; } = new("Human readable text, German verse", true, 222218, GenerateProse, 3);

    public static CompressionTestData Html { get; } = new("Large HTML file", false, 263527, GenerateHtml, 4);

    public static CompressionTestData Pdf { get; } = new("A larger PDF", true, 1042328, GeneratePdf, 5);

    /// <summary>Autobahn's order of the sub-sections 12.1 to 12.5.</summary>
    public static IReadOnlyList<CompressionTestData> Section12Order { get; } = [Json, Bitmap, Prose, Html, Pdf];

    private static readonly string[] Words =
    [
        "lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit", "sed", "do", "eiusmod", "tempor",
        "incididunt", "ut", "labore", "et", "dolore", "magna", "aliqua", "enim", "ad", "minim", "veniam", "quis",
        "nostrud", "exercitation", "ullamco", "laboris", "nisi", "aliquip", "ex", "ea", "commodo", "consequat",
    ];

    private static readonly string[] GermanWords =
    [
        "und", "der", "die", "das", "ich", "nicht", "mit", "Welt", "Geist", "Herz", "über", "schön", "Mädchen", "Größe",
        "Glück", "für", "hätte", "wär", "Natur", "Himmel", "Erde", "Nacht", "Tag", "Seele", "Liebe", "müssen", "früh",
        "Lied", "Blüte", "Traum", "heißt", "weiß", "Fülle", "Wärme", "Stunde", "Augenblick", "verweile", "doch", "du",
        "bist", "so", "Gestalten", "schwankende", "naht", "euch", "wieder", "Vernunft", "Wissen", "Kraft", "Tat",
    ];

    private static string Pick(Random random, string[] words) => words[random.Next(words.Length)];

    private static string Sentence(Random random, string[] words, int min, int max) =>
        string.Join(' ', Enumerable.Range(0, random.Next(min, max)).Select(_ => Pick(random, words)));

    private static byte[] Cut(StringBuilder text, int size)
    {
        var bytes = Encoding.UTF8.GetBytes(text.ToString());
        return bytes[..size];
    }

    private static byte[] GenerateJson(Random random, int size)
    {
        var text = new StringBuilder("[\n");
        for (var id = 0; text.Length < size + 1024; id++)
        {
            var name = Pick(random, Words) + " " + Pick(random, Words);
            text.Append("  {\n")
                .Append($"    \"id\": {id},\n")
                .Append($"    \"guid\": \"{random.Next():x8}-{random.Next(0x10000):x4}-{random.Next(0x10000):x4}-{random.Next(0x10000):x4}-{random.Next():x8}{random.Next(0x10000):x4}\",\n")
                .Append($"    \"isActive\": {(random.Next(2) == 0 ? "true" : "false")},\n")
                .Append($"    \"balance\": \"${random.Next(1000, 4000)}.{random.Next(100):00}\",\n")
                .Append($"    \"age\": {random.Next(20, 70)},\n")
                .Append($"    \"name\": \"{name}\",\n")
                .Append($"    \"email\": \"{name.Replace(' ', '.')}@example.com\",\n")
                .Append($"    \"about\": \"{Sentence(random, Words, 12, 40)}.\",\n")
                .Append($"    \"latitude\": {random.NextDouble() * 180 - 90:0.000000},\n")
                .Append($"    \"longitude\": {random.NextDouble() * 360 - 180:0.000000},\n")
                .Append($"    \"tags\": [{string.Join(", ", Enumerable.Range(0, 6).Select(_ => $"\"{Pick(random, Words)}\""))}],\n")
                .Append($"    \"friends\": [{string.Join(", ", Enumerable.Range(0, 3).Select(f => $"{{\"id\": {f}, \"name\": \"{Pick(random, Words)} {Pick(random, Words)}\"}}"))}]\n")
                .Append("  },\n");
        }

        return Cut(text, size);
    }

    private static byte[] GenerateHtml(Random random, int size)
    {
        var text = new StringBuilder("<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n<title>Test page</title>\n</head>\n<body>\n");
        for (var item = 0; text.Length < size + 1024; item++)
        {
            text.Append($"<div class=\"item {Pick(random, Words)}\" id=\"item-{item}\">\n")
                .Append($"  <h2>{Sentence(random, Words, 2, 6)}</h2>\n")
                .Append($"  <p>{Sentence(random, Words, 20, 60)} <a href=\"/{Pick(random, Words)}/{item}\">{Pick(random, Words)}</a>.</p>\n")
                .Append("  <ul>\n");
            for (var li = random.Next(2, 6); li > 0; li--)
            {
                text.Append($"    <li><span class=\"{Pick(random, Words)}\">{Sentence(random, Words, 3, 9)}</span></li>\n");
            }

            text.Append("  </ul>\n</div>\n");
        }

        return Cut(text, size);
    }

    private static byte[] GenerateProse(Random random, int size)
    {
        var text = new StringBuilder();
        var bytes = 0;
        while (bytes < size + 1024)
        {
            for (var verse = random.Next(4, 9); verse > 0; verse--)
            {
                var line = Sentence(random, GermanWords, 4, 10);
                line = char.ToUpperInvariant(line[0]) + line[1..] + (random.Next(4) == 0 ? "!\n" : ",\n");
                text.Append(line);
                bytes += Encoding.UTF8.GetByteCount(line);
            }

            text.Append('\n');
            bytes++;
        }

        return Cut(text, size);
    }

    /// <summary>A BMP with a 54-byte header, a 256-entry grey palette and 512x512 8-bit pixels: smooth shapes and some noise.</summary>
    private static byte[] GenerateBitmap(Random random, int size)
    {
        const int Width = 512, Height = 512, PixelOffset = 14 + 40 + 1024;
        var bytes = new byte[size];
        void U16(int at, int value) => BitConverter.TryWriteBytes(bytes.AsSpan(at), (ushort)value);
        void U32(int at, int value) => BitConverter.TryWriteBytes(bytes.AsSpan(at), value);
        bytes[0] = (byte)'B';
        bytes[1] = (byte)'M';
        U32(2, size);
        U32(10, PixelOffset);
        U32(14, 40);
        U32(18, Width);
        U32(22, Height);
        U16(26, 1);
        U16(28, 8);
        U32(34, Width * Height);
        U32(46, 256);
        for (var i = 0; i < 256; i++)
        {
            bytes[54 + i * 4] = bytes[55 + i * 4] = bytes[56 + i * 4] = (byte)i;
        }

        for (var y = 0; y < Height; y++)
        {
            for (var x = 0; x < Width; x++)
            {
                var value = 128 + 60 * Math.Sin(x / 37.0) * Math.Cos(y / 23.0) + 40 * Math.Sin((x + y) / 71.0) + random.Next(-6, 7);
                bytes[PixelOffset + y * Width + x] = (byte)Math.Clamp(value, 0, 255);
            }
        }

        return bytes;
    }

    /// <summary>PDF-like: readable objects and content streams around binary (incompressible) image streams.</summary>
    private static byte[] GeneratePdf(Random random, int size)
    {
        var output = new MemoryStream(size + 4096);
        void Text(string s) => output.Write(Encoding.ASCII.GetBytes(s));
        Text("%PDF-1.4\n");
        for (var obj = 1; output.Length < size; obj++)
        {
            if (obj % 3 == 0)
            {
                var binary = new byte[random.Next(4096, 16384)];
                random.NextBytes(binary);
                Text($"{obj} 0 obj\n<< /Type /XObject /Subtype /Image /Length {binary.Length} /Filter /FlateDecode >>\nstream\n");
                output.Write(binary);
                Text("\nendstream\nendobj\n");
            }
            else
            {
                var content = new StringBuilder();
                for (var line = random.Next(10, 40); line > 0; line--)
                {
                    content.Append($"BT /F1 {random.Next(8, 14)} Tf {random.Next(50, 550)} {random.Next(50, 750)} Td ({Sentence(random, Words, 3, 12)}) Tj ET\n");
                }

                Text($"{obj} 0 obj\n<< /Length {content.Length} >>\nstream\n{content}endstream\nendobj\n");
            }
        }

        return output.ToArray()[..size];
    }
}
