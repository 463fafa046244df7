using System.Diagnostics;

namespace KestrelWsTransport.Fuzz;

/// <summary>
/// Entry point. <c>fuzz TARGET</c> runs under AFL++ (SharpFuzz persistent mode); <c>replay TARGET PATH...</c> runs
/// files or directories through the same properties without a fuzzer; <c>once TARGET FILE</c> runs one input and
/// prints the exception, if any. Every property violation throws <see cref="PropertyViolation"/>.
/// </summary>
public static class Program
{
    /// <summary>Inputs above this size are ignored: the properties are about parsing, not about throughput.</summary>
    public const int MaxInput = 64 * 1024;


    private static readonly Dictionary<string, Action<byte[]>> Targets = new(StringComparer.OrdinalIgnoreCase)
    {
        ["head"] = HeadTarget.Run,
        ["frame"] = FrameTarget.Run,
        ["utf8"] = Utf8Target.Run,
        ["extensions"] = ExtensionsTarget.Run,
    };

    public static int Main(string[] args)
    {
        // replay all [ROOT]: every target over ROOT/<target> (default: the corpus next to the sources).
        if (args is ["replay", "all", ..])
        {
            var root = args.Length > 2 ? args[2] : Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "corpus");
            var status = 0;
            foreach (var (name, run) in Targets)
            {
                status |= Replay(name, run, [Path.Combine(root, name)]);
            }

            return status;
        }

        if (args.Length < 2 || !Targets.TryGetValue(args[1], out var target))
        {
            Console.Error.WriteLine("usage: fuzz TARGET | replay TARGET PATH... | replay all [CORPUS_ROOT] | once TARGET FILE   (TARGET: head, frame, utf8, extensions)");
            return 2;
        }

        switch (args[0])
        {
            case "fuzz":
                SharpFuzz.Fuzzer.Run(stream =>
                {
                    using var memory = new MemoryStream();
                    stream.CopyTo(memory);
                    if (memory.Length <= MaxInput)
                    {
                        target(memory.ToArray());
                    }
                });
                return 0;

            case "once":
                Check.Verbose = true;
                target(File.ReadAllBytes(args[2]));
                Console.WriteLine("ok");
                return 0;

            case "replay":
                return Replay(args[1], target, args.Skip(2).ToArray());

            default:
                Console.Error.WriteLine($"unknown mode '{args[0]}'");
                return 2;
        }
    }

    private static int Replay(string name, Action<byte[]> target, string[] paths)
    {
        if (paths.Length == 0)
        {
            Console.Error.WriteLine("replay needs at least one file or directory");
            return 2;
        }

        var files = new List<string>();
        foreach (var path in paths)
        {
            if (Directory.Exists(path))
            {
                files.AddRange(Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories)
                    .Where(f => !Path.GetFileName(f).StartsWith('.') && !f.EndsWith(".txt", StringComparison.Ordinal)
                        && !f.EndsWith("README", StringComparison.Ordinal)));
            }
            else if (File.Exists(path))
            {
                files.Add(path);
            }
            else
            {
                Console.Error.WriteLine($"not found: {path}");
                return 2;
            }
        }

        files.Sort(StringComparer.Ordinal);
        var stopwatch = Stopwatch.StartNew();
        var failures = 0;
        foreach (var file in files)
        {
            var input = File.ReadAllBytes(file);
            if (input.Length > MaxInput)
            {
                continue;
            }

            try
            {
                target(input);
            }
            catch (Exception e)
            {
                failures++;
                Console.Error.WriteLine($"FAIL {file}: {e.GetType().Name}: {e.Message}");
            }
        }

        Console.WriteLine($"replay {name}: {files.Count} inputs, {failures} failures, {stopwatch.Elapsed.TotalSeconds:F2} s");
        return failures == 0 ? 0 : 1;
    }
}

