using KestrelWsTransport.Interop.Infrastructure;

namespace KestrelWsTransport.Interop.Clients;

/// <summary>A WebSocket client nobody here wrote, driven through the scenario list.</summary>
public interface IInteropClient : IAsyncDisposable
{
    /// <summary>The row name: dotnet-clientwebsocket, node-ws, chromium.</summary>
    string Name { get; }

    /// <summary>The transports (<see cref="Transports"/>) this client has rows for.</summary>
    IReadOnlyList<string> SupportedTransports { get; }

    /// <summary>Whether the client's API can express the scenario at all (rows it cannot are not generated).</summary>
    bool Supports(string scenario);

    /// <summary>Which sample (<see cref="InteropServers"/>) serves this client's rows on <paramref name="transport"/>.</summary>
    string ServerFor(string transport);

    /// <summary>How the client must have connected on <paramref name="transport"/> (<see cref="Observation.Handshake"/>), so no row is silently downgraded.</summary>
    string ExpectedHandshake(string transport);

    /// <summary>Checks that the client can run here (installs what it can); calls Assert.Ignore with the fix when it cannot.</summary>
    Task EnsureAvailableAsync();

    /// <summary>Runs one scenario against <c>/echo</c> of <paramref name="server"/>; never throws for a protocol failure: it is in the observation.</summary>
    Task<Observation> RunAsync(SampleServer server, string transport, string scenario);
}

/// <summary>The transport column of the matrix.</summary>
public static class Transports
{
    /// <summary>Plain ws:// on the http sample: an HTTP/1.1 upgrade, served by the connection-level transport.</summary>
    public const string Ws = "ws";

    /// <summary>wss:// as an HTTP/1.1 upgrade after TLS, served by the connection-level transport.</summary>
    public const string Wss = "wss";

    /// <summary>
    /// wss:// as an HTTP/2 extended CONNECT (RFC 8441) on the sample's default https endpoint (HTTP/1.1 and HTTP/2 by
    /// ALPN), served by the HTTP pipeline bridge (<c>app.UseWebSocketTransport()</c> in the sample). Only clients that can
    /// speak it: ClientWebSocket with HttpVersion 2.0, and Chromium, which does so by itself for a page loaded over h2.
    /// </summary>
    public const string WssH2 = "wss-h2";
}
