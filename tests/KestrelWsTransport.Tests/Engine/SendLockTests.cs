using NUnit.Framework;

namespace KestrelWsTransport.Tests.Engine;

/// <summary>
/// The connection's send lock: one holder at a time, waiters served in order, cancellation and timeouts that leave it
/// usable, and no lost wake-up when many tasks hammer it.
/// </summary>
public class SendLockTests
{
    // A class around the struct, as the connection holds it: the lock must be used through a field, never a copy.
    private sealed class Holder
    {
        public SendLock Lock;
    }

    [Test]
    public void Uncontended_enter_and_exit_complete_synchronously()
    {
        var holder = new Holder();
        var enter = holder.Lock.EnterAsync();
        Assert.That(enter.IsCompletedSuccessfully && enter.Result, Is.True);
        Assert.That(holder.Lock.TryEnter(), Is.False, "held: a second TryEnter must fail");
        holder.Lock.Exit();
        Assert.That(holder.Lock.TryEnter(), Is.True, "free again after Exit");
    }

    [Test]
    public async Task Waiters_get_the_lock_in_arrival_order_one_at_a_time()
    {
        var holder = new Holder();
        Assert.That(holder.Lock.TryEnter(), Is.True);
        var order = new List<int>();
        var waiters = Enumerable.Range(0, 5).Select(i => WaitThenRecordAsync(holder, order, i)).ToArray();
        await Task.Delay(50);
        Assert.That(order, Is.Empty, "nobody may get the lock while it is held");

        holder.Lock.Exit();
        await Task.WhenAll(waiters).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.That(order, Is.EqualTo(new[] { 0, 1, 2, 3, 4 }));
        Assert.That(holder.Lock.TryEnter(), Is.True, "the last waiter released it");
    }

    private static async Task WaitThenRecordAsync(Holder holder, List<int> order, int id)
    {
        // Queue up in order: each waiter starts (and enqueues) before the next one is created.
        var enter = holder.Lock.EnterAsync();
        Assert.That(enter.IsCompleted, Is.False);
        await enter;
        lock (order)
        {
            order.Add(id);
        }

        await Task.Yield();
        holder.Lock.Exit();
    }

    [Test]
    public async Task A_cancelled_waiter_leaves_the_queue_and_the_next_one_still_gets_the_lock()
    {
        var holder = new Holder();
        Assert.That(holder.Lock.TryEnter(), Is.True);
        using var cancel = new CancellationTokenSource();
        var cancelled = holder.Lock.EnterAsync(cancel.Token).AsTask();
        var next = holder.Lock.EnterAsync().AsTask();

        cancel.Cancel();
        Assert.That(async () => await cancelled, Throws.InstanceOf<OperationCanceledException>());
        Assert.That(next.IsCompleted, Is.False);

        holder.Lock.Exit();
        Assert.That(await next.WaitAsync(TimeSpan.FromSeconds(10)), Is.True);
        holder.Lock.Exit();
        Assert.That(holder.Lock.TryEnter(), Is.True);
    }

    [Test]
    public async Task A_timed_out_waiter_gets_false_and_does_not_hold_the_lock()
    {
        var holder = new Holder();
        Assert.That(holder.Lock.TryEnter(), Is.True);
        var timedOut = await holder.Lock.EnterAsync(timeout: TimeSpan.FromMilliseconds(50));
        Assert.That(timedOut, Is.False);

        holder.Lock.Exit();
        Assert.That(holder.Lock.TryEnter(), Is.True, "a waiter that gave up must not have been handed the lock");
    }

    [Test]
    public void An_already_cancelled_token_throws_only_when_the_lock_is_taken()
    {
        var holder = new Holder();
        using var cancel = new CancellationTokenSource();
        cancel.Cancel();
        // Free: taken at once, as SemaphoreSlim would not (but no wait is involved, so there is nothing to cancel).
        Assert.That(holder.Lock.EnterAsync(cancel.Token).Result, Is.True);
        Assert.That(() => holder.Lock.EnterAsync(cancel.Token), Throws.InstanceOf<OperationCanceledException>());
        holder.Lock.Exit();
    }

    [Test]
    public async Task Many_tasks_never_hold_it_together_and_none_is_left_waiting()
    {
        var holder = new Holder();
        var inside = 0;
        var maxInside = 0;
        var entries = 0;
        var workers = Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            for (var i = 0; i < 2_000; i++)
            {
                if (!holder.Lock.TryEnter())
                {
                    await holder.Lock.EnterAsync();
                }

                var now = Interlocked.Increment(ref inside);
                InterlockedMax(ref maxInside, now);
                if ((i & 7) == 0)
                {
                    await Task.Yield();
                }

                Interlocked.Increment(ref entries);
                Interlocked.Decrement(ref inside);
                holder.Lock.Exit();
            }
        })).ToArray();

        await Task.WhenAll(workers).WaitAsync(TimeSpan.FromSeconds(60));
        Assert.That(maxInside, Is.EqualTo(1));
        Assert.That(entries, Is.EqualTo(8 * 2_000));
        Assert.That(holder.Lock.TryEnter(), Is.True, "free at the end: no hand-over was lost");
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while ((current = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }
}
