namespace KestrelWsTransport.Connection;

/// <summary>
/// The open connections the heartbeat walks: an array of slots with a free list, each connection knowing its slot.
/// About 12 bytes per connection (a slot and a free-list entry) where a <c>ConcurrentDictionary</c> node cost 40 plus
/// its bucket. Adding and removing take a lock, once each per connection's life; walking takes none (it reads the
/// array it finds, so a connection added during a walk may wait for the next one). The array grows by doubling and
/// never shrinks: its size is the peak number of open connections.
/// </summary>
internal sealed class ConnectionSlots
{
    private readonly Lock _lock = new();
    private WebSocketConnection?[] _slots = new WebSocketConnection?[16];
    private int[] _free = new int[16];
    private int _freeCount;
    private int _highWater;

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _highWater - _freeCount;
            }
        }
    }

    public void Add(WebSocketConnection connection)
    {
        lock (_lock)
        {
            if (connection.HeartbeatSlot >= 0)
            {
                return;
            }

            int slot;
            if (_freeCount > 0)
            {
                slot = _free[--_freeCount];
            }
            else
            {
                if (_highWater == _slots.Length)
                {
                    Array.Resize(ref _free, _slots.Length * 2);
                    var grown = new WebSocketConnection?[_slots.Length * 2];
                    _slots.CopyTo(grown, 0);
                    Volatile.Write(ref _slots, grown);
                }

                slot = _highWater++;
            }

            connection.HeartbeatSlot = slot;
            Volatile.Write(ref _slots[slot], connection);
        }
    }

    public void Remove(WebSocketConnection connection)
    {
        lock (_lock)
        {
            var slot = connection.HeartbeatSlot;
            if (slot < 0 || _slots[slot] != connection)
            {
                return;
            }

            Volatile.Write(ref _slots[slot], null);
            connection.HeartbeatSlot = -1;
            _free[_freeCount++] = slot;
        }
    }

    /// <summary>Calls <paramref name="action"/> for every connection open when the walk reaches its slot.</summary>
    public void ForEach<TState>(TState state, Action<WebSocketConnection, TState> action)
    {
        var slots = Volatile.Read(ref _slots);
        var end = Math.Min(Volatile.Read(ref _highWater), slots.Length);
        for (var i = 0; i < end; i++)
        {
            if (Volatile.Read(ref slots[i]) is { } connection)
            {
                action(connection, state);
            }
        }
    }
}
