using System.Buffers;
using System.Buffers.Binary;
using System.Net.WebSockets;
using BenchmarkDotNet.Attributes;
using KestrelWsTransport.Framing;

namespace KestrelWsTransport.Benchmarks;

/// <summary>
/// Frame headers: reading and validating a client header (7-bit, 16-bit and 64-bit lengths) and writing server
/// headers and whole frames. The payload length picks the header form: 32 (2+4 bytes), 1024 (4+4), 65536 (10+4).
/// </summary>
[MemoryDiagnoser]
public class FrameBenchmarks
{
    private ReadOnlySequence<byte> _header;
    private ReadOnlySequence<byte> _splitHeader;
    private byte[] _headerBytes = null!;
    private byte[] _payload = null!;
    private ArrayBufferWriter<byte> _output = null!;

    [Params(32, 1024, 65536)]
    public int PayloadLength { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _headerBytes = ClientHeader(Opcode.Binary, PayloadLength, 0x1A2B3C4D);
        _header = new ReadOnlySequence<byte>(_headerBytes);
        // The header cut after its first byte: the reader copies the 2-14 bytes it needs to the stack.
        _splitHeader = Segment.Split(_headerBytes, 1);
        _payload = new byte[PayloadLength];
        Random.Shared.NextBytes(_payload);
        _output = new ArrayBufferWriter<byte>(PayloadLength + FrameHeader.MaxLength);
        if (ReadHeader() != PayloadLength || ReadSplitHeader() != PayloadLength)
        {
            throw new InvalidOperationException("Header not read back.");
        }
    }

    /// <summary>A masked client frame header (no payload: the reader only looks at the header).</summary>
    internal static byte[] ClientHeader(Opcode opcode, long payloadLength, int maskKey)
    {
        var header = new byte[FrameHeader.MaxLength];
        var length = FrameWriter.WriteHeader(header, opcode, fin: true, payloadLength);
        header[1] |= 0x80;
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(length), maskKey);
        return header[..(length + 4)];
    }

    [Benchmark(Baseline = true)]
    public long ReadHeader()
    {
        FrameReader.TryReadHeader(_header, false, long.MaxValue, out var header, out _, out _);
        return header.PayloadLength;
    }

    [Benchmark]
    public long ReadSplitHeader()
    {
        FrameReader.TryReadHeader(_splitHeader, false, long.MaxValue, out var header, out WebSocketCloseStatus _, out _);
        return header.PayloadLength;
    }

    [Benchmark]
    public int WriteHeader()
    {
        Span<byte> destination = stackalloc byte[FrameHeader.MaxLength];
        return FrameWriter.WriteHeader(destination, Opcode.Binary, true, PayloadLength);
    }

    /// <summary>Header and payload copied into an <see cref="IBufferWriter{T}"/>, as a send does into the output pipe.</summary>
    [Benchmark]
    public int WriteFrame()
    {
        _output.ResetWrittenCount();
        FrameWriter.WriteFrame(_output, Opcode.Binary, true, _payload);
        return _output.WrittenCount;
    }
}
