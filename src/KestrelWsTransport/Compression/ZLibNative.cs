using System.Reflection;
using System.Runtime.InteropServices;

namespace KestrelWsTransport.Compression;

/// <summary>
/// The few entry points of the system zlib that permessage-deflate needs. The runtime's DeflateStream cannot take a
/// window below 15 bits or a memory level, and RFC 7692 negotiates both, so the transport calls zlib directly.
/// </summary>
internal static unsafe class ZLibNative
{
    public const int Ok = 0;
    public const int StreamEnd = 1;
    public const int BufError = -5;
    public const int NoFlush = 0;
    public const int SyncFlush = 2;
    public const int Deflated = 8;
    public const int DefaultStrategy = 0;

    private const string Library = "kestrelws-zlib";

    // zlib checks only that the major version matches; any 1.x library accepts this.
    private static readonly byte* s_version = (byte*)Marshal.StringToHGlobalAnsi("1.2.11");

    private static readonly Lazy<bool> s_available = new(Probe);

    static ZLibNative()
    {
        NativeLibrary.SetDllImportResolver(typeof(ZLibNative).Assembly, Resolve);
    }

    /// <summary>Whether a system zlib could be loaded; without one the transport declines permessage-deflate.</summary>
    public static bool IsAvailable => s_available.Value;

    /// <summary>z_stream from zlib.h. <see cref="CULong"/> keeps uLong the platform's C size (8 bytes on Linux x64, 4 on Windows).</summary>
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

        string[] candidates = OperatingSystem.IsWindows() ? ["zlib1.dll", "zlib.dll"]
            : OperatingSystem.IsMacOS() ? ["libz.dylib", "libz.1.dylib"]
            : ["libz.so.1", "libz.so"];
        foreach (var candidate in candidates)
        {
            if (NativeLibrary.TryLoad(candidate, assembly, searchPath, out var handle))
            {
                return handle;
            }
        }

        return IntPtr.Zero;
    }

    private static bool Probe()
    {
        try
        {
            var stream = (ZStream*)NativeMemory.AllocZeroed((nuint)sizeof(ZStream));
            try
            {
                if (InflateInit(stream, -15) != Ok)
                {
                    return false;
                }

                inflateEnd(stream);
                return true;
            }
            finally
            {
                NativeMemory.Free(stream);
            }
        }
        catch (DllNotFoundException)
        {
            return false;
        }
        catch (EntryPointNotFoundException)
        {
            return false;
        }
    }
}
