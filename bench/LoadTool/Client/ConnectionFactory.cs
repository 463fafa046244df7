using LoadTool.Infrastructure;

namespace LoadTool.Client;

/// <summary>Which client a run uses.</summary>
internal enum ClientKind
{
    /// <summary>This tool's own RFC 6455 client (default).</summary>
    Fast,

    /// <summary>System.Net.WebSockets.ClientWebSocket, to cross-check.</summary>
    ClientWebSocket,

    /// <summary>Plain TCP, frame-sized units, for the raw Kestrel echo.</summary>
    Raw,
}

internal sealed class ConnectionFactory(Target target, ClientKind kind)
{
    public Target Target { get; } = target;

    public ClientKind Kind { get; } = kind;

    public async Task<ILoadConnection> ConnectAsync(ConnectionSettings settings, CancellationToken cancellationToken) => Kind switch
    {
        ClientKind.Fast => await FastWsConnection.ConnectAsync(Target, settings, cancellationToken).ConfigureAwait(false),
        ClientKind.ClientWebSocket => await ClientWebSocketConnection.ConnectAsync(Target, settings, cancellationToken).ConfigureAwait(false),
        ClientKind.Raw => await RawConnection.ConnectAsync(Target, settings, cancellationToken).ConfigureAwait(false),
        _ => throw new ArgumentOutOfRangeException(nameof(settings)),
    };
}
