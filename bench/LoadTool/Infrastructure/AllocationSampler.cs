using System.Diagnostics.Tracing;
using Microsoft.Diagnostics.NETCore.Client;
using Microsoft.Diagnostics.Tracing;
using Microsoft.Diagnostics.Tracing.Parsers;

namespace LoadTool.Infrastructure;

/// <summary>
/// What another .NET process allocates while it is measured, by type, with no help from it: an EventPipe session with
/// the runtime provider's GC keyword at Verbose level delivers a GCAllocationTick event each time a heap's allocation
/// context has handed out about 100 KB more, carrying that amount and the type of the object that crossed the mark.
/// Summing the amounts gives the bytes allocated (to within one tick per heap); attributing each amount to its type gives
/// the types' shares, a sample that is proportional to bytes, so its precision grows with the number of ticks.
/// </summary>
internal sealed class AllocationSampler
{
    private const string RuntimeProvider = "Microsoft-Windows-DotNETRuntime";

    private readonly EventPipeSession _session;
    private readonly Task _processing;
    private readonly Dictionary<string, long> _byType = new(StringComparer.Ordinal);
    private DateTime _from = DateTime.MaxValue;
    private DateTime _to = DateTime.MaxValue;
    private long _bytes;
    private int _ticks;

    private AllocationSampler(EventPipeSession session)
    {
        _session = session;
        _processing = Task.Run(Process);
    }

    /// <summary>Starts a session on <paramref name="pid"/>; events count from <see cref="Begin"/> to <see cref="StopAsync"/>.</summary>
    public static async Task<AllocationSampler> StartAsync(int pid, CancellationToken cancellationToken)
    {
        var client = new DiagnosticsClient(pid);
        var providers = new[]
        {
            new EventPipeProvider(RuntimeProvider, EventLevel.Verbose, (long)ClrTraceEventParser.Keywords.GC),
        };
        var session = await client.StartEventPipeSessionAsync(providers, requestRundown: false, circularBufferMB: 64, cancellationToken).ConfigureAwait(false);
        return new AllocationSampler(session);
    }

    /// <summary>Events stamped from now on are counted (the session needs a moment to start; it runs from before).</summary>
    public void Begin()
    {
        lock (_byType)
        {
            _from = DateTime.Now;
        }
    }

    /// <summary>Stops counting, ends the session and returns what was allocated between <see cref="Begin"/> and now.</summary>
    public async Task<AllocationSample> StopAsync()
    {
        DateTime from;
        lock (_byType)
        {
            _to = DateTime.Now;
            from = _from;
        }

        try
        {
            // Stopping flushes the events still buffered in the server; those stamped after _to are not counted.
            await _session.StopAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // The process may be gone; what arrived still counts.
        }

        await Task.WhenAny(_processing, Task.Delay(TimeSpan.FromSeconds(10))).ConfigureAwait(false);
        _session.Dispose();
        lock (_byType)
        {
            var types = _byType.OrderByDescending(p => p.Value).Select(p => new TypeAllocation(p.Key, p.Value)).ToList();
            return new AllocationSample(_bytes, _ticks, (_to - from).TotalSeconds, types);
        }
    }

    private void Process()
    {
        try
        {
            using var source = new EventPipeEventSource(_session.EventStream);
            source.Clr.GCAllocationTick += e =>
            {
                lock (_byType)
                {
                    if (e.TimeStamp < _from || e.TimeStamp > _to)
                    {
                        return;
                    }

                    var amount = e.AllocationAmount64 > 0 ? e.AllocationAmount64 : e.AllocationAmount;
                    _bytes += amount;
                    _ticks++;
                    var type = string.IsNullOrEmpty(e.TypeName) ? "(unnamed)" : e.TypeName;
                    _byType[type] = _byType.GetValueOrDefault(type) + amount;
                }
            };
            source.Process();
        }
        catch (Exception)
        {
            // A session that ends abruptly (the server exits) leaves the sample as it was.
        }
    }
}

/// <summary>Bytes a server allocated over a measured interval (sampled by type; see <see cref="AllocationSampler"/>).</summary>
internal sealed record AllocationSample(long Bytes, int Ticks, double Seconds, IReadOnlyList<TypeAllocation> ByType);

internal sealed record TypeAllocation(string Type, long Bytes);
