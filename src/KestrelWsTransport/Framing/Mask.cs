using System.Buffers;
using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace KestrelWsTransport.Framing;

/// <summary>
/// The client-to-server masking of RFC 6455 section 5.3: every payload byte i is XORed with
/// byte <c>i mod 4</c> of a 4-byte masking key. The same operation masks and unmasks.
/// </summary>
/// <remarks>
/// <para>
/// The key is passed as an <see cref="int"/> holding the 4 wire bytes in machine byte order
/// (what <c>MemoryMarshal.Read&lt;int&gt;</c> returns for them). Keeping it in that form means the
/// key's in-memory image already lines up with the payload's in-memory image, so whole words and
/// vectors can be XORed without any per-byte shuffling.
/// </para>
/// <para>
/// Every payload byte of every client frame goes through here, which is why this is vectorized
/// rather than a simple loop: on large messages it is the dominant per-byte cost of receiving.
/// </para>
/// </remarks>
internal static class Mask
{
    /// <summary>XORs <paramref name="data"/> in place with the masking key.</summary>
    /// <param name="data">Payload bytes; may be empty.</param>
    /// <param name="mask">The 4 key bytes in wire order, read as a machine-order <see cref="int"/>.</param>
    /// <param name="maskIndex">
    /// Position (0..3) in the key that applies to <c>data[0]</c>. A payload split across buffer
    /// segments continues where the previous segment stopped, so callers thread the return value through.
    /// </param>
    /// <returns>The key position for the byte after <paramref name="data"/>: <c>(maskIndex + data.Length) &amp; 3</c>.</returns>
    public static int Apply(Span<byte> data, int mask, int maskIndex)
    {
        ref var start = ref MemoryMarshal.GetReference(data);
        Xor(ref start, ref start, (nuint)data.Length, RotateToIndex(mask, maskIndex));
        return (maskIndex + data.Length) & 3;
    }

    /// <summary>
    /// XORs a payload held in pipe memory in place, segment by segment, the key continuing across segments. The
    /// sequence's memory must be writable (a pipe's buffers are; it is read-only only by type).
    /// </summary>
    /// <returns>The key position for the byte after <paramref name="data"/>.</returns>
    public static int ApplyInPlace(in ReadOnlySequence<byte> data, int mask, int maskIndex)
    {
        if (data.IsSingleSegment)
        {
            return Apply(MemoryMarshal.AsMemory(data.First).Span, mask, maskIndex);
        }

        foreach (var segment in data)
        {
            maskIndex = Apply(MemoryMarshal.AsMemory(segment).Span, mask, maskIndex);
        }

        return maskIndex;
    }

    /// <summary>Writes <c>source ^ key</c> into <paramref name="destination"/>.</summary>
    /// <param name="source">Masked (or unmasked) payload bytes.</param>
    /// <param name="destination">
    /// At least <c>source.Length</c> bytes. It may be exactly the same memory as <paramref name="source"/>
    /// (in-place), but must not partially overlap it: each block is read before it is written, which is only
    /// safe when a block's read and write addresses coincide.
    /// </param>
    /// <param name="mask">The 4 key bytes in wire order, read as a machine-order <see cref="int"/>.</param>
    /// <param name="maskIndex">Position (0..3) in the key that applies to <c>source[0]</c>.</param>
    /// <returns>The key position for the byte after <paramref name="source"/>.</returns>
    /// <exception cref="ArgumentException">
    /// <paramref name="destination"/> is too short or partially overlaps <paramref name="source"/>.
    /// </exception>
    public static int Apply(ReadOnlySpan<byte> source, Span<byte> destination, int mask, int maskIndex)
    {
        // A short destination would otherwise silently write out of bounds through the refs below,
        // since this code walks raw references rather than bounds-checked spans.
        if (destination.Length < source.Length)
        {
            throw new ArgumentException("Destination is shorter than source.", nameof(destination));
        }

        if (source.Overlaps(destination, out var offset) && offset != 0)
        {
            throw new ArgumentException("Destination partially overlaps source.", nameof(destination));
        }

        Xor(
            ref MemoryMarshal.GetReference(source),
            ref MemoryMarshal.GetReference(destination),
            (nuint)source.Length,
            RotateToIndex(mask, maskIndex));
        return (maskIndex + source.Length) & 3;
    }

    /// <summary>
    /// Returns the key rotated so that its first in-memory byte is key byte <paramref name="maskIndex"/>.
    /// </summary>
    /// <remarks>
    /// After this, the bulk loops never have to think about the index again: any block that starts at a
    /// multiple of 4 bytes from the start of the data sees the key starting at its first byte.
    /// </remarks>
    private static uint RotateToIndex(int mask, int maskIndex)
    {
        // The low 2 bits are all that matter; masking them also keeps an out-of-range index from
        // producing a shift that means something else.
        var shift = (maskIndex & 3) * 8;

        // On little-endian, memory byte k is bits 8k..8k+7, so moving byte maskIndex to the front is a right
        // rotation; on big-endian memory byte 0 is the top byte, so it is a left rotation.
        return BitConverter.IsLittleEndian
            ? BitOperations.RotateRight((uint)mask, shift)
            : BitOperations.RotateLeft((uint)mask, shift);
    }

    private static void Xor(ref byte source, ref byte destination, nuint length, uint key)
    {
        // The key repeated twice: its in-memory image is the key repeated, whatever the endianness,
        // so it can be broadcast into vectors of any width.
        var key64 = key | ((ulong)key << 32);
        nuint i = 0;

        // Widest first; each narrower step only ever handles what the wider one left (less than one block),
        // so at most one block of each width runs after the main loop. All block sizes are multiples of 4,
        // which keeps the rotated key aligned with i for every step.
        if (Vector512.IsHardwareAccelerated && length >= (nuint)Vector512<byte>.Count)
        {
            var k = Vector512.Create(key64).AsByte();
            var last = length - (nuint)Vector512<byte>.Count;
            do
            {
                (Vector512.LoadUnsafe(ref source, i) ^ k).StoreUnsafe(ref destination, i);
                i += (nuint)Vector512<byte>.Count;
            }
            while (i <= last);
        }

        if (Vector256.IsHardwareAccelerated && length - i >= (nuint)Vector256<byte>.Count)
        {
            var k = Vector256.Create(key64).AsByte();
            var last = length - (nuint)Vector256<byte>.Count;
            do
            {
                (Vector256.LoadUnsafe(ref source, i) ^ k).StoreUnsafe(ref destination, i);
                i += (nuint)Vector256<byte>.Count;
            }
            while (i <= last);
        }

        if (Vector128.IsHardwareAccelerated && length - i >= (nuint)Vector128<byte>.Count)
        {
            var k = Vector128.Create(key64).AsByte();
            var last = length - (nuint)Vector128<byte>.Count;
            do
            {
                (Vector128.LoadUnsafe(ref source, i) ^ k).StoreUnsafe(ref destination, i);
                i += (nuint)Vector128<byte>.Count;
            }
            while (i <= last);
        }

        // Without SIMD this is the main loop; with it, it handles at most one word of the remainder.
        while (length - i >= sizeof(ulong))
        {
            var value = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref source, i)) ^ key64;
            Unsafe.WriteUnaligned(ref Unsafe.Add(ref destination, i), value);
            i += sizeof(ulong);
        }

        if (length - i >= sizeof(uint))
        {
            var value = Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref source, i)) ^ key;
            Unsafe.WriteUnaligned(ref Unsafe.Add(ref destination, i), value);
            i += sizeof(uint);
        }

        if (i < length)
        {
            // Up to 3 bytes remain and i is a multiple of 4, so they take key bytes 0, 1, 2 in memory order.
            // Shifting out the low byte walks memory order only on little-endian; normalise first.
            var bytes = BitConverter.IsLittleEndian ? key : BinaryPrimitives.ReverseEndianness(key);
            do
            {
                Unsafe.Add(ref destination, i) = (byte)(Unsafe.Add(ref source, i) ^ bytes);
                bytes >>= 8;
                i++;
            }
            while (i < length);
        }
    }
}
