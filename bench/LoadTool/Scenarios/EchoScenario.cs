using System.Diagnostics;
using HdrHistogram;
using LoadTool.Client;
using LoadTool.Content;
using LoadTool.Infrastructure;

namespace LoadTool.Scenarios;

/// <summary>
/// Echo and bulk: N connections, each keeping K messages in flight (closed loop: every echo that comes back lets one
/// more message go). Messages per second, payload MB per second and round-trip latency under that load.
/// </summary>
internal static class EchoScenario
{
    public static async Task<RunResult> RunAsync(
        CommonSettings common, string scenario, int connections, int inFlight, int size, bool text, ContentSettings content, CancellationToken cancellationToken)
    {
        if (connections < 1 || inFlight < 1 || size < 0)
        {
            throw new UsageException("--connections and --in-flight must be at least 1, --size at least 0.");
        }

        content.Validate(common.Client);

        var target = await Target.ResolveAsync(common.Url, common.AllowRemote, cancellationToken).ConfigureAwait(false);
        var factory = common.Factory(target);
        var settings = new ConnectionSettings(
            ConnectionSettings.MakePayload(size), text, common.ReceiveBufferSize ?? Connections.DefaultReceiveBuffer(size), common.SkipCertificateCheck);

        // Every wait below ends by this deadline, whatever the server does.
        using var hard = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        hard.CancelAfter(TimeSpan.FromSeconds(common.WarmupSeconds + common.DurationSeconds + 60));

        // Content mode: every connection walks the same pool of messages from its own start and checks every echo.
        var pool = content.Enabled ? content.Pool(size, text) : null;
        var contents = new PoolContent?[connections];
        Func<int, ConnectionSettings> perConnection = pool is null
            ? _ => settings
            : i => settings with { Content = contents[i] = pool.For(i), Deflate = content.Offer };

        var errors = new ErrorLog();
        var open = await Connections.OpenAsync(factory, connections, 32, perConnection, errors, hard.Token).ConfigureAwait(false);
        if (open.Count == 0)
        {
            throw new IOException($"No connection could be opened to {common.Url}: {errors.First}");
        }

        var clock = new RunClock();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(hard.Token);
        var workers = open.Select(c => new EchoWorker(c, inFlight, clock, errors)).ToList();
        var tasks = workers.Select(w => w.RunAsync(stop.Token)).ToList();

        var measured = await clock.RunAsync(
            common.WarmupSeconds,
            common.DurationSeconds,
            common.ServerPid,
            () => $"{workers.Sum(w => w.TotalReceived):N0} echoes, {errors.Count} errors",
            hard.Token,
            common.ServerAllocations).ConfigureAwait(false);

        // Stop sending, let the messages in flight come back (bounded), then close.
        foreach (var worker in workers)
        {
            worker.Wake();
        }

        stop.CancelAfter(TimeSpan.FromSeconds(5));
        await Task.WhenAll(tasks).ConfigureAwait(false);
        await Connections.CloseAllAsync(open, 32, TimeSpan.FromSeconds(5)).ConfigureAwait(false);

        var messages = workers.Sum(w => w.MeasuredMessages);
        var result = common.NewResult(content.Name(scenario));
        result.Settings = new()
        {
            ["connections"] = $"{open.Count} of {connections}",
            ["in flight per connection"] = inFlight.ToString(),
            ["message size (B)"] = pool?.Description ?? size.ToString(),
            ["type"] = text ? "text" : "binary",
            ["warm-up (s)"] = common.WarmupSeconds.ToString(),
            ["duration (s)"] = common.DurationSeconds.ToString(),
        };
        result.Messages = messages;
        result.MessagesPerSecond = Math.Round(messages / measured.Elapsed, 1);
        var meanSize = pool is null ? size : pool.Messages.Average(m => (double)m.Length);
        result.MegabytesPerSecond = Math.Round(messages * meanSize / measured.Elapsed / 1e6, 2);
        result.Errors = errors.Count;
        result.FirstError = errors.First;
        result.Latency = LatencySummary.From(Latency.Merge(workers.Select(w => w.Histogram)));
        common.AddCpu(result, measured, scenario == "bulk" ? messages * (double)size / 1e6 : messages, clock.Allocations);
        if (pool is not null)
        {
            result.Content = content.Collect(pool, open, contents.OfType<PoolContent>());
            result.Errors += result.Content.Problems.Count;
            result.FirstError ??= result.Content.Problems.FirstOrDefault();
        }

        return result;
    }

    /// <summary>One connection's two loops: send while there is credit, receive and give credit back.</summary>
    private sealed class EchoWorker
    {
        private readonly ILoadConnection _connection;
        private readonly int _window;
        private readonly RunClock _clock;
        private readonly ErrorLog _errors;
        private readonly AsyncSignal _credit = new();
        private readonly long[] _sentAt;
        private int _credits;
        private long _sent;
        private long _received;

        public EchoWorker(ILoadConnection connection, int window, RunClock clock, ErrorLog errors)
        {
            _connection = connection;
            _window = window;
            _clock = clock;
            _errors = errors;
            _sentAt = new long[window];
            _credits = window;
        }

        public LongHistogram Histogram { get; } = Latency.NewHistogram();

        public long MeasuredMessages { get; private set; }

        public long TotalReceived => Volatile.Read(ref _received);

        public void Wake() => _credit.Set();

        public async Task RunAsync(CancellationToken cancellationToken)
        {
            var receive = ReceiveLoopAsync(cancellationToken);
            var send = SendLoopAsync(cancellationToken);
            await Task.WhenAll(receive, send).ConfigureAwait(false);
        }

        private async Task SendLoopAsync(CancellationToken cancellationToken)
        {
            try
            {
                while (!_clock.IsStopping)
                {
                    var count = Interlocked.Exchange(ref _credits, 0);
                    if (count == 0)
                    {
                        await _credit.WaitAsync().ConfigureAwait(false);
                        continue;
                    }

                    var now = Stopwatch.GetTimestamp();
                    var sent = _sent;
                    for (var i = 0; i < count; i++)
                    {
                        _sentAt[(sent + i) % _window] = now;
                    }

                    Volatile.Write(ref _sent, sent + count);
                    await _connection.SendAsync(count, cancellationToken).ConfigureAwait(false);
                }
            }
            catch (Exception ex) when (!_clock.IsStopping)
            {
                _errors.Add(ex);
            }
            catch (Exception)
            {
                // Cut off while stopping.
            }
        }

        private async Task ReceiveLoopAsync(CancellationToken cancellationToken)
        {
            try
            {
                while (true)
                {
                    var count = await _connection.ReceiveAsync(cancellationToken).ConfigureAwait(false);
                    if (count < 0)
                    {
                        if (!_clock.IsStopping)
                        {
                            _errors.Add(new IOException("The server closed the connection."));
                        }

                        return;
                    }

                    var now = Stopwatch.GetTimestamp();
                    var received = _received;
                    if (_clock.IsMeasuring)
                    {
                        for (var i = 0; i < count; i++)
                        {
                            Latency.Record(Histogram, Latency.Microseconds(now - _sentAt[(received + i) % _window]));
                        }

                        MeasuredMessages += count;
                    }

                    Volatile.Write(ref _received, received + count);
                    if (_clock.IsStopping)
                    {
                        // Draining: done when everything sent came back.
                        if (Volatile.Read(ref _sent) <= received + count)
                        {
                            return;
                        }

                        continue;
                    }

                    Interlocked.Add(ref _credits, count);
                    _credit.Set();
                }
            }
            catch (Exception ex) when (!_clock.IsStopping)
            {
                _errors.Add(ex);
            }
            catch (Exception)
            {
                // Cut off while draining.
            }
            finally
            {
                // The send loop may be waiting for credit that will never come.
                _credit.Set();
            }
        }
    }
}
