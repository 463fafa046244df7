using System.Diagnostics.Tracing;
using System.Reflection;

namespace KestrelWsTransport.Benchmarks;

/// <summary>
/// <c>--allocations</c>: runs each echo of <see cref="EchoBenchmarks"/> many times in this process and reports the bytes
/// allocated per echo and which types they are (the runtime's GC AllocationTick events, one sample per ~100 KB
/// allocated), to find what a benchmark's "Allocated" column is made of.
/// </summary>
internal static class AllocationProbe
{
    public static int Run(string[] args)
    {
        var iterations = args.Length > 1 && int.TryParse(args[1], out var n) ? n : 200_000;
        foreach (var size in new[] { 32, 65536 })
        {
            foreach (var method in new[] { nameof(EchoBenchmarks.EngineEcho), nameof(EchoBenchmarks.EngineEchoDataFirst), nameof(EchoBenchmarks.ManagedWebSocketEcho) })
            {
                var bench = new EchoBenchmarks { MessageSize = size };
                bench.Setup();
                var run = (Func<ValueTask<int>>)Delegate.CreateDelegate(typeof(Func<ValueTask<int>>), bench, typeof(EchoBenchmarks).GetMethod(method, BindingFlags.Public | BindingFlags.Instance)!);
                for (var i = 0; i < 10_000; i++)
                {
                    run().AsTask().GetAwaiter().GetResult();
                }

                var count = size > 1024 ? iterations / 20 : iterations;
                using var listener = new AllocationListener();
                var before = GC.GetAllocatedBytesForCurrentThread();
                for (var i = 0; i < count; i++)
                {
                    var pending = run();
                    if (!pending.IsCompletedSuccessfully)
                    {
                        pending.AsTask().GetAwaiter().GetResult();
                    }
                }

                var perEcho = (GC.GetAllocatedBytesForCurrentThread() - before) / (double)count;
                listener.Dispose();
                Console.WriteLine($"{method,-22} {size,6} B: {perEcho,7:F1} bytes allocated per echo ({count:N0} echoes)");
                foreach (var (type, bytes) in listener.Top(5))
                {
                    Console.WriteLine($"    {bytes * 100.0 / Math.Max(1, listener.Total),5:F1}%  {type}");
                }

                bench.Cleanup();
            }
        }

        return 0;
    }

    private sealed class AllocationListener : EventListener
    {
        private readonly Dictionary<string, long> _bytes = new();
        private bool _ready;

        public AllocationListener() => _ready = true;

        public long Total { get; private set; }

        public IEnumerable<(string Type, long Bytes)> Top(int count)
        {
            lock (_bytes)
            {
                return _bytes.OrderByDescending(p => p.Value).Take(count).Select(p => (p.Key, p.Value)).ToList();
            }
        }

        protected override void OnEventSourceCreated(EventSource source)
        {
            if (source.Name == "Microsoft-Windows-DotNETRuntime")
            {
                // GC keyword (0x1) at Verbose level: GCAllocationTick.
                EnableEvents(source, EventLevel.Verbose, (EventKeywords)0x1);
            }
        }

        protected override void OnEventWritten(EventWrittenEventArgs e)
        {
            if (!_ready || e.EventName is null || !e.EventName.StartsWith("GCAllocationTick", StringComparison.Ordinal) || e.Payload is null)
            {
                return;
            }

            var type = e.PayloadNames!.IndexOf("TypeName") is var t and >= 0 ? e.Payload[t] as string ?? "?" : "?";
            var amount = e.PayloadNames.IndexOf("AllocationAmount64") is var a and >= 0 ? Convert.ToInt64(e.Payload[a]) : 100_000;
            lock (_bytes)
            {
                _bytes[type] = _bytes.GetValueOrDefault(type) + amount;
                Total += amount;
            }
        }
    }
}
