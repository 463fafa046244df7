using System.Diagnostics;
using HdrHistogram;
using LoadTool.Client;
using LoadTool.Infrastructure;

namespace LoadTool.Scenarios;

/// <summary>
/// Handshake rate: each of C workers in turn connects, upgrades, sends one message, reads its echo and closes (close
/// handshake, then waits for the server to end TCP). With the raw client: connect, one echo, close.
/// </summary>
internal static class HandshakeScenario
{
    public static async Task<RunResult> RunAsync(CommonSettings common, int concurrency, int size, CancellationToken cancellationToken)
    {
        if (concurrency < 1)
        {
            throw new UsageException("--concurrency must be at least 1.");
        }

        var target = await Target.ResolveAsync(common.Url, common.AllowRemote, cancellationToken).ConfigureAwait(false);
        var factory = common.Factory(target);
        var settings = new ConnectionSettings(ConnectionSettings.MakePayload(size), true, common.ReceiveBufferSize ?? 4096, common.SkipCertificateCheck);

        using var hard = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        hard.CancelAfter(TimeSpan.FromSeconds(common.WarmupSeconds + common.DurationSeconds + 60));
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(hard.Token);

        var clock = new RunClock();
        var errors = new ErrorLog();
        var workers = Enumerable.Range(0, concurrency).Select(_ => new Worker(factory, settings, clock, errors)).ToList();
        var tasks = workers.Select(w => Task.Run(() => w.RunAsync(stop.Token))).ToList();

        var measured = await clock.RunAsync(
            common.WarmupSeconds,
            common.DurationSeconds,
            common.ServerPid,
            () => $"{workers.Sum(w => w.Total):N0} handshakes, {errors.Count} errors",
            hard.Token,
            common.ServerAllocations).ConfigureAwait(false);
        stop.CancelAfter(TimeSpan.FromSeconds(5));
        await Task.WhenAll(tasks).ConfigureAwait(false);

        var count = workers.Sum(w => w.Measured);
        var result = common.NewResult("handshake");
        result.Settings = new()
        {
            ["concurrency"] = concurrency.ToString(),
            ["echo size (B)"] = size.ToString(),
            ["per iteration"] = common.Client == ClientKind.Raw ? "connect, echo, close" : "connect, upgrade, echo, close handshake",
            ["warm-up (s)"] = common.WarmupSeconds.ToString(),
            ["duration (s)"] = common.DurationSeconds.ToString(),
        };
        result.Handshakes = count;
        result.HandshakesPerSecond = Math.Round(count / measured.Elapsed, 1);
        result.Errors = errors.Count;
        result.FirstError = errors.First;
        result.Latency = LatencySummary.From(Latency.Merge(workers.Select(w => w.Histogram)));
        common.AddCpu(result, measured, count, clock.Allocations);
        return result;
    }

    private sealed class Worker(ConnectionFactory factory, ConnectionSettings settings, RunClock clock, ErrorLog errors)
    {
        private long _total;

        public LongHistogram Histogram { get; } = Latency.NewHistogram();

        public long Measured { get; private set; }

        public long Total => Volatile.Read(ref _total);

        public async Task RunAsync(CancellationToken cancellationToken)
        {
            while (!clock.IsStopping)
            {
                var start = Stopwatch.GetTimestamp();
                try
                {
                    var connection = await factory.ConnectAsync(settings, cancellationToken).ConfigureAwait(false);
                    try
                    {
                        await connection.SendAsync(1, cancellationToken).ConfigureAwait(false);
                        var echoed = 0;
                        while (echoed < 1)
                        {
                            var count = await connection.ReceiveAsync(cancellationToken).ConfigureAwait(false);
                            if (count < 0)
                            {
                                throw new IOException("The server closed before the echo.");
                            }

                            echoed += count;
                        }

                        await connection.CloseAsync(cancellationToken).ConfigureAwait(false);
                    }
                    finally
                    {
                        await connection.DisposeAsync().ConfigureAwait(false);
                    }

                    Volatile.Write(ref _total, _total + 1);
                    if (clock.IsMeasuring)
                    {
                        Measured++;
                        Latency.Record(Histogram, Latency.Microseconds(Stopwatch.GetTimestamp() - start));
                    }
                }
                catch (Exception ex) when (!clock.IsStopping)
                {
                    errors.Add(ex);
                    // Do not spin on a server that refuses connections.
                    await Task.Delay(10, CancellationToken.None).ConfigureAwait(false);
                }
                catch (Exception)
                {
                    return;
                }
            }
        }
    }
}
