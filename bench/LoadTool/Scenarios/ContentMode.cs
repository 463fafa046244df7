using LoadTool.Client;
using LoadTool.Content;
using LoadTool.Infrastructure;

namespace LoadTool.Scenarios;

/// <summary>
/// The options that switch the fast client to content mode: real (JSON) messages, permessage-deflate, and a check of
/// every echo. Without them the client sends one fixed payload and does not look at what comes back.
/// </summary>
internal sealed record ContentSettings(string Payload, bool Deflate, bool NoContextTakeover, int Seed)
{
    public static readonly ContentSettings None = new("fixed", false, false, 0);

    public bool Enabled => Deflate || Payload != "fixed";

    public DeflateOffer? Offer => Deflate ? new DeflateOffer(NoContextTakeover) : null;

    public void Validate(ClientKind client)
    {
        if (Payload is not ("fixed" or "json"))
        {
            throw new UsageException("--payload is fixed or json.");
        }

        if (NoContextTakeover && !Deflate)
        {
            throw new UsageException("--no-context-takeover goes with --deflate.");
        }

        if (Enabled && client != ClientKind.Fast)
        {
            throw new UsageException("--deflate and --payload json need --client fast.");
        }
    }

    /// <summary>The scenario's name in results: echo, echo-json, deflate, deflate-nct (and idle-...).</summary>
    public string Name(string scenario) => (scenario, Deflate, NoContextTakeover, Payload) switch
    {
        ("echo", true, false, _) => "deflate",
        ("echo", true, true, _) => "deflate-nct",
        (_, true, false, _) => $"{scenario}-deflate",
        (_, true, true, _) => $"{scenario}-deflate-nct",
        (_, false, _, "json") => $"{scenario}-json",
        _ => scenario,
    };

    public PayloadPool Pool(int size, bool text) =>
        Payload == "json" ? PayloadPool.Json(Seed, JsonPayloads.DefaultCount, text) : PayloadPool.Fixed(ConnectionSettings.MakePayload(size), text);

    /// <summary>
    /// Sums what the connections counted and checked. Errors: every echo that differs from what was sent and, with
    /// --deflate, a server that compressed nothing or whose compressed frames are not smaller than the payload.
    /// </summary>
    public ContentResult Collect(PayloadPool pool, IEnumerable<ILoadConnection> connections, IEnumerable<PoolContent> contents)
    {
        var stats = new WireStats();
        string? negotiated = null;
        foreach (var connection in connections.OfType<FastWsConnection>())
        {
            stats.Add(connection.Stats);
            negotiated ??= connection.Deflate?.Response;
        }

        var list = contents.ToList();
        var result = new ContentResult
        {
            Payload = pool.Description,
            Offered = Offer?.OfferHeader,
            Negotiated = negotiated,
            MessagesSent = stats.MessagesSent,
            MessagesReceived = stats.MessagesReceived,
            Verified = list.Sum(c => c.Verified),
            Mismatches = list.Sum(c => c.Mismatches),
            FirstMismatch = list.Select(c => c.FirstMismatch).FirstOrDefault(m => m is not null),
            PayloadBytesSent = stats.PayloadBytesSent,
            WireBytesSent = stats.WireBytesSent,
            PayloadBytesReceived = stats.PayloadBytesReceived,
            WireBytesReceived = stats.WireBytesReceived,
            CompressedMessagesSent = stats.CompressedMessagesSent,
            CompressedMessagesReceived = stats.CompressedMessagesReceived,
            WireRatioSent = stats.PayloadBytesSent > 0 ? Math.Round(stats.WireBytesSent / (double)stats.PayloadBytesSent, 4) : null,
            WireRatioReceived = stats.PayloadBytesReceived > 0 ? Math.Round(stats.WireBytesReceived / (double)stats.PayloadBytesReceived, 4) : null,
        };

        if (result.Mismatches > 0)
        {
            result.Problems.Add($"{result.Mismatches:N0} echoes differ from what was sent (first: {result.FirstMismatch})");
        }

        if (Deflate && stats.MessagesReceived > 0)
        {
            if (stats.CompressedMessagesReceived == 0)
            {
                result.Problems.Add("permessage-deflate was negotiated but the server compressed no message (no RSV1 seen)");
            }
            else if (stats.WireBytesReceived >= stats.PayloadBytesReceived)
            {
                result.Problems.Add($"the server's frames are not smaller than the payload ({stats.WireBytesReceived:N0} >= {stats.PayloadBytesReceived:N0} bytes)");
            }
        }

        return result;
    }
}
