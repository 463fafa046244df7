using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace LoadTool.Content;

/// <summary>
/// Realistic JSON messages for compression figures: market-data quotes with their recent trades (about 70%) and chat
/// messages (about 30%), 200 to 1000 bytes, every value varying (prices walk, sizes, ids, time stamps, words), all
/// drawn from one seed so every run sends the same bytes and compression ratios can be compared across runs and servers.
/// </summary>
internal static class JsonPayloads
{
    public const int DefaultSeed = 1;
    public const int DefaultCount = 4096;

    private static readonly string[] Symbols =
    [
        "AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META", "TSLA", "BRK.B", "JPM", "V", "UNH", "XOM", "JNJ", "WMT", "MA",
        "PG", "HD", "CVX", "MRK", "ABBV", "KO", "PEP", "COST", "AVGO", "ORCL", "ADBE", "CRM", "NFLX", "AMD", "INTC",
        "SAP.DE", "ASML.AS", "MC.PA", "NESN.SW", "SHEL.L", "7203.T", "0700.HK", "RY.TO", "BHP.AX", "VOW3.DE",
    ];

    private static readonly string[] Venues = ["XNAS", "XNYS", "ARCX", "BATS", "EDGX", "IEXG", "XETR", "XPAR", "XLON", "XTKS"];
    private static readonly string[] Conditions = ["regular", "odd_lot", "intermarket_sweep", "derivatively_priced", "extended_hours"];
    private static readonly string[] Rooms = ["#general", "#support-emea", "#release-2026-11", "#incident-4711", "#random", "#trading-desk", "#ops"];
    private static readonly string[] Names =
    [
        "Ana Souza", "Bjørn Larsen", "Chen Wei", "Dana Levi", "Emeka Obi", "François Dubois", "Gita Rao", "Hiro Tanaka",
        "Inés García", "Jonas Müller", "Kofi Mensah", "Lena Petrova", "Mateo Rossi", "Nadia Haddad", "Olga Nowak", "Priya Nair",
    ];

    private static readonly string[] Words =
    [
        "the", "deploy", "is", "green", "again", "can", "someone", "look", "at", "latency", "on", "the", "gateway", "after",
        "restart", "we", "saw", "p99", "spike", "around", "noon", "rollback", "done", "thanks", "for", "quick", "fix",
        "ticket", "updated", "with", "logs", "and", "heap", "dump", "café", "meeting", "moved", "to", "tomorrow", "naïve",
        "question", "why", "does", "the", "client", "reconnect", "every", "minute", "maybe", "keepalive", "timeout", "too",
        "short", "ok", "merging", "now", "👍", "price", "feed", "lagging", "behind", "exchange", "by", "two", "seconds",
        "checked", "config", "looks", "fine", "will", "retry", "build", "failed", "flaky", "test", "again", "sorry",
    ];

    /// <summary>Makes <paramref name="count"/> messages from <paramref name="seed"/>.</summary>
    public static byte[][] Generate(int seed, int count)
    {
        var random = new SplitMix((ulong)seed * 0x9E3779B97F4A7C15UL + 0x632BE59BD9B4E019UL);
        var prices = Symbols.Select((_, i) => 20.0 + random.NextDouble() * 480.0 + i).ToArray();
        var volumes = Symbols.Select(_ => (long)(random.NextDouble() * 5_000_000)).ToArray();
        var clock = new DateTime(2026, 11, 25, 14, 30, 0, DateTimeKind.Utc);
        var tradeId = 100_000_000L + (long)(random.NextDouble() * 1_000_000);
        var messages = new byte[count][];
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(2048);
        var options = new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        for (var i = 0; i < count; i++)
        {
            buffer.Clear();
            clock = clock.AddTicks((long)(random.NextDouble() * 40_000)); // up to 4 ms apart
            using (var json = new Utf8JsonWriter(buffer, options))
            {
                if (random.Next(10) < 7)
                {
                    WriteQuote(json, i, clock, random, prices, volumes, ref tradeId);
                }
                else
                {
                    WriteChat(json, i, clock, random);
                }
            }

            messages[i] = buffer.WrittenSpan.ToArray();
        }

        return messages;
    }

    private static void WriteQuote(Utf8JsonWriter json, int seq, DateTime clock, SplitMix random, double[] prices, long[] volumes, ref long tradeId)
    {
        var s = random.Next(Symbols.Length);
        // A random walk of a few basis points per update.
        prices[s] = Math.Max(1, prices[s] * (1 + (random.NextDouble() - 0.5) * 0.0008));
        var mid = prices[s];
        var spread = Math.Round(0.01 + random.NextDouble() * 0.04, 2);
        var trades = random.Next(7);
        json.WriteStartObject();
        json.WriteString("type", "quote");
        json.WriteNumber("seq", seq);
        json.WriteString("ts", clock.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture));
        json.WriteString("symbol", Symbols[s]);
        json.WriteString("venue", Venues[random.Next(Venues.Length)]);
        json.WriteString("currency", Symbols[s].Contains('.') ? "EUR" : "USD");
        json.WriteStartObject("bid");
        json.WriteNumber("px", Math.Round(mid - spread / 2, 2));
        json.WriteNumber("size", 100 * (1 + random.Next(40)));
        json.WriteNumber("orders", 1 + random.Next(12));
        json.WriteEndObject();
        json.WriteStartObject("ask");
        json.WriteNumber("px", Math.Round(mid + spread / 2, 2));
        json.WriteNumber("size", 100 * (1 + random.Next(40)));
        json.WriteNumber("orders", 1 + random.Next(12));
        json.WriteEndObject();
        volumes[s] += 100 * (1 + random.Next(50));
        json.WriteNumber("volume", volumes[s]);
        json.WriteNumber("vwap", Math.Round(mid * (1 + (random.NextDouble() - 0.5) * 0.002), 4));
        json.WriteStartArray("trades");
        for (var t = 0; t < trades; t++)
        {
            json.WriteStartObject();
            json.WriteString("id", "T" + (tradeId += 1 + random.Next(30)).ToString(CultureInfo.InvariantCulture));
            json.WriteNumber("px", Math.Round(mid + (random.NextDouble() - 0.5) * spread * 2, 2));
            json.WriteNumber("size", random.Next(4) == 0 ? 1 + random.Next(99) : 100 * (1 + random.Next(20)));
            json.WriteString("side", random.Next(2) == 0 ? "buy" : "sell");
            json.WriteString("condition", Conditions[random.Next(4) == 0 ? random.Next(Conditions.Length) : 0]);
            json.WriteNumber("offsetUs", random.Next(1_000_000));
            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteBoolean("halted", false);
        json.WriteEndObject();
    }

    private static void WriteChat(Utf8JsonWriter json, int seq, DateTime clock, SplitMix random)
    {
        var author = random.Next(Names.Length);
        var words = 4 + random.Next(60);
        var text = new System.Text.StringBuilder();
        for (var w = 0; w < words; w++)
        {
            if (w > 0)
            {
                text.Append(random.Next(12) == 0 ? ", " : " ");
            }

            text.Append(Words[random.Next(Words.Length)]);
        }

        text.Append(random.Next(3) == 0 ? "?" : ".");
        json.WriteStartObject();
        json.WriteString("type", "chat");
        json.WriteNumber("seq", seq);
        json.WriteString("ts", clock.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture));
        json.WriteString("room", Rooms[random.Next(Rooms.Length)]);
        json.WriteString("id", $"m-{random.NextUInt64() & 0xFFFFFFFFFFFFUL:x12}");
        json.WriteStartObject("user");
        json.WriteString("id", $"u-{10_000 + author * 7919 % 90_000}");
        json.WriteString("name", Names[author]);
        json.WriteString("role", author % 5 == 0 ? "moderator" : "member");
        json.WriteEndObject();
        json.WriteString("text", text.ToString());
        json.WriteStartArray("mentions");
        for (var m = random.Next(4) == 0 ? 1 + random.Next(2) : 0; m > 0; m--)
        {
            json.WriteStringValue("@" + Names[random.Next(Names.Length)].Split(' ')[0].ToLowerInvariant());
        }

        json.WriteEndArray();
        if (random.Next(3) == 0)
        {
            json.WriteStartObject("reactions");
            json.WriteNumber("👍", 1 + random.Next(9));
            if (random.Next(2) == 0)
            {
                json.WriteNumber("🎉", 1 + random.Next(4));
            }

            json.WriteEndObject();
        }

        json.WriteBoolean("edited", random.Next(10) == 0);
        json.WriteEndObject();
    }
}

/// <summary>SplitMix64: a small, fast generator whose sequence depends only on its seed (System.Random's may change).</summary>
internal sealed class SplitMix(ulong seed)
{
    private ulong _state = seed;

    public static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public ulong NextUInt64() => Mix(_state += 0x9E3779B97F4A7C15UL);

    /// <summary>0 &lt;= value &lt; <paramref name="bound"/>.</summary>
    public int Next(int bound) => (int)(NextUInt64() % (ulong)bound);

    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));
}
