using ScottPlot;

namespace LoadTool.Infrastructure;

/// <summary>The median of a figure over the runs of one server, with the smallest and largest run.</summary>
internal sealed record Stat(double Median, double Min, double Max, int Runs)
{
    public static Stat? Of(IEnumerable<double?> values)
    {
        var sorted = values.Where(v => v is not null).Select(v => v!.Value).OrderBy(v => v).ToArray();
        if (sorted.Length == 0)
        {
            return null;
        }

        var median = sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
        return new Stat(median, sorted[0], sorted[^1], sorted.Length);
    }

    public Stat Scale(double factor) => new(Median * factor, Min * factor, Max * factor, Runs);
}

/// <summary>One bar: its tick label (a server, or null when the group's caption is the tick), its figure and colour.</summary>
internal sealed record BarSpec(string? Tick, Stat Stat, string Color, string? Series = null);

/// <summary>Bars side by side; with several groups each has a caption (a scenario variant, a figure).</summary>
internal sealed record BarGroup(string? Caption, IReadOnlyList<BarSpec> Bars);

/// <summary>A line across the bars at a value, over some groups (or one bar): a target, or parity (1.0x) over the whole chart.</summary>
internal sealed record ReferenceLine(double Value, int FirstGroup, int LastGroup, string Color, string? Legend, bool Dashed = true, float Width = 2)
{
    /// <summary>Over one bar of the (single) group only: the one the target is about.</summary>
    public int? Bar { get; init; }
}

/// <summary>
/// A bar chart drawn with ScottPlot into a PNG: a bar per median, whiskers from the smallest to the largest run, the
/// value on each bar, server names (or group captions) along the category axis, and the subtitle and footnote under the
/// plot. Plain data in, a file out: what to draw is decided by the caller.
/// </summary>
internal sealed class PngBarChart
{
    public required string Title { get; init; }
    public string? Subtitle { get; init; }
    /// <summary>The value axis's label (with its unit).</summary>
    public required string YLabel { get; init; }
    public string? Footnote { get; init; }
    public required IReadOnlyList<BarGroup> Groups { get; init; }
    public IReadOnlyList<ReferenceLine> Lines { get; init; } = [];
    public required Func<double, string> Format { get; init; }

    /// <summary>Group captions as the x-axis ticks (the bars told apart by a legend) instead of a tick per bar.</summary>
    public bool CaptionsAsTicks { get; init; }

    /// <summary>
    /// Bars lying down, the captions on the left and the values written inside the end of each bar: for many groups
    /// (the ratio overview), where standing bars would get too thin to read.
    /// </summary>
    public bool Horizontal { get; init; }

    private const double BarWidth = 0.8;
    private const double GroupGap = 0.9;

    /// <summary>
    /// ScottPlot picks the first font it finds when none of the sans-serif families it looks for is installed (on Debian
    /// with only DejaVu: DejaVu Serif); take a sans-serif family that is there.
    /// </summary>
    static PngBarChart()
    {
        foreach (var family in new[] { "DejaVu Sans", "Liberation Sans", "Noto Sans", "Arial", "Helvetica" })
        {
            if (Fonts.GetTypeface(family, FontWeight.Normal, FontSlant.Upright, FontSpacing.Normal)?.FamilyName == family)
            {
                Fonts.Default = family;
                break;
            }
        }
    }

    public void Save(string path, int width, int height)
    {
        var plot = new Plot();
        plot.Title(Title, size: 18);

        // Bars are laid out along "positions" (x when standing, y when lying: then downwards, the first group on top);
        // At turns (position, value) into plot coordinates.
        Coordinates At(double position, double value) => Horizontal ? new(value, -position) : new(position, value);

        // Where each bar and group goes. With the captions as ticks every group takes the room of the largest, its bars
        // in the middle, so that the captions keep their distance.
        var ticks = new List<(double Position, string Label)>();
        var groupSpans = new List<(double First, double Last)>();
        var barPositions = new List<List<double>>();
        var largest = Groups.Max(g => g.Bars.Count);
        var next = 0.0;
        foreach (var group in Groups)
        {
            var slack = CaptionsAsTicks ? largest - group.Bars.Count : 0;
            next += slack / 2.0;
            barPositions.Add(group.Bars.Select((_, i) => next + i).ToList());
            groupSpans.Add((next, next + group.Bars.Count - 1));
            next += group.Bars.Count - 1 + 1 + GroupGap + slack / 2.0;
        }

        var end = next - GroupGap - 1;
        var top = Math.Max(Groups.SelectMany(g => g.Bars).Max(b => b.Stat.Max), Lines.Select(l => l.Value).DefaultIfEmpty(0).Max());

        // Head room for the value labels, and for the group captions drawn at the top when they are not the ticks.
        var captionsOnTop = !CaptionsAsTicks && Groups.Count > 1;
        top = top <= 0 ? 1 : top * (captionsOnTop ? 1.28 : Horizontal ? 1.08 : 1.15);

        var legend = new HashSet<string>();
        for (var g = 0; g < Groups.Count; g++)
        {
            var group = Groups[g];
            for (var i = 0; i < group.Bars.Count; i++)
            {
                var bar = group.Bars[i];
                var position = barPositions[g][i];
                if (bar.Tick is not null && !CaptionsAsTicks)
                {
                    ticks.Add((position, bar.Tick));
                }

                var drawn = plot.Add.Bars(new Bar[]
                {
                    new()
                    {
                        Position = Horizontal ? -position : position, Value = bar.Stat.Median, Size = BarWidth, FillColor = Color.FromHex(bar.Color), LineWidth = 0,
                        Orientation = Horizontal ? Orientation.Horizontal : Orientation.Vertical,
                    },
                });
                if (bar.Series is not null && legend.Add(bar.Series))
                {
                    drawn.LegendText = bar.Series;
                }

                if (bar.Stat.Max > bar.Stat.Min)
                {
                    IReadOnlyList<double> up = [bar.Stat.Max - bar.Stat.Median], down = [bar.Stat.Median - bar.Stat.Min];
                    var center = At(position, bar.Stat.Median);
                    var whisker = Horizontal
                        ? new ScottPlot.Plottables.ErrorBar([center.X], [center.Y], up, down, null, null)
                        : new ScottPlot.Plottables.ErrorBar([center.X], [center.Y], null, null, up, down);
                    plot.Add.Plottable(whisker);
                    whisker.LineWidth = 1.5f;
                    whisker.CapSize = 8;
                    whisker.Color = Colors.Black.WithAlpha(.75);
                }

                // Standing: above the bar (and its whisker). Lying: inside its end in white, or after it when too short.
                var label = plot.Add.Text(Format(bar.Stat.Median), 0, 0);
                label.LabelFontSize = 13;
                if (!Horizontal)
                {
                    label.Location = At(position, bar.Stat.Max);
                    label.LabelAlignment = Alignment.LowerCenter;
                    label.OffsetY = -3;
                }
                else if (bar.Stat.Median > top * 0.12)
                {
                    label.Location = At(position, bar.Stat.Median);
                    label.LabelAlignment = Alignment.MiddleRight;
                    label.OffsetX = -5;
                    label.LabelFontColor = Colors.White;
                    label.LabelBold = true;
                }
                else
                {
                    label.Location = At(position, bar.Stat.Max);
                    label.LabelAlignment = Alignment.MiddleLeft;
                    label.OffsetX = 5;
                }
            }

            if (CaptionsAsTicks && group.Caption is not null)
            {
                ticks.Add(((groupSpans[g].First + groupSpans[g].Last) / 2, group.Caption));
            }
        }

        foreach (var line in Lines)
        {
            var (from, to) = line.Bar is { } b
                ? (barPositions[line.FirstGroup][b] - BarWidth / 2 - 0.15, barPositions[line.FirstGroup][b] + BarWidth / 2 + 0.15)
                : (groupSpans[line.FirstGroup].First - BarWidth / 2 - 0.1, groupSpans[line.LastGroup].Last + BarWidth / 2 + 0.1);
            var drawn = plot.Add.Line(At(from, line.Value), At(to, line.Value));
            drawn.LineColor = Color.FromHex(line.Color);
            drawn.LineWidth = line.Width;
            drawn.LinePattern = line.Dashed ? LinePattern.Dashed : LinePattern.Solid;
            drawn.MarkerSize = 0;
            if (line.Legend is not null && legend.Add(line.Legend))
            {
                drawn.LegendText = line.Legend;
            }
        }

        if (captionsOnTop)
        {
            for (var g = 0; g < Groups.Count; g++)
            {
                if (Groups[g].Caption is { } caption)
                {
                    var text = plot.Add.Text(caption, 0, 0);
                    text.Location = At((groupSpans[g].First + groupSpans[g].Last) / 2, top);
                    text.LabelAlignment = Alignment.UpperCenter;
                    text.LabelFontSize = 14;
                    text.LabelBold = true;
                    text.OffsetY = 6;
                }
            }
        }

        var (categoryAxis, valueAxis) = Horizontal ? ((ScottPlot.IAxis)plot.Axes.Left, (ScottPlot.IAxis)plot.Axes.Bottom) : (plot.Axes.Bottom, plot.Axes.Left);
        categoryAxis.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
            ticks.Select(t => Horizontal ? -t.Position : t.Position).ToArray(), ticks.Select(t => t.Label).ToArray());
        categoryAxis.MajorTickStyle.Length = 0;
        categoryAxis.TickLabelStyle.FontSize = 14;
        valueAxis.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { LabelFormatter = Compact };
        valueAxis.TickLabelStyle.FontSize = 13;
        (Horizontal ? plot.Grid.YAxisStyle : plot.Grid.XAxisStyle).MajorLineStyle.Width = 0;

        // Under the plot: (lying: the value axis's label, then) the subtitle (what was measured) and the footnote (when,
        // which commit).
        var under = string.Join("\n", new[] { Horizontal ? YLabel : null, Subtitle, Footnote }.Where(s => !string.IsNullOrEmpty(s)));
        if (!Horizontal)
        {
            plot.YLabel(YLabel, size: 15);
        }

        if (under.Length > 0)
        {
            plot.XLabel(under, size: 12);
            plot.Axes.Bottom.Label.Bold = false;
            plot.Axes.Bottom.Label.ForeColor = Colors.Black.WithAlpha(.7);
        }

        var (low, high) = (-BarWidth / 2 - 0.5, end + BarWidth / 2 + 0.5);
        if (Horizontal)
        {
            plot.Axes.SetLimits(0, top, -high, -low);
        }
        else
        {
            plot.Axes.SetLimits(low, high, 0, top);
        }

        if (legend.Count > 0)
        {
            // Beside the plot, so that it never hides a bar.
            plot.ShowLegend(Edge.Right);
        }

        plot.SavePng(path, width, height);
    }

    /// <summary>Axis numbers: 1.2M, 850k, 12.5.</summary>
    private static string Compact(double value)
    {
        var magnitude = Math.Abs(value);
        return magnitude switch
        {
            >= 1_000_000 => (value / 1_000_000).ToString("0.##", System.Globalization.CultureInfo.InvariantCulture) + "M",
            >= 10_000 => (value / 1_000).ToString("0.#", System.Globalization.CultureInfo.InvariantCulture) + "k",
            _ => value.ToString("0.##", System.Globalization.CultureInfo.InvariantCulture),
        };
    }
}
