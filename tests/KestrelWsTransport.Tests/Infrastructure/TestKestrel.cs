using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace KestrelWsTransport.Tests.Infrastructure;

/// <summary>A real Kestrel on a random loopback port, built the way users build one.</summary>
public sealed class TestKestrel : IAsyncDisposable
{
    private readonly WebApplication _app;

    private TestKestrel(WebApplication app, CapturingLoggerProvider logs)
    {
        _app = app;
        Logs = logs;
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
        Addresses = addresses.ToArray();
        Port = new Uri(Addresses[0].Replace("[::]", "localhost", StringComparison.Ordinal)).Port;
    }

    public CapturingLoggerProvider Logs { get; }

    public IReadOnlyList<string> Addresses { get; }

    public int Port { get; }

    public IServiceProvider Services => _app.Services;

    public Uri Http(string path = "/") => new($"http://127.0.0.1:{Port}{path}");

    public Uri Https(string path = "/") => new($"https://localhost:{Port}{path}");

    public Uri Ws(string path = "/echo") => new($"ws://127.0.0.1:{Port}{path}");

    public Uri Wss(string path = "/echo") => new($"wss://localhost:{Port}{path}");

    /// <summary>
    /// Starts Kestrel with <paramref name="listen"/> deciding the endpoints (use port 0). The HTTP pipeline answers
    /// <c>GET /</c> and <c>GET /echo</c> (a plain GET on the WebSocket path) so tests can tell HTTP apart.
    /// </summary>
    public static async Task<TestKestrel> StartAsync(
        Action<KestrelServerOptions> listen,
        Action<WebSocketTransportOptions>? transport = null,
        Action<IServiceCollection>? services = null,
        Action<WebApplication>? app = null,
        TimeSpan? shutdownTimeout = null)
    {
        // An empty content root: the sample's appsettings.json is copied next to the tests and must not set log levels here.
        var contentRoot = Path.Combine(AppContext.BaseDirectory, "testhost-root");
        Directory.CreateDirectory(contentRoot);
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = [], EnvironmentName = "Testing", ContentRootPath = contentRoot });
        var logs = new CapturingLoggerProvider();
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Debug);
        builder.Logging.AddProvider(logs);
        builder.Services.AddWebSocketTransport(o =>
        {
            o.Map("/echo", EchoAsync);
            transport?.Invoke(o);
        });
        services?.Invoke(builder.Services);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = shutdownTimeout ?? TimeSpan.FromSeconds(10));
        builder.WebHost.ConfigureKestrel(listen);

        var application = builder.Build();
        application.UseWebSocketTransport();
        application.MapGet("/", (HttpContext c) => $"hello over HTTP/{c.Request.Protocol}");
        application.MapGet("/echo", () => "plain GET on the WebSocket path");
        app?.Invoke(application);
        await application.StartAsync();
        return new TestKestrel(application, logs);
    }

    /// <summary>Starts Kestrel with one loopback endpoint that runs the transport in front of HTTP.</summary>
    public static Task<TestKestrel> StartWithTransportAsync(
        Action<WebSocketTransportOptions>? transport = null,
        HttpProtocols protocols = HttpProtocols.Http1AndHttp2,
        TimeSpan? shutdownTimeout = null,
        Action<WebApplication>? app = null) =>
        StartAsync(k => k.Listen(IPAddress.Loopback, 0, lo =>
        {
            lo.Protocols = protocols;
            lo.UseWebSocketTransport();
        }), transport, shutdownTimeout: shutdownTimeout, app: app);

    public static async Task EchoAsync(WebSocketConnection connection, CancellationToken cancellationToken)
    {
        while (true)
        {
            var message = await connection.ReceiveAsync(cancellationToken);
            if (message.IsClose)
            {
                return;
            }

            await connection.SendAsync(message.Payload, message.MessageType, true, cancellationToken);
        }
    }

    public Task StopAsync() => _app.StopAsync();

    public async ValueTask DisposeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        try
        {
            await _app.StopAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
        }

        await _app.DisposeAsync();
    }
}
