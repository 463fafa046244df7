using System.Text.Json;
using System.Text.Json.Serialization;
using HdrHistogram;
using Spectre.Console;

namespace LoadTool.Infrastructure;

/// <summary>What one run measured; written as JSON (--json) and read back by the report command.</summary>
internal sealed class RunResult
{
    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public string Label { get; set; } = "";
    public string Scenario { get; set; } = "";
    public string Client { get; set; } = "";
    public string Url { get; set; } = "";
    public DateTimeOffset StartedAt { get; set; }
    public string Command { get; set; } = "";
    public Dictionary<string, string> Settings { get; set; } = new();

    /// <summary>Where the load tool's socket completions run (inline on the epoll thread, or the thread pool).</summary>
    public string SocketCompletions { get; set; } = "";

    public double ElapsedSeconds { get; set; }
    public long? Messages { get; set; }
    public double? MessagesPerSecond { get; set; }
    public double? MegabytesPerSecond { get; set; }
    public long? Handshakes { get; set; }
    public double? HandshakesPerSecond { get; set; }
    public long Errors { get; set; }
    public string? FirstError { get; set; }
    public LatencySummary? Latency { get; set; }

    public double LoadToolCpuSeconds { get; set; }
    public double LoadToolCpuPercent { get; set; }
    public double? ServerCpuSeconds { get; set; }
    public double? ServerCpuPercent { get; set; }

    /// <summary>Messages (or handshakes, or MB for bulk) per second of server CPU time.</summary>
    public double? PerServerCpuSecond { get; set; }

    /// <summary>What the server allocated while measured (--server-allocations).</summary>
    public ServerAllocationResult? ServerAllocations { get; set; }

    public IdleResult? Idle { get; set; }

    /// <summary>Content mode (--payload json, --deflate): bytes each way, compression ratios, checked echoes.</summary>
    public ContentResult? Content { get; set; }

    public SoakResult? Soak { get; set; }

    /// <summary>An exit code other than the default (0 clean, 3 errors): the soak uses 4 for resources that did not return.</summary>
    [JsonIgnore]
    public int? ExitCode { get; set; }

    /// <summary>The headline figure of the scenario, the one the report compares.</summary>
    [JsonIgnore]
    public double? Primary => Scenario switch
    {
        "echo" or "echo-json" or "deflate" or "deflate-nct" => MessagesPerSecond,
        "bulk" => MegabytesPerSecond,
        "handshake" => HandshakesPerSecond,
        _ when Scenario.StartsWith("idle", StringComparison.Ordinal) => Idle?.KiBPerConnection,
        "broadcast" => MessagesPerSecond,
        _ => null,
    };

    [JsonIgnore]
    public string PrimaryUnit => Scenario switch
    {
        "echo" or "echo-json" or "deflate" or "deflate-nct" => "msg/s",
        "bulk" => "MB/s",
        "handshake" => "handshakes/s",
        _ when Scenario.StartsWith("idle", StringComparison.Ordinal) => "KiB/conn",
        "broadcast" => "delivered msg/s",
        _ => "",
    };

    public void Print()
    {
        var table = new Table().Border(TableBorder.Rounded).Title($"[bold]{Markup.Escape(Scenario)}[/] {Markup.Escape(Label)}");
        table.AddColumn("figure");
        table.AddColumn(new TableColumn("value").RightAligned());
        void Row(string name, string? value)
        {
            if (value is not null)
            {
                table.AddRow(Markup.Escape(name), Markup.Escape(value));
            }
        }

        Row("url", Url);
        Row("client", $"{Client} (socket completions: {SocketCompletions})");
        foreach (var (key, value) in Settings)
        {
            Row(key, value);
        }

        Row("measured", $"{ElapsedSeconds:F1} s");
        Row("messages", Messages?.ToString("N0"));
        Row("messages/s", MessagesPerSecond?.ToString("N0"));
        Row("MB/s (payload echoed, 10^6 B)", MegabytesPerSecond?.ToString("N1"));
        Row("handshakes", Handshakes?.ToString("N0"));
        Row("handshakes/s", HandshakesPerSecond?.ToString("N0"));
        if (Latency is { Count: > 0 } l)
        {
            Row("latency p50 / p90 / p99 / p99.9 / max (µs)", $"{l.P50Us:N0} / {l.P90Us:N0} / {l.P99Us:N0} / {l.P999Us:N0} / {l.MaxUs:N0}");
        }

        Row("errors", Errors.ToString("N0") + (FirstError is null ? "" : $" (first: {FirstError})"));
        Row("load tool CPU", $"{LoadToolCpuSeconds:F1} s = {LoadToolCpuPercent:F0}% of one core");
        Row("server CPU", ServerCpuSeconds is { } s ? $"{s:F1} s = {ServerCpuPercent:F0}% of one core" : null);
        Row($"per server CPU-second", PerServerCpuSecond?.ToString("N0"));
        if (ServerAllocations is { } allocations)
        {
            var unit = Scenario switch { "handshake" => "handshake", "bulk" => "MB echoed", "broadcast" => "delivered message", _ => "message" };
            Row(
                $"server allocated per {unit}",
                allocations.BytesPerOperation is { } perOp
                    ? $"{perOp:N1} B ({allocations.Bytes:N0} B in {allocations.Seconds:F1} s, {allocations.Ticks:N0} samples)"
                    : $"{allocations.Bytes:N0} B in {allocations.Seconds:F1} s");
            void TypeRow(string type, double percent, double? perOp) =>
                Row($"  {type}", $"{percent:F1}%" + (perOp is { } b ? $" = {b:N1} B per {unit}" : ""));
            foreach (var type in allocations.Types.Take(ServerAllocationResult.TypesPrinted))
            {
                TypeRow(ShortTypeName(type.Type), type.Percent, type.BytesPerOperation);
            }

            var rest = allocations.Types.Skip(ServerAllocationResult.TypesPrinted).ToList();
            if (rest.Count > 0)
            {
                TypeRow($"({rest.Count} more types)", rest.Sum(t => t.Percent), rest.Sum(t => t.BytesPerOperation ?? 0) is var sum && sum > 0 ? sum : null);
            }
        }

        if (Idle is { } idle)
        {
            Row("connections opened / failed", $"{idle.Opened:N0} / {idle.FailedToOpen:N0}");
            Row("connections that echoed", $"{idle.Echoed:N0}");
            Row("server RSS before / after (KiB)", $"{idle.ServerRssBeforeKiB:N0} / {idle.ServerRssAfterKiB:N0}");
            Row("server memory per connection", idle.KiBPerConnection is { } k ? $"{k:N2} KiB" : null);
            Row("server open files", idle.ServerOpenFiles?.ToString("N0"));
            Row("load tool RSS (KiB)", idle.ClientRssKiB?.ToString("N0"));
        }

        if (Content is { } content)
        {
            Row("payload", content.Payload);
            Row("permessage-deflate offered", content.Offered);
            Row("permessage-deflate accepted", content.Offered is null ? null : content.Negotiated ?? "(declined)");
            Row("messages sent / echoed / checked equal / differing", $"{content.MessagesSent:N0} / {content.MessagesReceived:N0} / {content.Verified:N0} / {content.Mismatches:N0}");
            Row("client -> server: payload / wire bytes", $"{content.PayloadBytesSent:N0} / {content.WireBytesSent:N0} = {Percent(content.WireRatioSent)} ({content.CompressedMessagesSent:N0} messages compressed)");
            Row("server -> client: payload / wire bytes", $"{content.PayloadBytesReceived:N0} / {content.WireBytesReceived:N0} = {Percent(content.WireRatioReceived)} ({content.CompressedMessagesReceived:N0} messages with RSV1)");
            foreach (var problem in content.Problems)
            {
                Row("PROBLEM", problem);
            }
        }

        Soak?.AddRows(Row);

        AnsiConsole.Write(table);
    }

    // Namespaces dropped (inside generic arguments too), so that a state machine box fits a table row.
    internal static string ShortTypeName(string type) =>
        System.Text.RegularExpressions.Regex.Replace(type, @"(?:[A-Za-z_][A-Za-z0-9_]*\.)+(?=[A-Za-z_<])", "");

    private static string Percent(double? ratio) => ratio is { } r ? $"{100 * r:F1}% (ratio {1 / r:F2}:1)" : "-";

    public async Task SaveAsync(string? path)
    {
        if (path is null)
        {
            return;
        }

        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is not null)
        {
            Directory.CreateDirectory(directory);
        }

        await File.WriteAllTextAsync(path, JsonSerializer.Serialize(this, Json)).ConfigureAwait(false);
    }
}

internal sealed class LatencySummary
{
    public long Count { get; set; }
    public double MeanUs { get; set; }
    public long P50Us { get; set; }
    public long P90Us { get; set; }
    public long P99Us { get; set; }
    public long P999Us { get; set; }
    public long MaxUs { get; set; }

    public static LatencySummary? From(HistogramBase? histogram) => histogram is null || histogram.TotalCount == 0 ? null : new LatencySummary
    {
        Count = histogram.TotalCount,
        MeanUs = Math.Round(histogram.GetMean(), 1),
        P50Us = histogram.GetValueAtPercentile(50),
        P90Us = histogram.GetValueAtPercentile(90),
        P99Us = histogram.GetValueAtPercentile(99),
        P999Us = histogram.GetValueAtPercentile(99.9),
        MaxUs = histogram.GetMaxValue(),
    };
}

/// <summary>The server's allocations over the measured interval, in total and by type (largest first).</summary>
internal sealed class ServerAllocationResult
{
    /// <summary>How many types the JSON lists (the rest are summed as "other").</summary>
    public const int TypesListed = 200;

    /// <summary>How many types the table shows.</summary>
    public const int TypesPrinted = 25;

    public long Bytes { get; set; }
    public int Ticks { get; set; }
    public double Seconds { get; set; }
    public double? BytesPerOperation { get; set; }
    public List<TypeShare> Types { get; set; } = [];

    public static ServerAllocationResult From(AllocationSample sample, double? operations)
    {
        double? PerOp(long bytes) => operations is > 0 ? Math.Round(bytes / operations.Value, 1) : null;
        var result = new ServerAllocationResult
        {
            Bytes = sample.Bytes,
            Ticks = sample.Ticks,
            Seconds = Math.Round(sample.Seconds, 2),
            BytesPerOperation = PerOp(sample.Bytes),
        };
        foreach (var type in sample.ByType.Take(TypesListed))
        {
            result.Types.Add(new TypeShare(type.Type, Math.Round(100.0 * type.Bytes / Math.Max(1, sample.Bytes), 1), PerOp(type.Bytes)));
        }

        var other = sample.ByType.Skip(TypesListed).Sum(t => t.Bytes);
        if (other > 0)
        {
            result.Types.Add(new TypeShare("(other types)", Math.Round(100.0 * other / Math.Max(1, sample.Bytes), 1), PerOp(other)));
        }

        return result;
    }

    public sealed record TypeShare(string Type, double Percent, double? BytesPerOperation);
}

internal sealed class IdleResult
{
    public int Requested { get; set; }
    public int Opened { get; set; }
    public int FailedToOpen { get; set; }
    public int Echoed { get; set; }
    public long? ServerRssBeforeKiB { get; set; }
    public long? ServerRssAfterKiB { get; set; }
    public double? KiBPerConnection { get; set; }
    public int? ServerOpenFiles { get; set; }
    public long? ClientRssKiB { get; set; }
}

/// <summary>What content mode counted (see <see cref="Scenarios.ContentSettings"/>).</summary>
internal sealed class ContentResult
{
    public string Payload { get; set; } = "";
    public string? Offered { get; set; }
    public string? Negotiated { get; set; }
    public long MessagesSent { get; set; }
    public long MessagesReceived { get; set; }
    public long Verified { get; set; }
    public long Mismatches { get; set; }
    public string? FirstMismatch { get; set; }
    public long PayloadBytesSent { get; set; }
    public long WireBytesSent { get; set; }
    public long PayloadBytesReceived { get; set; }
    public long WireBytesReceived { get; set; }
    public long CompressedMessagesSent { get; set; }
    public long CompressedMessagesReceived { get; set; }

    /// <summary>Wire bytes (whole data frames) per payload byte, client to server.</summary>
    public double? WireRatioSent { get; set; }

    /// <summary>Wire bytes (whole data frames) per payload byte, server to client.</summary>
    public double? WireRatioReceived { get; set; }

    /// <summary>What makes the run fail: differing echoes, compression negotiated but not seen.</summary>
    public List<string> Problems { get; set; } = [];
}

/// <summary>Latency in microseconds, from Stopwatch ticks, into histograms that never throw on an outlier.</summary>
internal static class Latency
{
    public const long HighestMicroseconds = 60_000_000;

    public static LongHistogram NewHistogram() => new(HighestMicroseconds, 3);

    public static long Microseconds(long ticks) => ticks * 1_000_000 / System.Diagnostics.Stopwatch.Frequency;

    public static void Record(LongHistogram histogram, long microseconds) =>
        histogram.RecordValue(Math.Clamp(microseconds, 0, HighestMicroseconds));

    public static LongHistogram Merge(IEnumerable<LongHistogram> histograms)
    {
        var total = NewHistogram();
        foreach (var h in histograms)
        {
            total.Add(h);
        }

        return total;
    }
}
