using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace KestrelWsTransport.Tests.Infrastructure;

/// <summary>
/// samples/EchoServer run as its own process, the way outside tools run it: <c>dotnet EchoServer.dll --urls ...</c>.
/// </summary>
public sealed partial class SampleProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private SampleProcess(Process process) => _process = process;

    public IReadOnlyList<Uri> Urls { get; private set; } = [];

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public static string RepositoryRoot
    {
        get
        {
            var directory = new DirectoryInfo(AppContext.BaseDirectory);
            while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "KestrelWsTransport.sln")))
            {
                directory = directory.Parent;
            }

            return directory?.FullName ?? throw new InvalidOperationException("Repository root not found above " + AppContext.BaseDirectory);
        }
    }

    /// <summary>Starts the sample and waits until it printed every address it listens on (expectedUrls of them).</summary>
    public static async Task<SampleProcess> StartAsync(int expectedUrls, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.Combine(RepositoryRoot, "samples", "EchoServer"),
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "EchoServer.dll"));
        start.ArgumentList.Add("--contentRoot");
        start.ArgumentList.Add(Path.Combine(RepositoryRoot, "samples", "EchoServer"));
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        start.Environment.Remove("ASPNETCORE_URLS");
        start.Environment["Logging__Console__FormatterName"] = "simple";
        start.Environment["Logging__Console__FormatterOptions__SingleLine"] = "true";

        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start the sample");
        var sample = new SampleProcess(process);
        var urls = new List<Uri>();
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnLine(string? line)
        {
            if (line is null)
            {
                return;
            }

            lock (sample._output)
            {
                sample._output.AppendLine(line);
            }

            var match = ListeningRegex().Match(line);
            if (match.Success)
            {
                lock (urls)
                {
                    urls.Add(new Uri(match.Groups[1].Value.Replace("[::]", "localhost", StringComparison.Ordinal)));
                    if (urls.Count == expectedUrls)
                    {
                        ready.TrySetResult();
                    }
                }
            }
        }

        process.OutputDataReceived += (_, e) => OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        process.EnableRaisingEvents = true;
        process.Exited += (_, _) => ready.TrySetException(new InvalidOperationException("The sample exited early:\n" + sample.Output));

        try
        {
            await ready.Task.WaitAsync(TimeSpan.FromSeconds(60));
        }
        catch
        {
            await sample.DisposeAsync();
            throw;
        }

        sample.Urls = urls;
        return sample;
    }

    [GeneratedRegex(@"Now listening on: (\S+)")]
    private static partial Regex ListeningRegex();

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(15));
        }

        _process.Dispose();
    }
}
