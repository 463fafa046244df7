using System.Buffers;
using System.Net;
using System.Net.WebSockets;
using Microsoft.AspNetCore.Connections;

// The servers KestrelWsTransport is measured against, on the same Kestrel, with the same hosting defaults as
// samples/EchoServer (WebApplication, Server GC from the Web SDK, the same logging levels):
//
//   dotnet Peers.dll middleware --urls http://127.0.0.1:5102   ASP.NET Core's WebSockets middleware, /echo
//   dotnet Peers.dll raw        --urls http://127.0.0.1:5103   a ConnectionHandler that copies input to output
//
// middleware options: --buffer BYTES (receive buffer, default 4096); --compression true (accept permessage-deflate
// offers: WebSocketAcceptContext.DangerousEnableCompression, off by default); --server-context-takeover false (with
// --compression: DisableServerContextTakeover, answer server_no_context_takeover to every offer; a client that offers
// server_no_context_takeover gets it either way).
//
// The raw echo speaks no protocol at all: it is the ceiling for any server on Kestrel's transport.
if (args.Length == 0 || args[0] is not ("middleware" or "raw"))
{
    Console.Error.WriteLine("usage: Peers middleware|raw --urls http://127.0.0.1:PORT [--buffer BYTES] [--compression true [--server-context-takeover false]]");
    return 2;
}

var mode = args[0];
var builder = WebApplication.CreateBuilder(args[1..]);
if (mode == "raw")
{
    // Take the --urls addresses over with the raw handler (a ConnectionHandler is terminal: no HTTP behind it).
    var urls = (builder.Configuration["urls"] ?? "http://127.0.0.1:5000").Split(';', StringSplitOptions.RemoveEmptyEntries);
    builder.WebHost.UseUrls();
    builder.WebHost.ConfigureKestrel(kestrel =>
    {
        foreach (var url in urls)
        {
            var uri = new Uri(url.Replace("localhost", "127.0.0.1", StringComparison.OrdinalIgnoreCase));
            kestrel.Listen(IPAddress.Parse(uri.Host), uri.Port, listen => listen.UseConnectionHandler<RawEchoHandler>());
        }
    });
    var raw = builder.Build();
    raw.Run();
    return 0;
}

// The receive buffer an application typically gives ManagedWebSocket (it holds it for the connection's life).
var bufferSize = int.TryParse(builder.Configuration["buffer"], out var b) && b > 0 ? b : 4096;
var acceptContext = new WebSocketAcceptContext
{
    // The runtime's permessage-deflate (zlib level 6, memLevel 8, 15-bit window: the same as KestrelWsTransport's
    // defaults), used only when the client offers it.
    DangerousEnableCompression = builder.Configuration.GetValue("compression", false),
    DisableServerContextTakeover = !builder.Configuration.GetValue("server-context-takeover", true),
};
var app = builder.Build();
app.UseWebSockets(new WebSocketOptions { KeepAliveInterval = TimeSpan.FromSeconds(30) });
app.Map("/echo", async context =>
{
    if (!context.WebSockets.IsWebSocketRequest)
    {
        context.Response.StatusCode = StatusCodes.Status400BadRequest;
        return;
    }

    using var socket = await context.WebSockets.AcceptWebSocketAsync(acceptContext);
    var buffer = new byte[bufferSize];
    var aborted = context.RequestAborted;
    try
    {
        while (true)
        {
            // The usual echo loop: each piece the receive returns goes straight back, same type, same end-of-message.
            var result = await socket.ReceiveAsync(buffer.AsMemory(), aborted);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                await socket.CloseAsync(socket.CloseStatus ?? WebSocketCloseStatus.NormalClosure, socket.CloseStatusDescription, aborted);
                return;
            }

            await socket.SendAsync(buffer.AsMemory(0, result.Count), result.MessageType, result.EndOfMessage, aborted);
        }
    }
    catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or ConnectionResetException)
    {
        // The client went away without a close handshake.
    }
});
app.MapGet("/health", () => "ok");
app.Run();
return 0;

/// <summary>Copies every byte read back to the writer, one flush per read: the ceiling for anything on Kestrel.</summary>
internal sealed class RawEchoHandler : ConnectionHandler
{
    public override async Task OnConnectedAsync(ConnectionContext connection)
    {
        var input = connection.Transport.Input;
        var output = connection.Transport.Output;
        try
        {
            while (true)
            {
                var read = await input.ReadAsync();
                var buffer = read.Buffer;
                foreach (var segment in buffer)
                {
                    output.Write(segment.Span);
                }

                input.AdvanceTo(buffer.End);
                if (!buffer.IsEmpty && (await output.FlushAsync()).IsCompleted)
                {
                    break;
                }

                if (read.IsCompleted || read.IsCanceled)
                {
                    break;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or ConnectionResetException or ConnectionAbortedException)
        {
            // The client reset the connection.
        }
    }
}
