using System.CommandLine;
using LoadTool.Client;
using LoadTool.Infrastructure;
using LoadTool.Scenarios;
using Spectre.Console;

namespace LoadTool;

/// <summary>
/// A load generator for WebSocket servers on this machine: echo, bulk, handshake rate, idle connections and broadcast,
/// with its own fast RFC 6455 client (or ClientWebSocket, or plain TCP for the raw Kestrel echo).
/// </summary>
public static class Program
{
    /// <summary>
    /// The runtime reads this once, when the socket engine starts: with it, socket completions run the client's loops
    /// on the epoll thread instead of hopping to the thread pool (measured here against the raw echo: 914 k -> 1.24 M
    /// messages/s at the same load-tool CPU). Set before any socket is used; an explicit value in the environment wins.
    /// </summary>
    internal const string InlineCompletions = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    public static async Task<int> Main(string[] args)
    {
        if (Environment.GetEnvironmentVariable(InlineCompletions) is null)
        {
            Environment.SetEnvironmentVariable(InlineCompletions, "1");
        }

        if (Console.IsOutputRedirected)
        {
            // Tables in logs and pipes: wide enough not to wrap.
            AnsiConsole.Profile.Width = 160;
        }

        var root = new RootCommand(
            "Load generator for WebSocket servers on loopback (KestrelWsTransport, ASP.NET Core's WebSockets middleware, " +
            "a raw Kestrel echo). Every run is bounded in time; non-loopback targets are refused unless --allow-remote.")
        {
            EchoCommand(),
            BulkCommand(),
            HandshakeCommand(),
            IdleCommand(),
            BroadcastCommand(),
            SoakCommand(),
            ReportCommand(),
            ChartCommand(),
        };

        try
        {
            return await root.Parse(args).InvokeAsync().ConfigureAwait(false);
        }
        catch (UsageException ex)
        {
            AnsiConsole.MarkupLine($"[red]{Markup.Escape(ex.Message)}[/]");
            return 2;
        }
    }

    private static Command EchoCommand()
    {
        var shared = new SharedOptions("ws://127.0.0.1:5000/echo", duration: 10, warmup: 5);
        var connections = Int("--connections", 64, "Connections.", "-c");
        var inFlight = Int("--in-flight", 16, "Messages in flight per connection.", "-k");
        var size = Int("--size", 32, "Payload bytes per message.", "-s");
        var binary = new Option<bool>("--binary") { Description = "Send binary messages (default: text)." };
        var content = new ContentOptions();
        var command = new Command(
            "echo",
            "Many connections, many small messages in flight on each: messages per second and round-trip latency. With --payload json " +
            "or --deflate every echo is checked byte for byte and the bytes on the wire are counted (results named echo-json, deflate, deflate-nct).")
        {
            connections, inFlight, size, binary,
        };
        shared.AddTo(command);
        content.AddTo(command);
        command.SetAction((parse, ct) => RunAsync(parse, shared, common =>
            EchoScenario.RunAsync(common, "echo", parse.GetValue(connections), parse.GetValue(inFlight), parse.GetValue(size), !parse.GetValue(binary), content.Read(parse), ct)));
        return command;
    }

    private static Command BulkCommand()
    {
        var shared = new SharedOptions("ws://127.0.0.1:5000/echo", duration: 10, warmup: 5);
        var connections = Int("--connections", 8, "Connections.", "-c");
        var inFlight = Int("--in-flight", 1, "Messages in flight per connection.", "-k");
        var size = Int("--size", 1024 * 1024, "Payload bytes per message.", "-s");
        var text = new Option<bool>("--text") { Description = "Send text messages (default: binary)." };
        var command = new Command("bulk", "A few connections echoing large messages: payload MB per second (10^6 bytes, one direction).")
        {
            connections, inFlight, size, text,
        };
        shared.AddTo(command);
        command.SetAction((parse, ct) => RunAsync(parse, shared, common =>
            EchoScenario.RunAsync(common, "bulk", parse.GetValue(connections), parse.GetValue(inFlight), parse.GetValue(size), parse.GetValue(text), ContentSettings.None, ct)));
        return command;
    }

    private static Command HandshakeCommand()
    {
        var shared = new SharedOptions("ws://127.0.0.1:5000/echo", duration: 10, warmup: 5);
        var concurrency = Int("--concurrency", 32, "Connections being set up at once.", "-c");
        var size = Int("--size", 32, "Payload bytes of the one echoed message.", "-s");
        var command = new Command("handshake", "Connect, upgrade, one echo, close handshake, over and over: handshakes per second.")
        {
            concurrency, size,
        };
        shared.AddTo(command);
        command.SetAction((parse, ct) => RunAsync(parse, shared, common =>
            HandshakeScenario.RunAsync(common, parse.GetValue(concurrency), parse.GetValue(size), ct)));
        return command;
    }

    private static Command IdleCommand()
    {
        var shared = new SharedOptions("ws://127.0.0.1:5000/echo", duration: 0, warmup: 0);
        var connections = Int("--connections", 1000, "Connections to open and hold.", "-c");
        var parallel = Int("--open-parallel", 64, "Connections being opened at once.");
        var settle = new Option<double>("--settle") { Description = "Seconds to wait after opening before reading the server's memory.", DefaultValueFactory = _ => 5 };
        var hold = new Option<double>("--hold") { Description = "Extra seconds to hold the connections (e.g. past the server's keepalive interval).", DefaultValueFactory = _ => 0 };
        var size = Int("--size", 32, "Payload bytes of the check echo.", "-s");
        var prime = new Option<bool>("--prime")
        {
            Description = "Send one message on every connection and wait for its echo before measuring (with --deflate: so that " +
                "compressors and decompressors a server creates on first use exist when memory is read).",
        };
        var content = new ContentOptions();
        var command = new Command(
            "idle",
            "Hold N connections open; server memory per connection (from --server-pid); then check each still echoes. " +
            "With --deflate the connections negotiate permessage-deflate (results named idle-deflate, idle-deflate-nct; idle-primed with --prime alone).")
        {
            connections, parallel, settle, hold, size, prime,
        };
        shared.AddTo(command);
        content.AddTo(command);
        command.SetAction((parse, ct) => RunAsync(parse, shared, common =>
            IdleScenario.RunAsync(
                common, parse.GetValue(connections), parse.GetValue(parallel), parse.GetValue(settle), parse.GetValue(hold), parse.GetValue(size),
                parse.GetValue(prime), content.Read(parse), ct)));
        return command;
    }

    private static Command BroadcastCommand()
    {
        var shared = new SharedOptions("ws://127.0.0.1:5000/chat", duration: 10, warmup: 5);
        var subscribers = Int("--subscribers", 100, "Subscribers (the publisher is one more member).", "-n");
        var inFlight = Int("--in-flight", 4, "Published messages in flight (not yet back at the publisher).", "-k");
        var size = Int("--size", 32, "Payload bytes per message (at least 21: it carries a time stamp).", "-s");
        var command = new Command("broadcast", "One publisher, N subscribers on a room that relays every text message to all: delivered messages per second.")
        {
            subscribers, inFlight, size,
        };
        shared.AddTo(command);
        command.SetAction((parse, ct) => RunAsync(parse, shared, common =>
            BroadcastScenario.RunAsync(common, parse.GetValue(subscribers), parse.GetValue(inFlight), parse.GetValue(size), ct)));
        return command;
    }

    private static Command SoakCommand()
    {
        var shared = new SharedOptions("ws://127.0.0.1:5000/echo", duration: 180, warmup: 10);
        var connections = Int("--connections", 10_000, "Connections.", "-c");
        var interval = new Option<double>("--interval") { Description = "Milliseconds between a connection's bursts (each +-10%, first at a random phase).", DefaultValueFactory = _ => 2000 };
        var burst = Int("--burst", 3, "Messages per burst: 1 to this many, drawn per burst.");
        var maxInFlight = Int("--max-in-flight", 16, "A connection skips its burst while this many of its messages are unanswered (counted).");
        var parallel = Int("--open-parallel", 64, "Connections being opened (and closed) at once.");
        var warmupConnections = Int("--warmup-connections", 200, "Connections of the warm-up traffic (--warmup seconds) before the baseline is read.");
        var settle = new Option<double>("--settle") { Description = "Seconds to wait before the baseline and after the last close before reading the server again.", DefaultValueFactory = _ => 20 };
        var settleMax = new Option<double>("--settle-max") { Description = "Seconds after the last close within which memory and handles must be back (read again every 10 s).", DefaultValueFactory = _ => 120 };
        var drain = new Option<double>("--drain") { Description = "Seconds to wait for the messages still in flight when sending stops.", DefaultValueFactory = _ => 60 };
        var rssTolerance = new Option<double>("--rss-tolerance")
        {
            Description = "MiB of server RSS above the baseline still counted as back, not counting the memory the GC keeps committed " +
                "(RSS - gc-committed; the GC's part is judged by --heap-tolerance and --pool-tolerance, its committed total is reported).",
            DefaultValueFactory = _ => 16,
        };
        var heapTolerance = new Option<double>("--heap-tolerance") { Description = "MiB of server small-object heap (gen0-2, after a full GC) above the baseline still counted as back.", DefaultValueFactory = _ => 4 };
        var poolTolerance = new Option<double>("--pool-tolerance")
        {
            Description = "MiB of server large-object and pinned-object heap (after a full GC: buffer pools such as Kestrel's pinned blocks and ArrayPool's large arrays) above the baseline still counted as back.",
            DefaultValueFactory = _ => 16,
        };
        var filesTolerance = Int("--files-tolerance", 4, "Server open files above the baseline still counted as back.");
        var seed = new Option<int>("--seed") { Description = "Seed of the messages.", DefaultValueFactory = _ => 1 };
        var deflate = new Option<bool>("--deflate") { Description = "Offer permessage-deflate (the messages are checked after inflating)." };
        var noContextTakeover = new Option<bool>("--no-context-takeover") { Description = "With --deflate: offer client_no_context_takeover and server_no_context_takeover." };
        var command = new Command(
            "soak",
            "N connections echoing sequence-numbered messages of mixed sizes and types at a steady pace for --duration seconds, every echo checked " +
            "(exactly once, in order, byte for byte), then all closed with a close handshake; the server's RSS, GC heap (full GC induced over " +
            "EventPipe) and open files at baseline, under load and after close (--server-pid). Exit 3: a message or connection problem; 4: memory " +
            "or handles not back within the tolerances after --settle-max.")
        {
            connections, interval, burst, maxInFlight, parallel, warmupConnections, settle, settleMax, drain, rssTolerance, heapTolerance, poolTolerance, filesTolerance,
            seed, deflate, noContextTakeover,
        };
        shared.AddTo(command);
        command.SetAction((parse, ct) => RunAsync(parse, shared, common =>
        {
            if (parse.GetValue(noContextTakeover) && !parse.GetValue(deflate))
            {
                throw new UsageException("--no-context-takeover goes with --deflate.");
            }

            var settings = new SoakSettings(
                parse.GetValue(connections), parse.GetValue(interval), parse.GetValue(burst), parse.GetValue(maxInFlight), parse.GetValue(parallel),
                parse.GetValue(warmupConnections), parse.GetValue(settle), parse.GetValue(settleMax), parse.GetValue(drain), parse.GetValue(rssTolerance),
                parse.GetValue(heapTolerance), parse.GetValue(poolTolerance), parse.GetValue(filesTolerance), parse.GetValue(seed),
                parse.GetValue(deflate) ? new DeflateOffer(parse.GetValue(noContextTakeover)) : null);
            return SoakScenario.RunAsync(common, settings, ct);
        }));
        return command;
    }

    private static Command ReportCommand()
    {
        var inputs = new Argument<string[]>("results") { Description = "JSON result files, or folders of them.", Arity = ArgumentArity.OneOrMore };
        var subject = new Option<string>("--subject") { Description = "The label the ratios are taken for.", DefaultValueFactory = _ => "kestrelws" };
        var markdown = new Option<string?>("--markdown") { Description = "Also write the table as Markdown to this file." };
        var json = new Option<string?>("--json") { Description = "Also write the medians as JSON to this file." };
        var command = new Command("report", "Medians per server and scenario from saved results, and the ratio table.") { inputs, subject, markdown, json };
        command.SetAction(async (parse, _) =>
        {
            try
            {
                return await Report.RunAsync(parse.GetValue(inputs)!, parse.GetValue(subject)!, parse.GetValue(markdown), parse.GetValue(json)).ConfigureAwait(false);
            }
            catch (UsageException ex)
            {
                AnsiConsole.MarkupLine($"[red]{Markup.Escape(ex.Message)}[/]");
                return 2;
            }
        });
        return command;
    }

    private static Command ChartCommand()
    {
        var input = new Argument<string>("results") { Description = "A comparison folder of bench/run-comparison.sh (its run JSON files and environment.txt), or its summary.json." };
        var to = new Option<string?>("--to") { Description = "Folder the PNG files are written to (default: the results folder), e.g. docs/benchmarks." };
        var subject = new Option<string>("--subject") { Description = "The label the ratios are taken for.", DefaultValueFactory = _ => "kestrelws" };
        var command = new Command(
            "chart",
            "PNG bar charts of a comparison: per figure the servers side by side (median, whiskers min-max), and the ratios against the issue's targets. " +
            "Files: echo-msgs, echo-per-cpu, bulk, bulk-per-cpu, handshake, handshake-per-cpu, idle, deflate, deflate-per-cpu, deflate-ratio, idle-deflate, ratios (.png); " +
            "figures the folder has no results for are skipped.")
        {
            input, to, subject,
        };
        command.SetAction(async (parse, _) =>
        {
            try
            {
                return await Charts.RunAsync(parse.GetValue(input)!, parse.GetValue(to), parse.GetValue(subject)!).ConfigureAwait(false);
            }
            catch (UsageException ex)
            {
                AnsiConsole.MarkupLine($"[red]{Markup.Escape(ex.Message)}[/]");
                return 2;
            }
        });
        return command;
    }

    private static async Task<int> RunAsync(System.CommandLine.ParseResult parse, SharedOptions shared, Func<CommonSettings, Task<RunResult>> run)
    {
        try
        {
            var common = shared.Read(parse);
            var result = await run(common).ConfigureAwait(false);
            result.Print();
            await result.SaveAsync(common.JsonPath).ConfigureAwait(false);
            return result.ExitCode ?? (result.Errors == 0 ? 0 : 3);
        }
        catch (UsageException ex)
        {
            AnsiConsole.MarkupLine($"[red]{Markup.Escape(ex.Message)}[/]");
            return 2;
        }
        catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or OperationCanceledException)
        {
            AnsiConsole.MarkupLine($"[red]{Markup.Escape(ex.GetType().Name)}: {Markup.Escape(ex.Message)}[/]");
            return 1;
        }
    }

    private static Option<int> Int(string name, int defaultValue, string description, params string[] aliases) =>
        new(name, aliases) { Description = description, DefaultValueFactory = _ => defaultValue };

    /// <summary>--payload, --deflate, --no-context-takeover, --seed: content mode of the fast client.</summary>
    private sealed class ContentOptions
    {
        private readonly Option<string> _payload = new("--payload")
        {
            Description = "fixed (the same --size bytes of a-z every time, not checked) or json (realistic JSON messages of 200-1000 B, " +
                "market-data quotes and chat, generated from --seed; every echo checked byte for byte).",
            DefaultValueFactory = _ => "fixed",
        };
        private readonly Option<bool> _deflate = new("--deflate")
        {
            Description = "Offer permessage-deflate (RFC 7692) and compress every message; the run fails unless the server accepts, " +
                "compresses its frames (RSV1) and every echo inflates to exactly what was sent.",
        };
        private readonly Option<bool> _noContextTakeover = new("--no-context-takeover")
        {
            Description = "With --deflate: offer client_no_context_takeover and server_no_context_takeover (each message compressed on its own).",
        };
        private readonly Option<int> _seed = new("--seed") { Description = "Seed of the --payload json messages.", DefaultValueFactory = _ => Content.JsonPayloads.DefaultSeed };

        public void AddTo(Command command)
        {
            foreach (var option in new Option[] { _payload, _deflate, _noContextTakeover, _seed })
            {
                command.Options.Add(option);
            }
        }

        public ContentSettings Read(System.CommandLine.ParseResult parse) =>
            new(parse.GetValue(_payload)!, parse.GetValue(_deflate), parse.GetValue(_noContextTakeover), parse.GetValue(_seed));
    }

    /// <summary>The options every scenario takes.</summary>
    private sealed class SharedOptions
    {
        private readonly Argument<string> _url;
        private readonly Option<ClientKind> _client = new("--client")
        {
            Description = "fast (this tool's own client), clientwebsocket (the runtime's, to cross-check), raw (plain TCP, for the raw Kestrel echo).",
            DefaultValueFactory = _ => ClientKind.Fast,
        };
        private readonly Option<double> _duration;
        private readonly Option<double> _warmup;
        private readonly Option<int?> _serverPid = new("--server-pid") { Description = "PID of the server: its CPU time and memory are read from /proc." };
        private readonly Option<string?> _json = new("--json") { Description = "Write the result to this JSON file." };
        private readonly Option<string> _label = new("--label") { Description = "Name of the server under test, for the report.", DefaultValueFactory = _ => "server" };
        private readonly Option<bool> _allowRemote = new("--allow-remote") { Description = "Allow a target that is not on loopback." };
        private readonly Option<bool> _verifyCertificate = new("--verify-certificate") { Description = "Check the server's TLS certificate (default: accept any, for self-signed test servers)." };
        private readonly Option<int?> _receiveBuffer = new("--receive-buffer") { Description = "Receive buffer bytes per connection." };
        private readonly Option<bool> _serverAllocations = new("--server-allocations")
        {
            Description = "With --server-pid (a .NET server): sample what the server allocates while measured, by type, over EventPipe " +
                "(GC AllocationTick events); reported per message or handshake. The session costs the server a little: leave it off for speed figures.",
        };

        public SharedOptions(string url, double duration, double warmup)
        {
            _url = new Argument<string>("url") { Description = "ws://, wss:// (or tcp:// for --client raw) address.", DefaultValueFactory = _ => url };
            _duration = new Option<double>("--duration", "-d") { Description = "Seconds measured (after the warm-up).", DefaultValueFactory = _ => duration };
            _warmup = new Option<double>("--warmup", "-w") { Description = "Seconds of load before measuring (not counted).", DefaultValueFactory = _ => warmup };
        }

        public void AddTo(Command command)
        {
            command.Arguments.Add(_url);
            foreach (var option in new Option[] { _client, _duration, _warmup, _serverPid, _json, _label, _allowRemote, _verifyCertificate, _receiveBuffer, _serverAllocations })
            {
                command.Options.Add(option);
            }
        }

        public CommonSettings Read(System.CommandLine.ParseResult parse)
        {
            var duration = parse.GetValue(_duration);
            var warmup = parse.GetValue(_warmup);
            if (duration < 0 || warmup < 0 || duration > 3600 || warmup > 3600)
            {
                throw new UsageException("--duration and --warmup are seconds between 0 and 3600.");
            }

            if (parse.GetValue(_serverAllocations) && parse.GetValue(_serverPid) is null)
            {
                throw new UsageException("--server-allocations needs --server-pid (the server's process id).");
            }

            return new CommonSettings(
                parse.GetValue(_url)!,
                parse.GetValue(_client),
                duration,
                warmup,
                parse.GetValue(_serverPid),
                parse.GetValue(_json),
                parse.GetValue(_label)!,
                parse.GetValue(_allowRemote),
                !parse.GetValue(_verifyCertificate),
                parse.GetValue(_receiveBuffer),
                parse.GetValue(_serverAllocations));
        }
    }
}
