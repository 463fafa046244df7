using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace LoadTool.Client;

/// <summary>Client-to-server masking (RFC 6455 section 5.3), vectorized: destination[i] = source[i] ^ key[i % 4].</summary>
internal static class Masking
{
    /// <param name="key">The 4 key bytes as they go on the wire, read as a machine-order int.</param>
    public static void Apply(ReadOnlySpan<byte> source, Span<byte> destination, uint key)
    {
        ref var src = ref MemoryMarshal.GetReference(source);
        ref var dst = ref MemoryMarshal.GetReference(destination);
        var length = (nuint)source.Length;
        var key64 = key | ((ulong)key << 32);
        nuint i = 0;
        if (Vector256.IsHardwareAccelerated && length >= 32)
        {
            var k = Vector256.Create(key64).AsByte();
            for (; i + 32 <= length; i += 32)
            {
                (Vector256.LoadUnsafe(ref src, i) ^ k).StoreUnsafe(ref dst, i);
            }
        }

        if (Vector128.IsHardwareAccelerated && length - i >= 16)
        {
            var k = Vector128.Create(key64).AsByte();
            for (; i + 16 <= length; i += 16)
            {
                (Vector128.LoadUnsafe(ref src, i) ^ k).StoreUnsafe(ref dst, i);
            }
        }

        for (; i + 8 <= length; i += 8)
        {
            Unsafe.WriteUnaligned(ref Unsafe.Add(ref dst, i), Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref src, i)) ^ key64);
        }

        // i is a multiple of 4 here, so the rest starts at key byte 0.
        var k8 = BitConverter.IsLittleEndian ? key : System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(key);
        for (; i < length; i++)
        {
            Unsafe.Add(ref dst, i) = (byte)(Unsafe.Add(ref src, i) ^ (byte)(k8 >> (int)((i & 3) * 8)));
        }
    }
}
