using LoadTool.Client;
using LoadTool.Content;
using LoadTool.Infrastructure;
using Spectre.Console;

namespace LoadTool.Scenarios;

/// <summary>
/// Idle: opens N connections and holds them, reads the server's resident memory before and after (VmRSS of
/// /proc/&lt;pid&gt;/status), then checks that every connection still echoes one message, and closes them all.
/// </summary>
internal static class IdleScenario
{
    // File descriptors kept free for everything else in either process (listeners, logs, assemblies).
    private const int Reserve = 200;

    public static async Task<RunResult> RunAsync(
        CommonSettings common, int connections, int parallel, double settleSeconds, double holdSeconds, int size, bool prime,
        ContentSettings content, CancellationToken cancellationToken)
    {
        if (connections < 1 || parallel < 1)
        {
            throw new UsageException("--connections and --open-parallel must be at least 1.");
        }

        content.Validate(common.Client);

        CheckFileLimit("this tool", ProcStats.OpenFileLimit(), connections);
        if (common.ServerPid is { } serverPid)
        {
            if (!ProcStats.Exists(serverPid))
            {
                throw new UsageException($"No process {serverPid}.");
            }

            CheckFileLimit($"the server (pid {serverPid})", ProcStats.OpenFileLimit(serverPid), connections);
        }
        else
        {
            AnsiConsole.MarkupLine("[yellow]No --server-pid: the server's memory is not measured.[/]");
        }

        var target = await Target.ResolveAsync(common.Url, common.AllowRemote, cancellationToken).ConfigureAwait(false);
        var factory = common.Factory(target);
        var settings = new ConnectionSettings(ConnectionSettings.MakePayload(size), true, common.ReceiveBufferSize ?? 1024, common.SkipCertificateCheck);
        var pool = content.Enabled ? content.Pool(size, true) : null;
        var contents = new PoolContent?[connections];
        Func<int, ConnectionSettings> perConnection = pool is null
            ? _ => settings
            : i => settings with { Content = contents[i] = pool.For(i), Deflate = content.Offer };

        using var hard = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        // Opening at a conservative 1,000 per second, settling, holding, checking and closing.
        hard.CancelAfter(TimeSpan.FromSeconds(connections / 1000.0 + settleSeconds + holdSeconds + 120));

        var before = common.ServerPid is { } p1 ? await SettledRssAsync(p1, hard.Token).ConfigureAwait(false) : null;
        var errors = new ErrorLog();
        var started = DateTime.UtcNow;
        var meter = CpuMeter.Start(common.ServerPid);
        AnsiConsole.MarkupLine($"[grey]opening {connections:N0} connections, {parallel} at a time[/]");
        var open = await Connections.OpenAsync(factory, connections, parallel, perConnection, errors, hard.Token).ConfigureAwait(false);
        AnsiConsole.MarkupLine($"[grey]  {open.Count:N0} open after {(DateTime.UtcNow - started).TotalSeconds:F1} s, {errors.Count} failed[/]");

        // Every connection keeps one receive pending, as any client would (and answers the server's keepalive pings).
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(hard.Token);
        var holders = open.Select(c => new Holder(c)).ToList();
        var loops = holders.Select(h => h.ReceiveLoopAsync(stop.Token)).ToList();
        var echoesExpected = 0;
        if (prime)
        {
            AnsiConsole.MarkupLine("[grey]priming: one echo on every connection[/]");
            await EchoOnEachAsync(holders, ++echoesExpected, errors, hard.Token).ConfigureAwait(false);
        }

        AnsiConsole.MarkupLine($"[grey]settling {settleSeconds:F0} s, holding {holdSeconds:F0} s[/]");
        await Task.Delay(TimeSpan.FromSeconds(settleSeconds + holdSeconds), hard.Token).ConfigureAwait(false);
        var after = common.ServerPid is { } p2 ? await SettledRssAsync(p2, hard.Token).ConfigureAwait(false) : null;
        var openFiles = common.ServerPid is { } p3 ? ProcStats.OpenFiles(p3) : null;
        var clientRss = ProcStats.RssKiB(Environment.ProcessId);

        // Does every one still work? One echo each, within a bounded time.
        AnsiConsole.MarkupLine("[grey]checking that every connection echoes[/]");
        await EchoOnEachAsync(holders, ++echoesExpected, errors, hard.Token).ConfigureAwait(false);
        var echoed = holders.Count(h => h.Echoes >= echoesExpected);
        var measured = meter.Stop();

        AnsiConsole.MarkupLine("[grey]closing[/]");
        await Connections.CloseHeldAsync(holders.Select(h => (h.Connection, h.Loop)), 64, TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        stop.Cancel();
        await Task.WhenAll(loops).ConfigureAwait(false);

        var result = common.NewResult(content.Name(prime && !content.Enabled ? "idle-primed" : "idle"));
        result.Settings = new()
        {
            ["connections"] = connections.ToString(),
            ["opened in parallel"] = parallel.ToString(),
            ["settle + hold (s)"] = $"{settleSeconds} + {holdSeconds}",
            ["primed (one echo before measuring)"] = prime ? "yes" : "no",
        };
        result.Errors = errors.Count;
        result.FirstError = errors.First;
        result.Idle = new IdleResult
        {
            Requested = connections,
            Opened = open.Count,
            FailedToOpen = connections - open.Count,
            Echoed = echoed,
            ServerRssBeforeKiB = before,
            ServerRssAfterKiB = after,
            KiBPerConnection = before is { } b && after is { } a && open.Count > 0 ? Math.Round((a - b) / (double)open.Count, 2) : null,
            ServerOpenFiles = openFiles,
            ClientRssKiB = clientRss,
        };
        common.AddCpu(result, measured, null);
        if (pool is not null)
        {
            result.Content = content.Collect(pool, open, contents.OfType<PoolContent>());
            result.Errors += result.Content.Problems.Count;
            result.FirstError ??= result.Content.Problems.FirstOrDefault();
        }

        return result;
    }

    /// <summary>Sends one message on every connection and waits (30 s at most) until each has <paramref name="echoes"/> echoes.</summary>
    private static async Task EchoOnEachAsync(List<Holder> holders, int echoes, ErrorLog errors, CancellationToken cancellationToken)
    {
        using var check = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        check.CancelAfter(TimeSpan.FromSeconds(30));
        try
        {
            await Parallel.ForEachAsync(
                holders,
                new ParallelOptions { MaxDegreeOfParallelism = 64, CancellationToken = check.Token },
                async (holder, ct) =>
                {
                    try
                    {
                        await holder.Connection.SendAsync(1, ct).ConfigureAwait(false);
                        await holder.WaitForEchoesAsync(echoes).WaitAsync(ct).ConfigureAwait(false);
                    }
                    catch (Exception ex) when (ex is not OperationCanceledException)
                    {
                        errors.Add(ex);
                    }
                }).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // Out of time: the connections that did not echo are counted by the caller.
        }
    }

    private static void CheckFileLimit(string who, long? limit, int connections)
    {
        if (limit is { } l && connections + Reserve > l)
        {
            throw new UsageException(
                $"{connections:N0} connections need more open files than {who} may have ({l:N0}, {Reserve} kept free). " +
                "Raise it (ulimit -n) or ask for fewer.");
        }
    }

    /// <summary>VmRSS once it stopped moving (two readings a second apart within 1%), or the last of five.</summary>
    private static async Task<long?> SettledRssAsync(int pid, CancellationToken cancellationToken)
    {
        var last = ProcStats.RssKiB(pid);
        for (var i = 0; i < 5 && last is not null; i++)
        {
            await Task.Delay(1000, cancellationToken).ConfigureAwait(false);
            var now = ProcStats.RssKiB(pid);
            if (now is null || Math.Abs(now.Value - last.Value) <= last.Value / 100)
            {
                return now;
            }

            last = now;
        }

        return last;
    }

    private sealed class Holder(ILoadConnection connection)
    {
        private readonly Lock _lock = new();
        private int _echoes;
        private int _waitingFor;
        private TaskCompletionSource? _waiter;

        public ILoadConnection Connection { get; } = connection;

        public int Echoes => Volatile.Read(ref _echoes);

        public Task Loop { get; private set; } = Task.CompletedTask;

        public Task ReceiveLoopAsync(CancellationToken cancellationToken) => Loop = RunAsync(cancellationToken);

        /// <summary>Completes once <paramref name="count"/> echoes arrived on this connection in all.</summary>
        public Task WaitForEchoesAsync(int count)
        {
            lock (_lock)
            {
                if (_echoes >= count)
                {
                    return Task.CompletedTask;
                }

                _waitingFor = count;
                _waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                return _waiter.Task;
            }
        }

        private async Task RunAsync(CancellationToken cancellationToken)
        {
            try
            {
                int count;
                while ((count = await Connection.ReceiveAsync(cancellationToken).ConfigureAwait(false)) >= 0)
                {
                    lock (_lock)
                    {
                        _echoes += count;
                        if (_waiter is not null && _echoes >= _waitingFor)
                        {
                            _waiter.TrySetResult();
                            _waiter = null;
                        }
                    }
                }
            }
            catch (Exception)
            {
                // Closed under it.
            }
        }
    }
}
