namespace KestrelWsTransport.Conformance.Cases;

/// <summary>A case's outcome, with Autobahn's names.</summary>
public enum Grade
{
    Ok,
    NonStrict,
    Informational,
    Unimplemented,
    Failed,
}

/// <summary>How the connection ended (Autobahn's behaviorClose), before it is folded into the <see cref="Grade"/>.</summary>
public enum CloseBehavior
{
    Ok,
    Failed,
    Unclean,
    WrongCode,
    FailedByClient,
    Informational,
}

public static class GradeNames
{
    public static string Label(this Grade grade) => grade switch
    {
        Grade.Ok => "OK",
        Grade.NonStrict => "NON-STRICT",
        Grade.Informational => "INFORMATIONAL",
        Grade.Unimplemented => "UNIMPLEMENTED",
        _ => "FAILED",
    };

    public static string Label(this CloseBehavior behavior) => behavior switch
    {
        CloseBehavior.Ok => "OK",
        CloseBehavior.Unclean => "UNCLEAN",
        CloseBehavior.WrongCode => "WRONG CODE",
        CloseBehavior.FailedByClient => "FAILED BY CLIENT",
        CloseBehavior.Informational => "INFORMATIONAL",
        _ => "FAILED",
    };

    /// <summary>The grades in report order.</summary>
    public static IReadOnlyList<Grade> All { get; } = [Grade.Ok, Grade.NonStrict, Grade.Informational, Grade.Unimplemented, Grade.Failed];
}
