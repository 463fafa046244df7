using System.Text.Json.Serialization;

namespace LoadTool.Infrastructure;

/// <summary>What the soak counted and the server's resources at each point (see Scenarios/SoakScenario.cs).</summary>
internal sealed class SoakResult
{
    public int ConnectionsRequested { get; set; }
    public int ConnectionsOpened { get; set; }
    public double IntervalMilliseconds { get; set; }
    public int Burst { get; set; }
    public int MaxInFlight { get; set; }
    public double TrafficSeconds { get; set; }

    public long Sent { get; set; }
    public long Echoed { get; set; }
    public long Verified { get; set; }
    public long Lost { get; set; }
    public long Duplicated { get; set; }
    public long OutOfOrder { get; set; }
    public long Corrupt { get; set; }
    public string? FirstProblem { get; set; }
    public long TicksSkippedInFlightLimit { get; set; }
    public long FramesSent { get; set; }
    public long PayloadBytesSent { get; set; }
    public long PayloadBytesEchoed { get; set; }
    public double MessagesPerSecond { get; set; }
    public long LargestEchoBacklog { get; set; }

    public int ClosedCleanly { get; set; }
    public int CloseFailures { get; set; }
    public string? FirstCloseProblem { get; set; }

    public int WarmupConnections { get; set; }
    public long WarmupSent { get; set; }
    public long WarmupVerified { get; set; }

    public ServerSnapshot? Baseline { get; set; }
    public ServerSnapshot? UnderLoad { get; set; }
    public ServerSnapshot? AfterClose { get; set; }
    public long? PeakRssKiB { get; set; }
    public int? PeakOpenFiles { get; set; }
    public double? AfterCloseSeconds { get; set; }

    public double RssToleranceMiB { get; set; }
    public double HeapToleranceMiB { get; set; }
    public double PoolToleranceMiB { get; set; }
    public int OpenFilesTolerance { get; set; }

    public bool MessagesOk { get; set; }
    public bool? ResourcesReturned { get; set; }
    public List<string> Problems { get; set; } = [];

    public void AddRows(Action<string, string?> row)
    {
        row("connections opened / requested", $"{ConnectionsOpened:N0} / {ConnectionsRequested:N0}");
        row("pacing", $"every {IntervalMilliseconds:N0} ms a burst of 1-{Burst} messages per connection, at most {MaxInFlight} unanswered");
        row("traffic", $"{TrafficSeconds:N0} s, {MessagesPerSecond:N0} messages/s echoed on average");
        row("messages sent / echoed / verified", $"{Sent:N0} / {Echoed:N0} / {Verified:N0}");
        row("lost / duplicated / out of order / corrupt", $"{Lost:N0} / {Duplicated:N0} / {OutOfOrder:N0} / {Corrupt:N0}");
        row("first message problem", FirstProblem);
        row("payload bytes sent / echoed", $"{PayloadBytesSent:N0} / {PayloadBytesEchoed:N0} ({FramesSent:N0} frames sent)");
        row("ticks skipped (in-flight limit)", TicksSkippedInFlightLimit.ToString("N0"));
        row("largest backlog (sent, not yet echoed, all connections)", LargestEchoBacklog.ToString("N0"));
        row("close handshakes clean / failed", $"{ClosedCleanly:N0} / {CloseFailures:N0}" + (FirstCloseProblem is null ? "" : $" (first: {FirstCloseProblem})"));
        row("warm-up (before the baseline)", $"{WarmupConnections:N0} connections, {WarmupSent:N0} sent, {WarmupVerified:N0} verified");
        row("server RSS MiB: baseline / peak / under load / after close", $"{Mib(Baseline?.RssKiB * 1024)} / {Mib(PeakRssKiB * 1024)} / {Mib(UnderLoad?.RssKiB * 1024)} / {Mib(AfterClose?.RssKiB * 1024)}");
        row("server GC heap MiB after a full GC: baseline / under load / after close", $"{Mib(Baseline?.GcHeapBytes)} / {Mib(UnderLoad?.GcHeapBytes)} / {Mib(AfterClose?.GcHeapBytes)}");
        row("  of which gen0-2 / LOH / POH MiB: baseline", $"{Mib(Baseline?.Gen012Bytes)} / {Mib(Baseline?.LohBytes)} / {Mib(Baseline?.PohBytes)}");
        row("  under load", $"{Mib(UnderLoad?.Gen012Bytes)} / {Mib(UnderLoad?.LohBytes)} / {Mib(UnderLoad?.PohBytes)}");
        row("  after close", $"{Mib(AfterClose?.Gen012Bytes)} / {Mib(AfterClose?.LohBytes)} / {Mib(AfterClose?.PohBytes)}");
        row("server GC committed MiB: baseline / under load / after close", $"{Mib(Baseline?.GcCommittedBytes)} / {Mib(UnderLoad?.GcCommittedBytes)} / {Mib(AfterClose?.GcCommittedBytes)}");
        row("server open files: baseline / peak / under load / after close", $"{Baseline?.OpenFiles} / {PeakOpenFiles} / {UnderLoad?.OpenFiles} / {AfterClose?.OpenFiles}");
        row("server threads: baseline / under load / after close", $"{Baseline?.Threads} / {UnderLoad?.Threads} / {AfterClose?.Threads}");
        row("server GC handles: baseline / under load / after close", $"{Baseline?.GcHandles} / {UnderLoad?.GcHandles} / {AfterClose?.GcHandles}");
        row("after close read at (s after the last close)", AfterCloseSeconds?.ToString("N0"));
        row("RSS MiB above baseline after close: total / GC committed / the rest", Baseline is { } b && AfterClose is { } a && a.RssKiB is { } r1 && b.RssKiB is { } r0
            ? $"{(r1 - r0) / 1024.0:N1} / {Mib(a.GcCommittedBytes - b.GcCommittedBytes)} / {((r1 - r0) * 1024.0 - ((a.GcCommittedBytes - b.GcCommittedBytes) ?? 0)) / 1048576.0:N1}"
            : null);
        row("tolerance (after close - baseline)", $"RSS without GC committed {RssToleranceMiB:N0} MiB, gen0-2 {HeapToleranceMiB:N0} MiB, LOH+POH {PoolToleranceMiB:N0} MiB, open files {OpenFilesTolerance}");
        row("messages exactly once, in order, intact", MessagesOk ? "yes" : "NO");
        row("memory and handles back to baseline", ResourcesReturned switch { true => "yes", false => "NO", null => "not measured (no --server-pid)" });
        foreach (var problem in Problems)
        {
            row("PROBLEM", problem);
        }
    }

    private static string Mib(long? bytes) => bytes is { } b ? (b / 1048576.0).ToString("N1") : "-";
}

/// <summary>The server's resources at one moment.</summary>
internal sealed class ServerSnapshot
{
    public DateTimeOffset At { get; set; }
    public long? RssKiB { get; set; }
    public int? OpenFiles { get; set; }
    public long? Threads { get; set; }

    /// <summary>Bytes in all generations after a full GC the probe induced (EventPipe GCHeapStats).</summary>
    public long? GcHeapBytes { get; set; }
    public long? GcHandles { get; set; }

    /// <summary>Of <see cref="GcHeapBytes"/>: the small-object generations 0-2, the large object heap, the pinned object heap.</summary>
    public long? Gen012Bytes { get; set; }
    public long? LohBytes { get; set; }
    public long? PohBytes { get; set; }

    /// <summary>Memory the GC keeps committed after that GC (the runtime's gc-committed counter): its part of RSS.</summary>
    public long? GcCommittedBytes { get; set; }
    public double? GcProbeMilliseconds { get; set; }
    public string? GcError { get; set; }

    [JsonIgnore]
    public bool Complete => RssKiB is not null && OpenFiles is not null && GcHeapBytes is not null;
}
