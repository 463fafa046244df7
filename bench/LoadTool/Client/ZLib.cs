using System.Buffers;
using System.Reflection;
using System.Runtime.InteropServices;

namespace LoadTool.Client;

/// <summary>
/// The system zlib (libz.so.1) for the client side of permessage-deflate (RFC 7692). The runtime's DeflateStream
/// cannot inflate a message and then wait for the next one with the same window, nor take a window size, so the load
/// tool calls zlib itself, as the transport does (this is the tool's own copy, not the library's).
/// </summary>
internal static unsafe class ZLib
{
    public const int Ok = 0;
    public const int StreamEnd = 1;
    public const int BufError = -5;
    public const int NoFlush = 0;
    public const int SyncFlush = 2;

    private const string Library = "loadtool-zlib";
    private const int Deflated = 8;
    private const int DefaultStrategy = 0;

    // zlib only compares the major version.
    private static readonly byte* s_version = (byte*)Marshal.StringToHGlobalAnsi("1.2.11");

    static ZLib()
    {
        NativeLibrary.SetDllImportResolver(typeof(ZLib).Assembly, Resolve);
    }

    /// <summary>z_stream of zlib.h (uLong is <see cref="CULong"/>: 8 bytes on Linux x64).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct ZStream
    {
        public byte* NextIn;
        public uint AvailIn;
        public CULong TotalIn;
        public byte* NextOut;
        public uint AvailOut;
        public CULong TotalOut;
        public IntPtr Msg;
        public IntPtr State;
        public IntPtr ZAlloc;
        public IntPtr ZFree;
        public IntPtr Opaque;
        public int DataType;
        public CULong Adler;
        public CULong Reserved;
    }

    public static int DeflateInit(ZStream* stream, int level, int windowBits, int memLevel) =>
        deflateInit2_(stream, level, Deflated, windowBits, memLevel, DefaultStrategy, s_version, sizeof(ZStream));

    public static int InflateInit(ZStream* stream, int windowBits) => inflateInit2_(stream, windowBits, s_version, sizeof(ZStream));

    [DllImport(Library)]
    public static extern int deflate(ZStream* stream, int flush);

    [DllImport(Library)]
    public static extern int deflateReset(ZStream* stream);

    [DllImport(Library)]
    public static extern int deflateEnd(ZStream* stream);

    [DllImport(Library)]
    public static extern int inflate(ZStream* stream, int flush);

    [DllImport(Library)]
    public static extern int inflateReset(ZStream* stream);

    [DllImport(Library)]
    public static extern int inflateEnd(ZStream* stream);

    [DllImport(Library)]
    private static extern int deflateInit2_(ZStream* stream, int level, int method, int windowBits, int memLevel, int strategy, byte* version, int streamSize);

    [DllImport(Library)]
    private static extern int inflateInit2_(ZStream* stream, int windowBits, byte* version, int streamSize);

    private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath)
    {
        if (name != Library)
        {
            return IntPtr.Zero;
        }

        string[] candidates = OperatingSystem.IsMacOS() ? ["libz.dylib", "libz.1.dylib"] : OperatingSystem.IsWindows() ? ["zlib1.dll"] : ["libz.so.1", "libz.so"];
        foreach (var candidate in candidates)
        {
            if (NativeLibrary.TryLoad(candidate, assembly, searchPath, out var handle))
            {
                return handle;
            }
        }

        return IntPtr.Zero;
    }
}

/// <summary>Compresses one message at a time (raw deflate, sync flush, the 00 00 FF FF tail stripped: RFC 7692 7.2.1).</summary>
internal sealed unsafe class ClientDeflater : IDisposable
{
    /// <summary>zlib's default level and memory level: what browsers (Chromium) and the runtime's WebSocket use.</summary>
    public const int Level = 6;

    public const int MemoryLevel = 8;

    private readonly ZLib.ZStream* _stream;
    private readonly bool _resetEachMessage;
    private bool _disposed;

    /// <param name="resetEachMessage">client_no_context_takeover: forget the window after every message.</param>
    public ClientDeflater(int level, int windowBits, int memLevel, bool resetEachMessage)
    {
        _stream = (ZLib.ZStream*)NativeMemory.AllocZeroed((nuint)sizeof(ZLib.ZStream));
        if (ZLib.DeflateInit(_stream, level, -windowBits, memLevel) != ZLib.Ok)
        {
            NativeMemory.Free(_stream);
            throw new InvalidOperationException("zlib deflateInit2 failed.");
        }

        _resetEachMessage = resetEachMessage;
    }

    /// <summary>
    /// Compresses <paramref name="payload"/> into <paramref name="output"/> (rented from the shared pool and grown as
    /// needed; the caller returns it) and returns the length without the final 00 00 FF FF.
    /// </summary>
    public int Compress(ReadOnlySpan<byte> payload, ref byte[] output)
    {
        var written = 0;
        fixed (byte* input = payload)
        {
            _stream->NextIn = input;
            _stream->AvailIn = (uint)payload.Length;
            // Sync flush: everything goes out, ending in an empty stored block (00 00 FF FF); run until zlib had room
            // to spare, which means it has nothing left.
            do
            {
                if (written == output.Length)
                {
                    var grown = ArrayPool<byte>.Shared.Rent(output.Length * 2);
                    output.AsSpan(0, written).CopyTo(grown);
                    ArrayPool<byte>.Shared.Return(output);
                    output = grown;
                }

                fixed (byte* outPtr = output)
                {
                    _stream->NextOut = outPtr + written;
                    _stream->AvailOut = (uint)(output.Length - written);
                    var status = ZLib.deflate(_stream, ZLib.SyncFlush);
                    if (status is not (ZLib.Ok or ZLib.BufError))
                    {
                        throw new InvalidOperationException($"zlib deflate failed ({status}).");
                    }

                    written = output.Length - (int)_stream->AvailOut;
                    _stream->NextOut = null;
                }
            }
            while (_stream->AvailOut == 0 || _stream->AvailIn > 0);

            _stream->NextIn = null;
        }

        if (_resetEachMessage)
        {
            ZLib.deflateReset(_stream);
        }

        if (written < 4 || !output.AsSpan(written - 4, 4).SequenceEqual((ReadOnlySpan<byte>)[0x00, 0x00, 0xFF, 0xFF]))
        {
            throw new InvalidOperationException("zlib's sync flush did not end in 00 00 FF FF.");
        }

        return written - 4;
    }

    public void Dispose()
    {
        if (!_disposed)
        {
            _disposed = true;
            ZLib.deflateEnd(_stream);
            NativeMemory.Free(_stream);
            GC.SuppressFinalize(this);
        }
    }

    ~ClientDeflater()
    {
        Dispose();
    }
}

/// <summary>Receives the inflated bytes of a message as they come out of zlib.</summary>
internal interface IInflateSink
{
    void OnInflated(ReadOnlySpan<byte> plain);
}

/// <summary>
/// Inflates the server's compressed messages piece by piece, as their payload arrives (RFC 7692 7.2.2: the stripped
/// tail is put back at the end of each message), handing the output to a sink in small pieces: no message is ever held
/// whole.
/// </summary>
internal sealed unsafe class ClientInflater : IDisposable
{
    private const int OutputChunk = 16 * 1024;

    [ThreadStatic]
    private static byte[]? t_output;

    private readonly ZLib.ZStream* _stream;
    private bool _ended;
    private bool _disposed;

    public ClientInflater()
    {
        _stream = (ZLib.ZStream*)NativeMemory.AllocZeroed((nuint)sizeof(ZLib.ZStream));
        // A 15-bit window can read anything a smaller negotiated server window produces.
        if (ZLib.InflateInit(_stream, -15) != ZLib.Ok)
        {
            NativeMemory.Free(_stream);
            throw new InvalidOperationException("zlib inflateInit2 failed.");
        }
    }

    /// <summary>Feeds part of a compressed message's payload; <paramref name="produced"/> counts this message's output.</summary>
    public long Feed(ReadOnlySpan<byte> compressed, IInflateSink sink, long limit, ref long produced)
    {
        if (_ended)
        {
            if (!compressed.IsEmpty)
            {
                throw new InvalidDataException("Compressed bytes after the end of the server's deflate stream.");
            }

            return produced;
        }

        var output = t_output ??= new byte[OutputChunk];
        fixed (byte* input = compressed)
        fixed (byte* outPtr = output)
        {
            _stream->NextIn = input;
            _stream->AvailIn = (uint)compressed.Length;
            while (true)
            {
                _stream->NextOut = outPtr;
                _stream->AvailOut = (uint)output.Length;
                var status = ZLib.inflate(_stream, ZLib.SyncFlush);
                var count = output.Length - (int)_stream->AvailOut;
                _stream->NextOut = null;
                if (count > 0)
                {
                    produced += count;
                    if (produced > limit)
                    {
                        throw new InvalidDataException($"An inflated message passed {limit:N0} bytes.");
                    }

                    sink.OnInflated(output.AsSpan(0, count));
                }

                if (status == ZLib.StreamEnd)
                {
                    // The server ended its deflate stream (BFINAL, allowed): the next message starts a new one.
                    var trailing = _stream->AvailIn;
                    _stream->NextIn = null;
                    ZLib.inflateReset(_stream);
                    _ended = true;
                    if (trailing > 0)
                    {
                        throw new InvalidDataException("Compressed bytes after the end of the server's deflate stream.");
                    }

                    return produced;
                }

                if (status is not (ZLib.Ok or ZLib.BufError))
                {
                    _stream->NextIn = null;
                    throw new InvalidDataException($"The server's deflate data is corrupt (zlib {status}).");
                }

                if (_stream->AvailIn == 0 && _stream->AvailOut > 0)
                {
                    _stream->NextIn = null;
                    return produced;
                }

                if (status == ZLib.BufError && count == 0)
                {
                    _stream->NextIn = null;
                    throw new InvalidDataException("zlib made no progress inflating the server's data.");
                }
            }
        }
    }

    /// <summary>Ends a message: puts back the 00 00 FF FF tail; with server_no_context_takeover forgets the window.</summary>
    public void EndMessage(IInflateSink sink, long limit, ref long produced, bool reset)
    {
        if (!_ended)
        {
            Feed([0x00, 0x00, 0xFF, 0xFF], sink, limit, ref produced);
        }

        _ended = false;
        if (reset)
        {
            ZLib.inflateReset(_stream);
        }
    }

    public void Dispose()
    {
        if (!_disposed)
        {
            _disposed = true;
            ZLib.inflateEnd(_stream);
            NativeMemory.Free(_stream);
            GC.SuppressFinalize(this);
        }
    }

    ~ClientInflater()
    {
        Dispose();
    }
}
