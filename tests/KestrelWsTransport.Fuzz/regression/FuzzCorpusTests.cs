// For tests/KestrelWsTransport.Tests (not compiled in the fuzz project). Runs every file of the committed fuzz corpus
// through the same properties the fuzzer checks, with no fuzzer and no SharpFuzz: a regression suite of a few seconds.
// To adopt it, move this file to tests/KestrelWsTransport.Tests/Fuzz/ and add to KestrelWsTransport.Tests.csproj:
//
//   <ItemGroup>
//     <Compile Include="..\KestrelWsTransport.Fuzz\Check.cs;..\KestrelWsTransport.Fuzz\Segments.cs;..\KestrelWsTransport.Fuzz\*Target.cs" LinkBase="Fuzz\Harness" />
//     <None Include="..\KestrelWsTransport.Fuzz\corpus\**" LinkBase="FuzzCorpus" CopyToOutputDirectory="PreserveNewest" />
//   </ItemGroup>
//
// (The harness types are internal and live in namespace KestrelWsTransport.Fuzz; the test assembly already sees the
// library's internals.) A finding becomes a regression by adding its minimized input to corpus/<target>/ with a name
// that says what it is, plus a focused unit test next to the parser's own tests.
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

    public static IEnumerable<TestCaseData> Corpus()
    {
        var root = Path.Combine(TestContext.CurrentContext.TestDirectory, "FuzzCorpus");
        foreach (var target in Targets.Keys)
        {
            var directory = Path.Combine(root, target);
            if (Directory.Exists(directory))
            {
                yield return new TestCaseData(target, directory).SetName($"FuzzCorpus({target})");
            }
        }
    }

    [TestCaseSource(nameof(Corpus))]
    public void Every_corpus_input_satisfies_the_parser_properties(string target, string directory)
    {
        var failures = new List<string>();
        var files = Directory.GetFiles(directory);
        Assert.That(files, Is.Not.Empty);
        foreach (var file in files)
        {
            try
            {
                Targets[target](File.ReadAllBytes(file));
            }
            catch (Exception e)
            {
                failures.Add($"{Path.GetFileName(file)}: {e.GetType().Name}: {e.Message}");
            }
        }

        Assert.That(failures, Is.Empty);
    }
}
