using System.Buffers.Binary;
using System.Buffers.Text;
using LoadTool.Client;

namespace LoadTool.Content;

/// <summary>
/// The soak's messages: message number <c>seq</c> of connection <c>c</c> is a pure function of (seed, c, seq), so any
/// byte of it can be computed again when its echo arrives, without keeping what was sent. Every message starts with
/// its sequence number and connection number in ASCII (<see cref="PrefixLength"/> bytes); the rest is text (ASCII
/// with some 2- and 3-byte UTF-8 characters, never cut) or binary (random bytes). Sizes: 60% 20-256 B, 30% 257 B-4 KiB,
/// 9% 4-32 KiB, 1% 32-128 KiB (mean about 3.2 KiB); messages above 8 KiB, and one in eight above 1 KiB, go in 2-4
/// frames.
/// </summary>
internal static class SoakPayload
{
    /// <summary>"SSSSSSSSSSSS CCCCCC ": 12-digit sequence number, space, 6-digit connection number, space.</summary>
    public const int PrefixLength = 20;

    public const int MaxLength = 131_072;

    // 64 printable ASCII characters: 6 bits each.
    private static ReadOnlySpan<byte> Alphabet => "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ."u8;

    public static ulong Key(ulong seed, int connection, long seq) =>
        SplitMix.Mix(SplitMix.Mix(seed + 0x9E3779B97F4A7C15UL * (ulong)(connection + 1)) + (ulong)seq);

    /// <summary>Length, type and frame count of the message with this key.</summary>
    public static int Describe(ulong key, out bool text, out int frames)
    {
        var r = SplitMix.Mix(key ^ 0xA5A5A5A5A5A5A5A5UL);
        var bucket = r % 1000;
        var spread = r >> 10;
        var length = bucket switch
        {
            < 600 => 20 + (int)(spread % 237),
            < 900 => 257 + (int)(spread % 3840),
            < 990 => 4097 + (int)(spread % 28672),
            _ => 32769 + (int)(spread % 98304),
        };
        text = ((r >> 40) & 1) == 0;
        frames = length > 8192 ? 2 + (int)((r >> 44) % 3) : length > 1024 && ((r >> 48) & 7) == 0 ? 2 : 1;
        return length;
    }

    /// <summary>Writes bytes [<paramref name="offset"/>, offset + destination.Length) of the message.</summary>
    public static void Fill(ulong key, int connection, long seq, int length, bool text, long offset, Span<byte> destination)
    {
        var position = offset;
        var end = offset + destination.Length;
        if (position < PrefixLength)
        {
            Span<byte> prefix = stackalloc byte[PrefixLength];
            WritePrefix(seq, connection, prefix);
            var n = (int)Math.Min(PrefixLength - position, destination.Length);
            prefix.Slice((int)position, n).CopyTo(destination);
            position += n;
        }

        var bodyLength = length - PrefixLength;
        Span<byte> block = stackalloc byte[8];
        while (position < end)
        {
            var q = position - PrefixLength;
            var index = q / 8;
            var within = (int)(q % 8);
            Block(key, index, text, (index + 1) * 8 <= bodyLength, block);
            var n = (int)Math.Min(8 - within, end - position);
            block.Slice(within, n).CopyTo(destination[(int)(position - offset)..]);
            position += n;
        }
    }

    public static void WritePrefix(long seq, int connection, Span<byte> destination)
    {
        Utf8Formatter.TryFormat(seq, destination, out _, new System.Buffers.StandardFormat('D', 12));
        destination[12] = (byte)' ';
        Utf8Formatter.TryFormat(connection, destination[13..], out _, new System.Buffers.StandardFormat('D', 6));
        destination[19] = (byte)' ';
    }

    /// <summary>Reads the sequence and connection numbers back; false if the prefix is not one of ours.</summary>
    public static bool TryReadPrefix(ReadOnlySpan<byte> prefix, out long seq, out int connection)
    {
        connection = 0;
        seq = 0;
        return prefix.Length >= PrefixLength && prefix[12] == ' ' && prefix[19] == ' '
            && Utf8Parser.TryParse(prefix[..12], out seq, out var a) && a == 12
            && Utf8Parser.TryParse(prefix.Slice(13, 6), out connection, out var b) && b == 6;
    }

    private static void Block(ulong key, long index, bool text, bool whole, Span<byte> block)
    {
        var v = SplitMix.Mix(key + 0xD1B54A32D192ED03UL * (ulong)(index + 1));
        if (!text)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(block, v);
            return;
        }

        var letters = Alphabet;
        if (whole && (v & 0xF) == 0)
        {
            // "é€" and three ASCII characters: 8 bytes of valid UTF-8 in one block, so no block boundary cuts a character.
            block[0] = 0xC3;
            block[1] = 0xA9;
            block[2] = 0xE2;
            block[3] = 0x82;
            block[4] = 0xAC;
            block[5] = letters[(int)((v >> 8) & 63)];
            block[6] = letters[(int)((v >> 14) & 63)];
            block[7] = letters[(int)((v >> 20) & 63)];
            return;
        }

        for (var i = 0; i < 8; i++)
        {
            block[i] = letters[(int)((v >> (4 + 6 * i)) & 63)];
        }
    }
}

/// <summary>
/// One soak connection's messages: sends 0, 1, 2, ... and checks every echo: its sequence number (exactly once, in
/// order), its connection number, type, length and every byte. Send and receive sides run on different tasks; the
/// counters each side writes are its own.
/// </summary>
internal sealed class SoakContent(ulong seed, int connection) : IMessageContent
{
    private long _sent;
    private ulong _sendKey;

    // Receive side.
    private readonly byte[] _prefix = new byte[SoakPayload.PrefixLength];
    private int _prefixLength;
    private bool _text;
    private long _seq;
    private ulong _key;
    private int _expectedLength;
    private bool _expectedText;
    private long _offset;
    private bool _bad;
    private long _nextExpected;
    private HashSet<long>? _missing;
    private long _received;

    public int Connection => connection;

    /// <summary>Messages handed to the connection to send.</summary>
    public long Sent => Volatile.Read(ref _sent);

    /// <summary>Data messages that came back, whatever they held.</summary>
    public long Received => Volatile.Read(ref _received);

    public long Verified { get; private set; }

    public long Corrupt { get; private set; }

    public long Duplicated { get; private set; }

    public long OutOfOrder { get; private set; }

    public string? FirstProblem { get; private set; }

    /// <summary>Sent but never echoed (so far): the gaps and everything after the last echo.</summary>
    public long Lost => Sent - _nextExpected + (_missing?.Count ?? 0);

    public int NextLength(out bool text, out int frames)
    {
        _sendKey = SoakPayload.Key(seed, connection, _sent);
        return SoakPayload.Describe(_sendKey, out text, out frames);
    }

    public void WriteNext(Span<byte> destination)
    {
        var length = SoakPayload.Describe(_sendKey, out var text, out _);
        SoakPayload.Fill(_sendKey, connection, _sent, length, text, 0, destination);
        Volatile.Write(ref _sent, _sent + 1);
    }

    public void BeginMessage(bool text)
    {
        _text = text;
        _prefixLength = 0;
        _offset = 0;
        _bad = false;
        _seq = -1;
    }

    public void OnInflated(ReadOnlySpan<byte> plain)
    {
        if (_prefixLength < SoakPayload.PrefixLength)
        {
            var n = Math.Min(SoakPayload.PrefixLength - _prefixLength, plain.Length);
            plain[..n].CopyTo(_prefix.AsSpan(_prefixLength));
            _prefixLength += n;
            _offset += n;
            plain = plain[n..];
            if (_prefixLength == SoakPayload.PrefixLength)
            {
                ReadPrefix();
            }
        }

        if (plain.IsEmpty || _bad)
        {
            _offset += plain.Length;
            return;
        }

        if (_offset + plain.Length > _expectedLength)
        {
            Problem($"echo of message {_seq} is longer than the {_expectedLength} bytes sent");
        }
        else
        {
            Span<byte> expected = stackalloc byte[512];
            for (var done = 0; done < plain.Length && !_bad; done += expected.Length)
            {
                var piece = plain.Slice(done, Math.Min(expected.Length, plain.Length - done));
                SoakPayload.Fill(_key, connection, _seq, _expectedLength, _expectedText, _offset + done, expected[..piece.Length]);
                if (!piece.SequenceEqual(expected[..piece.Length]))
                {
                    Problem($"echo of message {_seq} differs from what was sent within bytes {_offset + done}-{_offset + done + piece.Length}");
                }
            }
        }

        _offset += plain.Length;
    }

    private void ReadPrefix()
    {
        if (!SoakPayload.TryReadPrefix(_prefix, out _seq, out var from) || from != connection)
        {
            _seq = -1;
            Problem($"an echo on connection {connection} does not start with this connection's sequence prefix: '{System.Text.Encoding.ASCII.GetString(_prefix)}'");
            return;
        }

        _key = SoakPayload.Key(seed, connection, _seq);
        _expectedLength = SoakPayload.Describe(_key, out _expectedText, out _);
        Span<byte> expected = stackalloc byte[SoakPayload.PrefixLength];
        SoakPayload.WritePrefix(_seq, connection, expected);
        if (!expected.SequenceEqual(_prefix))
        {
            Problem($"echo of message {_seq} starts with '{System.Text.Encoding.ASCII.GetString(_prefix)}'");
        }
        else if (_text != _expectedText)
        {
            Problem($"echo of message {_seq} came back as {(_text ? "text" : "binary")}");
        }
    }

    public void EndMessage()
    {
        Volatile.Write(ref _received, _received + 1);
        if (_prefixLength < SoakPayload.PrefixLength)
        {
            Problem($"an echo on connection {connection} has only {_prefixLength} bytes");
        }
        else if (!_bad && _offset != _expectedLength)
        {
            Problem($"echo of message {_seq} has {_offset} bytes, {_expectedLength} were sent");
        }

        if (_seq < 0 || _seq >= Sent)
        {
            // Not a message this connection sent (or not yet).
            if (_seq >= 0)
            {
                Problem($"echo of message {_seq} on connection {connection}, which has sent only {Sent}");
            }

            Corrupt++;
            return;
        }

        if (_seq == _nextExpected)
        {
            _nextExpected++;
        }
        else if (_seq > _nextExpected)
        {
            // Early: the ones in between are missing (for now).
            OutOfOrder++;
            FirstProblem ??= $"connection {connection}: message {_seq} arrived while {_nextExpected} was expected";
            _missing ??= [];
            for (var s = _nextExpected; s < _seq; s++)
            {
                _missing.Add(s);
            }

            _nextExpected = _seq + 1;
        }
        else if (_missing?.Remove(_seq) == true)
        {
            // Late, but the first time.
            OutOfOrder++;
        }
        else
        {
            Duplicated++;
            FirstProblem ??= $"connection {connection}: message {_seq} arrived a second time";
            return;
        }

        if (_bad)
        {
            Corrupt++;
        }
        else
        {
            Verified++;
        }
    }

    private void Problem(string what)
    {
        _bad = true;
        FirstProblem ??= what;
    }
}
