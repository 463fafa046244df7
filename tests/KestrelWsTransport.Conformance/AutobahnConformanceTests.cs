using System.Collections.Concurrent;
using KestrelWsTransport.Conformance.Cases;
using KestrelWsTransport.Conformance.Infrastructure;
using KestrelWsTransport.Conformance.Reporting;

namespace KestrelWsTransport.Conformance;

/// <summary>
/// Autobahn|Testsuite's fuzzingclient cases (sections 1-7, 9, 10, 12, 13) against samples/EchoServer, one NUnit test per case id.
/// OK, NON-STRICT, INFORMATIONAL and UNIMPLEMENTED pass; FAILED fails with what was expected and what happened.
/// The cases run one after another, each on a fresh connection to one server process; the report goes to
/// artifacts/conformance/index.md and index.html.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class AutobahnConformanceTests
{
    private static readonly ConcurrentDictionary<string, CaseResult> Results = new();
    private EchoServerProcess? _server;
    private DateTimeOffset _started;

    /// <summary>The case ids, in Autobahn's order.</summary>
    public static IEnumerable<string> CaseIds => CaseRegistry.All.Select(c => c.Id);

    [OneTimeSetUp]
    public async Task StartServerAsync()
    {
        _started = DateTimeOffset.UtcNow;
        Results.Clear();
        _server = await EchoServerProcess.StartAsync(TimeSpan.FromSeconds(60));
        TestContext.Progress.WriteLine($"EchoServer listening on {_server.EndPoint}; section 9 divisor {ConformanceSettings.Section9Divisor}");
    }

    [OneTimeTearDown]
    public async Task StopServerAndWriteReportAsync()
    {
        var server = _server?.EndPoint.ToString() ?? "(not started)";
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        if (Results.IsEmpty)
        {
            return;
        }

        var directory = Path.Combine(EchoServerProcess.RepositoryRoot, "artifacts", "conformance");
        var info = new ConformanceReport.RunInfo(_started, DateTimeOffset.UtcNow - _started, $"samples/EchoServer /echo at ws://{server}", ConformanceSettings.Section9Divisor);
        var (markdown, _) = ConformanceReport.Write(directory, Results.Values.ToList(), info);
        var counts = string.Join(", ", GradeNames.All.Select(g => $"{Results.Values.Count(r => r.Grade == g)} {g.Label()}"));
        TestContext.Progress.WriteLine($"Conformance report: {markdown} ({counts})");
    }

    [TestCaseSource(nameof(CaseIds))]
    public async Task Case(string id)
    {
        var definition = CaseRegistry.Get(id);
        Assert.That(_server, Is.Not.Null, "the echo server did not start");
        Assert.That(_server!.IsRunning, Is.True, "the echo server exited:\n" + _server.Tail(40));

        var result = await CaseRun.ExecuteAsync(definition, _server.EndPoint);
        Results[id] = result;

        TestContext.Out.WriteLine($"{result.Grade.Label()} in {result.Duration.TotalMilliseconds:0} ms: {result.Reason}");
        TestContext.Out.WriteLine($"Expected: {result.Expected}");
        TestContext.Out.WriteLine($"Observed: {result.Observed}");
        if (result.Grade == Grade.Failed)
        {
            Assert.Fail(result.FailureMessage() + "\n  Server output (tail):\n" + _server.Tail(15));
        }
    }
}
