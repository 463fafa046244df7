using System.Text.Json;
using KestrelWsTransport.Interop.Infrastructure;
using Microsoft.Playwright;

namespace KestrelWsTransport.Interop.Clients;

/// <summary>
/// Headless Debian Chromium (/usr/bin/chromium) driven by Playwright for .NET, whose Node driver ships in the package's
/// build output (bin/.playwright): no browser download. Every row opens the sample page from the same port, waits for
/// the page's own /echo socket (window.echoOpen), then runs browser/scenario.js in the page, which opens its own
/// <c>new WebSocket(...)</c>. Fragments and pings cannot be sent from the browser API: those rows are not generated.
/// </summary>
public sealed class ChromiumClient : IInteropClient
{
    public const string InstallMessage = "install Chromium: apt-get install -y chromium";
    private const float TimeoutMs = 20_000;

    private static readonly string[] LaunchArgs =
    [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--ignore-certificate-errors",
    ];

    private readonly SemaphoreSlim _gate = new(1, 1);
    private IPlaywright? _playwright;
    private IBrowser? _browser;
    private string? _script;

    public string Name => "chromium";

    public IReadOnlyList<string> SupportedTransports { get; } = [Transports.Ws, Transports.Wss, Transports.WssH2];

    /// <summary>
    /// wss: the HTTP/1.1-only https sample, so the page comes over HTTP/1.1 and its WebSocket is an upgrade on a new
    /// connection (the connection-level transport). wss-h2: the default https sample; the page comes over h2 and Chromium
    /// sends the page's WebSocket as an extended CONNECT on that connection (the HTTP pipeline bridge).
    /// </summary>
    public string ServerFor(string transport) => transport switch
    {
        Transports.Ws => InteropServers.Http,
        Transports.Wss => InteropServers.HttpsHttp1Only,
        _ => InteropServers.Https,
    };

    public string ExpectedHandshake(string transport) => transport == Transports.WssH2 ? "page h2" : "page http/1.1";

    /// <summary>CHROMIUM_PATH when set, else Debian's /usr/bin/chromium (installed by .ci/run).</summary>
    public static string ExecutablePath => Environment.GetEnvironmentVariable("CHROMIUM_PATH") is { Length: > 0 } path ? path : "/usr/bin/chromium";

    public bool Supports(string scenario) =>
        scenario is not (Scenarios.FragmentedText or Scenarios.FragmentedBinary or Scenarios.PingPong);

    public async Task EnsureAvailableAsync()
    {
        if (!File.Exists(ExecutablePath))
        {
            Assert.Ignore(InstallMessage);
        }

        await GetBrowserAsync();
    }

    private async Task<IBrowser> GetBrowserAsync()
    {
        await _gate.WaitAsync(TimeSpan.FromSeconds(60));
        try
        {
            if (_browser is { IsConnected: true })
            {
                return _browser;
            }

            // Nothing is ever downloaded: the browser is the system's, the driver is in bin/.playwright.
            Environment.SetEnvironmentVariable("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1");
            _playwright ??= await Playwright.CreateAsync().WaitAsync(TimeSpan.FromSeconds(60));
            // LaunchAsync gives the browser a fresh, empty --user-data-dir of its own in the temp folder and deletes it on close.
            _browser = await _playwright.Chromium.LaunchAsync(new()
            {
                ExecutablePath = ExecutablePath,
                Headless = true,
                Args = LaunchArgs,
                Timeout = 60_000,
            });
            TestContext.Progress.WriteLine($"chromium {_browser.Version} at {ExecutablePath}");
            return _browser;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>A fresh context (its own cookies, cache and connections) with the sample page loaded and its echo socket open.</summary>
    public async Task<(IBrowserContext Context, IPage Page)> OpenSamplePageAsync(SampleServer server)
    {
        var browser = await GetBrowserAsync();
        var context = await browser.NewContextAsync(new() { IgnoreHTTPSErrors = true, ViewportSize = new() { Width = 1000, Height = 900 } });
        try
        {
            context.SetDefaultTimeout(TimeoutMs);
            var page = await context.NewPageAsync();
            var response = await page.GotoAsync(new Uri(server.Url, "/").ToString(), new() { WaitUntil = WaitUntilState.Load });
            Assert.That(response?.Status, Is.EqualTo(200), $"GET / on {server.Url}");
            await page.WaitForFunctionAsync("() => window.echoOpen === true || window.echoCloseCode !== undefined");
            var closeCode = await page.EvaluateAsync<int?>("() => window.echoCloseCode ?? null");
            Assert.That(closeCode, Is.Null, $"the page's own /echo socket closed with {closeCode} instead of opening; server log:\n{server.Tail()}");
            return (context, page);
        }
        catch
        {
            await context.CloseAsync();
            throw;
        }
    }

    public async Task<Observation> RunAsync(SampleServer server, string transport, string scenario)
    {
        _script ??= LoadScript();
        var (context, page) = await OpenSamplePageAsync(server);
        try
        {
            var url = server.WebSocketBase + "/echo";
            var json = await page.EvaluateAsync<JsonElement>(_script, new { url, scenario }).WaitAsync(TimeSpan.FromSeconds(40));
            return json.Deserialize<Observation>() ?? throw new InvalidOperationException("the page returned null");
        }
        finally
        {
            await context.CloseAsync();
        }
    }

    /// <summary>browser/scenario.js (copied to bin) without its leading comment lines: one function expression.</summary>
    private static string LoadScript()
    {
        var lines = File.ReadAllLines(Path.Combine(AppContext.BaseDirectory, "browser", "scenario.js"));
        return string.Join('\n', lines.SkipWhile(l => l.StartsWith("//", StringComparison.Ordinal)));
    }

    public async ValueTask DisposeAsync()
    {
        if (_browser is not null)
        {
            await _browser.CloseAsync().WaitAsync(TimeSpan.FromSeconds(30));
        }

        _playwright?.Dispose();
        _gate.Dispose();
    }
}
