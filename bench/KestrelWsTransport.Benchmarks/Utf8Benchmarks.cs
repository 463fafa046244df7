using System.Text;
using System.Text.Unicode;
using BenchmarkDotNet.Attributes;
using KestrelWsTransport.Framing;

namespace KestrelWsTransport.Benchmarks;

/// <summary>
/// UTF-8 validation of text messages: the incremental <see cref="Utf8Validator"/> (whole, and fed in 1000-byte pieces
/// that cut code points, as fragments do) against the runtime's one-shot <see cref="Utf8.IsValid(ReadOnlySpan{byte})"/>.
/// </summary>
[MemoryDiagnoser]
public class Utf8Benchmarks
{
    private const int Piece = 1000;
    private byte[] _text = null!;

    [Params(16, 128, 1024, 16 * 1024, 64 * 1024)]
    public int Size { get; set; }

    /// <summary>Ascii: English-like text. Mixed: Latin, Greek, CJK and emoji (1- to 4-byte sequences).</summary>
    [Params("Ascii", "Mixed")]
    public string Text { get; set; } = "Ascii";

    [GlobalSetup]
    public void Setup()
    {
        var sample = Text == "Ascii"
            ? "The quick brown fox jumps over the lazy dog. "
            : "Grüße, καλημέρα, 你好世界, こんにちは 👋🏽 ";
        var builder = new StringBuilder();
        while (Encoding.UTF8.GetByteCount(builder.ToString()) < Size)
        {
            builder.Append(sample);
        }

        // Cut to Size bytes on a code point boundary, then pad with ASCII to exactly Size.
        var bytes = Encoding.UTF8.GetBytes(builder.ToString());
        var end = Size;
        while (end > 0 && (bytes[end - 1] & 0xC0) == 0x80 || end > 0 && bytes[end - 1] >= 0xC0)
        {
            end--;
        }

        _text = new byte[Size];
        bytes.AsSpan(0, end).CopyTo(_text);
        _text.AsSpan(end).Fill((byte)'.');
        if (!Utf8.IsValid(_text) || !ValidatorWhole() || !ValidatorPieces())
        {
            throw new InvalidOperationException("Benchmark text is not valid UTF-8.");
        }
    }

    [Benchmark(Baseline = true)]
    public bool RuntimeIsValid() => Utf8.IsValid(_text);

    [Benchmark]
    public bool ValidatorWhole()
    {
        var validator = new Utf8Validator();
        return validator.Append(_text) && validator.IsComplete;
    }

    [Benchmark]
    public bool ValidatorPieces()
    {
        var validator = new Utf8Validator();
        ReadOnlySpan<byte> rest = _text;
        while (rest.Length > Piece)
        {
            if (!validator.Append(rest[..Piece]))
            {
                return false;
            }

            rest = rest[Piece..];
        }

        return validator.Append(rest) && validator.IsComplete;
    }
}
