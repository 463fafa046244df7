using System.Collections.Concurrent;

namespace KestrelWsTransport.Connection;

/// <summary>
/// One timer for every open WebSocket in the process, like Kestrel's heartbeat: a timer per connection would cost memory
/// and timer-queue work at 100k connections. Starts with the first connection.
/// </summary>
internal sealed class WebSocketHeartbeat
{
    public static readonly WebSocketHeartbeat Shared = new(TimeSpan.FromSeconds(1));

    private readonly ConcurrentDictionary<WebSocketConnection, byte> _connections = new();
    private readonly TimeSpan _period;
    private readonly object _timerLock = new();
    private Timer? _timer;
    private int _ticking;

    public WebSocketHeartbeat(TimeSpan period) => _period = period;

    public int Count => _connections.Count;

    // One registration per host-wide stopping token, not one per connection: at 100k connections a registration each is
    // megabytes. When a token fires, the connections that came with it are told.
    private readonly ConcurrentDictionary<CancellationToken, CancellationTokenRegistration> _stoppingTokens = new();

    /// <summary>
    /// Tracks <paramref name="connection"/> for keepalive and, when <paramref name="serverStopping"/> fires, for the
    /// shutdown close. Pass a token shared by many connections (the host's ApplicationStopping).
    /// </summary>
    public void Register(WebSocketConnection connection, CancellationToken serverStopping)
    {
        connection.ServerStopping = serverStopping;
        Register(connection);
        if (!serverStopping.CanBeCanceled)
        {
            return;
        }

        if (!_stoppingTokens.ContainsKey(serverStopping))
        {
            lock (_timerLock)
            {
                if (!_stoppingTokens.ContainsKey(serverStopping))
                {
                    _stoppingTokens[serverStopping] = serverStopping.Register(static s =>
                    {
                        var (heartbeat, token) = ((WebSocketHeartbeat, CancellationToken))s!;
                        heartbeat.OnStopping(token);
                    }, (this, serverStopping));
                }
            }
        }

        // Stopping may have fired between the connection's arrival and its registration here.
        if (serverStopping.IsCancellationRequested)
        {
            connection.OnServerStopping();
        }
    }

    private void OnStopping(CancellationToken token)
    {
        foreach (var pair in _connections)
        {
            if (pair.Key.ServerStopping == token)
            {
                pair.Key.OnServerStopping();
            }
        }

        // The host is going away: forget its token (its registration is spent).
        _stoppingTokens.TryRemove(token, out _);
    }

    public void Register(WebSocketConnection connection)
    {
        _connections.TryAdd(connection, 0);
        if (_timer is null)
        {
            lock (_timerLock)
            {
                _timer ??= new Timer(static s => ((WebSocketHeartbeat)s!).Tick(), this, _period, _period);
            }
        }
    }

    public void Unregister(WebSocketConnection connection) => _connections.TryRemove(connection, out _);

    private void Tick()
    {
        // Skip a tick rather than pile up if the previous one is still running on a starved thread pool.
        if (Interlocked.Exchange(ref _ticking, 1) != 0)
        {
            return;
        }

        try
        {
            var now = Environment.TickCount64;
            foreach (var pair in _connections)
            {
                pair.Key.OnHeartbeat(now);
            }
        }
        finally
        {
            Volatile.Write(ref _ticking, 0);
        }
    }
}
