using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.WebSockets;
using System.Text;
using KestrelWsTransport.Interop.Infrastructure;

namespace KestrelWsTransport.Interop.Clients;

/// <summary>
/// System.Net.WebSockets.ClientWebSocket, in process. It can send fragments (endOfMessage: false). It has no ping API,
/// but since .NET 9 <see cref="ClientWebSocketOptions.KeepAliveTimeout"/> makes it send keep-alive pings and abort the
/// connection when the pong does not come back in time: the ping-pong row idles for several timeouts and then
/// checks the connection still echoes. On wss-h2 it connects with HttpVersion 2.0 (exact) through an HttpMessageInvoker:
/// an HTTP/2 extended CONNECT (RFC 8441), which reaches the sample's HTTP pipeline bridge.
/// </summary>
public sealed class DotNetClient : IInteropClient
{
    private static readonly TimeSpan ScenarioTimeout = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan PingInterval = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan PongTimeout = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan PingIdle = TimeSpan.FromMilliseconds(2500);

    public string Name => "dotnet-clientwebsocket";

    public IReadOnlyList<string> SupportedTransports { get; } = [Transports.Ws, Transports.Wss, Transports.WssH2];

    public string ServerFor(string transport) => transport == Transports.Ws ? InteropServers.Http : InteropServers.Https;

    public string ExpectedHandshake(string transport) => transport == Transports.WssH2 ? "HTTP/2 200" : "HTTP/1.1 101";

    public bool Supports(string scenario) => true;

    public Task EnsureAvailableAsync() => Task.CompletedTask;

    public async Task<Observation> RunAsync(SampleServer server, string transport, string scenario)
    {
        var url = new Uri(server.WebSocketBase + "/echo");
        var result = new Observation { Client = $"dotnet-clientwebsocket ({Environment.Version})", Scenario = scenario, Url = url.ToString() };
        var stopwatch = Stopwatch.StartNew();
        using var cts = new CancellationTokenSource(ScenarioTimeout);
        var ct = cts.Token;
        using var ws = new ClientWebSocket();
        ws.Options.CollectHttpResponseDetails = true;
        // Pinned to the test certificate rather than validation turned off.
        var thumbprint = InteropServers.Certificate.Thumbprint;
        RemoteCertificateValidationCallback pinned = (_, certificate, _, _) =>
            certificate is not null && string.Equals(certificate.GetCertHashString(System.Security.Cryptography.HashAlgorithmName.SHA256), thumbprint, StringComparison.OrdinalIgnoreCase);
        // HTTP/2 WebSockets need an invoker (ConnectAsync(uri, invoker, ct)); the TLS options then belong to its handler.
        using var invoker = transport == Transports.WssH2
            ? new HttpMessageInvoker(new SocketsHttpHandler { SslOptions = { RemoteCertificateValidationCallback = pinned } })
            : null;
        if (invoker is not null)
        {
            ws.Options.HttpVersion = HttpVersion.Version20;
            ws.Options.HttpVersionPolicy = HttpVersionPolicy.RequestVersionExact;
        }
        else
        {
            ws.Options.RemoteCertificateValidationCallback = pinned;
        }

        if (scenario == Scenarios.PingPong)
        {
            ws.Options.KeepAliveInterval = PingInterval;
            ws.Options.KeepAliveTimeout = PongTimeout;
            result.Note = $"keep-alive ping every {PingInterval.TotalMilliseconds} ms, pong timeout {PongTimeout.TotalMilliseconds} ms, idle {PingIdle.TotalMilliseconds} ms";
        }

        var closeStatus = WebSocketCloseStatus.NormalClosure;
        var closeReason = "done";
        try
        {
            if (invoker is not null)
            {
                await ws.ConnectAsync(url, invoker, ct);
            }
            else
            {
                await ws.ConnectAsync(url, ct);
            }

            result.Opened = true;
            result.Handshake = ws.HttpStatusCode switch
            {
                HttpStatusCode.SwitchingProtocols => "HTTP/1.1 101",
                HttpStatusCode.OK => "HTTP/2 200",
                var other => $"HTTP {(int)other}",
            };
            result.Extensions = ws.HttpResponseHeaders?.TryGetValue("Sec-WebSocket-Extensions", out var extensions) == true ? string.Join(", ", extensions) : "";

            switch (scenario)
            {
                case Scenarios.Text:
                {
                    var bytes = Encoding.UTF8.GetBytes(Scenarios.TextMessage);
                    await ws.SendAsync(bytes, WebSocketMessageType.Text, true, ct);
                    await EchoAsync(ws, bytes, WebSocketMessageType.Text, result, ct);
                    break;
                }

                case var binary when Scenarios.IsBinaryEcho(binary):
                {
                    var bytes = Scenarios.Pattern(Scenarios.BinaryLength(binary));
                    await ws.SendAsync(bytes, WebSocketMessageType.Binary, true, ct);
                    await EchoAsync(ws, bytes, WebSocketMessageType.Binary, result, ct);
                    break;
                }

                case Scenarios.FragmentedText or Scenarios.FragmentedBinary:
                {
                    var isText = scenario == Scenarios.FragmentedText;
                    var bytes = isText ? Encoding.UTF8.GetBytes(Scenarios.FragmentedTextMessage) : Scenarios.Pattern(Scenarios.FragmentedBinaryLength);
                    var splits = isText ? Scenarios.FragmentedTextSplits : Scenarios.FragmentedBinarySplits;
                    var type = isText ? WebSocketMessageType.Text : WebSocketMessageType.Binary;
                    var start = 0;
                    foreach (var end in splits.Append(bytes.Length))
                    {
                        await ws.SendAsync(bytes.AsMemory(start, end - start), type, end == bytes.Length, ct);
                        start = end;
                    }

                    await EchoAsync(ws, bytes, type, result, ct);
                    break;
                }

                case Scenarios.PingPong:
                {
                    // A receive is pending while the client pings; a pong that does not come back within the timeout
                    // aborts the socket and fails that receive.
                    var bytes = Encoding.UTF8.GetBytes("after keep-alive pings");
                    var echo = EchoAsync(ws, bytes, WebSocketMessageType.Text, new Observation(), ct);
                    await Task.Delay(PingIdle, ct);
                    if (echo.IsCompleted)
                    {
                        await echo; // surfaces the abort
                        throw new InvalidOperationException("the receive ended before anything was sent");
                    }

                    await ws.SendAsync(bytes, WebSocketMessageType.Text, true, ct);
                    await echo;
                    result.PongReceived = ws.State == WebSocketState.Open;
                    break;
                }

                case Scenarios.Close1000:
                    closeReason = Scenarios.Close1000Reason;
                    break;

                case Scenarios.Close4000:
                    closeStatus = (WebSocketCloseStatus)4000;
                    closeReason = Scenarios.Close4000Reason;
                    break;

                default:
                    throw new ArgumentOutOfRangeException(nameof(scenario), scenario, null);
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or InvalidOperationException or IOException)
        {
            result.Error = $"{ex.GetType().Name}: {ex.Message}" + (ex.InnerException is { } inner ? $" ({inner.GetType().Name}: {inner.Message})" : "");
        }

        try
        {
            if (ws.State == WebSocketState.Open)
            {
                await ws.CloseAsync(closeStatus, closeReason, ct);
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException)
        {
            result.Error ??= $"close: {ex.GetType().Name}: {ex.Message}";
        }

        if (ws.CloseStatus is { } status)
        {
            result.CloseCode = (int)status;
            result.CloseReason = ws.CloseStatusDescription;
        }
        else if (result.Opened)
        {
            result.CloseCode = 1006;
        }

        result.WasClean = ws.State == WebSocketState.Closed && ws.CloseStatus is not null;
        result.ElapsedMs = stopwatch.Elapsed.TotalMilliseconds;
        return result;
    }

    private static async Task EchoAsync(ClientWebSocket ws, byte[] sent, WebSocketMessageType type, Observation result, CancellationToken ct)
    {
        using var message = new MemoryStream();
        var buffer = new byte[1024 * 1024];
        ValueWebSocketReceiveResult received;
        do
        {
            received = await ws.ReceiveAsync(buffer.AsMemory(), ct);
            if (received.MessageType == WebSocketMessageType.Close)
            {
                throw new InvalidOperationException($"expected a message, got close {(int?)ws.CloseStatus}");
            }

            message.Write(buffer, 0, received.Count);
        }
        while (!received.EndOfMessage);

        var bytes = message.ToArray();
        result.Received.Add(Scenarios.Describe(received.MessageType == WebSocketMessageType.Text ? "text" : "binary", bytes));
        result.EchoMatches = received.MessageType == type && bytes.AsSpan().SequenceEqual(sent);
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
