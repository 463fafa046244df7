namespace KestrelWsTransport.Interop.Infrastructure;

/// <summary>
/// The sample processes the matrix runs against, each started once, on first use, and stopped after the last test:
/// <list type="bullet">
/// <item><c>http</c>: <c>--urls http://127.0.0.1:0</c> (ws rows).</item>
/// <item><c>https</c>: <c>--urls https://127.0.0.1:0</c> with the test certificate from <c>Kestrel:Certificates:Default</c>
/// and Kestrel's default protocols (HTTP/1.1 and HTTP/2 by ALPN): wss rows of clients that upgrade over HTTP/1.1, and
/// every wss-h2 row (HTTP/2 extended CONNECT, served by the sample's HTTP pipeline bridge).</item>
/// <item><c>https-http1</c>: the same plus <c>--Kestrel:EndpointDefaults:Protocols Http1</c>: Chromium's wss rows.
/// A browser that got the page over h2 sends the page's WebSocket as an HTTP/2 extended CONNECT on that connection, so
/// this endpoint is how the browser reaches the connection-level transport over TLS.</item>
/// </list>
/// </summary>
public static class InteropServers
{
    public const string Http = "http";
    public const string Https = "https";
    public const string HttpsHttp1Only = "https-http1";

    private static readonly Lazy<TestCertificate> s_certificate = new(TestCertificate.Create);
    private static readonly Dictionary<string, Task<SampleServer>> s_servers = new();
    private static readonly Lock s_lock = new();

    public static TestCertificate Certificate => s_certificate.Value;

    public static Task<SampleServer> GetAsync(string name)
    {
        lock (s_lock)
        {
            if (!s_servers.TryGetValue(name, out var server) || server.IsFaulted || server.IsCanceled)
            {
                server = s_servers[name] = SampleServer.StartAsync(name, Arguments(name));
            }

            return server;
        }
    }

    private static string[] Arguments(string name) => name switch
    {
        Http => ["--urls", "http://127.0.0.1:0"],
        Https => ["--urls", "https://127.0.0.1:0", .. CertificateArguments()],
        HttpsHttp1Only => ["--urls", "https://127.0.0.1:0", .. CertificateArguments(), "--Kestrel:EndpointDefaults:Protocols", "Http1"],
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, null),
    };

    private static string[] CertificateArguments() =>
        ["--Kestrel:Certificates:Default:Path", Certificate.PfxPath, "--Kestrel:Certificates:Default:Password", TestCertificate.Password];

    public static async Task StopAllAsync()
    {
        Task<SampleServer>[] servers;
        lock (s_lock)
        {
            servers = [.. s_servers.Values];
            s_servers.Clear();
        }

        foreach (var server in servers)
        {
            if (server.IsCompletedSuccessfully)
            {
                var sample = server.Result;
                await sample.DisposeAsync();
                // The whole server log of the run, beside the screenshots: what each sample saw, errors included.
                var log = Path.Combine(Repository.ArtifactsDirectory, $"sample-{sample.Name}.log");
                await File.WriteAllTextAsync(log, sample.Output);
                var errors = sample.Output.Split('\n').Count(l => l.StartsWith("fail:", StringComparison.Ordinal) || l.StartsWith("crit:", StringComparison.Ordinal));
                if (errors > 0)
                {
                    TestContext.Progress.WriteLine($"WARNING: the '{sample.Name}' sample logged {errors} error(s) during the interop run; see {log}");
                }
            }
        }

        if (s_certificate.IsValueCreated)
        {
            s_certificate.Value.Dispose();
        }
    }
}
