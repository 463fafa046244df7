using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;

namespace KestrelWsTransport.Tests.Infrastructure;

/// <summary>
/// Listens to the <c>KestrelWsTransport</c> meter of one <see cref="TestKestrel"/> only: the host's meters are created
/// by its own <see cref="IMeterFactory"/>, which is their scope, so instruments of other hosts in the same process
/// (earlier fixtures, parallel tests) are not mixed in. Start it before the connections it should count.
/// </summary>
public sealed class TransportMeter : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentQueue<(string Name, long Value, Dictionary<string, object?> Tags)> _measurements = new();
    private long _active;

    public TransportMeter(TestKestrel server)
    {
        var scope = server.Services.GetRequiredService<IMeterFactory>();
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == "KestrelWsTransport" && ReferenceEquals(instrument.Meter.Scope, scope))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            if (instrument.Name == "kestrelws.connections.active")
            {
                Interlocked.Add(ref _active, value);
            }

            var map = new Dictionary<string, object?>();
            foreach (var tag in tags)
            {
                map[tag.Key] = tag.Value;
            }

            _measurements.Enqueue((instrument.Name, value, map));
        });
        _listener.Start();
    }

    /// <summary>The sum of <c>kestrelws.connections.active</c> since this listener started: WebSockets open now.</summary>
    public long Active => Interlocked.Read(ref _active);

    /// <summary>The sum of an instrument's measurements, optionally only those with a tag of the given value.</summary>
    public long Sum(string instrument, string? tag = null, object? value = null) =>
        _measurements.Where(m => m.Name == instrument && (tag is null || (m.Tags.TryGetValue(tag, out var v) && Equals(v, value))))
            .Sum(m => m.Value);

    /// <summary>The <c>code</c> tags of <c>kestrelws.closes</c>, one per WebSocket that ended, in order.</summary>
    public IReadOnlyList<int> CloseCodes =>
        _measurements.Where(m => m.Name == "kestrelws.closes").Select(m => Convert.ToInt32(m.Tags["code"])).ToList();

    /// <summary>Waits (bounded) until <see cref="Active"/> is <paramref name="expected"/>; returns whether it got there.</summary>
    public async Task<bool> WaitForActiveAsync(long expected, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (Active != expected && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        return Active == expected;
    }

    public void Dispose() => _listener.Dispose();
}
