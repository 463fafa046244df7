using LoadTool.Client;
using LoadTool.Content;
using LoadTool.Infrastructure;
using Spectre.Console;

namespace LoadTool.Scenarios;

/// <summary>What the soak command was given.</summary>
internal sealed record SoakSettings(
    int Connections,
    double IntervalMilliseconds,
    int Burst,
    int MaxInFlight,
    int OpenParallel,
    int WarmupConnections,
    double SettleSeconds,
    double SettleMaxSeconds,
    double DrainSeconds,
    double RssToleranceMiB,
    double HeapToleranceMiB,
    double PoolToleranceMiB,
    int OpenFilesTolerance,
    int Seed,
    DeflateOffer? Deflate);

/// <summary>
/// Soak: a warm-up, the server's baseline, then N connections that each send sequence-numbered messages of mixed sizes
/// and types (text and binary, some fragmented) at a steady pace for the duration, every echo checked (exactly once,
/// in order, byte for byte: <see cref="SoakContent"/>); then every message drained, every connection closed with a
/// close handshake, and the server's RSS, GC heap (after a full GC induced over EventPipe) and open files read again
/// until they are back within the tolerances or the settle time is over.
/// Exit code 3 for any message or connection problem, 4 when only the resources did not come back.
/// </summary>
internal static class SoakScenario
{
    private const int Reserve = 200;
    private const int ReceiveBuffer = 16 * 1024;

    public static async Task<RunResult> RunAsync(CommonSettings common, SoakSettings soak, CancellationToken cancellationToken)
    {
        if (common.Client != ClientKind.Fast)
        {
            throw new UsageException("soak needs --client fast (it checks the content of every echo).");
        }

        if (soak.Connections < 1 || soak.Burst < 1 || soak.MaxInFlight < 1 || soak.OpenParallel < 1 || soak.WarmupConnections < 0)
        {
            throw new UsageException("--connections, --burst, --max-in-flight and --open-parallel must be at least 1, --warmup-connections at least 0.");
        }

        if (soak.IntervalMilliseconds < 10)
        {
            throw new UsageException("--interval is at least 10 ms.");
        }

        var needed = Math.Max(soak.Connections, soak.WarmupConnections) + Reserve;
        CheckFileLimit("this tool", ProcStats.OpenFileLimit(), needed);
        var pid = common.ServerPid;
        if (pid is { } p)
        {
            if (!ProcStats.Exists(p))
            {
                throw new UsageException($"No process {p}.");
            }

            CheckFileLimit($"the server (pid {p})", ProcStats.OpenFileLimit(p), needed);
        }
        else
        {
            AnsiConsole.MarkupLine("[yellow]No --server-pid: the server's memory and open files are not measured.[/]");
        }

        var target = await Target.ResolveAsync(common.Url, common.AllowRemote, cancellationToken).ConfigureAwait(false);
        var factory = common.Factory(target);

        // Every step below has its own bound; this is the backstop for the whole run.
        using var hard = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        hard.CancelAfter(TimeSpan.FromSeconds(
            common.WarmupSeconds + common.DurationSeconds + 2 * soak.SettleSeconds + soak.SettleMaxSeconds + 2 * soak.DrainSeconds
            + (soak.Connections + soak.WarmupConnections) / 200.0 + 600));

        var result = common.NewResult("soak");
        var s = new SoakResult
        {
            ConnectionsRequested = soak.Connections,
            IntervalMilliseconds = soak.IntervalMilliseconds,
            Burst = soak.Burst,
            MaxInFlight = soak.MaxInFlight,
            RssToleranceMiB = soak.RssToleranceMiB,
            HeapToleranceMiB = soak.HeapToleranceMiB,
            PoolToleranceMiB = soak.PoolToleranceMiB,
            OpenFilesTolerance = soak.OpenFilesTolerance,
            WarmupConnections = soak.WarmupConnections,
        };
        result.Soak = s;
        result.Settings = new()
        {
            ["connections"] = soak.Connections.ToString("N0"),
            ["duration (s)"] = common.DurationSeconds.ToString(),
            ["warm-up (s, connections)"] = $"{common.WarmupSeconds}, {soak.WarmupConnections}",
            ["payload"] = "sequence-numbered, 20 B-128 KiB (mean ~3.2 KiB), text and binary, some in 2-4 frames",
            ["permessage-deflate"] = soak.Deflate?.OfferHeader ?? "not offered",
            ["seed"] = soak.Seed.ToString(),
        };

        // 1. Warm-up: the same traffic on a few connections, so the baseline is a server that has compiled its paths,
        //    grown its thread pool and filled its buffer pools once.
        if (soak.WarmupConnections > 0 && common.WarmupSeconds > 0)
        {
            AnsiConsole.MarkupLine($"[grey]warm-up: {soak.WarmupConnections:N0} connections for {common.WarmupSeconds:N0} s[/]");
            var warm = await RunPhaseAsync("warm-up", factory, common, soak, soak.WarmupConnections, (ulong)soak.Seed + 1_000_003, common.WarmupSeconds, null, null, hard.Token).ConfigureAwait(false);
            s.WarmupSent = warm.Sent;
            s.WarmupVerified = warm.Verified;
            foreach (var problem in warm.Problems)
            {
                s.Problems.Add("warm-up: " + problem);
            }
        }

        // 2. Baseline.
        if (pid is { } basePid)
        {
            await Delay(soak.SettleSeconds, hard.Token).ConfigureAwait(false);
            s.Baseline = await SnapshotAsync(basePid, hard.Token).ConfigureAwait(false);
            AnsiConsole.MarkupLine($"[grey]baseline: {Markup.Escape(Describe(s.Baseline))}[/]");
        }

        // 3. The soak itself; the "under load" reading is taken at the end of the traffic, every connection still open.
        var sampler = pid is { } samplePid ? new PeakSampler(samplePid) : null;
        Func<Task>? atEnd = pid is { } loadPid
            ? async () =>
            {
                s.UnderLoad = await SnapshotAsync(loadPid, hard.Token).ConfigureAwait(false);
                AnsiConsole.MarkupLine($"[grey]under load: {Markup.Escape(Describe(s.UnderLoad))}[/]");
            }
            : null;
        var cpu = CpuMeter.Start(pid);
        var main = await RunPhaseAsync("soak", factory, common, soak, soak.Connections, (ulong)soak.Seed, common.DurationSeconds, sampler, atEnd, hard.Token).ConfigureAwait(false);
        var measured = cpu.Stop();
        s.ConnectionsOpened = main.Opened;
        s.TrafficSeconds = Math.Round(main.TrafficSeconds, 1);
        s.Sent = main.Sent;
        s.Echoed = main.Received;
        s.Verified = main.Verified;
        s.Lost = main.Lost;
        s.Duplicated = main.Duplicated;
        s.OutOfOrder = main.OutOfOrder;
        s.Corrupt = main.Corrupt;
        s.FirstProblem = main.FirstProblem;
        s.TicksSkippedInFlightLimit = main.Skipped;
        s.FramesSent = main.Stats.FramesSent;
        s.PayloadBytesSent = main.Stats.PayloadBytesSent;
        s.PayloadBytesEchoed = main.Stats.PayloadBytesReceived;
        s.MessagesPerSecond = Math.Round(main.ReceivedDuringTraffic / Math.Max(0.001, main.TrafficSeconds), 1);
        s.LargestEchoBacklog = main.LargestBacklog;
        s.ClosedCleanly = main.ClosedCleanly;
        s.CloseFailures = main.CloseFailures;
        s.FirstCloseProblem = main.FirstCloseProblem;
        s.PeakRssKiB = sampler?.PeakRssKiB;
        s.PeakOpenFiles = sampler?.PeakOpenFiles;
        s.Problems.AddRange(main.Problems);
        s.MessagesOk = s.Problems.Count == 0;

        // 4. After close: settle, then read again (each reading induces a full GC) until back within the tolerances.
        if (pid is { } afterPid && s.Baseline is { } baseline)
        {
            var closedAt = DateTime.UtcNow;
            await Delay(soak.SettleSeconds, hard.Token).ConfigureAwait(false);
            while (true)
            {
                s.AfterClose = await SnapshotAsync(afterPid, hard.Token).ConfigureAwait(false);
                s.AfterCloseSeconds = Math.Round((DateTime.UtcNow - closedAt).TotalSeconds, 1);
                var missing = NotBack(baseline, s.AfterClose, soak);
                AnsiConsole.MarkupLine($"[grey]after close (+{s.AfterCloseSeconds:N0} s): {Markup.Escape(Describe(s.AfterClose))}{(missing.Count == 0 ? "" : " - not back: " + Markup.Escape(string.Join("; ", missing)))}[/]");
                if (missing.Count == 0 || (DateTime.UtcNow - closedAt).TotalSeconds + 10 > soak.SettleMaxSeconds)
                {
                    s.ResourcesReturned = missing.Count == 0;
                    s.Problems.AddRange(missing.Select(m => "not back to baseline: " + m));
                    break;
                }

                await Delay(10, hard.Token).ConfigureAwait(false);
            }
        }

        result.ElapsedSeconds = Math.Round(measured.Elapsed, 3);
        common.AddCpu(result, measured, null);
        result.Messages = s.Echoed;
        result.MessagesPerSecond = s.MessagesPerSecond;
        result.Errors = s.Problems.Count(p => !p.StartsWith("not back", StringComparison.Ordinal));
        result.FirstError = result.Errors == 0 ? null : s.FirstProblem ?? s.Problems.FirstOrDefault();
        result.ExitCode = result.Errors > 0 ? 3 : s.ResourcesReturned == false ? 4 : 0;
        return result;
    }

    private sealed class PhaseOutcome
    {
        public int Opened;
        public long Sent;
        public long Received;
        public long ReceivedDuringTraffic;
        public long Verified;
        public long Lost;
        public long Duplicated;
        public long OutOfOrder;
        public long Corrupt;
        public long Skipped;
        public long LargestBacklog;
        public string? FirstProblem;
        public double TrafficSeconds;
        public int ClosedCleanly;
        public int CloseFailures;
        public string? FirstCloseProblem;
        public WireStats Stats = new();
        public List<string> Problems = [];
    }

    /// <summary>Opens the connections, runs the paced traffic for <paramref name="seconds"/>, drains, closes, and counts.</summary>
    private static async Task<PhaseOutcome> RunPhaseAsync(
        string name, ConnectionFactory factory, CommonSettings common, SoakSettings soak, int count, ulong seed, double seconds,
        PeakSampler? sampler, Func<Task>? atEndOfTraffic, CancellationToken hard)
    {
        var outcome = new PhaseOutcome();
        var errors = new ErrorLog();
        var started = DateTime.UtcNow;
        var open = await Connections.OpenAsync(
            factory,
            count,
            soak.OpenParallel,
            i => new ConnectionSettings([], true, common.ReceiveBufferSize ?? ReceiveBuffer, common.SkipCertificateCheck, Content: new SoakContent(seed, i), Deflate: soak.Deflate),
            errors,
            hard).ConfigureAwait(false);
        outcome.Opened = open.Count;
        AnsiConsole.MarkupLine($"[grey]{name}: {open.Count:N0} of {count:N0} connections open after {(DateTime.UtcNow - started).TotalSeconds:F1} s[/]");
        if (open.Count < count)
        {
            outcome.Problems.Add($"{count - open.Count:N0} connections could not be opened (first: {errors.First})");
        }

        var workers = open.Cast<FastWsConnection>().Select(c => new Worker(c, (SoakContent)c.Content!, soak, seed, errors)).ToList();
        using var stopSending = CancellationTokenSource.CreateLinkedTokenSource(hard);
        foreach (var worker in workers)
        {
            worker.Start(stopSending.Token, hard);
        }

        // Traffic, with a progress line every 15 s and the server sampled every 5 s.
        var trafficStart = DateTime.UtcNow;
        var until = trafficStart.AddSeconds(seconds);
        var nextLine = trafficStart.AddSeconds(15);
        while (DateTime.UtcNow < until)
        {
            await Task.Delay(TimeSpan.FromSeconds(Math.Min(5, Math.Max(0.05, (until - DateTime.UtcNow).TotalSeconds))), hard).ConfigureAwait(false);
            sampler?.Sample();
            var backlog = workers.Sum(w => w.Content.Sent - w.Content.Received);
            outcome.LargestBacklog = Math.Max(outcome.LargestBacklog, backlog);
            if (DateTime.UtcNow >= nextLine || DateTime.UtcNow >= until)
            {
                nextLine = nextLine.AddSeconds(15);
                AnsiConsole.MarkupLine(
                    $"[grey]  {name} +{(DateTime.UtcNow - trafficStart).TotalSeconds:F0} s: sent {workers.Sum(w => w.Content.Sent):N0}, echoed {workers.Sum(w => w.Content.Received):N0}, " +
                    $"backlog {backlog:N0}, errors {errors.Count}{(sampler is null ? "" : $", server RSS {sampler.LastRssKiB / 1024:N0} MiB, open files {sampler.LastOpenFiles:N0}")}[/]");
            }
        }

        outcome.ReceivedDuringTraffic = workers.Sum(w => w.Content.Received);
        outcome.TrafficSeconds = (DateTime.UtcNow - trafficStart).TotalSeconds;
        if (atEndOfTraffic is not null)
        {
            await atEndOfTraffic().ConfigureAwait(false);
        }

        // Stop sending; every message sent must come back (bounded).
        stopSending.Cancel();
        await Task.WhenAll(workers.Select(w => w.SendLoop)).WaitAsync(TimeSpan.FromSeconds(30), hard).ConfigureAwait(false);
        var drainUntil = DateTime.UtcNow.AddSeconds(soak.DrainSeconds);
        while (workers.Any(w => w.Content.Received < w.Content.Sent && !w.ReceiveLoop.IsCompleted) && DateTime.UtcNow < drainUntil)
        {
            await Task.Delay(200, hard).ConfigureAwait(false);
        }

        // Close every connection with a close handshake; clean = the server's close frame with 1000 and then its end of TCP.
        AnsiConsole.MarkupLine($"[grey]{name}: closing {workers.Count:N0} connections[/]");
        var closeErrors = new ErrorLog();
        var clean = 0;
        await Parallel.ForEachAsync(
            workers,
            new ParallelOptions { MaxDegreeOfParallelism = 64, CancellationToken = hard },
            async (worker, _) =>
            {
                if (await worker.CloseAsync(closeErrors).ConfigureAwait(false))
                {
                    Interlocked.Increment(ref clean);
                }
            }).ConfigureAwait(false);
        outcome.ClosedCleanly = clean;
        outcome.CloseFailures = workers.Count - clean;
        outcome.FirstCloseProblem = closeErrors.First;
        if (outcome.CloseFailures > 0)
        {
            outcome.Problems.Add($"{outcome.CloseFailures:N0} connections did not close cleanly (first: {closeErrors.First})");
        }

        foreach (var worker in workers)
        {
            var content = worker.Content;
            outcome.Sent += content.Sent;
            outcome.Received += content.Received;
            outcome.Verified += content.Verified;
            outcome.Lost += content.Lost;
            outcome.Duplicated += content.Duplicated;
            outcome.OutOfOrder += content.OutOfOrder;
            outcome.Corrupt += content.Corrupt;
            outcome.Skipped += worker.Skipped;
            outcome.FirstProblem ??= content.FirstProblem;
            outcome.Stats.Add(worker.Connection.Stats);
        }

        if (outcome.Lost + outcome.Duplicated + outcome.OutOfOrder + outcome.Corrupt > 0 || outcome.Verified != outcome.Sent)
        {
            outcome.Problems.Add(
                $"{outcome.Sent:N0} sent, {outcome.Verified:N0} echoed intact and in order: {outcome.Lost:N0} lost, {outcome.Duplicated:N0} duplicated, " +
                $"{outcome.OutOfOrder:N0} out of order, {outcome.Corrupt:N0} corrupt (first: {outcome.FirstProblem})");
        }

        if (errors.Count > 0)
        {
            outcome.Problems.Add($"{errors.Count:N0} connection errors (first: {errors.First})");
        }

        return outcome;
    }

    /// <summary>One connection: a paced send loop and a receive loop (the content checks every echo as it is parsed).</summary>
    private sealed class Worker(FastWsConnection connection, SoakContent content, SoakSettings soak, ulong seed, ErrorLog errors)
    {
        private volatile bool _closing;

        public FastWsConnection Connection { get; } = connection;

        public SoakContent Content { get; } = content;

        public Task SendLoop { get; private set; } = Task.CompletedTask;

        public Task ReceiveLoop { get; private set; } = Task.CompletedTask;

        public long Skipped { get; private set; }

        public void Start(CancellationToken stopSending, CancellationToken hard)
        {
            ReceiveLoop = ReceiveAsync(hard);
            SendLoop = SendAsync(stopSending, hard);
        }

        private async Task SendAsync(CancellationToken stopSending, CancellationToken hard)
        {
            var random = new SplitMix(seed ^ (0x5851F42D4C957F2DUL * (ulong)(Content.Connection + 1)));
            try
            {
                // A random phase, so the connections' ticks spread over the interval.
                await Task.Delay(TimeSpan.FromMilliseconds(random.NextDouble() * soak.IntervalMilliseconds), stopSending).ConfigureAwait(false);
                while (!stopSending.IsCancellationRequested && !ReceiveLoop.IsCompleted)
                {
                    var outstanding = Content.Sent - Content.Received;
                    if (outstanding >= soak.MaxInFlight)
                    {
                        Skipped++;
                    }
                    else
                    {
                        // The write itself is never cut by the stop signal (a half-written frame would break the stream).
                        var burst = (int)Math.Min(1 + random.Next(soak.Burst), soak.MaxInFlight - outstanding);
                        await Connection.SendAsync(burst, hard).ConfigureAwait(false);
                    }

                    await Task.Delay(TimeSpan.FromMilliseconds(soak.IntervalMilliseconds * (0.9 + 0.2 * random.NextDouble())), stopSending).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (stopSending.IsCancellationRequested)
            {
            }
            catch (Exception ex)
            {
                errors.Add(ex);
            }
        }

        private async Task ReceiveAsync(CancellationToken hard)
        {
            try
            {
                while (await Connection.ReceiveAsync(hard).ConfigureAwait(false) >= 0)
                {
                }

                if (!_closing)
                {
                    errors.Add(new IOException($"The server closed connection {Content.Connection} (close code {Connection.CloseCode}) before the client did."));
                }
            }
            catch (Exception ex) when (!_closing)
            {
                errors.Add(ex);
            }
            catch (Exception)
            {
                // Cut off while closing: the close outcome says what happened.
            }
        }

        /// <summary>Close handshake, then the server's end of TCP; true if all of it happened in time with code 1000.</summary>
        public async Task<bool> CloseAsync(ErrorLog closeErrors)
        {
            _closing = true;
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            try
            {
                if (ReceiveLoop.IsCompleted)
                {
                    closeErrors.Add(new IOException($"connection {Content.Connection} was already closed"));
                    return false;
                }

                await Connection.SendCloseAsync(timeout.Token).ConfigureAwait(false);
                await ReceiveLoop.WaitAsync(timeout.Token).ConfigureAwait(false);
                await Connection.CloseAsync(timeout.Token).ConfigureAwait(false);
                if (!Connection.CloseReceived || Connection.CloseCode != 1000)
                {
                    closeErrors.Add(new IOException($"connection {Content.Connection}: close frame {(Connection.CloseReceived ? $"with code {Connection.CloseCode}" : "missing")}"));
                    return false;
                }

                return true;
            }
            catch (Exception ex)
            {
                closeErrors.Add(ex);
                return false;
            }
            finally
            {
                await Connection.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>The server's RSS and open files, sampled while the traffic runs.</summary>
    private sealed class PeakSampler(int pid)
    {
        public long? PeakRssKiB { get; private set; }

        public int? PeakOpenFiles { get; private set; }

        public long? LastRssKiB { get; private set; }

        public int? LastOpenFiles { get; private set; }

        public void Sample()
        {
            LastRssKiB = ProcStats.RssKiB(pid);
            LastOpenFiles = ProcStats.OpenFiles(pid);
            if (LastRssKiB is { } rss && (PeakRssKiB is null || rss > PeakRssKiB))
            {
                PeakRssKiB = rss;
            }

            if (LastOpenFiles is { } files && (PeakOpenFiles is null || files > PeakOpenFiles))
            {
                PeakOpenFiles = files;
            }
        }
    }

    /// <summary>Induces a full GC in the server (EventPipe) and reads its heap, then its RSS, open files and threads.</summary>
    private static async Task<ServerSnapshot> SnapshotAsync(int pid, CancellationToken cancellationToken)
    {
        var snapshot = new ServerSnapshot { At = DateTimeOffset.Now };
        try
        {
            var gc = await GcHeapProbe.InduceFullGcAsync(pid, TimeSpan.FromSeconds(60), cancellationToken).ConfigureAwait(false);
            snapshot.GcHeapBytes = gc.HeapBytes;
            snapshot.GcHandles = gc.GcHandles;
            snapshot.Gen012Bytes = gc.Gen0Bytes + gc.Gen1Bytes + gc.Gen2Bytes;
            snapshot.LohBytes = gc.LohBytes;
            snapshot.PohBytes = gc.PohBytes;
            snapshot.GcCommittedBytes = gc.CommittedBytes;
            snapshot.GcProbeMilliseconds = Math.Round(gc.Milliseconds, 1);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            snapshot.GcError = $"{ex.GetType().Name}: {ex.Message}";
        }

        // The probe's diagnostics connection is one of the server's open files until the server sees it closed.
        await Task.Delay(500, cancellationToken).ConfigureAwait(false);
        snapshot.RssKiB = ProcStats.RssKiB(pid);
        snapshot.OpenFiles = ProcStats.OpenFiles(pid);
        snapshot.Threads = ProcStats.Threads(pid);
        return snapshot;
    }

    /// <summary>
    /// What is not back within the tolerances (empty: all of it is). RSS is judged without the memory the GC keeps
    /// committed (a GC policy: Server GC keeps its grown budget committed long after the objects died); the GC's own
    /// part is judged by what survives a full GC: objects (gen0-2) and buffer pools (LOH, POH).
    /// </summary>
    private static List<string> NotBack(ServerSnapshot baseline, ServerSnapshot after, SoakSettings soak)
    {
        var missing = new List<string>();
        if (after.RssKiB is not { } rss || baseline.RssKiB is not { } rss0)
        {
            missing.Add("RSS could not be read");
        }
        else
        {
            var gcGrowth = (after.GcCommittedBytes ?? 0) - (baseline.GcCommittedBytes ?? 0);
            var other = (rss - rss0) / 1024.0 - (after.GcCommittedBytes is not null && baseline.GcCommittedBytes is not null ? gcGrowth / 1048576.0 : 0);
            if (other > soak.RssToleranceMiB)
            {
                missing.Add($"RSS outside the GC's committed memory {other:N1} MiB above baseline (tolerance {soak.RssToleranceMiB:N0} MiB)");
            }
        }

        if (after.Gen012Bytes is not { } heap || baseline.Gen012Bytes is not { } heap0)
        {
            missing.Add($"GC heap could not be read ({after.GcError ?? baseline.GcError})");
        }
        else
        {
            if (heap - heap0 > soak.HeapToleranceMiB * 1048576)
            {
                missing.Add($"GC small-object heap {(heap - heap0) / 1048576.0:N1} MiB above baseline (tolerance {soak.HeapToleranceMiB:N0} MiB)");
            }

            var pools = (after.LohBytes + after.PohBytes) - (baseline.LohBytes + baseline.PohBytes);
            if (pools > soak.PoolToleranceMiB * 1048576)
            {
                missing.Add($"GC large/pinned-object heap {pools / 1048576.0:N1} MiB above baseline (tolerance {soak.PoolToleranceMiB:N0} MiB)");
            }
        }

        if (after.OpenFiles is not { } files || baseline.OpenFiles is not { } files0)
        {
            missing.Add("open files could not be read");
        }
        else if (files - files0 > soak.OpenFilesTolerance)
        {
            missing.Add($"{files - files0} open files above baseline (tolerance {soak.OpenFilesTolerance})");
        }

        return missing;
    }

    private static string Describe(ServerSnapshot? s) => s is null ? "-" :
        $"RSS {s.RssKiB / 1024.0:N1} MiB, GC heap {(s.GcHeapBytes is { } h ? $"{h / 1048576.0:N1} MiB (gen0-2 {s.Gen012Bytes / 1048576.0:N1}, LOH {s.LohBytes / 1048576.0:N1}, POH {s.PohBytes / 1048576.0:N1}; committed {s.GcCommittedBytes / 1048576.0:N1})" : "? (" + s.GcError + ")")}, " +
        $"open files {s.OpenFiles}, threads {s.Threads}, GC handles {s.GcHandles}";

    private static void CheckFileLimit(string who, long? limit, int needed)
    {
        if (limit is { } l && needed > l)
        {
            throw new UsageException($"{needed - Reserve:N0} connections need more open files than {who} may have ({l:N0}, {Reserve} kept free). Raise it (ulimit -n) or ask for fewer.");
        }
    }

    private static async Task Delay(double seconds, CancellationToken cancellationToken)
    {
        if (seconds > 0)
        {
            await Task.Delay(TimeSpan.FromSeconds(seconds), cancellationToken).ConfigureAwait(false);
        }
    }
}
