using System.Collections.Concurrent;

namespace KestrelWsTransport.Connection;

/// <summary>
/// One timer for every open WebSocket in the process, like Kestrel's heartbeat: a timer per connection would cost memory
/// and timer-queue work at 100k connections. Starts with the first connection.
/// </summary>
internal sealed class WebSocketHeartbeat
{
    public static readonly WebSocketHeartbeat Shared = new(TimeSpan.FromSeconds(1));

    private readonly HeartbeatSlots<WebSocketConnection> _connections = new();
    private readonly TimeSpan _period;
    private readonly object _timerLock = new();
    private Timer? _timer;
    private int _ticking;

    public WebSocketHeartbeat(TimeSpan period) => _period = period;

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
        _connections.ForEach(token, static (connection, token) =>
        {
            if (connection.ServerStopping == token)
            {
                connection.OnServerStopping();
            }
        });

        // The host is going away: forget its token (its registration is spent).
        _stoppingTokens.TryRemove(token, out _);
    }

    public void Register(WebSocketConnection connection)
    {
        connection.HasHeartbeat = true;
        _connections.Add(connection);
        EnsureTimer();
    }

    public void Unregister(WebSocketConnection connection) => _connections.Remove(connection);

    // Connections still being sniffed, each with its handshake deadline: checked on the same tick, so a handshake
    // timeout costs no timer of its own (it fires within one period after the deadline), and tracking one allocates
    // nothing but the deadline.
    private readonly HeartbeatSlots<HandshakeDeadline> _handshakes = new();

    /// <summary>Watches <paramref name="input"/> until <paramref name="timeout"/>; null when the timeout is infinite.</summary>
    public HandshakeDeadline? TrackHandshake(System.IO.Pipelines.PipeReader input, TimeSpan timeout)
    {
        if (timeout == Timeout.InfiniteTimeSpan)
        {
            return null;
        }

        var deadline = new HandshakeDeadline(input, Environment.TickCount64 + (long)timeout.TotalMilliseconds);
        _handshakes.Add(deadline);
        EnsureTimer();
        return deadline;
    }

    public void Untrack(HandshakeDeadline deadline) => _handshakes.Remove(deadline);

    private void EnsureTimer()
    {
        if (_timer is null)
        {
            lock (_timerLock)
            {
                _timer ??= new Timer(static s => ((WebSocketHeartbeat)s!).Tick(), this, _period, _period);
            }
        }
    }

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
            _handshakes.ForEach(now, static (deadline, now) => deadline.FireIfDue(now));

            _connections.ForEach(now, static (connection, now) => connection.OnHeartbeat(now));
        }
        finally
        {
            Volatile.Write(ref _ticking, 0);
        }
    }
}

/// <summary>
/// A sniffed connection's handshake deadline. Exactly one of two things happens: the heartbeat fires it (and cancels
/// the pending read so the sniffer wakes up), or the sniffer finishes first and the heartbeat leaves the input alone
/// (a stray cancel would reach HTTP's first read).
/// </summary>
internal sealed class HandshakeDeadline(System.IO.Pipelines.PipeReader input, long deadline) : IHeartbeatSlot
{
    private const int Active = 0;
    private const int Fired = 1;
    private const int Finished = 2;
    private int _state;

    public int HeartbeatSlot { get; set; } = -1;

    /// <summary>True when the deadline passed: the heartbeat fired it before the sniffer finished.</summary>
    public bool HasFired => Volatile.Read(ref _state) == Fired;

    /// <summary>The sniffer is done with the input; false when the deadline fired first.</summary>
    public bool TryFinish() => Interlocked.CompareExchange(ref _state, Finished, Active) != Fired;

    public void FireIfDue(long now)
    {
        if (now >= deadline && Interlocked.CompareExchange(ref _state, Fired, Active) == Active)
        {
            input.CancelPendingRead();
        }
    }
}
