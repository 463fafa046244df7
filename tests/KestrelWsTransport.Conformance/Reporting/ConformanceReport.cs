using System.Net;
using System.Text;
using KestrelWsTransport.Conformance.Cases;

namespace KestrelWsTransport.Conformance.Reporting;

/// <summary>
/// Writes artifacts/conformance/index.md and index.html: a summary per section (counts per grade) and, per case, its id,
/// description, grade, expected and observed behavior and duration, in the spirit of Autobahn's report.
/// </summary>
internal static class ConformanceReport
{
    public sealed record RunInfo(DateTimeOffset Started, TimeSpan Elapsed, string Server, int Section9Divisor);

    private sealed record SectionRow(int Section, string Name, int[] Counts)
    {
        public int Total => Counts.Sum();
    }

    public static (string Markdown, string Html) Write(string directory, IReadOnlyCollection<CaseResult> results, RunInfo info)
    {
        Directory.CreateDirectory(directory);
        var ordered = results.OrderBy(r => r.Id, CaseIdComparer.Instance).ToList();
        var rows = Summarize(ordered);
        var markdownPath = Path.Combine(directory, "index.md");
        var htmlPath = Path.Combine(directory, "index.html");
        File.WriteAllText(markdownPath, Markdown(ordered, rows, info));
        File.WriteAllText(htmlPath, Html(ordered, rows, info));
        return (markdownPath, htmlPath);
    }

    private static List<SectionRow> Summarize(List<CaseResult> results)
    {
        var rows = results
            .GroupBy(r => int.Parse(r.Id.Split('.')[0]))
            .OrderBy(g => g.Key)
            .Select(g => new SectionRow(g.Key, SectionName(g.Key), GradeNames.All.Select(grade => g.Count(r => r.Grade == grade)).ToArray()))
            .ToList();
        return rows;
    }

    private static string SectionName(int section) => CaseRegistry.SectionNames.TryGetValue(section, out var name) ? name : "Misc";

    private static string SubSectionName(string subSection) => CaseRegistry.SubSectionNames.TryGetValue(subSection, out var name) ? name : string.Empty;

    // ------------------------------------------------------------------ Markdown

    private static string Markdown(List<CaseResult> results, List<SectionRow> rows, RunInfo info)
    {
        var md = new StringBuilder();
        md.AppendLine("# WebSocket conformance report (Autobahn|Testsuite cases)");
        md.AppendLine();
        md.AppendLine($"Generated {info.Started.UtcDateTime:yyyy-MM-dd HH:mm:ss} UTC by tests/KestrelWsTransport.Conformance against {info.Server}; " +
                      $"{results.Count} cases ran in {info.Elapsed.TotalSeconds:0.0} s. " +
                      (info.Section9Divisor == 1 ? "Section 9 ran at Autobahn's sizes." : $"Section 9 sizes are Autobahn's divided by {info.Section9Divisor}."));
        md.AppendLine();
        md.AppendLine("Grades follow Autobahn: OK, NON-STRICT (conformant, but not the preferred behavior), INFORMATIONAL (behavior the spec leaves open), " +
                      "UNIMPLEMENTED (feature not offered), FAILED. See docs/conformance.md for how the close behavior is folded into one grade.");
        md.AppendLine();
        md.AppendLine("## Summary");
        md.AppendLine();
        md.AppendLine("| Section | Name | Cases | " + string.Join(" | ", GradeNames.All.Select(g => g.Label())) + " |");
        md.AppendLine("|---|---|---:|" + string.Concat(GradeNames.All.Select(_ => "---:|")));
        foreach (var row in rows)
        {
            md.AppendLine($"| {row.Section} | {row.Name} | {row.Total} | {string.Join(" | ", row.Counts)} |");
        }

        var totals = GradeNames.All.Select((_, i) => rows.Sum(r => r.Counts[i])).ToArray();
        md.AppendLine($"| **All** | | **{totals.Sum()}** | {string.Join(" | ", totals.Select(t => $"**{t}**"))} |");
        md.AppendLine();

        var notOk = results.Where(r => r.Grade != Grade.Ok).ToList();
        md.AppendLine("## Cases that are not OK");
        md.AppendLine();
        if (notOk.Count == 0)
        {
            md.AppendLine("None.");
        }
        else
        {
            md.AppendLine("| Case | Grade | Reason |");
            md.AppendLine("|---|---|---|");
            foreach (var result in notOk)
            {
                md.AppendLine($"| {result.Id} | {result.Grade.Label()} | {Cell(result.Reason)} |");
            }
        }

        md.AppendLine();
        foreach (var section in results.GroupBy(r => int.Parse(r.Id.Split('.')[0])))
        {
            md.AppendLine($"## {section.Key} {SectionName(section.Key)}");
            md.AppendLine();
            foreach (var subSection in section.GroupBy(r => SubSectionOf(r.Id)))
            {
                if (subSection.Key.Contains('.', StringComparison.Ordinal))
                {
                    md.AppendLine($"### {subSection.Key} {SubSectionName(subSection.Key)}");
                    md.AppendLine();
                }

                md.AppendLine("| Case | Description | Grade | Expected | Observed | Duration |");
                md.AppendLine("|---|---|---|---|---|---:|");
                foreach (var result in subSection)
                {
                    var description = result.Description + (result.Note is null ? string.Empty : $" *({result.Note})*");
                    var observed = result.Observed + (result.Grade == Grade.Ok ? string.Empty : $" — {result.Reason}");
                    md.AppendLine($"| {result.Id} | {Cell(description)} | {result.Grade.Label()} | {Cell(result.Expected)} | {Cell(observed)} | {result.Duration.TotalMilliseconds:0} ms |");
                }

                md.AppendLine();
            }
        }

        return md.ToString();
    }

    /// <summary>The sub-section of a case: "6.4.3" is in "6.4"; two-part ids ("2.5") form their section's only group.</summary>
    private static string SubSectionOf(string id)
    {
        var parts = id.Split('.');
        return parts.Length >= 3 ? $"{parts[0]}.{parts[1]}" : parts[0];
    }

    private static string Cell(string text) => text.Replace("|", "\\|", StringComparison.Ordinal).Replace("\r", string.Empty, StringComparison.Ordinal).Replace("\n", "<br>", StringComparison.Ordinal);

    // ------------------------------------------------------------------ HTML

    private static string Html(List<CaseResult> results, List<SectionRow> rows, RunInfo info)
    {
        static string E(string text) => WebUtility.HtmlEncode(text);
        static string Css(Grade grade) => grade switch
        {
            Grade.Ok => "ok",
            Grade.NonStrict => "nonstrict",
            Grade.Informational => "info",
            Grade.Unimplemented => "unimpl",
            _ => "failed",
        };

        var html = new StringBuilder();
        html.AppendLine("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>WebSocket conformance report</title><style>");
        html.AppendLine("body{font-family:sans-serif;margin:2em;font-size:14px}table{border-collapse:collapse;margin-bottom:1.5em}" +
                        "td,th{border:1px solid #ccc;padding:3px 6px;vertical-align:top;text-align:left}th{background:#eee}" +
                        ".ok{background:#b9f6ca}.nonstrict{background:#fff59d}.info{background:#b3e5fc}.unimpl{background:#e0e0e0}.failed{background:#ff8a80}" +
                        "td.num{text-align:right}code,pre{font-size:12px}pre{margin:0;white-space:pre-wrap}details summary{cursor:pointer}");
        html.AppendLine("</style></head><body>");
        html.AppendLine("<h1>WebSocket conformance report (Autobahn|Testsuite cases)</h1>");
        html.AppendLine($"<p>Generated {info.Started.UtcDateTime:yyyy-MM-dd HH:mm:ss} UTC against {E(info.Server)}; {results.Count} cases in {info.Elapsed.TotalSeconds:0.0} s. " +
                        (info.Section9Divisor == 1 ? "Section 9 at Autobahn's sizes." : $"Section 9 sizes divided by {info.Section9Divisor}.") + "</p>");
        html.AppendLine("<h2>Summary</h2><table><tr><th>Section</th><th>Name</th><th>Cases</th>" + string.Concat(GradeNames.All.Select(g => $"<th class=\"{Css(g)}\">{g.Label()}</th>")) + "</tr>");
        foreach (var row in rows)
        {
            html.AppendLine($"<tr><td>{row.Section}</td><td>{E(row.Name)}</td><td class=\"num\">{row.Total}</td>" + string.Concat(row.Counts.Select(c => $"<td class=\"num\">{c}</td>")) + "</tr>");
        }

        html.AppendLine("</table>");
        foreach (var section in results.GroupBy(r => int.Parse(r.Id.Split('.')[0])))
        {
            html.AppendLine($"<h2>{section.Key} {E(SectionName(section.Key))}</h2>");
            foreach (var subSection in section.GroupBy(r => SubSectionOf(r.Id)))
            {
                if (subSection.Key.Contains('.', StringComparison.Ordinal))
                {
                    html.AppendLine($"<h3>{subSection.Key} {E(SubSectionName(subSection.Key))}</h3>");
                }

                html.AppendLine("<table><tr><th>Case</th><th>Description</th><th>Grade</th><th>Expected</th><th>Observed</th><th>Duration</th></tr>");
                foreach (var r in subSection)
                {
                    var details = $"<details><summary>details</summary><p><b>Expectation:</b> {E(r.Expectation)}</p><p><b>Behavior:</b> {E(r.Behavior)}<br><b>Closing:</b> {E(r.CloseBehavior)}</p>" +
                                  (r.WireLog.Count > 0 ? $"<pre>{E(string.Join('\n', r.WireLog))}</pre>" : string.Empty) + "</details>";
                    html.AppendLine($"<tr><td id=\"case_{r.Id.Replace('.', '_')}\">{r.Id}</td><td>{E(r.Description)}{(r.Note is null ? string.Empty : $"<br><i>{E(r.Note)}</i>")}</td>" +
                                    $"<td class=\"{Css(r.Grade)}\">{r.Grade.Label()}</td><td><code>{E(r.Expected)}</code></td>" +
                                    $"<td><code>{E(r.Observed)}</code>{(r.Grade == Grade.Ok ? string.Empty : $"<br><b>{E(r.Reason)}</b>")}{details}</td>" +
                                    $"<td class=\"num\">{r.Duration.TotalMilliseconds:0} ms</td></tr>");
                }

                html.AppendLine("</table>");
            }
        }

        html.AppendLine("</body></html>");
        return html.ToString();
    }
}
