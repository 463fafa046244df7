namespace KestrelWsTransport.Fuzz;

// Shared by the harness and, linked, by tests/KestrelWsTransport.Tests (Fuzz/FuzzCorpusTests.cs): no SharpFuzz here.

/// <summary>A property of a parser does not hold for this input.</summary>
public sealed class PropertyViolation(string message) : Exception(message);

internal static class Check
{
    /// <summary>Set in <c>once</c> mode: targets print what the parser decided.</summary>
    public static bool Verbose { get; set; }

    public static void That(bool condition, string message)
    {
        if (!condition)
        {
            throw new PropertyViolation(message);
        }
    }

    public static void Equal<T>(T expected, T actual, string what)
    {
        if (!EqualityComparer<T>.Default.Equals(expected, actual))
        {
            throw new PropertyViolation($"{what}: expected {expected}, got {actual}");
        }
    }
}
