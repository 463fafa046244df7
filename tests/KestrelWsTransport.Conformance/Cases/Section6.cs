using KestrelWsTransport.Conformance.Client;
using static KestrelWsTransport.Conformance.Client.FrameEncoder;

namespace KestrelWsTransport.Conformance.Cases;

/// <summary>Section 6: UTF-8 handling.</summary>
internal static partial class CaseRegistry
{
    private static IEnumerable<CaseDefinition> Section6()
    {
        // 6.1: valid UTF-8 with zero payload fragments
        yield return Case("6.1.1", "Send text message of length 0.", "A message is echo'ed back to us (with empty payload).", async run =>
        {
            run.Expect(Grade.Ok, Observed.TextMessage(string.Empty));
            run.ExpectClose(true, [Normal], true);
            await run.SendFrame(Text, string.Empty);
            run.CloseAfter(1);
        });
        yield return Case("6.1.2", "Send fragmented text message, 3 fragments each of length 0.", "A message is echo'ed back to us (with empty payload).", async run =>
        {
            run.Expect(Grade.Ok, Observed.TextMessage(string.Empty));
            run.ExpectClose(true, [Normal], true);
            await run.SendFrame(Text, string.Empty, fin: false);
            await run.SendFrame(Continuation, string.Empty, fin: false);
            await run.SendFrame(Continuation, string.Empty);
            run.CloseAfter(1);
        });
        yield return Case("6.1.3", "Send fragmented text message, 3 fragments, first and last of length 0, middle non-empty.", "A message is echo'ed back to us (with payload = payload of middle fragment).", async run =>
        {
            run.Expect(Grade.Ok, Observed.TextMessage("middle frame payload"));
            run.ExpectClose(true, [Normal], true);
            await run.SendFrame(Text, string.Empty, fin: false);
            await run.SendFrame(Continuation, "middle frame payload", fin: false);
            await run.SendFrame(Continuation, string.Empty);
            run.CloseAfter(1);
        });

        // 6.2: valid UTF-8, unfragmented, fragmented on code points and within code points
        const string Greeting = "Hello-µ@ßöäüàá-UTF-8!!";
        yield return Case("6.2.1", $"Send a valid UTF-8 text message in one fragment. MESSAGE: {Greeting}", "The message is echo'ed back to us.", async run =>
        {
            run.Expect(Grade.Ok, Observed.TextMessage(Greeting));
            run.ExpectClose(true, [Normal], true);
            await run.SendMessage(Utf8(Greeting), isBinary: false);
            run.CloseAfter(1);
        });
        yield return Case("6.2.2", "Send a valid UTF-8 text message in two fragments, fragmented on UTF-8 code point boundary. FRAGMENTS: \"Hello-µ@ßöä\" + \"üàá-UTF-8!!\"", "The message is echo'ed back to us.", async run =>
        {
            run.Expect(Grade.Ok, Observed.TextMessage(Greeting));
            run.ExpectClose(true, [Normal], true);
            await run.SendFrame(Text, "Hello-µ@ßöä", fin: false);
            await run.SendFrame(Continuation, "üàá-UTF-8!!");
            run.CloseAfter(1);
        });
        foreach (var (id, payload) in new[] { ("6.2.3", Utf8(Greeting)), ("6.2.4", Utf8TestSequences.Kosme) })
        {
            yield return Case(
                id,
                $"Send a valid UTF-8 text message in fragments of 1 octet, resulting in frames ending on positions which are not code point ends. MESSAGE: 0x{Convert.ToHexString(payload).ToLowerInvariant()}",
                "The message is echo'ed back to us.",
                async run =>
                {
                    run.Expect(Grade.Ok, Observed.TextMessage(payload));
                    run.ExpectClose(true, [Normal], true);
                    await run.SendMessage(payload, isBinary: false, fragmentSize: 1);
                    run.CloseAfter(1);
                });
        }

        // 6.3: invalid UTF-8 (invalid exactly at byte 12, 0xA0 of a surrogate), unfragmented and in 1-octet fragments
        byte[] part1 = Utf8TestSequences.Kosme;
        byte[] surrogate = [0xED, 0xA0, 0x80];
        byte[] part3 = "edited"u8.ToArray();
        byte[] invalid = [.. part1, .. surrogate, .. part3];
        foreach (var (id, fragmentSize, how) in new[] { ("6.3.1", (int?)null, "unfragmented"), ("6.3.2", 1, "in fragments of 1 octet, resulting in frames ending on positions which are not code point ends") })
        {
            yield return Case(
                id,
                $"Send invalid UTF-8 text message {how}. MESSAGE: 0x{Convert.ToHexString(invalid).ToLowerInvariant()}",
                "The connection is failed immediately, since the payload is not valid UTF-8.",
                async run =>
                {
                    run.Expect(Grade.Ok);
                    run.ExpectClose(false, [InvalidPayload], false, closedByWrongEndpointIsFatal: true);
                    await run.SendMessage(invalid, isBinary: false, fragmentSize: fragmentSize);
                    run.KillAfter(1);
                });
        }

        // 6.4: fail fast. PART2 (F4 90 80 80) encodes 0x110000, beyond Unicode; the sequence is invalid at its 2nd octet (0x90).
        byte[] beyond = [0xF4, 0x90, 0x80, 0x80];
        byte[] whole = [.. part1, .. beyond, .. part3];
        (string Id, byte[] A, byte[] B, byte[] C, bool Chops)[] failFast =
        [
            ("6.4.1", part1, beyond, part3, false),
            ("6.4.2", whole[..12], whole[12..13], whole[13..], false),
            ("6.4.3", part1, beyond, part3, true),
            ("6.4.4", whole[..12], whole[12..13], whole[13..], true),
        ];
        foreach (var (id, a, b, c, chops) in failFast)
        {
            var unit = chops ? "chop" : "frame";
            yield return Case(
                id,
                $"Send invalid UTF-8 text message in 3 {(chops ? "chops of one frame" : "fragments (frames)")}. First {unit} payload is valid, then wait, " +
                $"then 2nd {unit} which contains the payload making the sequence invalid, then wait, then 3rd {unit} with rest. " +
                $"PARTS: 0x{Hex(a)} | 0x{Hex(b)} | 0x{Hex(c)}",
                $"The first {unit} is accepted, we expect to timeout on the first wait. The 2nd {unit} should be rejected immediately (fail fast on UTF-8). " +
                "If we timeout, we expect the connection is failed at least then, since the complete message payload is not valid UTF-8.",
                async run =>
                {
                    run.Expect(Grade.Ok, Observed.Timeout("A"));
                    run.ExpectNonStrict(
                        $"Not fail-fast: the server failed the connection only after the 3rd {unit} arrived, not as soon as the 2nd {unit} made the text invalid.",
                        Observed.Timeout("A"),
                        Observed.Timeout("B"));
                    run.ExpectClose(false, [InvalidPayload], false, closedByWrongEndpointIsFatal: true);
                    StreamedFrame? frame = null;
                    if (chops)
                    {
                        frame = await run.BeginFrame(Text, a.Length + b.Length + c.Length);
                        await frame.Write(a);
                    }
                    else
                    {
                        await run.SendFrame(Text, a, fin: false);
                    }

                    if (!await run.ContinueLater(1))
                    {
                        return;
                    }

                    run.Record(Observed.Timeout("A"));
                    await (frame is null ? run.SendFrame(Continuation, b, fin: false) : frame.Write(b));
                    if (!await run.ContinueLater(1))
                    {
                        return;
                    }

                    run.Record(Observed.Timeout("B"));
                    await (frame is null ? run.SendFrame(Continuation, c) : frame.Write(c));
                    run.KillAfter(1);
                });
        }

        // 6.5 - 6.23: the UTF-8 decoder stress test, each sequence as one text frame
        var subSection = Utf8TestSequences.FirstSubSection;
        foreach (var (_, sequences) in Utf8TestSequences.Groups)
        {
            var number = 1;
            foreach (var (valid, bytes) in sequences)
            {
                yield return Case(
                    $"6.{subSection}.{number++}",
                    $"Send a text message with payload which is {(valid ? string.Empty : "not ")}valid UTF-8 in one fragment. Payload: 0x{Hex(bytes)}",
                    valid ? "The message is echo'ed back to us." : "The connection is failed immediately, since the payload is not valid UTF-8.",
                    async run =>
                    {
                        if (valid)
                        {
                            run.Expect(Grade.Ok, Observed.TextMessage(bytes));
                            run.ExpectClose(true, [Normal], true);
                        }
                        else
                        {
                            run.Expect(Grade.Ok);
                            run.ExpectClose(false, [InvalidPayload], false, closedByWrongEndpointIsFatal: true);
                        }

                        await run.SendMessage(bytes, isBinary: false);
                        run.KillAfter(0.5);
                    });
            }

            subSection++;
        }

        static string Hex(byte[] bytes) => Convert.ToHexString(bytes).ToLowerInvariant();
    }
}
