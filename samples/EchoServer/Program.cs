using EchoServer;
using KestrelWsTransport;

var builder = WebApplication.CreateBuilder(args);

var chat = new ChatRoom();
builder.Services.AddSingleton(chat);
// permessage-deflate on /echo, so compression clients and suites can exercise it; `--EchoServer:Compression false`
// turns it off.
var compressEcho = builder.Configuration.GetValue("EchoServer:Compression", true);
builder.Services.AddWebSocketTransport(builder.Configuration.GetSection("WebSocketTransport"), ws => ws
    .Map("/echo", Echo.RunAsync, e => e.Compression = new WebSocketCompressionOptions { Enabled = compressEcho })
    .Map("/chat", chat.RunAsync));

// Every configured address (--urls, ASPNETCORE_URLS, Kestrel:Endpoints, https with the certificate from
// Kestrel:Certificates:Default) serves the page over HTTP and WebSockets at connection level, on the same port.
builder.WebHost.UseWebSocketTransport();

var app = builder.Build();

// WebSockets that arrive through HTTP reach the same handlers: HTTP/2 extended CONNECT (browsers that loaded the page
// over https with HTTP/2 send their WebSocket that way) and upgrades on keep-alive connections already given to HTTP.
app.UseWebSocketTransport();
app.UseDefaultFiles();
app.UseStaticFiles();
app.MapGet("/health", () => Results.Text("ok"));
app.Run();

/// <summary>Lets tests start the sample with WebApplicationFactory-style access.</summary>
public partial class Program;
