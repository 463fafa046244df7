using KestrelWsTransport.Connection;
using NUnit.Framework;

namespace KestrelWsTransport.Tests.Engine;

/// <summary>
/// The heartbeat's registry of open connections: every added connection is walked exactly once, removed ones never,
/// slots are reused, growth keeps everyone, and concurrent opens and closes lose nobody.
/// </summary>
public class ConnectionSlotsTests
{
    private static WebSocketConnection NewConnection() => new EngineHarness().Connection;

    private static List<WebSocketConnection> Walk(ConnectionSlots slots)
    {
        var seen = new List<WebSocketConnection>();
        slots.ForEach(seen, static (connection, list) => list.Add(connection));
        return seen;
    }

    [Test]
    public void Added_connections_are_walked_once_and_removed_ones_not_at_all()
    {
        var slots = new ConnectionSlots();
        var connections = Enumerable.Range(0, 5).Select(_ => NewConnection()).ToArray();
        foreach (var connection in connections)
        {
            slots.Add(connection);
        }

        slots.Remove(connections[1]);
        slots.Remove(connections[3]);

        Assert.That(slots.Count, Is.EqualTo(3));
        Assert.That(Walk(slots), Is.EquivalentTo(new[] { connections[0], connections[2], connections[4] }));
        Assert.That(connections[1].HeartbeatSlot, Is.EqualTo(-1));
    }

    [Test]
    public void A_freed_slot_is_reused_before_the_array_grows()
    {
        var slots = new ConnectionSlots();
        var first = NewConnection();
        var second = NewConnection();
        slots.Add(first);
        slots.Add(second);
        var freed = first.HeartbeatSlot;
        slots.Remove(first);

        var third = NewConnection();
        slots.Add(third);

        Assert.That(third.HeartbeatSlot, Is.EqualTo(freed));
        Assert.That(Walk(slots), Is.EquivalentTo(new[] { second, third }));
    }

    [Test]
    public void Adding_twice_or_removing_a_stranger_changes_nothing()
    {
        var slots = new ConnectionSlots();
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
        var slots = new ConnectionSlots();
        var connections = Enumerable.Range(0, 100).Select(_ => NewConnection()).ToArray();
        foreach (var connection in connections)
        {
            slots.Add(connection);
        }

        Assert.That(slots.Count, Is.EqualTo(100));
        Assert.That(Walk(slots), Is.EquivalentTo(connections));
        Assert.That(connections.Select(c => c.HeartbeatSlot).Distinct().Count(), Is.EqualTo(100));
    }

    [Test]
    public async Task Concurrent_adds_and_removes_while_walking_lose_nobody()
    {
        var slots = new ConnectionSlots();
        var keep = new System.Collections.Concurrent.ConcurrentBag<WebSocketConnection>();
        using var stop = new CancellationTokenSource();
        var walker = Task.Run(() =>
        {
            var walks = 0;
            while (!stop.IsCancellationRequested)
            {
                slots.ForEach(0, static (connection, _) => Assert.That(connection.HeartbeatSlot, Is.GreaterThanOrEqualTo(-1)));
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
}
