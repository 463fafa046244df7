using KestrelWsTransport.Interop.Clients;
using KestrelWsTransport.Interop.Infrastructure;

namespace KestrelWsTransport.Interop;

/// <summary>Starts nothing up front (servers and clients start on first use); stops everything after the last test.</summary>
[SetUpFixture]
public sealed class InteropSetUp
{
    public static readonly IReadOnlyDictionary<string, IInteropClient> Clients = new IInteropClient[]
    {
        new DotNetClient(),
        new NodeWsClient(),
        new ChromiumClient(),
    }.ToDictionary(c => c.Name);

    public static string ObservationsPath => Path.Combine(Repository.ArtifactsDirectory, "observations.jsonl");

    [OneTimeSetUp]
    public void StartRun() => File.WriteAllText(ObservationsPath, "");

    [OneTimeTearDown]
    public async Task StopAll()
    {
        foreach (var client in Clients.Values)
        {
            try
            {
                await client.DisposeAsync();
            }
            catch (Exception ex)
            {
                TestContext.Progress.WriteLine($"disposing {client.Name}: {ex.Message}");
            }
        }

        await InteropServers.StopAllAsync();
    }
}
