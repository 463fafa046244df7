using System.Buffers;
using System.Net.Sockets;
using LoadTool.Infrastructure;

namespace LoadTool.Client;

/// <summary>
/// No WebSocket at all, for the raw Kestrel echo (the ceiling): each "message" is a unit of bytes as long as the
/// client frame the WebSocket clients would send (header, key and payload), and the server copies bytes back.
/// A message counts as received when that many more bytes came back.
/// </summary>
internal sealed class RawConnection : ILoadConnection
{
    private const int BatchBytes = 64 * 1024;

    private readonly Socket _socket;
    private readonly int _unit;
    private byte[] _receive;
    private byte[]? _send;
    private long _bytesReceived;
    private long _unitsReported;
    private bool _disposed;

    private RawConnection(Socket socket, ConnectionSettings settings)
    {
        _socket = socket;
        var size = settings.Payload.Length;
        _unit = (size <= 125 ? 2 : size <= ushort.MaxValue ? 4 : 10) + 4 + size;
        _receive = ArrayPool<byte>.Shared.Rent(Math.Max(1024, settings.ReceiveBufferSize));
    }

    /// <summary>The bytes one message stands for.</summary>
    public int UnitLength => _unit;

    public static async Task<RawConnection> ConnectAsync(Target target, ConnectionSettings settings, CancellationToken cancellationToken)
    {
        if (target.Secure)
        {
            throw new UsageException("The raw client speaks plain TCP: use a ws:// or tcp:// URL.");
        }

        var socket = new Socket(target.EndPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(target.EndPoint, cancellationToken).ConfigureAwait(false);
            return new RawConnection(socket, settings);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public async ValueTask SendAsync(int count, CancellationToken cancellationToken)
    {
        while (count > 0)
        {
            var batch = _unit >= BatchBytes ? 1 : Math.Min(count, BatchBytes / _unit);
            var bytes = batch * _unit;
            if (_send is null || _send.Length < bytes)
            {
                if (_send is not null)
                {
                    ArrayPool<byte>.Shared.Return(_send);
                }

                _send = ArrayPool<byte>.Shared.Rent(bytes);
                _send.AsSpan().Fill((byte)'r');
            }

            var memory = _send.AsMemory(0, bytes);
            while (!memory.IsEmpty)
            {
                var sent = await _socket.SendAsync(memory, SocketFlags.None, cancellationToken).ConfigureAwait(false);
                memory = memory[sent..];
            }

            count -= batch;
        }
    }

    public async ValueTask<int> ReceiveAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var read = await _socket.ReceiveAsync(_receive, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                return -1;
            }

            _bytesReceived += read;
            var units = _bytesReceived / _unit;
            if (units > _unitsReported)
            {
                var completed = (int)(units - _unitsReported);
                _unitsReported = units;
                return completed;
            }
        }
    }

    public ValueTask SendCloseAsync(CancellationToken cancellationToken)
    {
        try
        {
            _socket.Shutdown(SocketShutdown.Send);
        }
        catch (SocketException)
        {
        }

        return default;
    }

    public async ValueTask CloseAsync(CancellationToken cancellationToken)
    {
        // The echo ends its side when ours ends: half-close, then read to the end.
        await SendCloseAsync(cancellationToken).ConfigureAwait(false);
        while (await _socket.ReceiveAsync(_receive, SocketFlags.None, cancellationToken).ConfigureAwait(false) > 0)
        {
        }
    }

    public ValueTask DisposeAsync()
    {
        if (!_disposed)
        {
            _disposed = true;
            _socket.Dispose();
            ArrayPool<byte>.Shared.Return(_receive);
            _receive = [];
            if (_send is not null)
            {
                ArrayPool<byte>.Shared.Return(_send);
            }
        }

        return default;
    }
}
