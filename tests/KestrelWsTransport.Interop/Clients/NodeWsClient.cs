using System.ComponentModel;
using System.Text.Json;
using KestrelWsTransport.Interop.Infrastructure;

namespace KestrelWsTransport.Interop.Clients;

/// <summary>
/// Node.js with the <c>ws</c> package (version pinned in node/package.json and package-lock.json): each row runs
/// <c>node node/client.js &lt;url&gt; &lt;scenario&gt; [--ca cert.pem]</c> as a process and reads its one-line JSON.
/// When node_modules is missing, the first row runs <c>npm ci</c> itself; the rows are skipped, with the command to run,
/// only when node is not on PATH or that install fails.
/// </summary>
public sealed class NodeWsClient : IInteropClient
{
    private static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(40);
    private static readonly TimeSpan InstallTimeout = TimeSpan.FromMinutes(3);
    private Task<string?>? _availability;

    public string Name => "node-ws";

    /// <summary>ws has no HTTP/2: no wss-h2 rows.</summary>
    public IReadOnlyList<string> SupportedTransports { get; } = [Transports.Ws, Transports.Wss];

    public string ServerFor(string transport) => transport == Transports.Ws ? InteropServers.Http : InteropServers.Https;

    public string ExpectedHandshake(string transport) => "HTTP/1.1 101";

    public static string Directory => Path.Combine(Repository.InteropProject, "node");

    private static string InstallCommand => $"cd {Path.GetRelativePath(Repository.Root, Directory)} && npm ci";

    public bool Supports(string scenario) => true;

    public async Task EnsureAvailableAsync()
    {
        var problem = await (_availability ??= CheckAsync());
        if (problem is not null)
        {
            Assert.Ignore(problem);
        }
    }

    /// <summary>Returns null when node and ws are ready, else why not and how to fix it.</summary>
    private static async Task<string?> CheckAsync()
    {
        try
        {
            var version = await ProcessRunner.RunAsync("node", ["--version"], Directory, TimeSpan.FromSeconds(30));
            if (version.ExitCode != 0)
            {
                return "node --version failed: " + version.Describe();
            }
        }
        catch (Win32Exception ex)
        {
            return $"Node.js is not on PATH ({ex.Message}): install Node.js 18 or later, then run: {InstallCommand}";
        }

        if (File.Exists(Path.Combine(Directory, "node_modules", "ws", "package.json")))
        {
            return null;
        }

        TestContext.Progress.WriteLine($"node_modules missing in {Directory}: running npm ci");
        try
        {
            var install = await ProcessRunner.RunAsync("npm", ["ci", "--no-audit", "--no-fund"], Directory, InstallTimeout);
            if (install.ExitCode == 0 && File.Exists(Path.Combine(Directory, "node_modules", "ws", "package.json")))
            {
                return null;
            }

            return $"npm ci failed, so the node-ws rows cannot run. Install with: {InstallCommand}\n{install.Describe()}";
        }
        catch (Win32Exception ex)
        {
            return $"npm is not on PATH ({ex.Message}). Install with: {InstallCommand}";
        }
    }

    public async Task<Observation> RunAsync(SampleServer server, string transport, string scenario)
    {
        var url = server.WebSocketBase + "/echo";
        List<string> arguments = [Path.Combine(Directory, "client.js"), url, scenario];
        if (url.StartsWith("wss:", StringComparison.Ordinal))
        {
            // node validates the chain and the IP SAN against the test certificate as its only CA.
            arguments.AddRange(["--ca", InteropServers.Certificate.PemPath]);
        }

        var run = await ProcessRunner.RunAsync("node", arguments, Directory, RunTimeout);
        var line = run.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault();
        if (run.TimedOut || line is null || !line.StartsWith('{'))
        {
            return new Observation { Client = Name, Scenario = scenario, Url = url, Error = "client.js gave no JSON result: " + run.Describe() };
        }

        var observation = JsonSerializer.Deserialize<Observation>(line) ?? throw new InvalidOperationException("null JSON from client.js");
        if (run.ExitCode != 0 || run.StandardError.Length > 0)
        {
            observation.Note = $"{observation.Note} exit code {run.ExitCode}; stderr: {run.StandardError}".Trim();
        }

        return observation;
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
