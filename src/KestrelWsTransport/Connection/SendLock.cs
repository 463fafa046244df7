namespace KestrelWsTransport;

/// <summary>
/// The one-writer-at-a-time lock of a connection's output. Uncontended (the common case: an echo loop, a handler that
/// sends from one task) entering and leaving are one interlocked instruction each and allocate nothing; the waiter queue
/// exists only once two sends actually meet. A mutable struct kept in a field of its connection: two ints and a
/// reference, where a SemaphoreSlim would be two more objects per connection and a monitor on every enter and exit.
/// Waiters are served in arrival order; their continuations never run inside <see cref="Exit"/>.
/// </summary>
internal struct SendLock
{
    private int _held;

    // Created by the first send that has to wait; null on a connection whose sends never met.
    private WaiterQueue? _queue;

    /// <summary>Takes the lock if it is free.</summary>
    public bool TryEnter() => Interlocked.CompareExchange(ref _held, 1, 0) == 0;

    /// <summary>
    /// Takes the lock, waiting behind earlier waiters. Completes with true once held; false if
    /// <paramref name="timeout"/> passed first (not held); throws <see cref="OperationCanceledException"/> if
    /// <paramref name="cancellationToken"/> fired first (not held).
    /// </summary>
    public ValueTask<bool> EnterAsync(CancellationToken cancellationToken = default, TimeSpan? timeout = null)
    {
        if (TryEnter())
        {
            return new ValueTask<bool>(true);
        }

        cancellationToken.ThrowIfCancellationRequested();
        var queue = _queue ?? Interlocked.CompareExchange(ref _queue, new WaiterQueue(), null) ?? _queue!;
        lock (queue)
        {
            // Counted before it looks at _held, so an Exit that frees the lock now cannot miss it.
            Interlocked.Increment(ref queue.Waiting);
            if (TryEnter())
            {
                Interlocked.Decrement(ref queue.Waiting);
                return new ValueTask<bool>(true);
            }

            return new ValueTask<bool>(queue.Add(cancellationToken, timeout));
        }
    }

    /// <summary>Releases the lock, handing it straight to the first waiter if there is one.</summary>
    public void Exit()
    {
        // A full fence between freeing and looking for waiters: a waiter counts itself before it tries _held, so either
        // it sees the lock free or this sees it counted.
        Interlocked.Exchange(ref _held, 0);
        var queue = Volatile.Read(ref _queue);
        if (queue is null || Volatile.Read(ref queue.Waiting) == 0)
        {
            return;
        }

        Waiter next;
        lock (queue)
        {
            // Someone may have taken the free lock meanwhile; its own Exit hands over then.
            if (queue.IsEmpty || !TryEnter())
            {
                return;
            }

            next = queue.Take();
        }

        // Outside the monitor: disposing a cancellation registration waits for a callback that may be running, and
        // that callback takes the monitor.
        next.StopWatching();
        next.Completion.TrySetResult(true);
    }

    private sealed class WaiterQueue
    {
        private readonly LinkedList<Waiter> _waiters = new();

        // Waiters in the queue, or about to look at the lock under the queue's monitor.
        public int Waiting;

        public bool IsEmpty => _waiters.Count == 0;

        public Task<bool> Add(CancellationToken cancellationToken, TimeSpan? timeout)
        {
            var waiter = new Waiter(this);
            waiter.Node = _waiters.AddLast(waiter);
            waiter.Watch(cancellationToken, timeout);
            return waiter.Completion.Task;
        }

        public Waiter Take()
        {
            var waiter = _waiters.First!.Value;
            _waiters.RemoveFirst();
            Interlocked.Decrement(ref Waiting);
            waiter.Node = null;
            return waiter;
        }

        /// <summary>Removes a waiter that gave up; false if it was handed the lock first.</summary>
        public bool TryRemove(Waiter waiter)
        {
            lock (this)
            {
                if (waiter.Node is null)
                {
                    return false;
                }

                _waiters.Remove(waiter.Node);
                Interlocked.Decrement(ref Waiting);
                waiter.Node = null;
                return true;
            }
        }
    }

    private sealed class Waiter(WaiterQueue queue)
    {
        public TaskCompletionSource<bool> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public LinkedListNode<Waiter>? Node { get; set; }

        private CancellationTokenRegistration _cancellation;
        private Timer? _timer;

        public void Watch(CancellationToken cancellationToken, TimeSpan? timeout)
        {
            if (cancellationToken.CanBeCanceled)
            {
                _cancellation = cancellationToken.UnsafeRegister(static (state, token) => ((Waiter)state!).GiveUp(token), this);
            }

            if (timeout is { } after && after != Timeout.InfiniteTimeSpan)
            {
                _timer = new Timer(static state => ((Waiter)state!).GiveUp(null), this, after, Timeout.InfiniteTimeSpan);
            }
        }

        public void StopWatching()
        {
            _cancellation.Dispose();
            _timer?.Dispose();
        }

        private void GiveUp(CancellationToken? token)
        {
            if (!queue.TryRemove(this))
            {
                return;
            }

            StopWatching();
            if (token is { } canceled)
            {
                Completion.TrySetCanceled(canceled);
            }
            else
            {
                Completion.TrySetResult(false);
            }
        }
    }
}
