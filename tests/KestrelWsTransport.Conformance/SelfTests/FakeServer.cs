using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using KestrelWsTransport.Conformance.Client;

namespace KestrelWsTransport.Conformance.SelfTests;

/// <summary>
/// A deliberately broken WebSocket server on loopback, so the grading itself can be shown to catch what it claims to
/// catch: it answers the opening handshake properly, then hands the stream to a scripted misbehavior.
/// </summary>
internal sealed class FakeServer : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly Func<NetworkStream, Task> _behavior;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _acceptLoop;

    private FakeServer(Func<NetworkStream, Task> behavior)
    {
        _behavior = behavior;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        _acceptLoop = AcceptAsync();
    }

    public IPEndPoint EndPoint => (IPEndPoint)_listener.LocalEndpoint;

    public static FakeServer Start(Func<NetworkStream, Task> behavior) => new(behavior);

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            _ = Task.Run(async () =>
            {
                using (client)
                {
                    client.NoDelay = true;
                    var stream = client.GetStream();
                    try
                    {
                        await HandshakeAsync(stream);
                        await _behavior(stream);
                    }
                    catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
                    {
                    }
                }
            });
        }
    }

    private static async Task HandshakeAsync(NetworkStream stream)
    {
        var head = new List<byte>();
        var one = new byte[1];
        while (head.Count < 4 || !(head[^4] == '\r' && head[^3] == '\n' && head[^2] == '\r' && head[^1] == '\n'))
        {
            if (await stream.ReadAsync(one) == 0)
            {
                throw new IOException("closed during handshake");
            }

            head.Add(one[0]);
        }

        var key = Encoding.ASCII.GetString(head.ToArray()).Split("\r\n")
            .Select(l => l.Split(':', 2))
            .First(p => p.Length == 2 && p[0].Trim().Equals("Sec-WebSocket-Key", StringComparison.OrdinalIgnoreCase))[1].Trim();
        var accept = Convert.ToBase64String(SHA1.HashData(Encoding.ASCII.GetBytes(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")));
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"));
    }

    /// <summary>Reads one client frame and unmasks it; null at end of stream.</summary>
    public static async Task<(bool Fin, int Opcode, byte[] Payload)?> ReadFrameAsync(NetworkStream stream)
    {
        var header = new byte[2];
        if (!await ReadExactlyOrEndAsync(stream, header))
        {
            return null;
        }

        long length = header[1] & 0x7F;
        if (length >= 126)
        {
            var extended = new byte[length == 126 ? 2 : 8];
            await stream.ReadExactlyAsync(extended);
            length = extended.Length == 2 ? BinaryPrimitives.ReadUInt16BigEndian(extended) : (long)BinaryPrimitives.ReadUInt64BigEndian(extended);
        }

        var key = new byte[(header[1] & 0x80) != 0 ? 4 : 0];
        await stream.ReadExactlyAsync(key);
        var payload = new byte[length];
        await stream.ReadExactlyAsync(payload);
        if (key.Length == 4)
        {
            FrameEncoder.ApplyMask(payload, key, 0);
        }

        return ((header[0] & 0x80) != 0, header[0] & 0x0F, payload);
    }

    public static Task WriteFrameAsync(NetworkStream stream, int opcode, byte[] payload, bool mask = false) =>
        stream.WriteAsync(FrameEncoder.Encode(opcode, payload, true, 0, mask ? [1, 2, 3, 4] : null)).AsTask();

    public static byte[] CloseCode(int code)
    {
        var payload = new byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(payload, (ushort)code);
        return payload;
    }

    private static async Task<bool> ReadExactlyOrEndAsync(NetworkStream stream, byte[] buffer)
    {
        var read = 0;
        while (read < buffer.Length)
        {
            var n = await stream.ReadAsync(buffer.AsMemory(read));
            if (n == 0)
            {
                return false;
            }

            read += n;
        }

        return true;
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        await _acceptLoop;
        _stop.Dispose();
    }
}
