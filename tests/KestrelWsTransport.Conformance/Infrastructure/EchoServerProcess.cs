using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;

namespace KestrelWsTransport.Conformance.Infrastructure;

/// <summary>
/// samples/EchoServer run as its own process, the way Autobahn's fuzzingclient would meet it:
/// <c>dotnet EchoServer.dll --urls http://127.0.0.1:0 --contentRoot samples/EchoServer</c>. The port is read from the
/// "Now listening on: ..." line the host prints.
/// </summary>
public sealed partial class EchoServerProcess : IAsyncDisposable
{
    private const int MaxOutputLines = 2000;

    private readonly Process _process;
    private readonly Queue<string> _output = new();

    private EchoServerProcess(Process process) => _process = process;

    /// <summary>The address the server listens on (loopback).</summary>
    public IPEndPoint EndPoint { get; private set; } = new(IPAddress.Loopback, 0);

    /// <summary>What the server printed so far (the last <see cref="MaxOutputLines"/> lines).</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return string.Join('\n', _output);
            }
        }
    }

    /// <summary>True while the process runs.</summary>
    public bool IsRunning => !_process.HasExited;

    /// <summary>The folder that holds KestrelWsTransport.sln, found by walking up from the test binaries.</summary>
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

    /// <summary>Starts the sample on an ephemeral loopback port and waits until it listens.</summary>
    public static async Task<EchoServerProcess> StartAsync(TimeSpan timeout)
    {
        var contentRoot = Path.Combine(RepositoryRoot, "samples", "EchoServer");
        var serverDll = Path.Combine(AppContext.BaseDirectory, "EchoServer.dll");
        if (!File.Exists(serverDll))
        {
            throw new FileNotFoundException("EchoServer.dll is not next to the tests; the ProjectReference should have copied it.", serverDll);
        }

        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = false,
            UseShellExecute = false,
            WorkingDirectory = contentRoot,
        };
        start.ArgumentList.Add(serverDll);
        start.ArgumentList.Add("--urls");
        start.ArgumentList.Add("http://127.0.0.1:0");
        start.ArgumentList.Add("--contentRoot");
        start.ArgumentList.Add(contentRoot);
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        start.Environment.Remove("ASPNETCORE_URLS");
        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["Logging__Console__FormatterName"] = "simple";
        start.Environment["Logging__Console__FormatterOptions__SingleLine"] = "true";

        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start the sample");
        var server = new EchoServerProcess(process);
        var ready = new TaskCompletionSource<IPEndPoint>(TaskCreationOptions.RunContinuationsAsynchronously);

        void OnLine(string? line)
        {
            if (line is null)
            {
                return;
            }

            lock (server._output)
            {
                server._output.Enqueue(line);
                while (server._output.Count > MaxOutputLines)
                {
                    server._output.Dequeue();
                }
            }

            var match = ListeningRegex().Match(line);
            if (match.Success && Uri.TryCreate(match.Groups[1].Value, UriKind.Absolute, out var uri))
            {
                ready.TrySetResult(new IPEndPoint(IPAddress.Loopback, uri.Port));
            }
        }

        process.OutputDataReceived += (_, e) => OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        process.EnableRaisingEvents = true;
        process.Exited += (_, _) => ready.TrySetException(new InvalidOperationException("The echo server exited early:\n" + server.Output));

        try
        {
            server.EndPoint = await ready.Task.WaitAsync(timeout);
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }

        return server;
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
        catch (Exception ex) when (ex is InvalidOperationException or TimeoutException)
        {
            // Already gone, or refusing to die: nothing more a test can do.
        }
        finally
        {
            _process.Dispose();
        }
    }

    /// <summary>The last <paramref name="lines"/> lines of output, for failure messages.</summary>
    public string Tail(int lines)
    {
        lock (_output)
        {
            var all = _output.ToArray();
            var builder = new StringBuilder();
            foreach (var line in all.Skip(Math.Max(0, all.Length - lines)))
            {
                builder.AppendLine(line);
            }

            return builder.ToString();
        }
    }
}
