using System.Buffers.Text;
using System.Diagnostics;
using HdrHistogram;
using LoadTool.Client;
using LoadTool.Infrastructure;

namespace LoadTool.Scenarios;

/// <summary>
/// Broadcast: N subscribers and one publisher on a room where every text message goes to every member (the sample's
/// /chat). The publisher keeps K messages in flight (it is a member too, so its own copy coming back is the credit);
/// each message carries the time it was sent. Delivered messages per second across all subscribers, and the latency
/// from publishing to delivery (measured on up to 64 subscribers).
/// </summary>
internal static class BroadcastScenario
{
    private const int LatencySubscribers = 64;

    // "t:" and 19 digits of Stopwatch ticks.
    private const int StampLength = 21;

    public static async Task<RunResult> RunAsync(CommonSettings common, int subscribers, int inFlight, int size, CancellationToken cancellationToken)
    {
        if (common.Client == ClientKind.Raw)
        {
            throw new UsageException("Broadcast needs a WebSocket client.");
        }

        if (subscribers < 1 || inFlight < 1 || size < StampLength)
        {
            throw new UsageException($"--subscribers and --in-flight must be at least 1, --size at least {StampLength}.");
        }

        var target = await Target.ResolveAsync(common.Url, common.AllowRemote, cancellationToken).ConfigureAwait(false);
        var factory = common.Factory(target);
        var payload = ConnectionSettings.MakePayload(size);

        using var hard = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        hard.CancelAfter(TimeSpan.FromSeconds(common.WarmupSeconds + common.DurationSeconds + 60 + subscribers / 500.0));

        var clock = new RunClock();
        var errors = new ErrorLog();
        var observers = Enumerable.Range(0, subscribers).Select(i => new Subscriber(clock, i < LatencySubscribers)).ToList();
        var receiveBuffer = common.ReceiveBufferSize ?? 16 * 1024;
        var subscriberConnections = await Connections.OpenAsync(
            factory,
            subscribers,
            32,
            i => new ConnectionSettings(payload, true, receiveBuffer, common.SkipCertificateCheck, Observer: observers[i]),
            errors,
            hard.Token).ConfigureAwait(false);
        if (subscriberConnections.Count < subscribers)
        {
            throw new IOException($"Only {subscriberConnections.Count} of {subscribers} subscribers connected: {errors.First}");
        }

        var publisherObserver = new Subscriber(clock, recordLatency: false);
        var publisher = await factory.ConnectAsync(
            new ConnectionSettings(payload, true, receiveBuffer, common.SkipCertificateCheck, publisherObserver, new TimeStamper()),
            hard.Token).ConfigureAwait(false);

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(hard.Token);
        var subscriberLoops = subscriberConnections.Select(c => ReceiveLoopAsync(c, clock, errors, stop.Token)).ToList();
        var publisherLoop = ReceiveLoopAsync(publisher, clock, errors, stop.Token);
        var publishing = PublishAsync(publisher, publisherObserver, inFlight, clock, errors, stop.Token);

        var measured = await clock.RunAsync(
            common.WarmupSeconds,
            common.DurationSeconds,
            common.ServerPid,
            () => $"{observers.Sum(o => o.Total):N0} delivered, {errors.Count} errors",
            hard.Token,
            common.ServerAllocations).ConfigureAwait(false);

        publisherObserver.Credit.Set();
        await publishing.ConfigureAwait(false);
        // Give the last broadcasts a moment to arrive, then close everyone.
        await Task.Delay(500, CancellationToken.None).ConfigureAwait(false);
        stop.CancelAfter(TimeSpan.FromSeconds(10));
        await Connections.CloseHeldAsync(
            [(publisher, publisherLoop), .. subscriberConnections.Zip(subscriberLoops)], 32, TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        await Task.WhenAll([publisherLoop, .. subscriberLoops]).ConfigureAwait(false);

        var delivered = observers.Sum(o => o.Measured);
        var result = common.NewResult("broadcast");
        result.Settings = new()
        {
            ["subscribers"] = subscribers.ToString(),
            ["publisher in flight"] = inFlight.ToString(),
            ["message size (B)"] = size.ToString(),
            ["published during measurement"] = publisherObserver.Measured.ToString("N0"),
            ["warm-up (s)"] = common.WarmupSeconds.ToString(),
            ["duration (s)"] = common.DurationSeconds.ToString(),
        };
        result.Messages = delivered;
        result.MessagesPerSecond = Math.Round(delivered / measured.Elapsed, 1);
        result.Errors = errors.Count;
        result.FirstError = errors.First;
        result.Latency = LatencySummary.From(Latency.Merge(observers.Where(o => o.Histogram is not null).Select(o => o.Histogram!)));
        common.AddCpu(result, measured, delivered, clock.Allocations);
        return result;
    }

    private static async Task ReceiveLoopAsync(ILoadConnection connection, RunClock clock, ErrorLog errors, CancellationToken cancellationToken)
    {
        try
        {
            // Counting happens in the observer; the loop only keeps reading.
            while (await connection.ReceiveAsync(cancellationToken).ConfigureAwait(false) >= 0)
            {
            }
        }
        catch (Exception ex) when (!clock.IsStopping)
        {
            errors.Add(ex);
        }
        catch (Exception)
        {
        }
    }

    private static async Task PublishAsync(ILoadConnection publisher, Subscriber self, int inFlight, RunClock clock, ErrorLog errors, CancellationToken cancellationToken)
    {
        try
        {
            var credit = inFlight;
            while (!clock.IsStopping)
            {
                credit += self.TakeCredit();
                if (credit == 0)
                {
                    await self.Credit.WaitAsync().ConfigureAwait(false);
                    continue;
                }

                await publisher.SendAsync(credit, cancellationToken).ConfigureAwait(false);
                credit = 0;
            }
        }
        catch (Exception ex) when (!clock.IsStopping)
        {
            errors.Add(ex);
        }
        catch (Exception)
        {
        }
    }

    /// <summary>Writes "t:" and the send time into each published message.</summary>
    private sealed class TimeStamper : IPayloadStamper
    {
        public void Stamp(Span<byte> payload)
        {
            payload[0] = (byte)'t';
            payload[1] = (byte)':';
            Utf8Formatter.TryFormat(Stopwatch.GetTimestamp(), payload.Slice(2, StampLength - 2), out _, new System.Buffers.StandardFormat('D', StampLength - 2));
        }
    }

    /// <summary>Counts the published messages one member received (join/leave notices are not counted).</summary>
    private sealed class Subscriber(RunClock clock, bool recordLatency) : IMessageObserver
    {
        private long _total;
        private int _credit;

        public LongHistogram? Histogram { get; } = recordLatency ? Latency.NewHistogram() : null;

        public long Measured { get; private set; }

        public long Total => Volatile.Read(ref _total);

        public AsyncSignal Credit { get; } = new();

        public int TakeCredit() => Interlocked.Exchange(ref _credit, 0);

        public void OnMessage(ReadOnlySpan<byte> prefix, long length)
        {
            if (prefix.Length < StampLength || prefix[0] != 't' || prefix[1] != ':')
            {
                return;
            }

            Volatile.Write(ref _total, _total + 1);
            if (clock.IsMeasuring)
            {
                Measured++;
                if (Histogram is not null && Utf8Parser.TryParse(prefix.Slice(2, StampLength - 2), out long sentAt, out _))
                {
                    Latency.Record(Histogram, Latency.Microseconds(Stopwatch.GetTimestamp() - sentAt));
                }
            }

            Interlocked.Increment(ref _credit);
            Credit.Set();
        }
    }
}
