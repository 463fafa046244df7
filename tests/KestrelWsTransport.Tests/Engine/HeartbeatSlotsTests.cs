using KestrelWsTransport.Connection;
using NUnit.Framework;

namespace KestrelWsTransport.Tests.Engine;

/// <summary>
/// The heartbeat's registries (open connections, handshake deadlines): every added item is walked exactly once, removed
/// ones never, slots are reused, growth keeps everyone, and concurrent opens and closes lose nobody.
/// </summary>
public class HeartbeatSlotsTests
{
    private static WebSocketConnection NewConnection() => new EngineHarness().Connection;

    // A connection's slot is the heartbeat's business, so it is reached through the interface.
    private static int Slot(IHeartbeatSlot item) => item.HeartbeatSlot;

    private static List<WebSocketConnection> Walk(HeartbeatSlots<WebSocketConnection> slots)
    {
        var seen = new List<WebSocketConnection>();
        slots.ForEach(seen, static (connection, list) => list.Add(connection));
        return seen;
    }

    [Test]
    public void Added_connections_are_walked_once_and_removed_ones_not_at_all()
    {
        var slots = new HeartbeatSlots<WebSocketConnection>();
        var connections = Enumerable.Range(0, 5).Select(_ => NewConnection()).ToArray();
        foreach (var connection in connections)
        {
            slots.Add(connection);
        }

        slots.Remove(connections[1]);
        slots.Remove(connections[3]);

        Assert.That(slots.Count, Is.EqualTo(3));
        Assert.That(Walk(slots), Is.EquivalentTo(new[] { connections[0], connections[2], connections[4] }));
        Assert.That(Slot(connections[1]), Is.EqualTo(-1));
    }

    [Test]
    public void A_freed_slot_is_reused_before_the_array_grows()
    {
        var slots = new HeartbeatSlots<WebSocketConnection>();
        var first = NewConnection();
        var second = NewConnection();
        slots.Add(first);
        slots.Add(second);
        var freed = Slot(first);
        slots.Remove(first);

        var third = NewConnection();
        slots.Add(third);

        Assert.That(Slot(third), Is.EqualTo(freed));
        Assert.That(Walk(slots), Is.EquivalentTo(new[] { second, third }));
    }

    [Test]
    public void Adding_twice_or_removing_a_stranger_changes_nothing()
    {
        var slots = new HeartbeatSlots<WebSocketConnection>();
        var member = NewConnection();
        slots.Add(member);
        slots.Add(member);
        slots.Remove(NewConnection());

        Assert.That(slots.Count, Is.EqualTo(1));
        Assert.That(Walk(slots), Is.EqualTo(new[] { member }));
    }

    [Test]
    public void Growth_past_the_initial_size_keeps_every_connection()
    {
        var slots = new HeartbeatSlots<WebSocketConnection>();
        var connections = Enumerable.Range(0, 100).Select(_ => NewConnection()).ToArray();
        foreach (var connection in connections)
        {
            slots.Add(connection);
        }

        Assert.That(slots.Count, Is.EqualTo(100));
        Assert.That(Walk(slots), Is.EquivalentTo(connections));
        Assert.That(connections.Select(c => Slot(c)).Distinct().Count(), Is.EqualTo(100));
    }

    [Test]
    public async Task Concurrent_adds_and_removes_while_walking_lose_nobody()
    {
        var slots = new HeartbeatSlots<WebSocketConnection>();
        var keep = new System.Collections.Concurrent.ConcurrentBag<WebSocketConnection>();
        using var stop = new CancellationTokenSource();
        var walker = Task.Run(() =>
        {
            var walks = 0;
            while (!stop.IsCancellationRequested)
            {
                slots.ForEach(0, static (connection, _) => Assert.That(Slot(connection), Is.GreaterThanOrEqualTo(-1)));
                walks++;
            }

            return walks;
        });

        var workers = Enumerable.Range(0, 4).Select(worker => Task.Run(() =>
        {
            for (var i = 0; i < 500; i++)
            {
                var connection = NewConnection();
                slots.Add(connection);
                if (i % 2 == 0)
                {
                    slots.Remove(connection);
                }
                else
                {
                    keep.Add(connection);
                }
            }
        })).ToArray();

        await Task.WhenAll(workers).WaitAsync(TimeSpan.FromSeconds(30));
        stop.Cancel();
        Assert.That(await walker.WaitAsync(TimeSpan.FromSeconds(10)), Is.GreaterThan(0));

        Assert.That(slots.Count, Is.EqualTo(1000));
        Assert.That(Walk(slots), Is.EquivalentTo(keep));
    }

    [Test]
    public async Task A_due_handshake_deadline_cancels_the_sniffers_read_and_an_untracked_one_never_does()
    {
        var heartbeat = new WebSocketHeartbeat(TimeSpan.FromMilliseconds(20));
        var due = new System.IO.Pipelines.Pipe();
        var finished = new System.IO.Pipelines.Pipe();
        var dueDeadline = heartbeat.TrackHandshake(due.Reader, TimeSpan.FromMilliseconds(50))!;
        var finishedDeadline = heartbeat.TrackHandshake(finished.Reader, TimeSpan.FromMilliseconds(50))!;
        Assert.That(finishedDeadline.HeartbeatSlot, Is.Not.EqualTo(dueDeadline.HeartbeatSlot));

        // The sniffer of the second connection decides in time: it finishes and takes its deadline off the heartbeat.
        Assert.That(finishedDeadline.TryFinish(), Is.True);
        heartbeat.Untrack(finishedDeadline);
        Assert.That(finishedDeadline.HeartbeatSlot, Is.EqualTo(-1));

        var read = await due.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.That(read.IsCanceled, Is.True, "the heartbeat cancels the read of a sniffer past its deadline");
        Assert.That(dueDeadline.HasFired, Is.True);
        Assert.That(dueDeadline.TryFinish(), Is.False, "a fired deadline wins over a late decision");

        await Task.Delay(200);
        Assert.That(finished.Reader.TryRead(out _), Is.False, "nothing was written, and no cancel reached the finished sniffer's reader");
        Assert.That(finishedDeadline.HasFired, Is.False);
        heartbeat.Untrack(dueDeadline);
    }

    [Test]
    public void Handshake_deadlines_reuse_the_slots_of_finished_ones()
    {
        var heartbeat = new WebSocketHeartbeat(Timeout.InfiniteTimeSpan);
        var reader = new System.IO.Pipelines.Pipe().Reader;
        var first = heartbeat.TrackHandshake(reader, TimeSpan.FromSeconds(10))!;
        var slot = Slot(first);
        heartbeat.Untrack(first);

        var second = heartbeat.TrackHandshake(reader, TimeSpan.FromSeconds(10))!;
        Assert.That(second.HeartbeatSlot, Is.EqualTo(slot));
        Assert.That(heartbeat.TrackHandshake(reader, Timeout.InfiniteTimeSpan), Is.Null, "no deadline, nothing tracked");
        heartbeat.Untrack(second);
    }
}
