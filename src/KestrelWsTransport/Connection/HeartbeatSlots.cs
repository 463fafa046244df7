namespace KestrelWsTransport.Connection;

/// <summary>Something the heartbeat walks, knowing its own slot in a <see cref="HeartbeatSlots{T}"/> (-1: in none).</summary>
internal interface IHeartbeatSlot
{
    int HeartbeatSlot { get; set; }
}

/// <summary>
/// What the heartbeat walks (open connections, handshakes still being sniffed): an array of slots with a free list,
/// each item knowing its slot. About 12 bytes per item (a slot and a free-list entry) and nothing allocated per add,
/// where a <c>ConcurrentDictionary</c> node cost 40 plus its bucket. Adding and removing take a lock, once each per
/// item's life; walking takes none (it reads the array it finds, so an item added during a walk may wait for the next
/// one, and an item removed during a walk may still be visited once). The array grows by doubling and never shrinks:
/// its size is the peak number of items.
/// </summary>
internal sealed class HeartbeatSlots<T>
    where T : class, IHeartbeatSlot
{
    private readonly Lock _lock = new();
    private T?[] _slots = new T?[16];
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

    public void Add(T item)
    {
        lock (_lock)
        {
            if (item.HeartbeatSlot >= 0)
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
                    var grown = new T?[_slots.Length * 2];
                    _slots.CopyTo(grown, 0);
                    Volatile.Write(ref _slots, grown);
                }

                slot = _highWater++;
            }

            item.HeartbeatSlot = slot;
            Volatile.Write(ref _slots[slot], item);
        }
    }

    public void Remove(T item)
    {
        lock (_lock)
        {
            var slot = item.HeartbeatSlot;
            if (slot < 0 || _slots[slot] != item)
            {
                return;
            }

            Volatile.Write(ref _slots[slot], null);
            item.HeartbeatSlot = -1;
            _free[_freeCount++] = slot;
        }
    }

    /// <summary>Calls <paramref name="action"/> for every item present when the walk reaches its slot.</summary>
    public void ForEach<TState>(TState state, Action<T, TState> action)
    {
        var slots = Volatile.Read(ref _slots);
        var end = Math.Min(Volatile.Read(ref _highWater), slots.Length);
        for (var i = 0; i < end; i++)
        {
            if (Volatile.Read(ref slots[i]) is { } item)
            {
                action(item, state);
            }
        }
    }
}
