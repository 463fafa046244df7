using KestrelWsTransport.Conformance.Client;

namespace KestrelWsTransport.Conformance.Cases;

/// <summary>
/// Sections 12 and 13: permessage-deflate (RFC 7692). Each case offers compression in the opening handshake; if the
/// server declines, the case is UNIMPLEMENTED (as in Autobahn). Otherwise it sends compressed messages cut from a
/// test data set, one at a time, auto-fragmented as the case says, and checks every echo byte for byte.
/// Section 12 varies the data, section 13 the deflate parameters offered. The message count is Autobahn's 1000 divided
/// by 4 x <see cref="ConformanceSettings.Section9Divisor"/> (15 by default); sizes and fragment sizes are Autobahn's.
/// </summary>
internal static partial class CaseRegistry
{
    /// <summary>Autobahn's (payload length, message count, case timeout, auto-fragment size) table, shared by 12 and 13.</summary>
    private static readonly (int Length, int Count, int WaitSeconds, int AutoFragment)[] CompressionSizes =
    [
        (16, 1000, 60, 0), (64, 1000, 60, 0), (256, 1000, 120, 0), (1024, 1000, 240, 0), (4096, 1000, 480, 0),
        (8192, 1000, 480, 0), (16384, 1000, 480, 0), (32768, 1000, 480, 0), (65536, 1000, 480, 0), (131072, 1000, 480, 0),
        (8192, 1000, 480, 256), (16384, 1000, 480, 256), (32768, 1000, 480, 256), (65536, 1000, 480, 256),
        (131072, 1000, 480, 256), (131072, 1000, 480, 1024), (131072, 1000, 480, 4096), (131072, 1000, 480, 32768),
    ];

    /// <summary>Section 13's client offers, in Autobahn's order.</summary>
    private static readonly DeflateOffer[][] Section13Offers =
    [
        [new DeflateOffer()],
        [new DeflateOffer(RequestNoContextTakeover: true, RequestMaxWindowBits: 0)],
        [new DeflateOffer(RequestNoContextTakeover: false, RequestMaxWindowBits: 8)],
        [new DeflateOffer(RequestNoContextTakeover: false, RequestMaxWindowBits: 15)],
        [new DeflateOffer(RequestNoContextTakeover: true, RequestMaxWindowBits: 8)],
        [new DeflateOffer(RequestNoContextTakeover: true, RequestMaxWindowBits: 15)],
        [new DeflateOffer(RequestNoContextTakeover: true, RequestMaxWindowBits: 8), new DeflateOffer(RequestNoContextTakeover: true), new DeflateOffer()],
    ];

    private static string DataTitle(CompressionTestData data) =>
        $"{data.Description} ({(data.Binary ? "binary" : "utf8")}, {data.Size} bytes, generated)";

    private static string OffersTitle(DeflateOffer[] offers) =>
        "client offers (requestNoContextTakeover, requestMaxWindowBits): [" +
        string.Join(", ", offers.Select(o => $"({o.RequestNoContextTakeover}, {o.RequestMaxWindowBits})")) + "]";

    private static void AddCompressionSubSectionNames(Dictionary<string, string> names)
    {
        for (var j = 0; j < CompressionTestData.Section12Order.Count; j++)
        {
            names[$"12.{j + 1}"] = DataTitle(CompressionTestData.Section12Order[j]);
        }

        for (var j = 0; j < Section13Offers.Length; j++)
        {
            names[$"13.{j + 1}"] = $"{DataTitle(CompressionTestData.Json)} - {OffersTitle(Section13Offers[j])}";
        }
    }

    private static IEnumerable<CaseDefinition> Section12And13()
    {
        for (var j = 0; j < CompressionTestData.Section12Order.Count; j++)
        {
            for (var i = 0; i < CompressionSizes.Length; i++)
            {
                yield return CompressionCase($"12.{j + 1}.{i + 1}", CompressionTestData.Section12Order[j], CompressionSizes[i], [new DeflateOffer()], "Use default permessage-deflate offer.");
            }
        }

        for (var j = 0; j < Section13Offers.Length; j++)
        {
            for (var i = 0; i < CompressionSizes.Length; i++)
            {
                yield return CompressionCase($"13.{j + 1}.{i + 1}", CompressionTestData.Json, CompressionSizes[i], Section13Offers[j], $"Use permessage-deflate {OffersTitle(Section13Offers[j])}.");
            }
        }
    }

    private sealed class CompressionState
    {
        public int Pointer;
        public byte[] LastSent = [];
    }

    private static CaseDefinition CompressionCase(string id, CompressionTestData data, (int Length, int Count, int WaitSeconds, int AutoFragment) size, DeflateOffer[] offers, string offerText)
    {
        var divisor = ConformanceSettings.Section9Divisor;
        // 1000 messages per case would make these two sections take minutes of zlib work on a 2-core machine.
        var count = divisor == 1 ? size.Count : Math.Max(8, size.Count / (4 * divisor));
        double wait = divisor == 1 ? size.WaitSeconds : Math.Min(size.WaitSeconds, 20);
        var kind = data.Binary ? "binary" : "text";
        return new CaseDefinition
        {
            Id = id,
            Description = $"Send {count} compressed messages each of payload size {size.Length}, auto-fragment to {size.AutoFragment} octets. {offerText}",
            Expectation = $"Receive echo'ed messages (with payload as sent). Timeout case after {wait:0} secs.",
            DeflateOffers = offers,
            HardLimit = TimeSpan.FromSeconds(wait * 2),
            Note = (count == size.Count ? string.Empty : $"{count} messages instead of Autobahn's {size.Count} (KWS_CONFORMANCE_SCALE=1 sends all). ") +
                   "Test data generated here, not Autobahn's files.",
            OnOpen = async run =>
            {
                run.ExpectClose(true, [Normal], true);
                run.ExpectedSummary = $"permessage-deflate accepted, then {count} {kind} messages of {size.Length} bytes, each echoed equal to what was sent";
                if (run.Client.Deflate is null)
                {
                    run.Behavior = Grade.Unimplemented;
                    run.Result = $"The server did not accept the permessage-deflate offer ({DeflateOffer.HeaderValue(offers)}).";
                    await run.SendClose(Normal);
                    return;
                }

                run.Note("negotiated " + run.Client.Deflate);
                run.Result = $"Case did not finish within {wait:0} seconds.";
                run.State = new CompressionState();
                run.CloseAfter(wait);
                await SendOne(run);
            },
            OnEvent = async (run, observed) =>
            {
                if (observed.Kind != "message")
                {
                    run.Record(observed);
                    return;
                }

                run.MessagesReceived++;
                var expected = ((CompressionState)run.State!).LastSent;
                string? problem = null;
                if (observed.IsBinary != data.Binary)
                {
                    problem = $"Echo'ed message type differs from what I sent (got binary {observed.IsBinary}, expected binary {data.Binary}).";
                }
                else if (observed.Payload.Length != expected.Length)
                {
                    problem = $"Echo'ed message length differs from what I sent (got length {observed.Payload.Length}, expected length {expected.Length}).";
                }
                else if (!observed.Payload.AsSpan().SequenceEqual(expected))
                {
                    problem = $"Echo'ed message contents differs from what I sent (first difference at byte {observed.Payload.AsSpan().CommonPrefixLength(expected)}).";
                }

                if (problem is not null)
                {
                    run.Record(observed);
                    run.Behavior = Grade.Failed;
                    run.Result = $"Message {run.MessagesReceived}: {problem}";
                    await run.SendClose(Normal);
                }
                else if (run.MessagesSent < count)
                {
                    await SendOne(run);
                }
                else
                {
                    run.Behavior = Grade.Ok;
                    run.Result = "Ok, received all echo'ed messages in time.";
                    run.Note($"{run.MessagesReceived} echoes received ({run.Client.CompressedMessagesReceived} of them compressed by the server), each equal to what was sent");
                    await run.SendClose(Normal);
                }
            },
        };

        // Autobahn's sendOne: the next LEN bytes of the test data, wrapping around at its end.
        async Task SendOne(CaseRun run)
        {
            var state = (CompressionState)run.State!;
            var bytes = data.Bytes;
            var message = new byte[size.Length];
            for (var copied = 0; copied < message.Length;)
            {
                var n = Math.Min(message.Length - copied, bytes.Length - state.Pointer);
                bytes.AsSpan(state.Pointer, n).CopyTo(message.AsSpan(copied));
                copied += n;
                state.Pointer = (state.Pointer + n) % bytes.Length;
            }

            state.LastSent = message;
            run.MessagesSent++;
            await run.SendMessage(message, data.Binary, size.AutoFragment == 0 ? null : size.AutoFragment);
        }
    }
}
