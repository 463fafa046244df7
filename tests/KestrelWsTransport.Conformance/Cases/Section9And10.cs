using KestrelWsTransport.Conformance.Client;
using static KestrelWsTransport.Conformance.Client.FrameEncoder;

namespace KestrelWsTransport.Conformance.Cases;

/// <summary>
/// Section 9 (limits/performance: large, fragmented and chopped messages, round trips) and section 10 (auto-fragmentation).
/// Section 9's sizes are Autobahn's divided by <see cref="ConformanceSettings.Section9Divisor"/> (16 by default, so
/// 16 MiB becomes 1 MiB and the section takes seconds); the number of frames and chops per message stays Autobahn's.
/// </summary>
internal static partial class CaseRegistry
{
    private static IEnumerable<CaseDefinition> Section9()
    {
        var divisor = ConformanceSettings.Section9Divisor;
        var scaled = divisor == 1 ? null : $"Sizes scaled down by {divisor} (KWS_CONFORMANCE_SCALE=1 runs Autobahn's sizes).";
        var wait = divisor == 1 ? 100.0 : 20.0;
        var hardLimit = TimeSpan.FromSeconds(wait * 2);
        var textPattern = "BAsd7&jh23"u8.ToArray();
        byte[] binaryPattern = [0x00, 0xFE, 0x23, 0xFA, 0xF0];

        // 9.1 / 9.2: one message of increasing size
        int[] messageSizes = [64 << 10, 256 << 10, 1 << 20, 4 << 20, 8 << 20, 16 << 20];
        foreach (var binary in new[] { false, true })
        {
            for (var i = 0; i < messageSizes.Length; i++)
            {
                var length = messageSizes[i] / divisor;
                var payload = Repeat(binary ? binaryPattern : textPattern, length);
                yield return LargeMessageCase($"9.{(binary ? 2 : 1)}.{i + 1}", $"Send {Kind(binary)} message with payload of length {Size(length)} (Autobahn: {Size(messageSizes[i])}).", payload, binary, run => run.SendFrame(binary ? Binary : Text, payload));
            }
        }

        // 9.3 / 9.4: a 4 MiB message in fragments of increasing size
        int[] fragmentSizes = [64, 256, 1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20];
        foreach (var binary in new[] { false, true })
        {
            var length = (4 << 20) / divisor;
            var payload = binary ? Filled(0xFE, length) : Filled((byte)'*', length);
            for (var i = 0; i < fragmentSizes.Length; i++)
            {
                var fragment = Math.Max(1, fragmentSizes[i] / divisor);
                yield return LargeMessageCase(
                    $"9.{(binary ? 4 : 3)}.{i + 1}",
                    $"Send fragmented {Kind(binary)} message with message payload of length {Size(length)}, sent out in fragments of {Size(fragment)} (Autobahn: 4 MiB in fragments of {Size(fragmentSizes[i])}).",
                    payload,
                    binary,
                    run => run.SendMessage(payload, binary, fragment));
            }
        }

        // 9.5 / 9.6: a 1 MiB message in one frame, written in chops of increasing size
        int[] chopSizes = [64, 128, 256, 512, 1024, 2048];
        foreach (var binary in new[] { false, true })
        {
            var length = (1 << 20) / divisor;
            var payload = Repeat(binary ? binaryPattern : textPattern, length);
            for (var i = 0; i < chopSizes.Length; i++)
            {
                var chop = Math.Max(1, chopSizes[i] / divisor);
                yield return LargeMessageCase(
                    $"9.{(binary ? 6 : 5)}.{i + 1}",
                    $"Send {Kind(binary)} message with payload of length {Size(length)}, sent out in chops of {chop} octets (Autobahn: 1 MiB in chops of {chopSizes[i]}).",
                    payload,
                    binary,
                    run => run.SendFrame(binary ? Binary : Text, payload, chop: chop));
            }
        }

        // 9.7 / 9.8: 1000 round trips, one message at a time (not scaled: the messages are small)
        (int Length, int Count)[] roundTrips = [(0, 1000), (16, 1000), (64, 1000), (256, 1000), (1024, 1000), (4096, 1000)];
        foreach (var binary in new[] { false, true })
        {
            for (var i = 0; i < roundTrips.Length; i++)
            {
                var (length, count) = roundTrips[i];
                yield return RoundTripCase($"9.{(binary ? 8 : 7)}.{i + 1}", binary, length, count);
            }
        }

        yield break;

        static string Kind(bool binary) => binary ? "binary" : "text";

        CaseDefinition LargeMessageCase(string id, string description, byte[] payload, bool binary, Func<CaseRun, Task> send) => new()
        {
            Id = id,
            Description = description,
            Expectation = $"Receive echo'ed {Kind(binary)} message (with payload as sent).",
            Note = scaled,
            HardLimit = hardLimit,
            OnOpen = async run =>
            {
                run.ExpectedSummary = $"one {Kind(binary)} message of {payload.Length} bytes equal to what was sent";
                run.ExpectClose(true, [Normal], true);
                run.Result = $"Did not receive message within {wait:0} seconds.";
                await send(run);
                run.CloseAfter(wait);
            },
            OnEvent = async (run, observed) =>
            {
                run.Record(observed);
                if (observed.Kind != "message")
                {
                    return;
                }

                if (observed.IsBinary != binary)
                {
                    run.Result = $"Expected {Kind(binary)} message with payload, but got {Kind(observed.IsBinary)}.";
                }
                else if (observed.Payload.Length != payload.Length)
                {
                    run.Result = $"Expected {Kind(binary)} message with payload of length {payload.Length}, but got {observed.Payload.Length}.";
                }
                else if (!observed.Payload.AsSpan().SequenceEqual(payload))
                {
                    // Autobahn only checks the length (its FIXME); we check the bytes too.
                    var at = observed.Payload.AsSpan().CommonPrefixLength(payload);
                    run.Result = $"Echo'ed payload differs from what was sent at byte {at}.";
                }
                else
                {
                    run.Behavior = Grade.Ok;
                    run.Result = $"Received {Kind(binary)} message of length {observed.Payload.Length} in {observed.Frames} frame(s).";
                }

                await run.SendClose(Normal);
            },
        };

        CaseDefinition RoundTripCase(string id, bool binary, int length, int count)
        {
            var payload = binary ? Filled(0xFE, length) : Filled((byte)'*', length);
            return new CaseDefinition
            {
                Id = id,
                Description = $"Send {count} {Kind(binary)} messages of payload size {length} to measure implementation/network RTT (round trip time) / latency.",
                Expectation = $"Receive echo'ed {Kind(binary)} messages (with payload as sent). Timeout case after {wait:0} secs.",
                HardLimit = hardLimit,
                OnOpen = async run =>
                {
                    run.ExpectedSummary = $"{count} {Kind(binary)} messages of {length} bytes, each echoed before the next is sent";
                    run.ExpectClose(true, [Normal], true);
                    run.Result = $"Case did not finish within {wait:0} seconds.";
                    run.CloseAfter(wait);
                    run.MessagesSent = 1;
                    await run.SendFrame(binary ? Binary : Text, payload);
                },
                OnEvent = async (run, observed) =>
                {
                    if (observed.Kind != "message")
                    {
                        run.Record(observed);
                        return;
                    }

                    run.MessagesReceived++;
                    if (observed.IsBinary != binary || !observed.Payload.AsSpan().SequenceEqual(payload))
                    {
                        run.Record(observed);
                        run.Behavior = Grade.Failed;
                        run.Result = $"Echo'ed message type or payload differs from what I sent (got binary = {observed.IsBinary}, payload length = {observed.Payload.Length}).";
                        await run.SendClose(Normal);
                    }
                    else if (run.MessagesSent < count)
                    {
                        run.MessagesSent++;
                        await run.SendFrame(binary ? Binary : Text, payload);
                    }
                    else
                    {
                        run.Behavior = Grade.Ok;
                        run.Result = $"Ok, received all {run.MessagesReceived} echo'ed messages in time.";
                        run.Note($"{run.MessagesReceived} echoes received, each equal to what was sent");
                        await run.SendClose(Normal);
                    }
                },
            };
        }
    }

    private static IEnumerable<CaseDefinition> Section10()
    {
        var payload = Filled((byte)'*', 65536);
        const int FragmentSize = 1300;
        yield return new CaseDefinition
        {
            Id = "10.1.1",
            Description = $"Send text message with payload of length 65536 auto-fragmented with autoFragmentSize = {FragmentSize}.",
            Expectation = "Receive echo'ed text message (with payload as sent and transmitted frame counts as expected). Clean close with normal code.",
            OnOpen = async run =>
            {
                run.Expect(Grade.Ok, Observed.Message(payload, false));
                run.ExpectClose(true, [Normal], true);
                await run.SendMessage(payload, isBinary: false, FragmentSize);
                run.KillAfter(10);
            },
            AfterConnectionLost = run =>
            {
                // Autobahn checks the frames it transmitted: 1 text frame and 65536 / 1300 = 50 continuations.
                var expected = (Text: 1, Continuations: payload.Length / FragmentSize);
                var got = (Text: run.Client.TxFrames.GetValueOrDefault(Text), Continuations: run.Client.TxFrames.GetValueOrDefault(Continuation));
                if (got != expected)
                {
                    run.Behavior = Grade.Failed;
                    run.Result = $"Frames transmitted {got} do not match what we expected {expected}.";
                }

                if (run.Received.FirstOrDefault(e => e.Kind == "message") is { } echo)
                {
                    run.Note($"sent as {expected.Text + expected.Continuations} frames, echoed by the server in {echo.Frames} frame(s)");
                }
            },
        };
    }
}
