// Runs every file of the committed fuzz corpus through the properties the fuzzer checks, with no fuzzer and no
// SharpFuzz: a regression suite of a few seconds in the normal test command. The harness sources
// (tests/KestrelWsTransport.Fuzz: Check.cs, Segments.cs, *Target.cs) and the corpus are linked by
// KestrelWsTransport.Tests.csproj, so a new target or corpus file is picked up without touching this file. A finding
// becomes a regression by adding its minimized input to corpus/<target>/ with a name that says what it is, plus a
// focused unit test next to the parser's own tests.
using KestrelWsTransport.Fuzz;

namespace KestrelWsTransport.Tests.Fuzz;

[TestFixture]
public class FuzzCorpusTests
{
    private static readonly Dictionary<string, Action<byte[]>> Targets = new()
    {
        ["head"] = HeadTarget.Run,
        ["frame"] = FrameTarget.Run,
        ["utf8"] = Utf8Target.Run,
        ["extensions"] = ExtensionsTarget.Run,
    };

    private static string Root => Path.Combine(TestContext.CurrentContext.TestDirectory, "FuzzCorpus");

    public static IEnumerable<TestCaseData> TargetNames() => Targets.Keys.Select(t => new TestCaseData(t).SetName($"FuzzCorpus({t})"));

    [Test]
    public void EveryTargetHasACorpusAndEveryCorpusATarget()
    {
        var directories = Directory.GetDirectories(Root).Select(Path.GetFileName).Order(StringComparer.Ordinal);
        Assert.That(directories, Is.EqualTo(Targets.Keys.Order(StringComparer.Ordinal)));
    }

    /// <summary>
    /// The target's own corpus is the regression; the other targets' inputs go through it too, since its properties
    /// hold for any bytes and those inputs reach shapes its own corpus may not (a frame as a request head, a head as
    /// an extension offer).
    /// </summary>
    [TestCaseSource(nameof(TargetNames))]
    public void EveryCorpusInputSatisfiesTheTargetsProperties(string target)
    {
        var own = Inputs(target);
        Assert.That(own, Has.Count.GreaterThan(10), $"corpus/{target} was copied to the test output");

        var failures = new List<string>();
        foreach (var file in Targets.Keys.SelectMany(Inputs))
        {
            try
            {
                Targets[target](File.ReadAllBytes(file));
            }
            catch (Exception e)
            {
                failures.Add($"{Path.GetRelativePath(Root, file)}: {e.GetType().Name}: {e.Message}");
            }
        }

        Assert.That(failures, Is.Empty);
    }

    // The same files as the harness's `replay`: notes (README, *.txt, dotfiles) sit next to the inputs.
    private static List<string> Inputs(string target) =>
        Directory.EnumerateFiles(Path.Combine(Root, target), "*", SearchOption.AllDirectories)
            .Where(f => !Path.GetFileName(f).StartsWith('.') && !f.EndsWith(".txt", StringComparison.Ordinal) && !f.EndsWith("README", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal)
            .ToList();
}
