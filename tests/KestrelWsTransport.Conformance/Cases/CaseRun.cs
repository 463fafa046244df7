using System.Diagnostics;
using System.Net;
using System.Text;
using KestrelWsTransport.Conformance.Client;

namespace KestrelWsTransport.Conformance.Cases;

/// <summary>
/// One execution of a case on a fresh connection: the API a case script uses (Autobahn's <c>self.p</c> and
/// <c>self.expected</c>), the default event handling, and the grading with Autobahn's rules once the connection is gone.
/// </summary>
internal sealed class CaseRun
{
    private readonly List<Observed> _received = new();
    private readonly List<(Grade Grade, Observed[] Events, string? Meaning)> _expected = new();
    private readonly List<string> _notes = new();
    private readonly CancellationTokenSource _timers = new();

    private CaseRun(CaseDefinition definition, FuzzingClient client)
    {
        Definition = definition;
        Client = client;
    }

    public CaseDefinition Definition { get; }

    public FuzzingClient Client { get; }

    /// <summary>The events received so far, in order (a copy).</summary>
    public IReadOnlyList<Observed> Received
    {
        get
        {
            lock (_received)
            {
                return _received.ToArray();
            }
        }
    }

    public ExpectedClose ExpectedClose { get; private set; } = new(true, [1000], true);

    public Grade Behavior { get; set; } = Grade.Failed;

    public string Result { get; set; } = "Actual events differ from any expected.";

    public CloseBehavior CloseBehavior { get; set; } = CloseBehavior.Failed;

    public string ResultClose { get; set; } = "TCP connection was dropped without close handshake";

    /// <summary>Set by cases that send close frames themselves (Autobahn's suppressClose).</summary>
    public bool SuppressClose { get; set; }

    /// <summary>True when the case's kill-after or hard limit fired with the connection still up: the server hung.</summary>
    public bool TimedOut { get; private set; }

    public string? TimeoutReason { get; private set; }

    public string? ScriptError { get; private set; }

    public bool IsOpen => Client.State == ClientState.Open;

    /// <summary>For cases that grade in their own event handler (section 9): what they expect, in words.</summary>
    public string? ExpectedSummary { get; set; }

    /// <summary>Per-run counters for cases that drive a conversation (9.7/9.8).</summary>
    public int MessagesSent { get; set; }

    public int MessagesReceived { get; set; }

    /// <summary>Anything else a case keeps for the length of one run.</summary>
    public object? State { get; set; }

    /// <summary>Extra observations for the report (scaling, frame counts, ...).</summary>
    public void Note(string note)
    {
        lock (_notes)
        {
            _notes.Add(note);
        }
    }

    // ------------------------------------------------------------ the script API

    /// <summary>Adds an acceptable outcome: exactly these events, in this order, earn <paramref name="grade"/>.</summary>
    public void Expect(Grade grade, params Observed[] events) => _expected.Add((grade, events, null));

    /// <summary>Adds a NON-STRICT outcome and says what it means, for the report.</summary>
    public void ExpectNonStrict(string meaning, params Observed[] events) => _expected.Add((Cases.Grade.NonStrict, events, meaning));

    public void ExpectClose(bool closedByMe, int[] closeCodes, bool requireClean, bool closedByWrongEndpointIsFatal = false) =>
        ExpectedClose = new ExpectedClose(closedByMe, closeCodes, requireClean, closedByWrongEndpointIsFatal);

    public Task SendFrame(int opcode, byte[]? payload = null, bool fin = true, int rsv = 0, int? chop = null, bool sync = false) =>
        Client.SendFrameAsync(opcode, payload ?? [], fin, rsv, mask: true, chop, sync);

    public Task SendFrame(int opcode, string payload, bool fin = true, int rsv = 0, int? chop = null, bool sync = false) =>
        SendFrame(opcode, Encoding.UTF8.GetBytes(payload), fin, rsv, chop, sync);

    public Task SendMessage(byte[] payload, bool isBinary, int? fragmentSize = null) => Client.SendMessageAsync(payload, isBinary, fragmentSize);

    /// <summary>Autobahn's sendClose(code[, reason]).</summary>
    public Task SendClose(int? code, string? reason = null) => Client.SendCloseAsync(code, reason);

    /// <summary>Autobahn's sendCloseFrame with a payload made up by the case.</summary>
    public Task SendCloseFrame(byte[] payload, int? code = null) => Client.SendCloseFrameAsync(payload, code, isReply: false);

    /// <summary>Records an event the case makes itself (Autobahn's <c>received.append(("timeout", tag))</c>).</summary>
    public void Record(Observed observed)
    {
        lock (_received)
        {
            _received.Add(observed);
        }
    }

    /// <summary>
    /// Autobahn's closeAfter: if the connection is still open after this long, the client starts the closing handshake.
    /// When the case waits for events (not for silence), the delay is stretched to a floor that only a failing server waits out.
    /// </summary>
    public void CloseAfter(double seconds)
    {
        var delay = TimeSpan.FromSeconds(seconds);
        if (_expected.Any(e => e.Events.Length > 0) && delay < ConformanceSettings.MinimumCloseAfterWhenWaiting)
        {
            delay = ConformanceSettings.MinimumCloseAfterWhenWaiting;
        }

        Schedule(delay, async () =>
        {
            if (IsOpen)
            {
                Client.Log("close-after fired");
                await Client.SendCloseFrameAsync([], null, isReply: false);
            }
        });
    }

    /// <summary>
    /// Autobahn's killAfter: if the connection is not closed after this long, the client fails it by dropping TCP.
    /// Here that also marks the case as hung (FAILED): the server did not do in time what the case waits for.
    /// </summary>
    public void KillAfter(double seconds)
    {
        var delay = TimeSpan.FromSeconds(seconds);
        if (delay < ConformanceSettings.MinimumKillAfter)
        {
            delay = ConformanceSettings.MinimumKillAfter;
        }

        Schedule(delay, () =>
        {
            if (Client.State != ClientState.Closed)
            {
                MarkTimedOut($"kill-after ({delay.TotalSeconds:0.#} s) fired with the connection still {(Client.State == ClientState.Open ? "open" : "closing")}");
            }

            return Task.CompletedTask;
        });
    }

    /// <summary>Autobahn's continueLater: sends what is queued, waits, and tells whether the connection is still open.</summary>
    public async Task<bool> ContinueLater(double seconds)
    {
        await Client.FlushAsync();
        // Like a reactor timer, the wait does not hold the case open: if the connection goes away, the case ends.
        await Task.WhenAny(Task.Delay(TimeSpan.FromSeconds(seconds)), Client.Closed);
        return IsOpen;
    }

    /// <summary>Starts one frame of <paramref name="payloadLength"/> octets whose payload is written later in parts (Autobahn's beginMessageFrame).</summary>
    public async Task<StreamedFrame> BeginFrame(int opcode, long payloadLength)
    {
        var key = Client.NewMaskKey();
        Client.CountTx(opcode);
        await Client.SendRawAsync(FrameEncoder.Header(opcode, payloadLength, true, 0, key), $"{FuzzingClient.OpcodeName(opcode)} frame header, len={payloadLength} (payload follows in parts)");
        return new StreamedFrame(Client, key);
    }

    // ------------------------------------------------------------ event handling (Autobahn's Case.onMessage/onPing/onPong)

    private async Task OnEventAsync(Observed observed)
    {
        if (Definition.OnEvent is { } custom)
        {
            await custom(this, observed);
        }
        else
        {
            Record(observed);
            await FinishWhenDoneAsync();
        }

        await Client.FlushAsync();
    }

    /// <summary>Once the events match every expected outcome, the client starts the closing handshake if it is supposed to.</summary>
    private async Task FinishWhenDoneAsync()
    {
        var received = Received;
        foreach (var (_, events, _) in _expected)
        {
            if (!Observed.SameSequence(received, events))
            {
                return;
            }
        }

        if (ExpectedClose.ClosedByMe && !SuppressClose)
        {
            await Client.SendCloseAsync(ExpectedClose.CloseCodes[0]);
        }
    }

    // ------------------------------------------------------------ running and grading

    public static async Task<CaseResult> ExecuteAsync(CaseDefinition definition, IPEndPoint endPoint)
    {
        var stopwatch = Stopwatch.StartNew();
        FuzzingClient client;
        try
        {
            client = await FuzzingClient.ConnectAsync(endPoint, "/echo", new Random(Seed(definition.Id)), ConformanceSettings.ClientTimeouts, definition.DeflateOffers);
        }
        catch (Exception ex)
        {
            return CaseResult.HandshakeFailed(definition, ex, stopwatch.Elapsed);
        }

        await using (client)
        {
            var run = new CaseRun(definition, client);
            client.EventReceived = run.OnEventAsync;
            client.StartReading();
            try
            {
                await definition.OnOpen(run);
                await client.FlushAsync();
            }
            catch (Exception ex)
            {
                run.ScriptError = ex.ToString();
                client.Fail("the case script failed");
            }

            var finished = await Task.WhenAny(client.Closed, Task.Delay(definition.HardLimit));
            if (finished != client.Closed)
            {
                run.MarkTimedOut($"the case did not end within its hard limit of {definition.HardLimit.TotalSeconds:0} s");
            }

            try
            {
                await client.Closed.WaitAsync(TimeSpan.FromSeconds(10));
            }
            catch (TimeoutException)
            {
                run.MarkTimedOut("the connection could not be torn down");
            }

            run._timers.Cancel();
            stopwatch.Stop();
            run.GradeCase();
            return CaseResult.From(run, stopwatch.Elapsed);
        }
    }

    /// <summary>Autobahn's Case.onConnectionLost, then the case's own adjustment, then the rules that fold it into one grade.</summary>
    private void GradeCase()
    {
        var received = Received;
        foreach (var (grade, events, meaning) in _expected)
        {
            if (Observed.SameSequence(received, events))
            {
                Behavior = grade;
                Result = "Actual events match at least one expected." + (meaning is null ? string.Empty : " " + meaning);
                break;
            }
        }

        var expectedClose = ExpectedClose;
        if (expectedClose.ClosedByMe != Client.ClosedByMe)
        {
            CloseBehavior = CloseBehavior.Failed;
            ResultClose = "The connection was failed by the wrong endpoint";
        }
        else if (expectedClose.RequireClean && !Client.WasClean)
        {
            CloseBehavior = CloseBehavior.Unclean;
            ResultClose = "The spec requires the connection to be failed cleanly here";
        }
        else if (Client.RemoteCloseCode is { } code && !expectedClose.CloseCodes.Contains(code))
        {
            CloseBehavior = CloseBehavior.WrongCode;
            ResultClose = $"The close code should have been {string.Join(",", expectedClose.CloseCodes)} or empty";
        }
        else if (Client.DroppedByMe)
        {
            CloseBehavior = CloseBehavior.FailedByClient;
            ResultClose = "It is preferred that the server close the TCP connection";
        }
        else
        {
            CloseBehavior = CloseBehavior.Ok;
            ResultClose = "Connection was properly closed";
        }

        // For the UTF-8 cases, a close started by the wrong side means the server never noticed the invalid text.
        if (expectedClose.ClosedByWrongEndpointIsFatal && expectedClose.ClosedByMe != Client.ClosedByMe)
        {
            Behavior = Cases.Grade.Failed;
        }

        Definition.AfterConnectionLost?.Invoke(this);
    }

    /// <summary>
    /// One grade per case. Autobahn reports the events (behavior) and the closing (behaviorClose) in two columns; here a
    /// failed or unclean close fails the case, a wrong close code or a TCP drop left to the client makes it NON-STRICT
    /// (Autobahn shows both in its non-strict colours), and a server that hung or broke the protocol fails it.
    /// </summary>
    public (Grade Grade, string Reason) FinalGrade()
    {
        if (ScriptError is not null)
        {
            return (Cases.Grade.Failed, "The case script failed: " + ScriptError);
        }

        if (Client.ServerViolation is { } violation)
        {
            return (Cases.Grade.Failed, "The server broke RFC 6455: " + violation);
        }

        if (TimedOut)
        {
            return (Cases.Grade.Failed, "The case hung: " + TimeoutReason);
        }

        if (Behavior is Cases.Grade.Informational or Cases.Grade.Unimplemented)
        {
            return (Behavior, Result);
        }

        if (Behavior == Cases.Grade.Failed)
        {
            return (Cases.Grade.Failed, Result);
        }

        return CloseBehavior switch
        {
            CloseBehavior.Failed or CloseBehavior.Unclean => (Cases.Grade.Failed, $"{Result} Closing: {ResultClose} ({CloseBehavior.Label()})."),
            CloseBehavior.WrongCode or CloseBehavior.FailedByClient => (Cases.Grade.NonStrict, $"{Result} Closing: {ResultClose} ({CloseBehavior.Label()})."),
            _ => (Behavior, Result),
        };
    }

    public string DescribeExpected()
    {
        var builder = new StringBuilder();
        if (ExpectedSummary is not null)
        {
            builder.Append(ExpectedSummary).Append("; ");
        }

        foreach (var (grade, events, _) in _expected)
        {
            builder.Append(grade.Label()).Append(": ").Append(Observed.Describe(events)).Append("; ");
        }

        builder.Append("close: ").Append(ExpectedClose);
        return builder.ToString();
    }

    public string DescribeObserved()
    {
        var client = Client;
        var builder = new StringBuilder();
        builder.Append(Observed.Describe(Received)).Append("; close: ");
        builder.Append(client.ClosedByMe ? "started by client" : client.RemoteCloseReceived ? "started by server" : "no closing handshake");
        builder.Append(client.RemoteCloseReceived
            ? $", server close code {(client.RemoteCloseCode?.ToString() ?? "none")}{(string.IsNullOrEmpty(client.RemoteCloseReason) ? string.Empty : $" \"{client.RemoteCloseReason}\"")}"
            : ", no close frame from the server");
        builder.Append(client.WasClean ? ", clean" : $", not clean ({client.WasNotCleanReason})");
        builder.Append(client.DroppedByMe ? ", TCP dropped by client" : ", TCP dropped by server");
        lock (_notes)
        {
            foreach (var note in _notes)
            {
                builder.Append("; ").Append(note);
            }
        }

        return builder.ToString();
    }

    public IReadOnlyList<string> NotesSnapshot()
    {
        lock (_notes)
        {
            return _notes.ToArray();
        }
    }

    private void MarkTimedOut(string reason)
    {
        if (Client.State == ClientState.Closed && !Client.Closed.IsCompleted)
        {
            TimedOut = true;
            TimeoutReason ??= reason;
            return;
        }

        if (Client.State == ClientState.Closed)
        {
            return;
        }

        TimedOut = true;
        TimeoutReason ??= reason;
        Client.Log("timeout: " + reason);
        Client.Fail("I failed the WebSocket connection by dropping the TCP connection (timeout)");
    }

    private void Schedule(TimeSpan delay, Func<Task> action)
    {
        var token = _timers.Token;
        _ = Task.Run(async () =>
        {
            try
            {
                await Client.FlushAsync();
                await Task.Delay(delay, token);
                await action();
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
            {
                // The case is over.
            }
        });
    }

    /// <summary>A stable seed per case id, so masking keys (and so the bytes on the wire) repeat from run to run.</summary>
    private static int Seed(string id)
    {
        var hash = 17;
        foreach (var c in id)
        {
            hash = unchecked(hash * 31 + c);
        }

        return hash;
    }
}

/// <summary>A frame whose header is sent and whose payload is sent in parts, masked with the frame's key.</summary>
internal sealed class StreamedFrame(FuzzingClient client, byte[] maskKey)
{
    private long _offset;

    public Task Write(byte[] part)
    {
        var masked = part.ToArray();
        FrameEncoder.ApplyMask(masked, maskKey, _offset);
        _offset += part.Length;
        return client.SendRawAsync(masked, $"{part.Length} payload octets of the streamed frame");
    }
}
