using System.Buffers;
using System.Net.WebSockets;
using LoadTool.Infrastructure;

namespace LoadTool.Client;

/// <summary>
/// The runtime's <see cref="ClientWebSocket"/>, for cross-checking the fast client's figures (it is slower: one write
/// per message, a copy for masking, and its own receive buffering).
/// </summary>
internal sealed class ClientWebSocketConnection : ILoadConnection
{
    private readonly ClientWebSocket _socket;
    private readonly ConnectionSettings _settings;
    private readonly WebSocketMessageType _type;
    private byte[] _receive;
    private bool _disposed;

    private ClientWebSocketConnection(ClientWebSocket socket, ConnectionSettings settings)
    {
        _socket = socket;
        _settings = settings;
        _type = settings.Text ? WebSocketMessageType.Text : WebSocketMessageType.Binary;
        _receive = ArrayPool<byte>.Shared.Rent(Math.Max(1024, settings.ReceiveBufferSize));
    }

    public static async Task<ClientWebSocketConnection> ConnectAsync(Target target, ConnectionSettings settings, CancellationToken cancellationToken)
    {
        var socket = new ClientWebSocket();
        socket.Options.KeepAliveInterval = TimeSpan.Zero;
        if (settings.SkipCertificateCheck)
        {
            socket.Options.RemoteCertificateValidationCallback = static (_, _, _, _) => true;
        }

        try
        {
            // Connect to the resolved loopback address, with the URL's host in the Host header.
            var uri = new UriBuilder(target.Uri) { Host = target.EndPoint.Address.ToString() }.Uri;
            socket.Options.SetRequestHeader("Host", target.HostHeader);
            await socket.ConnectAsync(uri, cancellationToken).ConfigureAwait(false);
            return new ClientWebSocketConnection(socket, settings);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public async ValueTask SendAsync(int count, CancellationToken cancellationToken)
    {
        for (var i = 0; i < count; i++)
        {
            await _socket.SendAsync(_settings.Payload, _type, true, cancellationToken).ConfigureAwait(false);
        }
    }

    public async ValueTask<int> ReceiveAsync(CancellationToken cancellationToken)
    {
        long length = 0;
        while (true)
        {
            var result = await _socket.ReceiveAsync(_receive.AsMemory(), cancellationToken).ConfigureAwait(false);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                return -1;
            }

            length += result.Count;
            if (result.EndOfMessage)
            {
                _settings.Observer?.OnMessage(_receive.AsSpan(0, Math.Min(result.Count, FastWsConnection.PrefixLength)), length);
                return 1;
            }
        }
    }

    public async ValueTask SendCloseAsync(CancellationToken cancellationToken)
    {
        if (_socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
        {
            await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, cancellationToken).ConfigureAwait(false);
        }
    }

    public async ValueTask CloseAsync(CancellationToken cancellationToken)
    {
        if (_socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
        {
            await _socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, cancellationToken).ConfigureAwait(false);
        }
        else if (_socket.State == WebSocketState.CloseSent)
        {
            while (await ReceiveAsync(cancellationToken).ConfigureAwait(false) >= 0)
            {
            }
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
        }

        return default;
    }
}
