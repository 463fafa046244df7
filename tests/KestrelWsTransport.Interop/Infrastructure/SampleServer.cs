using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace KestrelWsTransport.Interop.Infrastructure;

/// <summary>
/// samples/EchoServer as its own process, the way outside tools run it: <c>dotnet EchoServer.dll --urls ... [config]</c>.
/// EchoServer.dll sits in this project's bin through the ProjectReference.
/// </summary>
public sealed partial class SampleServer : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private SampleServer(string name, Process process)
    {
        Name = name;
        _process = process;
    }

    public string Name { get; }

    /// <summary>The address the sample printed ("Now listening on: ...").</summary>
    public Uri Url { get; private set; } = null!;

    /// <summary>ws://host:port or wss://host:port for the same endpoint.</summary>
    public string WebSocketBase => (Url.Scheme == "https" ? "wss://" : "ws://") + Url.Authority;

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

    /// <summary>The last lines the sample printed, for failure messages.</summary>
    public string Tail(int lines = 30)
    {
        var all = Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        return string.Join('\n', all.Skip(Math.Max(0, all.Length - lines)));
    }

    /// <summary>Starts the sample with <paramref name="args"/> (one listening address) and waits until it listens.</summary>
    public static async Task<SampleServer> StartAsync(string name, params string[] args)
    {
        var sampleDirectory = Path.Combine(Repository.Root, "samples", "EchoServer");
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = sampleDirectory,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "EchoServer.dll"));
        start.ArgumentList.Add("--contentRoot");
        start.ArgumentList.Add(sampleDirectory);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        start.Environment.Remove("ASPNETCORE_URLS");
        start.Environment.Remove("ASPNETCORE_HTTP_PORTS");
        start.Environment.Remove("ASPNETCORE_HTTPS_PORTS");
        start.Environment["Logging__Console__FormatterName"] = "simple";
        start.Environment["Logging__Console__FormatterOptions__SingleLine"] = "true";
        // Request lines (method, protocol, status) in the output, so a failing row shows what the server saw.
        start.Environment["Logging__LogLevel__Microsoft.AspNetCore.Hosting.Diagnostics"] = "Information";

        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start the sample");
        var sample = new SampleServer(name, process);
        var ready = new TaskCompletionSource<Uri>(TaskCreationOptions.RunContinuationsAsynchronously);
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
                ready.TrySetResult(new Uri(match.Groups[1].Value.Replace("[::]", "localhost", StringComparison.Ordinal)));
            }
        }

        process.OutputDataReceived += (_, e) => OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        process.EnableRaisingEvents = true;
        process.Exited += (_, _) => ready.TrySetException(new InvalidOperationException($"The sample '{name}' exited early:\n" + sample.Output));
        if (process.HasExited)
        {
            ready.TrySetException(new InvalidOperationException($"The sample '{name}' exited early:\n" + sample.Output));
        }

        try
        {
            sample.Url = await ready.Task.WaitAsync(StartTimeout);
        }
        catch (TimeoutException)
        {
            await sample.DisposeAsync();
            throw new TimeoutException($"The sample '{name}' did not print its address within {StartTimeout.TotalSeconds} s:\n{sample.Output}");
        }
        catch
        {
            await sample.DisposeAsync();
            throw;
        }

        return sample;
    }

    [GeneratedRegex(@"Now listening on: (\S+)")]
    private static partial Regex ListeningRegex();

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(15));
            }
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
        finally
        {
            _process.Dispose();
        }
    }
}
