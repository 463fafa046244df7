using System.Globalization;
using System.Text.Json;
using LoadTool.Infrastructure;
using Spectre.Console;

namespace LoadTool.Scenarios;

/// <summary>
/// Draws a comparison folder of bench/run-comparison.sh (one JSON per run, environment.txt; or only its summary.json)
/// as PNG bar charts: one per figure with the servers side by side (bar = median, whiskers = smallest and largest run),
/// and an overview of the ratios against the issue's targets. The file names stay the same from run to run so that
/// docs can link them; figures whose scenario the folder lacks are skipped.
/// </summary>
internal static class Charts
{
    private const string Raw = "raw";
    private const string Middleware = "middleware";

    /// <summary>The subject (ours) in blue, the peers in the colours they have in every chart.</summary>
    private const string SubjectColor = "#1f77b4";
    private static readonly Dictionary<string, string> PeerColors = new() { [Middleware] = "#ff7f0e", [Raw] = "#7f7f7f" };
    private static readonly string[] OtherColors = ["#2ca02c", "#9467bd", "#8c564b", "#e377c2"];
    private const string RawTargetColor = "#d62728";
    private const string MiddlewareTargetColor = "#6a3d9a";

    private enum Measure
    {
        /// <summary>The scenario's headline figure (msg/s, MB/s, handshakes/s, KiB per connection).</summary>
        Primary,

        /// <summary>The headline figure per second of server CPU time.</summary>
        PerCpu,

        /// <summary>Wire bytes per payload byte from the server to the client, in percent.</summary>
        WireReceivedPercent,
    }

    /// <summary>A chart of one figure: a bar per server.</summary>
    private sealed record Single(string File, string Scenario, Measure Measure, string Title, string YLabel);

    /// <summary>A chart of one figure over several scenario variants: a group of server bars per variant.</summary>
    private sealed record Grouped(string File, (string Scenario, string Caption)[] Variants, Measure Measure, string Title, string YLabel, int Width = 1200);

    /// <summary>A group of the ratio overview: the subject over raw and over the middleware, and the issue's targets.</summary>
    private sealed record RatioFigure(string Caption, string Scenario, Measure Measure, double? RawTarget = null, double? MiddlewareTarget = null);

    private static readonly Single[] Singles =
    [
        new("echo-msgs.png", "echo", Measure.Primary, "Echo: messages per second", "messages/s"),
        new("echo-per-cpu.png", "echo", Measure.PerCpu, "Echo: messages per server CPU-second", "messages per server CPU-second"),
        new("bulk.png", "bulk", Measure.Primary, "Bulk: MB echoed per second", "MB/s (payload, 10^6 B)"),
        new("bulk-per-cpu.png", "bulk", Measure.PerCpu, "Bulk: MB echoed per server CPU-second", "MB per server CPU-second"),
        new("handshake.png", "handshake", Measure.Primary, "Handshakes per second", "handshakes/s"),
        new("handshake-per-cpu.png", "handshake", Measure.PerCpu, "Handshakes per server CPU-second", "handshakes per server CPU-second"),
        new("idle.png", "idle", Measure.Primary, "Server memory per idle connection (lower is better)", "KiB per connection"),
    ];

    private static readonly (string Scenario, string Caption)[] DeflateVariants =
    [
        ("echo-json", "no compression"), ("deflate", "deflate, context takeover"), ("deflate-nct", "deflate, no context takeover"),
    ];

    private static readonly Grouped[] Groupeds =
    [
        new("deflate.png", DeflateVariants, Measure.Primary, "JSON echo with permessage-deflate: messages per second", "messages/s"),
        new("deflate-per-cpu.png", DeflateVariants, Measure.PerCpu, "JSON echo with permessage-deflate: messages per server CPU-second", "messages per server CPU-second"),
        new("deflate-ratio.png", DeflateVariants, Measure.WireReceivedPercent,
            "Compression: server-to-client wire bytes per payload byte (lower is better)", "wire / payload (%, whole frames)"),
        new("idle-deflate.png", [("idle-json", "no compression"), ("idle-deflate", "deflate, context takeover"), ("idle-deflate-nct", "deflate, no context takeover")],
            Measure.Primary, "Server memory per idle connection after one JSON echo (lower is better)", "KiB per connection"),
    ];

    /// <summary>The issue's targets: at least 0.9x raw for echo and handshakes, 0.95x for bulk; idle at most 0.25x the middleware.</summary>
    private static readonly RatioFigure[] RatioFigures =
    [
        new("echo\nmsg/s", "echo", Measure.Primary, RawTarget: 0.9),
        new("echo\nper CPU-s", "echo", Measure.PerCpu, RawTarget: 0.9),
        new("bulk\nMB/s", "bulk", Measure.Primary, RawTarget: 0.95),
        new("bulk\nper CPU-s", "bulk", Measure.PerCpu, RawTarget: 0.95),
        new("handshakes/s", "handshake", Measure.Primary, RawTarget: 0.9),
        new("handshakes\nper CPU-s", "handshake", Measure.PerCpu, RawTarget: 0.9),
        new("idle\nKiB/conn", "idle", Measure.Primary, MiddlewareTarget: 0.25),
        new("JSON echo\nmsg/s", "echo-json", Measure.Primary),
        new("deflate\nper CPU-s", "deflate", Measure.PerCpu),
        new("deflate no ctx\nper CPU-s", "deflate-nct", Measure.PerCpu),
        new("idle deflate\nKiB/conn", "idle-deflate", Measure.Primary),
    ];

    public const string RatiosFile = "ratios.png";

    /// <summary>Every file this command may write, for the note about files in the target folder it did not write this time.</summary>
    private static IEnumerable<string> KnownFiles => Singles.Select(s => s.File).Concat(Groupeds.Select(g => g.File)).Append(RatiosFile);

    public static async Task<int> RunAsync(string input, string? outputFolder, string subject)
    {
        var source = await Source.LoadAsync(input, subject).ConfigureAwait(false);
        var output = outputFolder ?? source.Folder;
        Directory.CreateDirectory(output);
        var footnote = await FootnoteAsync(source.Folder).ConfigureAwait(false);
        var colors = Colors(source.Labels, subject);

        var written = new List<(string File, string What)>();
        foreach (var figure in Singles)
        {
            var bars = source.Labels
                .Select(label => (label, stat: source.Get(figure.Scenario, label, figure.Measure)))
                .Where(b => b.stat is not null)
                .Select(b => new BarSpec(b.label, b.stat!, colors[b.label]))
                .ToList();
            if (bars.Count == 0)
            {
                continue;
            }

            new PngBarChart
            {
                Title = figure.Title,
                Subtitle = Subtitle(source, [figure.Scenario], bars.Select(b => b.Stat).ToList()) + ClientBound(source, [(figure.Scenario, null)], figure.Measure),
                YLabel = figure.YLabel,
                Footnote = footnote,
                Groups = [new BarGroup(null, bars)],
                Format = Formatter(figure.Measure),
            }.Save(Path.Combine(output, figure.File), 900, 600);
            written.Add((figure.File, $"{figure.Scenario}, {Describe(figure.Measure)}"));
        }

        foreach (var figure in Groupeds)
        {
            var groups = new List<BarGroup>();
            foreach (var (scenario, caption) in figure.Variants)
            {
                var bars = source.Labels
                    .Select(label => (label, stat: source.Get(scenario, label, figure.Measure)))
                    .Where(b => b.stat is not null)
                    .Select(b => new BarSpec(b.label, b.stat!, colors[b.label]))
                    .ToList();
                if (bars.Count > 0)
                {
                    groups.Add(new BarGroup(caption, bars));
                }
            }

            if (groups.Count == 0)
            {
                continue;
            }

            var scenarios = figure.Variants.Select(v => v.Scenario).Where(source.Has).ToArray();
            new PngBarChart
            {
                Title = figure.Title,
                Subtitle = Subtitle(source, scenarios, groups.SelectMany(g => g.Bars).Select(b => b.Stat).ToList()) + ClientBound(source, figure.Variants.Select(v => (v.Scenario, (string?)v.Caption)).ToList(), figure.Measure),
                YLabel = figure.YLabel,
                Footnote = footnote,
                Groups = groups,
                Format = Formatter(figure.Measure),
            }.Save(Path.Combine(output, figure.File), figure.Width, 640);
            written.Add((figure.File, $"{string.Join(" / ", scenarios)}, {Describe(figure.Measure)}"));
        }

        if (DrawRatios(source, subject, footnote, Path.Combine(output, RatiosFile)))
        {
            written.Add((RatiosFile, $"{subject} / {Raw} and {subject} / {Middleware} against the issue's targets"));
        }

        if (written.Count == 0)
        {
            throw new UsageException($"Nothing to draw: no echo, bulk, handshake, idle or compression results in '{input}'.");
        }

        foreach (var (file, what) in written)
        {
            AnsiConsole.MarkupLine($"wrote [bold]{Markup.Escape(Path.Combine(output, file))}[/] ({Markup.Escape(what)})");
        }

        var stale = KnownFiles.Except(written.Select(w => w.File)).Where(f => File.Exists(Path.Combine(output, f))).ToList();
        if (stale.Count > 0)
        {
            AnsiConsole.MarkupLine($"[yellow]not redrawn (no such results in this folder), left as they were: {Markup.Escape(string.Join(", ", stale))}[/]");
        }

        return 0;
    }

    private static bool DrawRatios(Source source, string subject, string? footnote, string path)
    {
        var groups = new List<BarGroup>();
        var lines = new List<ReferenceLine>();
        foreach (var figure in RatioFigures)
        {
            var ours = source.Get(figure.Scenario, subject, figure.Measure);
            if (ours is null)
            {
                continue;
            }

            var bars = new List<BarSpec>();
            foreach (var (other, color) in new[] { (Raw, PeerColors[Raw]), (Middleware, PeerColors[Middleware]) })
            {
                if (source.Get(figure.Scenario, other, figure.Measure) is { Median: > 0 } theirs)
                {
                    var ratio = ours.Median / theirs.Median;
                    bars.Add(new BarSpec(null, new Stat(ratio, ratio, ratio, 1), color, $"{subject} / {other}"));
                }
            }

            if (bars.Count == 0)
            {
                continue;
            }

            var index = groups.Count;
            groups.Add(new BarGroup(figure.Caption, bars));
            if (figure.RawTarget is { } rawTarget && bars.Any(b => b.Series!.EndsWith("/ " + Raw, StringComparison.Ordinal)))
            {
                lines.Add(new ReferenceLine(rawTarget, index, index, RawTargetColor, $"issue target, {subject} / {Raw}:\nat least", Dashed: false, Width: 3)
                {
                    Bar = bars.FindIndex(b => b.Series!.EndsWith("/ " + Raw, StringComparison.Ordinal)),
                });
            }

            if (figure.MiddlewareTarget is { } middlewareTarget && bars.Any(b => b.Series!.EndsWith("/ " + Middleware, StringComparison.Ordinal)))
            {
                lines.Add(new ReferenceLine(middlewareTarget, index, index, MiddlewareTargetColor, $"issue target, {subject} / {Middleware}:\nat most", Dashed: false, Width: 3)
                {
                    Bar = bars.FindIndex(b => b.Series!.EndsWith("/ " + Middleware, StringComparison.Ordinal)),
                });
            }
        }

        if (groups.Count == 0)
        {
            return false;
        }

        var peers = groups.SelectMany(g => g.Bars).Select(b => b.Series!.Split(" / ")[^1]).ToHashSet();
        lines.Insert(0, new ReferenceLine(1, 0, groups.Count - 1, "#000000", "parity (1.0x)", Dashed: false, Width: 1));
        new PngBarChart
        {
            Title = $"{subject} relative to " + string.Join(" and to ", new[]
            {
                peers.Contains(Raw) ? "the raw Kestrel echo" : null, peers.Contains(Middleware) ? "ASP.NET Core's WebSockets middleware" : null,
            }.Where(p => p is not null)),
            Subtitle = "above 1 = more than the peer (for KiB/conn: more memory, which is worse); short marks: the issue's targets",
            YLabel = $"{subject} / peer (ratio of medians)",
            Footnote = footnote,
            Groups = groups,
            Lines = lines,
            Format = v => v.ToString("F2", CultureInfo.InvariantCulture) + "x",
            CaptionsAsTicks = true,
            Horizontal = true,
        }.Save(path, 1200, Math.Max(600, 64 * groups.Count + 220));
        return true;
    }

    private static Dictionary<string, string> Colors(IReadOnlyList<string> labels, string subject)
    {
        var colors = new Dictionary<string, string>();
        var next = 0;
        foreach (var label in labels)
        {
            colors[label] = label == subject ? SubjectColor
                : PeerColors.TryGetValue(label, out var peer) ? peer
                : OtherColors[next++ % OtherColors.Length];
        }

        return colors;
    }

    private static Func<double, string> Formatter(Measure measure) => measure switch
    {
        Measure.WireReceivedPercent => v => v.ToString("F1", CultureInfo.InvariantCulture) + "%",
        _ => v => v >= 100 ? v.ToString("N0", CultureInfo.InvariantCulture) : v.ToString("N2", CultureInfo.InvariantCulture),
    };

    private static string Describe(Measure measure) => measure switch
    {
        Measure.Primary => "median",
        Measure.PerCpu => "per server CPU-second",
        _ => "wire / payload, server to client",
    };

    /// <summary>What the runs did, from the settings the load tool wrote into the first run of the scenario.</summary>
    private static string? Subtitle(Source source, IReadOnlyList<string> scenarios, IReadOnlyList<Stat> stats)
    {
        var first = scenarios.Select(source.FirstRun).FirstOrDefault(r => r is not null);
        var runs = stats.Max(s => s.Runs);
        var spread = runs == 1 ? "one run" : $"median of {runs} runs" + (stats.Any(s => s.Max > s.Min) ? ", whiskers min-max" : "");
        if (first is null)
        {
            return spread;
        }

        string? Setting(string key) => first.Settings.TryGetValue(key, out var value) ? value : null;
        var connections = Setting("connections")?.Split(' ')[0];
        string? what = null;
        if (first.Scenario.StartsWith("idle", StringComparison.Ordinal))
        {
            what = $"{Number(connections)} connections held; growth of the server's VmRSS per connection" +
                (Setting("primed (one echo before measuring)") == "yes" ? "; each primed with one echo" : "");
        }
        else if (first.Scenario == "handshake")
        {
            var rawIteration = source.FirstRun("handshake", Raw)?.Settings.GetValueOrDefault("per iteration");
            what = $"{Setting("concurrency")} at a time: {Setting("per iteration")}" +
                (rawIteration is not null && rawIteration != Setting("per iteration") ? $" (raw: {rawIteration})" : "");
        }
        else if (connections is not null)
        {
            var size = Setting("message size (B)");
            // "32" (fixed payload) or "json (seed 1, 4,096 messages, 218-871 B, mean 504 B)" (content mode).
            var messages = long.TryParse(size, NumberStyles.Integer, CultureInfo.InvariantCulture, out var bytes) ? $"{Bytes(bytes)} {Setting("type")}"
                : size?.StartsWith("json", StringComparison.Ordinal) == true ? $"JSON {Setting("type")}{size[4..]}"
                : size;
            what = $"{connections} connections x {Setting("in flight per connection")} in flight, {messages}";
        }

        return what is null ? spread : $"{what}; {spread}";
    }

    /// <summary>
    /// A line naming the servers whose runs had the load tool near the limit of its core (median 85% or more): their
    /// rate says more about the client than about the server, and per server CPU-second is the figure to compare.
    /// </summary>
    private static string ClientBound(Source source, IReadOnlyList<(string Scenario, string? Caption)> variants, Measure measure)
    {
        if (measure != Measure.Primary)
        {
            return "";
        }

        var bound = new List<string>();
        foreach (var (scenario, caption) in variants)
        {
            var servers = source.Labels
                .Select(label => (label, cpu: source.LoadToolCpu(scenario, label)))
                .Where(s => s.cpu >= 85)
                .Select(s => $"{s.label} {s.cpu:F0}%")
                .ToList();
            if (servers.Count > 0)
            {
                bound.Add((caption is null ? "" : caption + ": ") + string.Join(", ", servers));
            }
        }

        return bound.Count == 0 ? "" : "\nload tool near its core's limit (median CPU), so partly client-bound: " + string.Join("; ", bound);
    }

    private static string Number(string? text) =>
        long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n.ToString("N0", CultureInfo.InvariantCulture) : text ?? "?";

    private static string Bytes(long bytes) => bytes switch
    {
        >= 1 << 20 when bytes % (1 << 20) == 0 => $"{bytes >> 20} MiB",
        >= 1 << 10 when bytes % (1 << 10) == 0 => $"{bytes >> 10} KiB",
        _ => $"{bytes} B",
    };

    /// <summary>Where and when: the folder, start time, commit, machine and load from environment.txt (if present).</summary>
    private static async Task<string> FootnoteAsync(string folder)
    {
        var parts = new List<string> { Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder))) };
        var environment = Path.Combine(folder, "environment.txt");
        if (File.Exists(environment))
        {
            var values = new Dictionary<string, string>();
            foreach (var line in await File.ReadAllLinesAsync(environment).ConfigureAwait(false))
            {
                var colon = line.IndexOf(':', StringComparison.Ordinal);
                if (colon > 0)
                {
                    values.TryAdd(line[..colon].Trim(), line[(colon + 1)..].Trim());
                }
            }

            if (values.TryGetValue("started", out var started) && DateTimeOffset.TryParse(started, CultureInfo.InvariantCulture, DateTimeStyles.None, out var at))
            {
                parts.Add(at.ToUniversalTime().ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture));
            }

            if (values.TryGetValue("git", out var git) && git.Split(' ', StringSplitOptions.RemoveEmptyEntries) is [var commit, var changed, ..])
            {
                parts.Add($"commit {commit}" + (changed != "0" ? $" + {changed} changed files" : ""));
            }

            // "kernel: ...; cores: 2; cpu: AMD EPYC" is one line: the first colon splits off "kernel".
            if (values.TryGetValue("kernel", out var machine))
            {
                var cores = machine.Split("; ").FirstOrDefault(p => p.StartsWith("cores: ", StringComparison.Ordinal))?[7..];
                var cpu = machine.Split("; ").FirstOrDefault(p => p.StartsWith("cpu: ", StringComparison.Ordinal))?[5..];
                if (cores is not null || cpu is not null)
                {
                    parts.Add($"{cpu} x {cores} cores".Trim());
                }
            }

            if (values.TryGetValue("load average at start", out var load))
            {
                parts.Add($"load average at start {load.Split(' ')[0]}");
            }
        }

        return string.Join("  |  ", parts);
    }

    /// <summary>The results of a folder: every run (for medians and min-max of each figure), or only its summary.json.</summary>
    private sealed class Source
    {
        private readonly List<RunResult> _runs;
        private readonly List<Report.SummaryRow> _summary;

        private Source(string folder, IReadOnlyList<string> labels, List<RunResult> runs, List<Report.SummaryRow> summary)
        {
            Folder = folder;
            Labels = labels;
            _runs = runs;
            _summary = summary;
        }

        public string Folder { get; }

        /// <summary>The servers: the subject first, then the others by name (as in the report).</summary>
        public IReadOnlyList<string> Labels { get; }

        public static async Task<Source> LoadAsync(string input, string subject)
        {
            string folder;
            string? summaryPath;
            var runs = new List<RunResult>();
            if (Directory.Exists(input))
            {
                folder = input;
                summaryPath = Path.Combine(input, "summary.json");
                foreach (var file in Directory.EnumerateFiles(input, "*.json", SearchOption.AllDirectories)
                    .Where(f => !f.EndsWith("summary.json", StringComparison.Ordinal))
                    .Order(StringComparer.Ordinal))
                {
                    try
                    {
                        // Runs that sampled the server's allocations paid for the EventPipe session: not speed figures
                        // (the report keeps them apart the same way).
                        if (JsonSerializer.Deserialize<RunResult>(await File.ReadAllTextAsync(file).ConfigureAwait(false), RunResult.Json) is { Primary: not null, ServerAllocations: null } run)
                        {
                            runs.Add(run);
                        }
                    }
                    catch (JsonException ex)
                    {
                        AnsiConsole.MarkupLine($"[yellow]skipped {Markup.Escape(file)}: {Markup.Escape(ex.Message)}[/]");
                    }
                }
            }
            else if (File.Exists(input))
            {
                folder = Path.GetDirectoryName(Path.GetFullPath(input))!;
                summaryPath = input;
            }
            else
            {
                throw new UsageException($"'{input}' is neither a folder nor a file.");
            }

            var summary = new List<Report.SummaryRow>();
            if (runs.Count == 0)
            {
                if (!File.Exists(summaryPath))
                {
                    throw new UsageException($"No run results and no summary.json in '{input}'.");
                }

                summary = JsonSerializer.Deserialize<List<Report.SummaryRow>>(await File.ReadAllTextAsync(summaryPath).ConfigureAwait(false), RunResult.Json) ?? [];
            }

            var labels = runs.Select(r => r.Label).Concat(summary.SelectMany(r => r.Cells.Keys)).Distinct()
                .OrderBy(l => l == subject ? 0 : 1).ThenBy(l => l, StringComparer.Ordinal).ToList();
            return new Source(folder, labels, runs, summary);
        }

        public bool Has(string scenario) => _runs.Any(r => r.Scenario == scenario) || _summary.Any(r => r.Scenario == scenario);

        public double? LoadToolCpu(string scenario, string label)
        {
            var runs = _runs.Where(r => r.Scenario == scenario && r.Label == label).ToList();
            return runs.Count > 0
                ? Stat.Of(runs.Select(r => (double?)r.LoadToolCpuPercent))?.Median
                : _summary.FirstOrDefault(r => r.Scenario == scenario)?.Cells.GetValueOrDefault(label)?.LoadToolCpuPercent;
        }

        public RunResult? FirstRun(string scenario) => _runs.FirstOrDefault(r => r.Scenario == scenario);

        public RunResult? FirstRun(string scenario, string label) => _runs.FirstOrDefault(r => r.Scenario == scenario && r.Label == label);

        public Stat? Get(string scenario, string label, Measure measure)
        {
            var runs = _runs.Where(r => r.Scenario == scenario && r.Label == label).ToList();
            if (runs.Count > 0)
            {
                return measure switch
                {
                    Measure.Primary => Stat.Of(runs.Select(r => r.Primary)),
                    Measure.PerCpu => Stat.Of(runs.Select(r => r.PerServerCpuSecond)),
                    _ => Stat.Of(runs.Select(r => r.Content?.WireRatioReceived))?.Scale(100),
                };
            }

            // From summary.json: the median with its min-max for the headline figure, medians alone for the rest.
            if (_summary.FirstOrDefault(r => r.Scenario == scenario)?.Cells.GetValueOrDefault(label) is not { } cell)
            {
                return null;
            }

            return measure switch
            {
                Measure.Primary => new Stat(cell.Median, cell.Min, cell.Max, cell.Runs),
                Measure.PerCpu => cell.PerServerCpuSecond is { } per ? new Stat(per, per, per, cell.Runs) : null,
                _ => cell.WireRatioReceived is { } ratio ? new Stat(100 * ratio, 100 * ratio, 100 * ratio, cell.Runs) : null,
            };
        }
    }
}
