using System.Globalization;
using System.Text;
using System.Text.Json;
using LoadTool.Infrastructure;
using Spectre.Console;

namespace LoadTool.Scenarios;

/// <summary>Reads run results (JSON), takes the median per server and scenario, and prints the ratio table.</summary>
internal static class Report
{
    private static readonly string[] ScenarioOrder =
    [
        "echo", "bulk", "handshake", "idle", "echo-json", "deflate", "deflate-nct", "idle-primed", "idle-json", "idle-deflate", "idle-deflate-nct", "broadcast",
    ];

    public static async Task<int> RunAsync(IReadOnlyList<string> inputs, string subject, string? markdownPath, string? jsonPath)
    {
        foreach (var input in inputs)
        {
            if (!Directory.Exists(input) && !File.Exists(input))
            {
                throw new UsageException($"'{input}' is neither a file nor a folder.");
            }
        }

        var files = inputs.SelectMany(i => Directory.Exists(i) ? Directory.EnumerateFiles(i, "*.json", SearchOption.AllDirectories) : [i])
            .Where(f => !f.EndsWith("summary.json", StringComparison.Ordinal))
            .OrderBy(f => f, StringComparer.Ordinal)
            .ToList();
        var results = new List<RunResult>();
        // Runs that sampled the server's allocations are reported on their own: the EventPipe session costs the server
        // a little, so their speed is not mixed into the medians.
        var allocationRuns = new List<RunResult>();
        foreach (var file in files)
        {
            var result = JsonSerializer.Deserialize<RunResult>(await File.ReadAllTextAsync(file).ConfigureAwait(false), RunResult.Json);
            if (result?.ServerAllocations is not null)
            {
                allocationRuns.Add(result);
            }
            else if (result?.Primary is not null)
            {
                results.Add(result);
            }
        }

        if (results.Count == 0 && allocationRuns.Count == 0)
        {
            throw new UsageException("No run results found.");
        }

        var labels = results.Select(r => r.Label).Distinct().OrderBy(l => l == subject ? 0 : 1).ThenBy(l => l, StringComparer.Ordinal).ToList();
        var scenarios = results.Select(r => r.Scenario).Distinct().OrderBy(s => Array.IndexOf(ScenarioOrder, s)).ToList();
        var others = labels.Where(l => l != subject).ToList();

        var rows = new List<SummaryRow>();
        foreach (var scenario in scenarios)
        {
            var cells = new Dictionary<string, Cell>();
            foreach (var label in labels)
            {
                var runs = results.Where(r => r.Scenario == scenario && r.Label == label).OrderBy(r => r.StartedAt).ToList();
                if (runs.Count > 0)
                {
                    cells[label] = new Cell(
                        runs.Count,
                        Median(runs.Select(r => r.Primary!.Value)),
                        runs.Select(r => r.Primary!.Value).Min(),
                        runs.Select(r => r.Primary!.Value).Max(),
                        MedianOrNull(runs.Select(r => r.PerServerCpuSecond)),
                        MedianOrNull(runs.Select(r => r.ServerCpuPercent)),
                        Median(runs.Select(r => r.LoadToolCpuPercent)),
                        MedianOrNull(runs.Select(r => (double?)r.Latency?.P99Us)),
                        runs.Sum(r => r.Errors),
                        MedianOrNull(runs.Select(r => r.Content?.WireRatioSent)),
                        MedianOrNull(runs.Select(r => r.Content?.WireRatioReceived)))
                    {
                        Series = runs.Select(r => r.Primary!.Value).ToList(),
                    };
                }
            }

            rows.Add(new SummaryRow(scenario, results.First(r => r.Scenario == scenario).PrimaryUnit, cells));
        }

        if (rows.Count > 0)
        {
            Print(rows, labels, others, subject);
        }

        var markdown = (rows.Count > 0 ? Markdown(rows, labels, others, subject) : "") + Allocations(allocationRuns, subject);
        if (allocationRuns.Count > 0)
        {
            AnsiConsole.WriteLine(Allocations(allocationRuns, subject));
        }

        if (markdownPath is not null)
        {
            await File.WriteAllTextAsync(markdownPath, markdown).ConfigureAwait(false);
        }

        if (jsonPath is not null)
        {
            await File.WriteAllTextAsync(jsonPath, JsonSerializer.Serialize(rows, RunResult.Json)).ConfigureAwait(false);
        }

        return 0;
    }

    private static void Print(List<SummaryRow> rows, List<string> labels, List<string> others, string subject)
    {
        var table = new Table().Border(TableBorder.Rounded).Title("[bold]medians[/]");
        table.AddColumn("scenario");
        foreach (var label in labels)
        {
            table.AddColumn(new TableColumn(Markup.Escape(label)).RightAligned());
        }

        foreach (var other in others)
        {
            table.AddColumn(new TableColumn(Markup.Escape($"{subject} / {other}")).RightAligned());
        }

        foreach (var row in rows)
        {
            var cells = new List<string> { Markup.Escape($"{row.Scenario} ({row.Unit})") };
            cells.AddRange(labels.Select(l => row.Cells.TryGetValue(l, out var c) ? Markup.Escape(c.Short()) : "-"));
            cells.AddRange(others.Select(o => Markup.Escape(Ratio(row, subject, o))));
            table.AddRow(cells.ToArray());
        }

        AnsiConsole.Write(table);
    }

    private static string Markdown(List<SummaryRow> rows, List<string> labels, List<string> others, string subject)
    {
        var sb = new StringBuilder();
        sb.Append("| figure | ").AppendJoin(" | ", labels).Append(" | ").AppendJoin(" | ", others.Select(o => $"{subject} / {o}")).AppendLine(" |");
        sb.Append("|---|").Append(string.Concat(Enumerable.Repeat("---:|", labels.Count + others.Count))).AppendLine();
        foreach (var row in rows)
        {
            sb.Append($"| {row.Scenario}: {row.Unit} | ")
                .AppendJoin(" | ", labels.Select(l => row.Cells.TryGetValue(l, out var c) ? c.Describe() : "-"))
                .Append(" | ")
                .AppendJoin(" | ", others.Select(o => Ratio(row, subject, o) + Rounds(row, subject, o)))
                .AppendLine(" |");
        }

        sb.AppendLine();
        sb.AppendLine("Ratios: of the medians; \"rounds\" are the ratios of the 1st, 2nd, 3rd... run of each server (in time order; with " +
            "ORDER=interleaved those runs were measured within a minute of each other) and their median.");
        sb.AppendLine("Each cell: median of n runs [min-max]; srv = median server CPU (% of its one core); per CPU-s = the figure per server CPU-second; tool = load tool CPU (% of its core); " +
            "wire/payload = bytes of whole data frames per payload byte, client to server and server to client (content-mode runs).");
        return sb.ToString();
    }

    /// <summary>The allocation runs as a table: bytes per operation and the largest types, per scenario and server.</summary>
    private static string Allocations(List<RunResult> runs, string subject)
    {
        if (runs.Count == 0)
        {
            return "";
        }

        var sb = new StringBuilder();
        sb.AppendLine();
        sb.AppendLine("Server allocations (separate runs with `--server-allocations`: GC AllocationTick events over EventPipe, bytes per operation; " +
            "the largest types, namespaces dropped):");
        sb.AppendLine();
        sb.AppendLine("| scenario | server | allocated per operation | samples | largest types (B per operation) |");
        sb.AppendLine("|---|---|---:|---:|---|");
        foreach (var run in runs.OrderBy(r => Array.IndexOf(ScenarioOrder, r.Scenario)).ThenBy(r => r.Label == subject ? 0 : 1).ThenBy(r => r.Label, StringComparer.Ordinal))
        {
            var a = run.ServerAllocations!;
            var types = string.Join("; ", a.Types.Where(t => t.Type != "(other types)").Take(6)
                .Select(t => $"{RunResult.ShortTypeName(t.Type).Replace("|", "/", StringComparison.Ordinal)} {t.BytesPerOperation:N0}"));
            sb.AppendLine($"| {run.Scenario} | {run.Label} | {(a.BytesPerOperation is { } b ? $"{b:N1} B" : "-")} | {a.Ticks:N0} | {types} |");
        }

        // Against the raw echo (Kestrel's own connection costs, which every server here pays): the types each server
        // allocates more of per operation. A sample, so differences of a few tens of bytes are noise.
        foreach (var run in runs.Where(r => r.Label != "raw" && r.ServerAllocations!.BytesPerOperation is > 0))
        {
            var raw = runs.FirstOrDefault(r => r.Label == "raw" && r.Scenario == run.Scenario)?.ServerAllocations;
            if (raw?.BytesPerOperation is not { } rawPerOp)
            {
                continue;
            }

            var a = run.ServerAllocations!;
            var reference = raw.Types.ToDictionary(t => t.Type, t => t.BytesPerOperation ?? 0);
            var above = a.Types.Where(t => t.Type != "(other types)")
                .Select(t => (t.Type, Bytes: (t.BytesPerOperation ?? 0) - reference.GetValueOrDefault(t.Type)))
                .Where(t => t.Bytes >= 40)
                .OrderByDescending(t => t.Bytes)
                .Take(12)
                .Select(t => $"{RunResult.ShortTypeName(t.Type)} +{t.Bytes:N0}");
            sb.AppendLine();
            sb.AppendLine($"{run.Scenario}, {run.Label} against raw: {a.BytesPerOperation - rawPerOp:+#,0;-#,0} B per operation; types with 40 B or more above raw: {string.Join("; ", above)}.");
        }

        return sb.ToString();
    }

    private static string Ratio(SummaryRow row, string subject, string other) =>
        row.Cells.TryGetValue(subject, out var s) && row.Cells.TryGetValue(other, out var o) && o.Median != 0
            ? (s.Median / o.Median).ToString("F2", CultureInfo.InvariantCulture) + "x"
              + (s.PerServerCpuSecond is { } a && o.PerServerCpuSecond is { } b && b != 0 ? $" ({a / b:F2}x per CPU-s)" : "")
            : "-";

    /// <summary>Run-by-run ratios (k-th run against k-th run, in time order) and their median, where both have 2 runs or more.</summary>
    private static string Rounds(SummaryRow row, string subject, string other)
    {
        if (!row.Cells.TryGetValue(subject, out var s) || !row.Cells.TryGetValue(other, out var o) || s.Series.Count < 2 || s.Series.Count != o.Series.Count
            || o.Series.Any(v => v == 0))
        {
            return "";
        }

        var ratios = s.Series.Zip(o.Series, (a, b) => a / b).ToList();
        return $"; rounds {string.Join(" / ", ratios.Select(r => r.ToString("F2", CultureInfo.InvariantCulture)))}, median {Median(ratios).ToString("F2", CultureInfo.InvariantCulture)}x";
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.OrderBy(v => v).ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private static double? MedianOrNull(IEnumerable<double?> values)
    {
        var present = values.Where(v => v is not null).Select(v => v!.Value).ToList();
        return present.Count == 0 ? null : Median(present);
    }

    internal sealed record Cell(
        int Runs, double Median, double Min, double Max, double? PerServerCpuSecond, double? ServerCpuPercent, double LoadToolCpuPercent, double? P99Us, long Errors,
        double? WireRatioSent = null, double? WireRatioReceived = null)
    {
        /// <summary>Each run's figure, in the order the runs started.</summary>
        public IReadOnlyList<double> Series { get; init; } = [];

        public string Short() => $"{Format(Median)} (n={Runs})" + (Errors > 0 ? $", {Errors} errors" : "");

        public string Describe()
        {
            var text = $"{Format(Median)} (n={Runs}" + (Runs > 1 ? $" [{Format(Min)}-{Format(Max)}]" : "") + ")";
            if (ServerCpuPercent is { } srv)
            {
                text += $"; srv {srv:F0}%";
            }

            if (PerServerCpuSecond is { } per)
            {
                text += $"; per CPU-s {Format(per)}";
            }

            text += $"; tool {LoadToolCpuPercent:F0}%";
            if (P99Us is { } p99)
            {
                text += $"; p99 {p99:N0} µs";
            }

            if (WireRatioSent is { } up && WireRatioReceived is { } down)
            {
                // Wire bytes (whole frames) per payload byte, each way: the compression figure of deflate runs.
                text += $"; wire/payload c→s {100 * up:F1}%, s→c {100 * down:F1}%";
            }

            if (Errors > 0)
            {
                text += $"; {Errors} errors";
            }

            return text;
        }

        private static string Format(double value) => value switch
        {
            >= 100_000 => value.ToString("N0", CultureInfo.InvariantCulture),
            >= 100 => value.ToString("N0", CultureInfo.InvariantCulture),
            _ => value.ToString("N2", CultureInfo.InvariantCulture),
        };
    }

    internal sealed record SummaryRow(string Scenario, string Unit, Dictionary<string, Cell> Cells);
}
