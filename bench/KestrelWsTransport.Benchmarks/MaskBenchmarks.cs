using BenchmarkDotNet.Attributes;
using KestrelWsTransport.Framing;

namespace KestrelWsTransport.Benchmarks;

/// <summary>
/// Unmasking in place (RFC 6455 section 5.3), vectorized, against the byte-at-a-time loop of the RFC's pseudo-code
/// (the runtime's own masking in ManagedWebSocket is internal; it is measured inside <see cref="EchoBenchmarks"/>).
/// </summary>
[MemoryDiagnoser]
public class MaskBenchmarks
{
    private const int Key = 0x1A2B3C4D;
    private byte[] _data = null!;

    [Params(0, 16, 128, 1024, 16 * 1024, 64 * 1024)]
    public int Size { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _data = new byte[Size];
        Random.Shared.NextBytes(_data);
    }

    [Benchmark]
    public int Vectorized() => Mask.Apply(_data, Key, 0);

    [Benchmark(Baseline = true)]
    public int ByteLoop()
    {
        var data = _data;
        Span<byte> key = stackalloc byte[4];
        BitConverter.TryWriteBytes(key, Key);
        for (var i = 0; i < data.Length; i++)
        {
            data[i] ^= key[i & 3];
        }

        return data.Length & 3;
    }
}
