using LoadTool.Client;
using LoadTool.Infrastructure;
using Spectre.Console;

namespace LoadTool.Scenarios;

/// <summary>Options every scenario shares.</summary>
internal sealed record CommonSettings(
    string Url,
    ClientKind Client,
    double DurationSeconds,
    double WarmupSeconds,
    int? ServerPid,
    string? JsonPath,
    string Label,
    bool AllowRemote,
    bool SkipCertificateCheck,
    int? ReceiveBufferSize,
    bool ServerAllocations = false)
{
    public ConnectionFactory Factory(Target target) => new(target, Client);

    public RunResult NewResult(string scenario) => new()
    {
        Label = Label,
        Scenario = scenario,
        Client = Client.ToString().ToLowerInvariant(),
        Url = Url,
        StartedAt = DateTimeOffset.Now,
        Command = Environment.CommandLine,
        Settings = new(),
        SocketCompletions = Environment.GetEnvironmentVariable(Program.InlineCompletions) == "1" ? "inline" : "thread pool",
    };

    /// <summary>Fills the CPU figures of a measured interval (and the server's allocations, when they were sampled).</summary>
    public void AddCpu(RunResult result, (double Elapsed, double OwnCpu, double? ServerCpu) measured, double? work, AllocationSample? allocations = null)
    {
        if (allocations is not null)
        {
            result.ServerAllocations = ServerAllocationResult.From(allocations, work);
        }

        result.ElapsedSeconds = Math.Round(measured.Elapsed, 3);
        result.LoadToolCpuSeconds = Math.Round(measured.OwnCpu, 2);
        result.LoadToolCpuPercent = Math.Round(100 * measured.OwnCpu / measured.Elapsed, 1);
        if (measured.ServerCpu is { } server)
        {
            result.ServerCpuSeconds = Math.Round(server, 2);
            result.ServerCpuPercent = Math.Round(100 * server / measured.Elapsed, 1);
            if (work is { } w && server > 0)
            {
                result.PerServerCpuSecond = Math.Round(w / server, 1);
            }
        }
    }
}

/// <summary>Warm-up, then measuring, then stopping: what every connection's loop checks before it counts.</summary>
internal sealed class RunClock
{
    public const int Warmup = 0;
    public const int Measuring = 1;
    public const int Stopping = 2;

    private volatile int _phase;

    /// <summary>The server's allocations over the measured interval, when asked for (--server-allocations).</summary>
    public AllocationSample? Allocations { get; private set; }

    public bool IsMeasuring => _phase == Measuring;

    public bool IsStopping => _phase == Stopping;

    public int Phase
    {
        get => _phase;
        set => _phase = value;
    }

    /// <summary>
    /// Runs the warm-up and the measured interval, showing progress, and returns the measured interval's wall time and
    /// CPU times. The phase is Stopping when it returns.
    /// </summary>
    public async Task<(double Elapsed, double OwnCpu, double? ServerCpu)> RunAsync(
        double warmupSeconds, double durationSeconds, int? serverPid, Func<string> status, CancellationToken cancellationToken,
        bool sampleAllocations = false)
    {
        Phase = Warmup;
        if (warmupSeconds > 0)
        {
            await ShowAsync("warm-up", warmupSeconds, status, cancellationToken).ConfigureAwait(false);
        }

        AllocationSampler? sampler = null;
        if (sampleAllocations && serverPid is { } pid)
        {
            // Started under load, before the measured interval, so that the session is running when it begins.
            sampler = await AllocationSampler.StartAsync(pid, cancellationToken).ConfigureAwait(false);
            await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken).ConfigureAwait(false);
        }

        Phase = Measuring;
        var meter = CpuMeter.Start(serverPid);
        sampler?.Begin();
        await ShowAsync("measuring", durationSeconds, status, cancellationToken).ConfigureAwait(false);
        var measured = meter.Stop();
        Phase = Stopping;
        if (sampler is not null)
        {
            Allocations = await sampler.StopAsync().ConfigureAwait(false);
        }

        return measured;
    }

    private static async Task ShowAsync(string what, double seconds, Func<string> status, CancellationToken cancellationToken)
    {
        var until = DateTime.UtcNow.AddSeconds(seconds);
        if (!AnsiConsole.Profile.Capabilities.Interactive)
        {
            AnsiConsole.MarkupLine($"[grey]{what} {seconds:F0} s[/]");
            await Delay(until, cancellationToken).ConfigureAwait(false);
            AnsiConsole.MarkupLine($"[grey]  {Markup.Escape(status())}[/]");
            return;
        }

        await AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new RemainingTimeColumn())
            .StartAsync(async ctx =>
            {
                var task = ctx.AddTask(what, maxValue: seconds);
                var start = DateTime.UtcNow;
                while (DateTime.UtcNow < until && !cancellationToken.IsCancellationRequested)
                {
                    await Task.Delay(250, CancellationToken.None).ConfigureAwait(false);
                    task.Value = Math.Min(seconds, (DateTime.UtcNow - start).TotalSeconds);
                    task.Description = $"{what}: {Markup.Escape(status())}";
                }

                task.Value = seconds;
            }).ConfigureAwait(false);
    }

    private static async Task Delay(DateTime until, CancellationToken cancellationToken)
    {
        var left = until - DateTime.UtcNow;
        if (left > TimeSpan.Zero)
        {
            try
            {
                await Task.Delay(left, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
        }
    }
}

/// <summary>Counts failures and keeps the first message, from any task.</summary>
internal sealed class ErrorLog
{
    private long _count;
    private string? _first;

    public long Count => Interlocked.Read(ref _count);

    public string? First => _first;

    public void Add(Exception ex)
    {
        Interlocked.Increment(ref _count);
        Interlocked.CompareExchange(ref _first, $"{ex.GetType().Name}: {ex.Message}", null);
    }
}

internal static class Connections
{
    /// <summary>Opens <paramref name="count"/> connections, <paramref name="parallel"/> at a time; failures are logged and skipped.</summary>
    public static async Task<List<ILoadConnection>> OpenAsync(
        ConnectionFactory factory, int count, int parallel, Func<int, ConnectionSettings> settings, ErrorLog errors, CancellationToken cancellationToken)
    {
        var opened = new ILoadConnection?[count];
        await Parallel.ForEachAsync(
            Enumerable.Range(0, count),
            new ParallelOptions { MaxDegreeOfParallelism = parallel, CancellationToken = cancellationToken },
            async (i, ct) =>
            {
                try
                {
                    opened[i] = await factory.ConnectAsync(settings(i), ct).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    errors.Add(ex);
                }
            }).ConfigureAwait(false);
        return opened.Where(c => c is not null).Select(c => c!).ToList();
    }

    /// <summary>Closes every connection politely, <paramref name="parallel"/> at a time, within <paramref name="limit"/>.</summary>
    public static async Task CloseAllAsync(IEnumerable<ILoadConnection> connections, int parallel, TimeSpan limit)
    {
        using var timeout = new CancellationTokenSource(limit);
        await Parallel.ForEachAsync(
            connections,
            new ParallelOptions { MaxDegreeOfParallelism = parallel },
            async (connection, _) =>
            {
                try
                {
                    await connection.CloseAsync(timeout.Token).ConfigureAwait(false);
                }
                catch (Exception)
                {
                    // Closing is best effort: a run's figures are already taken.
                }
                finally
                {
                    await connection.DisposeAsync().ConfigureAwait(false);
                }
            }).ConfigureAwait(false);
    }

    /// <summary>
    /// Closes connections whose receive loop is still running: starts the close handshake, lets the loop see the
    /// server's close, then finishes (waits for the server to end TCP) and disposes; <paramref name="parallel"/> at a
    /// time, each within <paramref name="limit"/>.
    /// </summary>
    public static async Task CloseHeldAsync(IEnumerable<(ILoadConnection Connection, Task Loop)> held, int parallel, TimeSpan limit)
    {
        await Parallel.ForEachAsync(
            held,
            new ParallelOptions { MaxDegreeOfParallelism = parallel },
            async (item, _) =>
            {
                using var timeout = new CancellationTokenSource(limit);
                try
                {
                    await item.Connection.SendCloseAsync(timeout.Token).ConfigureAwait(false);
                    await item.Loop.WaitAsync(timeout.Token).ConfigureAwait(false);
                    await item.Connection.CloseAsync(timeout.Token).ConfigureAwait(false);
                }
                catch (Exception)
                {
                    // Best effort.
                }
                finally
                {
                    await item.Connection.DisposeAsync().ConfigureAwait(false);
                }
            }).ConfigureAwait(false);
    }

    public static int DefaultReceiveBuffer(int messageSize) => Math.Clamp(messageSize + 14, 64 * 1024, 256 * 1024);
}
