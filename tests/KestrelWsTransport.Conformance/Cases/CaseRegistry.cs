using System.Text;

namespace KestrelWsTransport.Conformance.Cases;

/// <summary>
/// Every case the suite runs, in Autobahn's numbering. The inputs and expected outcomes follow the public
/// Autobahn|Testsuite fuzzingclient case definitions (crossbario/autobahn-testsuite, autobahntestsuite/case/);
/// the code is ours.
/// </summary>
internal static partial class CaseRegistry
{
    public const int Normal = 1000;
    public const int GoingAway = 1001;
    public const int ProtocolError = 1002;
    public const int InvalidPayload = 1007;

    private static readonly Lazy<IReadOnlyList<CaseDefinition>> Cases = new(Build);

    public static IReadOnlyList<CaseDefinition> All => Cases.Value;

    public static CaseDefinition Get(string id) => All.FirstOrDefault(c => c.Id == id)
        ?? throw new ArgumentException($"No case {id}", nameof(id));

    /// <summary>Autobahn's section names.</summary>
    public static IReadOnlyDictionary<int, string> SectionNames { get; } = new Dictionary<int, string>
    {
        [1] = "Framing",
        [2] = "Pings/Pongs",
        [3] = "Reserved Bits",
        [4] = "Opcodes",
        [5] = "Fragmentation",
        [6] = "UTF-8 Handling",
        [7] = "Close Handling",
        [9] = "Limits/Performance",
        [10] = "Misc",
        [12] = "WebSocket Compression (different payloads)",
        [13] = "WebSocket Compression (different parameters)",
    };

    /// <summary>Autobahn's sub-section names (6.5 to 6.23 come from the UTF-8 tables).</summary>
    /// <remarks>Lazy, like <see cref="All"/>: static fields of the other parts of this partial class may not be set yet.</remarks>
    public static IReadOnlyDictionary<string, string> SubSectionNames => SubSections.Value;

    private static readonly Lazy<IReadOnlyDictionary<string, string>> SubSections = new(BuildSubSectionNames);

    private static IReadOnlyList<CaseDefinition> Build()
    {
        var all = new List<CaseDefinition>();
        all.AddRange(Section1());
        all.AddRange(Section2());
        all.AddRange(Section3());
        all.AddRange(Section4());
        all.AddRange(Section5());
        all.AddRange(Section6());
        all.AddRange(Section7());
        all.AddRange(Section9());
        all.AddRange(Section10());
        all.AddRange(Section12And13());
        all.Sort((a, b) => CaseIdComparer.Instance.Compare(a.Id, b.Id));

        var duplicate = all.GroupBy(c => c.Id).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
        {
            throw new InvalidOperationException($"Case {duplicate.Key} is defined twice");
        }

        return all;
    }

    private static Dictionary<string, string> BuildSubSectionNames()
    {
        var names = new Dictionary<string, string>
        {
            ["1.1"] = "Text Messages",
            ["1.2"] = "Binary Messages",
            ["4.1"] = "Non-control Opcodes",
            ["4.2"] = "Control Opcodes",
            ["6.1"] = "Valid UTF-8 with zero payload fragments",
            ["6.2"] = "Valid UTF-8 unfragmented, fragmented on code-points and within code-points",
            ["6.3"] = "Invalid UTF-8 differently fragmented",
            ["6.4"] = "Fail-fast on invalid UTF-8",
            ["7.1"] = "Basic close behavior (fuzzer initiated)",
            ["7.3"] = "Close frame structure: payload length (fuzzer initiated)",
            ["7.5"] = "Close frame structure: payload value (fuzzer initiated)",
            ["7.7"] = "Close frame structure: valid close codes (fuzzer initiated)",
            ["7.9"] = "Close frame structure: invalid close codes (fuzzer initiated)",
            ["7.13"] = "Informational close information (fuzzer initiated)",
            ["9.1"] = "Text Message (increasing size)",
            ["9.2"] = "Binary Message (increasing size)",
            ["9.3"] = "Fragmented Text Message (fixed size, increasing fragment size)",
            ["9.4"] = "Fragmented Binary Message (fixed size, increasing fragment size)",
            ["9.5"] = "Text Message (fixed size, increasing chop size)",
            ["9.6"] = "Binary Text Message (fixed size, increasing chop size)",
            ["9.7"] = "Text Message Roundtrip Time (fixed number, increasing size)",
            ["9.8"] = "Binary Message Roundtrip Time (fixed number, increasing size)",
            ["10.1"] = "Auto-Fragmentation",
        };

        AddCompressionSubSectionNames(names);
        var index = Utf8TestSequences.FirstSubSection;
        foreach (var (title, _) in Utf8TestSequences.Groups)
        {
            names[$"6.{index++}"] = title;
        }

        return names;
    }

    // ------------------------------------------------------------------ helpers for the case tables

    private static CaseDefinition Case(string id, string description, string expectation, Func<CaseRun, Task> onOpen, string? note = null) => new()
    {
        Id = id,
        Description = description,
        Expectation = expectation,
        OnOpen = onOpen,
        Note = note,
    };

    private static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);

    private static byte[] Filled(byte value, int count)
    {
        var bytes = new byte[count];
        Array.Fill(bytes, value);
        return bytes;
    }

    private static byte[] Hex(string hex) => Convert.FromHexString(hex.Replace(" ", string.Empty, StringComparison.Ordinal));

    private static string Size(long bytes) => bytes switch
    {
        >= 1 << 20 when bytes % (1 << 20) == 0 => $"{bytes >> 20} MiB",
        >= 1 << 10 when bytes % (1 << 10) == 0 => $"{bytes >> 10} KiB",
        _ => $"{bytes} bytes",
    };
}
