using System.Text;
using KestrelWsTransport.Compression;

namespace KestrelWsTransport.Fuzz;

/// <summary>
/// <see cref="DeflateNegotiation.TryNegotiate"/> on the input as a <c>Sec-WebSocket-Extensions</c> value, under several
/// server configurations: deterministic, equal to <see cref="Reference"/> (a string-based reading of RFC 7692 sections
/// 5 and 7.1), and an accepted answer (<see cref="DeflateParameters.ToResponse"/>) re-parses as an acceptable offer
/// that yields the same parameters.
/// </summary>
internal static class ExtensionsTarget
{
    private static readonly WebSocketCompressionOptions[] Configurations =
    [
        new() { Enabled = true },
        new() { Enabled = true, ServerMaxWindowBits = 10, ClientMaxWindowBits = 12, ServerContextTakeover = false, ClientContextTakeover = false },
        new() { Enabled = true, ServerMaxWindowBits = 9, ClientMaxWindowBits = 8 },
    ];

    private static readonly WebSocketCompressionOptions Permissive = new() { Enabled = true };

    public static void Run(byte[] input)
    {
        foreach (var options in Configurations)
        {
            var accepted = DeflateNegotiation.TryNegotiate(input, options, out var parameters);
            var again = DeflateNegotiation.TryNegotiate(input, options, out var parameters2);
            Check.Equal(accepted, again, "determinism (accepted)");
            Check.Equal(parameters, parameters2, "determinism (parameters)");

            var expectedAccepted = Reference(input, options, out var expected);
            Check.Equal(expectedAccepted, accepted, $"accepted vs reference (server {options.ServerMaxWindowBits}, client {options.ClientMaxWindowBits})");
            if (!accepted)
            {
                continue;
            }

            Check.Equal(expected, parameters, "parameters vs reference");
            Check.That(parameters.ServerMaxWindowBits is >= 9 and <= 15 && parameters.ServerMaxWindowBits <= options.ServerMaxWindowBits, "server window out of range");
            Check.That(parameters.ClientMaxWindowBits is >= 8 and <= 15, "client window out of range");

            var response = parameters.ToResponse();
            Check.That(DeflateNegotiation.TryNegotiate(Encoding.ASCII.GetBytes(response), Permissive, out var reparsed), $"answer '{response}' is not an acceptable offer");
            Check.Equal(parameters.ServerNoContextTakeover, reparsed.ServerNoContextTakeover, $"re-parse of '{response}': server_no_context_takeover");
            Check.Equal(parameters.ClientNoContextTakeover, reparsed.ClientNoContextTakeover, $"re-parse of '{response}': client_no_context_takeover");
            Check.Equal(parameters.ServerMaxWindowBits, reparsed.ServerMaxWindowBits, $"re-parse of '{response}': server_max_window_bits");
            Check.Equal(parameters.ClientMaxWindowBits, reparsed.ClientMaxWindowBits, $"re-parse of '{response}': client_max_window_bits");
        }
    }

    /// <summary>
    /// RFC 7692: offers are comma-separated, parameters semicolon-separated; the first offer whose name is
    /// permessage-deflate and whose parameters are all known, unique and valid, and that the server can honour, wins.
    /// </summary>
    internal static bool Reference(byte[] input, WebSocketCompressionOptions options, out DeflateParameters parameters)
    {
        parameters = default;
        var text = Encoding.Latin1.GetString(input);
        foreach (var offer in text.Split(','))
        {
            var parts = offer.Split(';').Select(p => p.Trim(' ', '\t')).ToArray();
            if (!parts[0].Equals("permessage-deflate", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            bool serverNoContext = false, clientNoContext = false, valid = true;
            int? serverBits = null, clientBits = null;
            var clientBitsNamed = false;
            foreach (var part in parts.Skip(1))
            {
                var eq = part.IndexOf('=');
                var name = (eq < 0 ? part : part[..eq]).Trim(' ', '\t').ToLowerInvariant();
                string? value = eq < 0 ? null : part[(eq + 1)..].Trim(' ', '\t');
                if (value is { Length: >= 2 } && value[0] == '"' && value[^1] == '"')
                {
                    value = value[1..^1];
                }

                if (!seen.Add(name))
                {
                    valid = false;
                    break;
                }

                switch (name)
                {
                    case "server_no_context_takeover" when value is null:
                        serverNoContext = true;
                        break;
                    case "client_no_context_takeover" when value is null:
                        clientNoContext = true;
                        break;
                    case "server_max_window_bits" when WindowBits(value) is { } bits:
                        serverBits = bits;
                        break;
                    case "client_max_window_bits" when value is null:
                        clientBitsNamed = true;
                        break;
                    case "client_max_window_bits" when WindowBits(value) is { } bits:
                        clientBitsNamed = true;
                        clientBits = bits;
                        break;
                    default:
                        valid = false;
                        break;
                }

                if (!valid)
                {
                    break;
                }
            }

            var server = Math.Min(serverBits ?? 15, options.ServerMaxWindowBits);
            if (!valid || server < 9)
            {
                continue;
            }

            var client = clientBitsNamed ? Math.Min(clientBits ?? 15, options.ClientMaxWindowBits) : 15;
            parameters = new DeflateParameters(
                serverNoContext || !options.ServerContextTakeover,
                clientNoContext || !options.ClientContextTakeover,
                server,
                client,
                serverBits is not null);
            return true;
        }

        return false;
    }

    /// <summary>1*DIGIT, 8 to 15, no leading zero.</summary>
    private static int? WindowBits(string? value) =>
        value is not null && value.Length is 1 or 2 && value.All(char.IsAsciiDigit) && value[0] != '0'
        && int.Parse(value) is var bits && bits is >= 8 and <= 15 ? bits : null;
}
