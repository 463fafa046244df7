namespace KestrelWsTransport.Conformance.Cases;

/// <summary>What the report shows for one case.</summary>
internal sealed record CaseResult(
    string Id,
    string Description,
    string Expectation,
    Grade Grade,
    string Reason,
    string Behavior,
    string CloseBehavior,
    string Expected,
    string Observed,
    IReadOnlyList<string> WireLog,
    TimeSpan Duration,
    string? Note)
{
    public static CaseResult From(CaseRun run, TimeSpan duration)
    {
        var (grade, reason) = run.FinalGrade();
        return new CaseResult(
            run.Definition.Id,
            run.Definition.Description,
            run.Definition.Expectation,
            grade,
            reason,
            run.Behavior.Label() + ": " + run.Result,
            run.CloseBehavior.Label() + ": " + run.ResultClose,
            run.DescribeExpected(),
            run.DescribeObserved(),
            run.Client.WireLog,
            duration,
            run.Definition.Note);
    }

    public static CaseResult HandshakeFailed(CaseDefinition definition, Exception error, TimeSpan duration) => new(
        definition.Id,
        definition.Description,
        definition.Expectation,
        Grade.Failed,
        "The WebSocket opening handshake was never completed: " + error.Message,
        "FAILED",
        "FAILED: The WebSocket opening handshake was never completed!",
        "a 101 Switching Protocols answer to the upgrade request",
        error.GetType().Name + ": " + error.Message,
        [],
        duration,
        definition.Note);

    /// <summary>The text of an NUnit failure: everything needed to see what went wrong without opening the report.</summary>
    public string FailureMessage() =>
        $"Case {Id} {Grade.Label()}: {Reason}\n" +
        $"  Description: {Description}\n" +
        $"  Expectation: {Expectation}\n" +
        $"  Expected:    {Expected}\n" +
        $"  Observed:    {Observed}\n" +
        $"  Behavior:    {Behavior}\n" +
        $"  Closing:     {CloseBehavior}\n" +
        $"  Wire log:\n    {string.Join("\n    ", WireLog)}";
}
