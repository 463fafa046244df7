using KestrelWsTransport.Conformance.Client;

namespace KestrelWsTransport.Conformance.Cases;

/// <summary>
/// One Autobahn fuzzingclient case: its id and texts, what it sends when the connection opens, and optionally its own
/// handling of received events and its own adjustment of the grade once the connection is gone (the hooks Autobahn's
/// case classes override: onOpen, onMessage, onConnectionLost).
/// </summary>
internal sealed class CaseDefinition
{
    public required string Id { get; init; }

    public required string Description { get; init; }

    public required string Expectation { get; init; }

    /// <summary>Sends the case's frames and sets its expectations (Autobahn's onOpen).</summary>
    public required Func<CaseRun, Task> OnOpen { get; init; }

    /// <summary>Replaces the default handling (record, then close once every expectation matches).</summary>
    public Func<CaseRun, Observed, Task>? OnEvent { get; init; }

    /// <summary>Adjusts behavior and close behavior after Autobahn's generic grading (Autobahn's onConnectionLost).</summary>
    public Action<CaseRun>? AfterConnectionLost { get; init; }

    /// <summary>How the case differs from Autobahn's, if it does (scaled sizes, ...), for the report.</summary>
    public string? Note { get; init; }

    public TimeSpan HardLimit { get; init; } = ConformanceSettings.DefaultHardLimit;

    /// <summary>permessage-deflate offers for the opening handshake (sections 12 and 13); none by default.</summary>
    public IReadOnlyList<DeflateOffer>? DeflateOffers { get; init; }

    /// <summary>The id as numbers ("6.10.2" sorts after "6.9.1").</summary>
    public int[] IdParts => Id.Split('.').Select(int.Parse).ToArray();

    public int Section => IdParts[0];

    public string SubSection => string.Join('.', Id.Split('.').Take(2));
}

/// <summary>Autobahn's expectedClose: who should start closing, acceptable close codes, and whether clean is required.</summary>
internal sealed record ExpectedClose(bool ClosedByMe, int[] CloseCodes, bool RequireClean, bool ClosedByWrongEndpointIsFatal = false)
{
    public override string ToString() =>
        $"closed by {(ClosedByMe ? "client" : "server")}, close code {string.Join(" or ", CloseCodes)} (or none), " +
        (RequireClean ? "clean close required" : "clean close not required");
}

/// <summary>Orders case ids numerically, part by part.</summary>
internal sealed class CaseIdComparer : IComparer<string>
{
    public static CaseIdComparer Instance { get; } = new();

    public int Compare(string? x, string? y)
    {
        var a = (x ?? string.Empty).Split('.');
        var b = (y ?? string.Empty).Split('.');
        for (var i = 0; i < Math.Min(a.Length, b.Length); i++)
        {
            var order = int.TryParse(a[i], out var ai) && int.TryParse(b[i], out var bi)
                ? ai.CompareTo(bi)
                : string.CompareOrdinal(a[i], b[i]);
            if (order != 0)
            {
                return order;
            }
        }

        return a.Length.CompareTo(b.Length);
    }
}
