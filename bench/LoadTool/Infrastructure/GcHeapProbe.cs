using System.Diagnostics.Tracing;
using Microsoft.Diagnostics.NETCore.Client;
using Microsoft.Diagnostics.Tracing;
using Microsoft.Diagnostics.Tracing.Parsers;

namespace LoadTool.Infrastructure;

/// <summary>
/// The GC heap of another .NET process, read through what the runtime publishes on its diagnostics port (EventPipe),
/// with no help from the application: a session with the runtime provider's GCHeapCollect keyword makes the runtime
/// run a full blocking collection (what dotnet-gcdump does), and the GCHeapStats event at its end gives the size of
/// every generation after it. So the figure is the heap that survives a full GC: live objects plus fragmentation.
/// The same session reads the runtime's "gc-committed" counter (System.Runtime EventCounters, once a second): the
/// memory the GC keeps committed, used or not, which is what it contributes to RSS.
/// </summary>
internal static class GcHeapProbe
{
    private const string RuntimeProvider = "Microsoft-Windows-DotNETRuntime";

    /// <summary>Generation sizes (bytes) after the induced full GC, and the GC handle count.</summary>
    internal sealed record Reading(long HeapBytes, long Gen0Bytes, long Gen1Bytes, long Gen2Bytes, long LohBytes, long PohBytes, long GcHandles, double Milliseconds)
    {
        /// <summary>GC committed bytes after the collection (the gc-committed counter, MB resolution), if it arrived in time.</summary>
        public long? CommittedBytes { get; init; }
    }

    /// <summary>Induces a full GC in <paramref name="pid"/> and reads its heap; throws when that is not possible in time.</summary>
    public static async Task<Reading> InduceFullGcAsync(int pid, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var started = System.Diagnostics.Stopwatch.StartNew();
        var client = new DiagnosticsClient(pid);
        var providers = new[]
        {
            new EventPipeProvider(
                RuntimeProvider,
                EventLevel.Informational,
                (long)(ClrTraceEventParser.Keywords.GC | ClrTraceEventParser.Keywords.GCHeapCollect)),
            new EventPipeProvider(
                "System.Runtime",
                EventLevel.Informational,
                0,
                new Dictionary<string, string> { ["EventCounterIntervalSec"] = "1" }),
        };

        using var session = await client.StartEventPipeSessionAsync(providers, requestRundown: false, circularBufferMB: 16, cancellationToken).ConfigureAwait(false);
        var reading = new TaskCompletionSource<Reading>(TaskCreationOptions.RunContinuationsAsynchronously);
        var processing = Task.Run(() =>
        {
            try
            {
                using var source = new EventPipeEventSource(session.EventStream);
                var fullGcRunning = false;
                Reading? heap = null;
                var heapAt = DateTime.MaxValue;
                source.Clr.GCStart += e => fullGcRunning |= e.Depth == 2;
                source.Clr.GCHeapStats += e =>
                {
                    if (fullGcRunning && heap is null)
                    {
                        heap = new Reading(
                            e.GenerationSize0 + e.GenerationSize1 + e.GenerationSize2 + e.GenerationSize3 + e.GenerationSize4,
                            e.GenerationSize0, e.GenerationSize1, e.GenerationSize2, e.GenerationSize3, e.GenerationSize4, e.GCHandleCount,
                            started.Elapsed.TotalMilliseconds);
                        heapAt = e.TimeStamp;
                    }
                };
                source.Dynamic.All += e =>
                {
                    // The first gc-committed value computed after the full GC completes the reading.
                    if (heap is not null && e.TimeStamp > heapAt && e.ProviderName == "System.Runtime" && e.EventName == "EventCounters"
                        && e.PayloadValue(0) is IDictionary<string, object> outer && outer.TryGetValue("Payload", out var inner)
                        && inner is IDictionary<string, object> counter && counter.TryGetValue("Name", out var name) && (name as string) == "gc-committed"
                        && counter.TryGetValue("Mean", out var mean))
                    {
                        reading.TrySetResult(heap with { CommittedBytes = (long)(Convert.ToDouble(mean, System.Globalization.CultureInfo.InvariantCulture) * 1_000_000) });
                        source.StopProcessing();
                    }
                };
                var watchdog = Task.Run(async () =>
                {
                    // Without the counter (a runtime that does not publish it) the heap alone is the reading.
                    while (!reading.Task.IsCompleted)
                    {
                        await Task.Delay(250).ConfigureAwait(false);
                        if (heap is { } h && (DateTime.Now - heapAt).TotalSeconds > 4 && reading.TrySetResult(h))
                        {
                            source.StopProcessing();
                        }
                    }
                });
                source.Process();
                reading.TrySetException(new IOException("The EventPipe session ended before a full GC was reported."));
            }
            catch (Exception ex)
            {
                reading.TrySetException(ex);
            }
        });

        try
        {
            return await reading.Task.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            try
            {
                await session.StopAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
            }
            catch (Exception)
            {
                // The process may be gone, or the session already ended.
            }

            await Task.WhenAny(processing, Task.Delay(TimeSpan.FromSeconds(10), CancellationToken.None)).ConfigureAwait(false);
        }
    }
}
