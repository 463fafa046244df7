using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Running;

namespace KestrelWsTransport.Benchmarks;

/// <summary>
/// Entry point: <c>dotnet pwsh ./build.ps1 bench -- --filter '*'</c> (every benchmark), <c>--job short</c> for a smoke
/// run, <c>--list flat</c> to see the names. Every class reports allocations (MemoryDiagnoser). <c>--allocations</c>
/// instead breaks the echo benchmarks' allocations down by type.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "--allocations")
        {
            return AllocationProbe.Run(args);
        }

        var config = DefaultConfig.Instance
            .AddDiagnoser(MemoryDiagnoser.Default)
            .AddColumn(RankColumn.Arabic)
            .WithOptions(ConfigOptions.DisableLogFile)
            .WithArtifactsPath(Path.Combine(FindRepositoryRoot(), "artifacts", "benchmarks"));
        var summaries = BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(UndoShellGlobbing(args), config);
        return summaries.Any(s => s.HasCriticalValidationErrors || s.Reports.Any(r => !r.Success)) ? 1 : 0;
    }

    /// <summary>
    /// PowerShell on Unix expands wildcards in every argument it passes to a native program, even one that came
    /// quoted into a script: build.ps1 turns <c>--filter '*'</c> into <c>--filter artifacts bench docs ...</c> (the names
    /// in the current folder). A filter whose values are exactly the visible names of the current folder can only have
    /// come from that, so it is turned back into <c>*</c>.
    /// </summary>
    internal static string[] UndoShellGlobbing(string[] args)
    {
        var visible = Directory.EnumerateFileSystemEntries(Directory.GetCurrentDirectory())
            .Select(Path.GetFileName)
            .Where(name => name is not null && !name.StartsWith('.'))
            .ToHashSet(StringComparer.Ordinal);
        var result = new List<string>(args.Length);
        for (var i = 0; i < args.Length; i++)
        {
            result.Add(args[i]);
            if (args[i] is not ("--filter" or "-f"))
            {
                continue;
            }

            var values = args.Skip(i + 1).TakeWhile(a => !a.StartsWith('-')).ToList();
            if (values.Count > 0 && values.Count == visible.Count && values.All(visible.Contains))
            {
                result.Add("*");
                i += values.Count;
            }
        }

        return result.ToArray();
    }

    private static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "KestrelWsTransport.sln")))
            {
                return dir.FullName;
            }
        }

        return Directory.GetCurrentDirectory();
    }
}
