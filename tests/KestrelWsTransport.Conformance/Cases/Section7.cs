using System.Buffers.Binary;
using KestrelWsTransport.Conformance.Client;
using static KestrelWsTransport.Conformance.Client.FrameEncoder;

namespace KestrelWsTransport.Conformance.Cases;

/// <summary>Section 7: close handling (basic behavior, close frame structure, close codes).</summary>
internal static partial class CaseRegistry
{
    /// <summary>Section 7's rule: a wrong close code is not a close quirk here but the thing under test, so the case fails.</summary>
    private static void WrongCodeFails(CaseRun run)
    {
        if (run.CloseBehavior == CloseBehavior.WrongCode)
        {
            run.Behavior = Grade.Failed;
            run.Result = run.ResultClose;
        }
    }

    private static CaseDefinition CloseCase(string id, string description, string expectation, Func<CaseRun, Task> onOpen) => new()
    {
        Id = id,
        Description = description,
        Expectation = expectation,
        OnOpen = async run =>
        {
            run.SuppressClose = id != "7.1.1";
            await onOpen(run);
        },
        AfterConnectionLost = WrongCodeFails,
    };

    private static byte[] ClosePayload(int code, byte[]? reason = null)
    {
        var payload = new byte[2 + (reason?.Length ?? 0)];
        BinaryPrimitives.WriteUInt16BigEndian(payload, (ushort)code);
        reason?.CopyTo(payload, 2);
        return payload;
    }

    private static IEnumerable<CaseDefinition> Section7()
    {
        const string HelloWorld = "Hello World!";

        // 7.1: basic close behavior
        yield return CloseCase("7.1.1", "Send a message followed by a close frame.", "Echoed message followed by clean close with normal code.", async run =>
        {
            run.Expect(Grade.Ok, Observed.TextMessage(HelloWorld));
            run.ExpectClose(true, [Normal], true);
            await run.SendFrame(Text, HelloWorld);
            run.KillAfter(1);
        });
        yield return CloseCase("7.1.2", "Send two close frames.", "Clean close with normal code. Second close frame ignored.", async run =>
        {
            run.Expect(Grade.Ok);
            run.ExpectClose(true, [Normal], true);
            await run.SendClose(Normal);
            await run.SendFrame(Close);
            run.KillAfter(1);
        });
        yield return CloseCase("7.1.3", "Send a ping after close message.", "Clean close with normal code, no pong.", async run =>
        {
            run.Expect(Grade.Ok);
            run.ExpectClose(true, [Normal], true);
            await run.SendClose(Normal);
            await run.SendFrame(Ping);
            run.KillAfter(1);
        });
        yield return CloseCase("7.1.4", "Send text message after sending a close frame.", "Clean close with normal code. Text message ignored.", async run =>
        {
            run.Expect(Grade.Ok);
            run.ExpectClose(true, [Normal], true);
            await run.SendClose(Normal);
            await run.SendFrame(Text, HelloWorld);
            run.KillAfter(1);
        });
        yield return CloseCase("7.1.5", "Send message fragment1 followed by close then fragment.", "Clean close with normal code.", async run =>
        {
            run.Expect(Grade.Ok);
            run.ExpectClose(true, [Normal], true);
            await run.SendFrame(Text, "fragment1", fin: false);
            await run.SendClose(Normal);
            await run.SendFrame(Continuation, "fragment2");
            run.KillAfter(1);
        });

        var big = FrameEncoder.Repeat("BAsd7&jh23"u8, 256 * 1024);
        yield return new CaseDefinition
        {
            Id = "7.1.6",
            Description = "Send 256K message followed by close then a ping.",
            Expectation = "Case outcome depends on implementation defined close behavior. Message and close frame are sent back to back. " +
                          "If the close frame is processed before the text message write is complete (as can happen in asynchronous processing models) " +
                          "the close frame is processed first and the text message may not be received or may only be partially received.",
            OnOpen = async run =>
            {
                run.SuppressClose = true;
                run.Expect(Grade.Ok, Observed.TextMessage(HelloWorld));
                run.Expect(Grade.NonStrict);
                run.ExpectClose(true, [Normal], true);
                await run.SendFrame(Text, big);
                await run.SendFrame(Text, HelloWorld);
                await run.SendClose(Normal);
                await run.SendFrame(Ping);
                run.KillAfter(1);
            },
            AfterConnectionLost = run =>
            {
                var messages = run.Received.Where(e => e.Kind == "message").ToArray();
                run.Result = messages.Length switch
                {
                    0 => "Close was processed before the text messages could be returned.",
                    _ when messages.Any(m => m.Payload.AsSpan().SequenceEqual("Hello World!"u8)) =>
                        $"Text messages were processed before close ({messages.Length} echoed: {string.Join(", ", messages.Select(m => m.Payload.Length + " bytes"))}).",
                    _ => $"Close was processed before all text messages were returned ({messages.Length} echoed).",
                };
                run.Behavior = Grade.Informational;
                run.CloseBehavior = CloseBehavior.Informational;
            },
        };

        // 7.3: close frame structure, payload length
        yield return CloseCase("7.3.1", "Send a close frame with payload length 0 (no close code, no close reason).", "Clean close with normal code.", async run =>
        {
            run.Expect(Grade.Ok);
            run.ExpectClose(true, [Normal], true);
            await run.SendCloseFrame([]);
            run.KillAfter(1);
        });
        yield return CloseCase("7.3.2", "Send a close frame with payload length 1.", "Clean close with protocol error or drop TCP.", async run =>
        {
            run.Expect(Grade.Ok);
            run.ExpectClose(true, [ProtocolError], false);
            await run.SendCloseFrame("a"u8.ToArray());
            run.KillAfter(1);
        });
        yield return CloseCase("7.3.3", "Send a close frame with payload length 2 (regular close with a code).", "Clean close with normal code.", async run =>
        {
            run.Expect(Grade.Ok);
            run.ExpectClose(true, [Normal], true);
            await run.SendClose(Normal);
            run.KillAfter(1);
        });
        yield return CloseCase("7.3.4", "Send a close frame with close code and close reason.", "Clean close with normal code.", async run =>
        {
            run.Expect(Grade.Ok);
            run.ExpectClose(true, [Normal], true);
            await run.SendClose(Normal, HelloWorld);
            run.KillAfter(1);
        });
        yield return CloseCase("7.3.5", "Send a close frame with close code and close reason of maximum length (123).", "Clean close with normal code.", async run =>
        {
            run.Expect(Grade.Ok);
            run.ExpectClose(true, [Normal], true);
            await run.SendClose(Normal, new string('*', 123));
            run.KillAfter(1);
        });
        yield return CloseCase("7.3.6", "Send a close frame with close code and close reason which is too long (124) - total frame payload 126 octets.", "Clean close with protocol error code or dropped TCP connection.", async run =>
        {
            run.Expect(Grade.Ok);
            run.ExpectClose(true, [ProtocolError], false);
            await run.SendCloseFrame(ClosePayload(Normal, Filled((byte)'*', 124)), Normal);
            run.KillAfter(1);
        });

        // 7.5: close frame structure, payload value
        yield return CloseCase("7.5.1", "Send a close frame with invalid UTF8 payload.", "Clean close with protocol error or invalid utf8 code or dropped TCP.", async run =>
        {
            run.Expect(Grade.Ok);
            run.ExpectClose(true, [ProtocolError, InvalidPayload], false);
            byte[] reason = [.. Utf8TestSequences.Kosme, 0xED, 0xA0, 0x80, .. "edited"u8];
            await run.SendCloseFrame(ClosePayload(Normal, reason), Normal);
            run.KillAfter(1);
        });

        // 7.7: valid close codes, echoed (or answered with 1000)
        int[] valid = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999];
        for (var i = 0; i < valid.Length; i++)
        {
            var code = valid[i];
            yield return CloseCase($"7.7.{i + 1}", $"Send close with valid close code {code}.", "Clean close with normal or echoed code.", async run =>
            {
                run.Expect(Grade.Ok);
                run.ExpectClose(true, [Normal, code], true);
                await run.SendCloseFrame(ClosePayload(code), code);
                run.KillAfter(1);
            });
        }

        // 7.9: invalid close codes (1014 is IANA's "Bad Gateway" now, but Autobahn still lists it as invalid)
        int[] invalid = [0, 999, 1004, 1005, 1006, 1014, 1015, 1016, 1100, 2000, 2999];
        for (var i = 0; i < invalid.Length; i++)
        {
            var code = invalid[i];
            yield return CloseCase($"7.9.{i + 1}", $"Send close with invalid close code {code}.", "Clean close with protocol error code or drop TCP.", async run =>
            {
                run.Expect(Grade.Ok);
                run.ExpectClose(true, [ProtocolError], false);
                await run.SendCloseFrame(ClosePayload(code), code);
                run.KillAfter(1);
            });
        }

        // 7.13: codes outside the 16-bit range the spec talks about: informational
        foreach (var (id, code, label) in new[] { ("7.13.1", 5000, "5000"), ("7.13.2", 65535, "65536") })
        {
            yield return new CaseDefinition
            {
                Id = id,
                Description = $"Send close with close code {label}.",
                Expectation = "Actual events are undefined by the spec.",
                Note = id == "7.13.2" ? "Like upstream, sends code 65535 (the largest 16-bit value) although the title says 65536." : null,
                OnOpen = async run =>
                {
                    run.SuppressClose = true;
                    run.Expect(Grade.Ok);
                    run.ExpectClose(true, [Normal, code, ProtocolError], false);
                    await run.SendCloseFrame(ClosePayload(code), code);
                    run.KillAfter(1);
                },
                AfterConnectionLost = run =>
                {
                    run.Behavior = Grade.Informational;
                    run.CloseBehavior = CloseBehavior.Informational;
                    run.Result = "Actual events are undefined by the spec. The server answered " +
                                 (run.Client.RemoteCloseReceived ? $"with close code {run.Client.RemoteCloseCode?.ToString() ?? "none"}." : "without a close frame.");
                },
            };
        }
    }
}
