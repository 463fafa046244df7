using KestrelWsTransport.Conformance.Client;

namespace KestrelWsTransport.Conformance;

/// <summary>
/// Timeouts and scaling of the suite. Autobahn's own timers are kept where they shape a case (the 1 s waits of 6.4.x
/// and 5.19/5.20, the quiet period before closing when nothing is expected). Timers that only fire when the server
/// misbehaves (kill-after, closing handshake, server TCP drop) are lengthened so a busy 2-core CI machine cannot turn a
/// slow-but-correct answer into a failure; a passing run never waits for them.
/// </summary>
internal static class ConformanceSettings
{
    /// <summary>Environment variable that sets the divisor for section 9's sizes (1 runs Autobahn's full sizes).</summary>
    public const string ScaleVariable = "KWS_CONFORMANCE_SCALE";

    /// <summary>The default divisor for section 9 (16 MiB becomes 1 MiB) so the section runs in seconds.</summary>
    public const int DefaultSection9Divisor = 16;

    /// <summary>Section 9's payload, fragment and chop sizes are Autobahn's divided by this.</summary>
    public static int Section9Divisor { get; } = ReadDivisor();

    public static ClientTimeouts ClientTimeouts { get; } = new(
        OpeningHandshake: TimeSpan.FromSeconds(10),
        CloseHandshake: TimeSpan.FromSeconds(3),        // Autobahn: 1 s
        ServerConnectionDrop: TimeSpan.FromSeconds(3),  // Autobahn: 1 s
        SyncDelay: TimeSpan.FromMilliseconds(2),        // Autobahn: one reactor turn
        ChopDelay: TimeSpan.FromMilliseconds(1),        // Autobahn: 10 us between chops
        MaxPausedChops: 256);                           // more chops than this go out back to back

    /// <summary>A kill-after (the case's deadline for the server to act) is at least this long.</summary>
    public static TimeSpan MinimumKillAfter { get; } = TimeSpan.FromSeconds(5);

    /// <summary>A close-after that waits for expected events (not a quiet period) is at least this long.</summary>
    public static TimeSpan MinimumCloseAfterWhenWaiting { get; } = TimeSpan.FromSeconds(5);

    /// <summary>No case may take longer than this, whatever it scheduled (then it is FAILED as hung).</summary>
    public static TimeSpan DefaultHardLimit { get; } = TimeSpan.FromSeconds(30);

    private static int ReadDivisor()
    {
        var text = Environment.GetEnvironmentVariable(ScaleVariable);
        return int.TryParse(text, out var value) && value is >= 1 and <= 1024 ? value : DefaultSection9Divisor;
    }
}
