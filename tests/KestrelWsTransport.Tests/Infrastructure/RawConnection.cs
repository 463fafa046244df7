using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace KestrelWsTransport.Tests.Infrastructure;

/// <summary>
/// A plain TCP connection for tests that need bytes nobody's client would send: split heads, bad frames, silence.
/// Every read is bounded by a timeout so a broken server fails the test instead of hanging it.
/// </summary>
public sealed class RawConnection : IAsyncDisposable
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(15);

    private readonly TcpClient _client;
    private readonly NetworkStream _stream;
    private readonly List<byte> _pending = new();

    private RawConnection(TcpClient client)
    {
        _client = client;
        _stream = client.GetStream();
    }

    /// <summary>The socket itself, for tests that need its options or want to write without the read helpers.</summary>
    public Socket Socket => _client.Client;

    /// <summary>
    /// Ends the connection with a TCP reset instead of a FIN (linger on, zero timeout), the way a crashed or killed
    /// client disappears: the server sees ECONNRESET, not an orderly end of input.
    /// </summary>
    public void Reset()
    {
        _client.Client.LingerState = new LingerOption(true, 0);
        _client.Client.Close();
    }

    public static async Task<RawConnection> ConnectAsync(int port)
    {
        var client = new TcpClient(AddressFamily.InterNetwork) { NoDelay = true };
        await client.ConnectAsync(IPAddress.Loopback, port);
        return new RawConnection(client);
    }

    public static string UpgradeRequest(string path = "/echo", string key = "dGhlIHNhbXBsZSBub25jZQ==", string? extraHeaders = null) =>
        $"GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extraHeaders}\r\n";

    public Task SendAsync(string ascii) => SendAsync(Encoding.ASCII.GetBytes(ascii));

    public async Task SendAsync(byte[] bytes)
    {
        await _stream.WriteAsync(bytes);
        await _stream.FlushAsync();
    }

    /// <summary>Reads an HTTP response head (and a Content-Length body) and returns it as text.</summary>
    public async Task<HttpResponseHead> ReadResponseAsync()
    {
        while (true)
        {
            var text = Encoding.ASCII.GetString(_pending.ToArray());
            var end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            if (end >= 0)
            {
                var head = text[..end];
                _pending.RemoveRange(0, end + 4);
                var response = HttpResponseHead.Parse(head);
                if (response.Headers.TryGetValue("Content-Length", out var lengthText) && int.TryParse(lengthText, out var length))
                {
                    while (_pending.Count < length)
                    {
                        await FillAsync();
                    }

                    response = response with { Body = Encoding.UTF8.GetString(_pending.GetRange(0, length).ToArray()) };
                    _pending.RemoveRange(0, length);
                }
                else if (response.Headers.TryGetValue("Transfer-Encoding", out var encoding) && encoding.Contains("chunked", StringComparison.OrdinalIgnoreCase))
                {
                    response = response with { Body = await ReadChunkedBodyAsync() };
                }

                return response;
            }

            await FillAsync();
        }
    }

    private async Task<string> ReadChunkedBodyAsync()
    {
        var body = new List<byte>();
        while (true)
        {
            var line = await ReadLineAsync();
            var size = Convert.ToInt32(line.Split(';')[0].Trim(), 16);
            if (size == 0)
            {
                await ReadLineAsync();
                return Encoding.UTF8.GetString(body.ToArray());
            }

            await EnsureAsync(size + 2);
            body.AddRange(_pending.GetRange(0, size));
            _pending.RemoveRange(0, size + 2);
        }
    }

    private async Task<string> ReadLineAsync()
    {
        while (true)
        {
            var index = _pending.IndexOf((byte)'\n');
            if (index >= 0)
            {
                var line = Encoding.ASCII.GetString(_pending.GetRange(0, index).ToArray()).TrimEnd('\r');
                _pending.RemoveRange(0, index + 1);
                return line;
            }

            await FillAsync();
        }
    }

    /// <summary>Sends a masked client frame.</summary>
    public Task SendFrameAsync(byte opcode, byte[] payload, bool fin = true, bool mask = true, byte rsv = 0) =>
        SendAsync(EncodeClientFrame(opcode, payload, fin, mask, rsv));

    public static byte[] EncodeClientFrame(byte opcode, byte[] payload, bool fin = true, bool mask = true, byte rsv = 0)
    {
        var frame = new List<byte> { (byte)((fin ? 0x80 : 0) | rsv | opcode) };
        var maskBit = mask ? 0x80 : 0;
        if (payload.Length <= 125)
        {
            frame.Add((byte)(maskBit | payload.Length));
        }
        else if (payload.Length <= ushort.MaxValue)
        {
            frame.Add((byte)(maskBit | 126));
            frame.Add((byte)(payload.Length >> 8));
            frame.Add((byte)payload.Length);
        }
        else
        {
            frame.Add((byte)(maskBit | 127));
            var length = new byte[8];
            BinaryPrimitives.WriteUInt64BigEndian(length, (ulong)payload.Length);
            frame.AddRange(length);
        }

        if (!mask)
        {
            frame.AddRange(payload);
            return frame.ToArray();
        }

        var key = RandomNumberGenerator.GetBytes(4);
        frame.AddRange(key);
        for (var i = 0; i < payload.Length; i++)
        {
            frame.Add((byte)(payload[i] ^ key[i & 3]));
        }

        return frame.ToArray();
    }

    /// <summary>Reads one server frame (server frames are never masked).</summary>
    public async Task<(bool Fin, byte Opcode, byte[] Payload, bool Rsv1)> ReadFrameAsync()
    {
        await EnsureAsync(2);
        var fin = (_pending[0] & 0x80) != 0;
        var rsv1 = (_pending[0] & 0x40) != 0;
        var opcode = (byte)(_pending[0] & 0x0F);
        Assert.That(_pending[1] & 0x80, Is.Zero, "server frames must not be masked");
        long length = _pending[1] & 0x7F;
        var offset = 2;
        if (length == 126)
        {
            await EnsureAsync(4);
            length = (_pending[2] << 8) | _pending[3];
            offset = 4;
        }
        else if (length == 127)
        {
            await EnsureAsync(10);
            length = (long)BinaryPrimitives.ReadUInt64BigEndian(_pending.GetRange(2, 8).ToArray());
            offset = 10;
        }

        await EnsureAsync(offset + (int)length);
        var payload = _pending.GetRange(offset, (int)length).ToArray();
        _pending.RemoveRange(0, offset + (int)length);
        return (fin, opcode, payload, rsv1);
    }

    /// <summary>Reads a close frame and returns its code (1005 if it had none) and reason.</summary>
    public async Task<(int Code, string Reason)> ReadCloseAsync()
    {
        while (true)
        {
            var frame = await ReadFrameAsync();
            if (frame.Opcode != 0x8)
            {
                continue;
            }

            return frame.Payload.Length >= 2
                ? (BinaryPrimitives.ReadUInt16BigEndian(frame.Payload), Encoding.UTF8.GetString(frame.Payload, 2, frame.Payload.Length - 2))
                : (1005, string.Empty);
        }
    }

    /// <summary>True when the server closed the TCP connection within the timeout (read returns 0 or resets).</summary>
    public async Task<bool> WaitForServerCloseAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? DefaultTimeout);
        var buffer = new byte[4096];
        try
        {
            while (true)
            {
                var read = await _stream.ReadAsync(buffer, cts.Token);
                if (read == 0)
                {
                    return true;
                }
            }
        }
        catch (IOException)
        {
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private async Task EnsureAsync(int count)
    {
        while (_pending.Count < count)
        {
            await FillAsync();
        }
    }

    private async Task FillAsync()
    {
        using var cts = new CancellationTokenSource(DefaultTimeout);
        var buffer = new byte[64 * 1024];
        var read = await _stream.ReadAsync(buffer, cts.Token);
        if (read == 0)
        {
            throw new EndOfStreamException("The server closed the connection.");
        }

        _pending.AddRange(buffer.AsSpan(0, read).ToArray());
    }

    public ValueTask DisposeAsync()
    {
        _client.Dispose();
        return ValueTask.CompletedTask;
    }
}

public sealed record HttpResponseHead(int StatusCode, string StatusLine, Dictionary<string, string> Headers, string Body)
{
    public static HttpResponseHead Parse(string head)
    {
        var lines = head.Split("\r\n");
        var status = int.Parse(lines[0].Split(' ')[1]);
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var line in lines.Skip(1))
        {
            var colon = line.IndexOf(':');
            headers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
        }

        return new HttpResponseHead(status, lines[0], headers, string.Empty);
    }
}
