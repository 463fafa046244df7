using System.Text;
using Microsoft.AspNetCore.Http;

namespace KestrelWsTransport.Handshake;

/// <summary>
/// The handshake rules of <see cref="HeaderValidator"/> applied to a request that came through Kestrel's HTTP pipeline:
/// same origin policy, same subprotocol choice, same key check (HTTP/1.1 only: RFC 8441 has no key), same answers.
/// </summary>
internal static class HttpHandshakeValidator
{
    public static HandshakeRejection Validate(HttpRequest request, WebSocketEndpoint endpoint, WebSocketTransportOptions options, bool http2, ref HandshakeResult result)
    {
        var headers = request.Headers;
        if (!http2)
        {
            if (!Contains(headers.Connection, "upgrade"u8))
            {
                return HandshakeRejection.MissingConnectionUpgrade;
            }

            var key = headers.SecWebSocketKey;
            if (key.Count != 1 || !WebSocketAccept.TryCompute(Encoding.ASCII.GetBytes(key.ToString().Trim()), result.Accept))
            {
                return HandshakeRejection.InvalidKey;
            }
        }

        var version = headers.SecWebSocketVersion;
        if (version.Count == 0)
        {
            return HandshakeRejection.MissingVersion;
        }

        if (version.Count != 1 || version.ToString().Trim() != "13")
        {
            return HandshakeRejection.UnsupportedVersion;
        }

        var allowedOrigins = endpoint.Options.AllowedOrigins ?? options.AllowedOrigins;
        var origin = headers.Origin;
        if (allowedOrigins.Count > 0 && origin.Count > 0 && !HeaderValidator.IsAllowedOrigin(Encoding.UTF8.GetBytes(origin.ToString()), allowedOrigins))
        {
            return HandshakeRejection.OriginNotAllowed;
        }

        var protocols = endpoint.Options.SubProtocols ?? options.SubProtocols;
        var best = int.MaxValue;
        if (protocols.Count > 0)
        {
            foreach (var line in headers.SecWebSocketProtocol)
            {
                best = HeaderValidator.ChooseProtocol(Encoding.ASCII.GetBytes(line ?? string.Empty), protocols, best);
            }
        }

        result.SubProtocol = best == int.MaxValue ? null : protocols[best];

        var compression = endpoint.Options.Compression ?? options.Compression;
        if (compression.Enabled && Compression.ZLibNative.IsAvailable)
        {
            foreach (var line in headers.SecWebSocketExtensions)
            {
                if (line is not null && Compression.DeflateNegotiation.TryNegotiate(Encoding.ASCII.GetBytes(line), compression, out var deflate))
                {
                    result.Deflate = deflate;
                    break;
                }
            }
        }
        result.Endpoint = endpoint;
        result.QueryString = request.QueryString.HasValue ? request.QueryString.Value![1..] : null;

        var captured = endpoint.Options.CapturedHeaders;
        if (captured.Count > 0)
        {
            var all = captured.Contains("*");
            foreach (var header in headers)
            {
                if (all || captured.Contains(header.Key))
                {
                    foreach (var value in header.Value)
                    {
                        (result.CapturedHeaders ??= new()).Add(new(header.Key, value ?? string.Empty));
                    }
                }
            }
        }

        return HandshakeRejection.None;
    }

    private static bool Contains(Microsoft.Extensions.Primitives.StringValues values, ReadOnlySpan<byte> token)
    {
        foreach (var value in values)
        {
            if (value is not null && HeaderValidator.ContainsToken(Encoding.ASCII.GetBytes(value), token))
            {
                return true;
            }
        }

        return false;
    }
}
