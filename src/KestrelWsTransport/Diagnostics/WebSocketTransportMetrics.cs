using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace KestrelWsTransport.Diagnostics;

/// <summary>
/// The <c>KestrelWsTransport</c> meter. Instrument names are stable. Per-message counters take no tags, so recording
/// them allocates nothing.
/// </summary>
internal sealed class WebSocketTransportMetrics : IDisposable
{
    public const string MeterName = "KestrelWsTransport";

    private static WebSocketTransportMetrics? s_shared;

    private readonly Meter _meter;
    private readonly UpDownCounter<long> _active;
    private readonly Counter<long> _handshakes;
    private readonly Counter<long> _messagesReceived;
    private readonly Counter<long> _messagesSent;
    private readonly Counter<long> _bytesReceived;
    private readonly Counter<long> _bytesSent;
    private readonly Counter<long> _closes;
    private readonly Counter<long> _passedToHttp;
    private readonly Histogram<double> _duration;

    public WebSocketTransportMetrics(IMeterFactory? meterFactory)
    {
        _meter = meterFactory?.Create(MeterName) ?? new Meter(MeterName);
        _active = _meter.CreateUpDownCounter<long>("kestrelws.connections.active", "{connection}", "WebSockets open now.");
        _handshakes = _meter.CreateCounter<long>("kestrelws.handshakes", "{handshake}", "Upgrade requests answered, tagged result=accepted or the refusal reason (NoData: a connection closed at the handshake timeout without having sent a byte), and route.");
        _messagesReceived = _meter.CreateCounter<long>("kestrelws.messages.received", "{message}", "Data messages received.");
        _messagesSent = _meter.CreateCounter<long>("kestrelws.messages.sent", "{message}", "Data messages sent.");
        _bytesReceived = _meter.CreateCounter<long>("kestrelws.bytes.received", "By", "Payload bytes of data messages received.");
        _bytesSent = _meter.CreateCounter<long>("kestrelws.bytes.sent", "By", "Payload bytes of data messages sent.");
        _closes = _meter.CreateCounter<long>("kestrelws.closes", "{connection}", "WebSockets ended, tagged with the connection's close code (the first recorded; 1006 when none was).");
        _passedToHttp = _meter.CreateCounter<long>("kestrelws.passed_to_http", "{connection}", "Connections the sniffer handed to HTTP, tagged with the reason.");
        _duration = _meter.CreateHistogram<double>("kestrelws.connection.duration", "s", "How long WebSockets stayed open.");
    }

    /// <summary>Used when the transport is plugged in without <c>AddWebSocketTransport</c>, so there is no meter factory.</summary>
    public static WebSocketTransportMetrics Shared => LazyInitializer.EnsureInitialized(ref s_shared, () => new WebSocketTransportMetrics(null));

    public void ConnectionOpened() => _active.Add(1);

    public void ConnectionClosed(int closeCode, TimeSpan duration)
    {
        _active.Add(-1);
        // Boxing the tag costs an allocation per connection: only when someone listens.
        if (_closes.Enabled)
        {
            _closes.Add(1, new KeyValuePair<string, object?>("code", closeCode));
        }

        _duration.Record(duration.TotalSeconds);
    }

    public void Handshake(string result, string route)
    {
        if (_handshakes.Enabled)
        {
            var tags = new TagList { { "result", result }, { "route", route } };
            _handshakes.Add(1, tags);
        }
    }

    public void PassedToHttp(string reason) => _passedToHttp.Add(1, new KeyValuePair<string, object?>("reason", reason));

    // Per message: the Enabled checks are inlined field reads, where an Add without listeners is still a call.
    public void MessageReceived(long bytes)
    {
        if (_messagesReceived.Enabled)
        {
            _messagesReceived.Add(1);
        }

        if (_bytesReceived.Enabled)
        {
            _bytesReceived.Add(bytes);
        }
    }

    /// <summary>Counts the bytes of every part sent, and the message once, with its last part.</summary>
    public void DataSent(long bytes, bool endOfMessage)
    {
        if (endOfMessage && _messagesSent.Enabled)
        {
            _messagesSent.Add(1);
        }

        if (_bytesSent.Enabled)
        {
            _bytesSent.Add(bytes);
        }
    }

    public void Dispose() => _meter.Dispose();
}
