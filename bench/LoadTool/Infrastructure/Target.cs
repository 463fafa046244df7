using System.Net;
using System.Net.Sockets;

namespace LoadTool.Infrastructure;

/// <summary>A resolved ws://, wss:// (or tcp:// for the raw client) address, refused unless on loopback.</summary>
internal sealed record Target(Uri Uri, IPEndPoint EndPoint, bool Secure, string HostHeader, string PathAndQuery)
{
    public static async Task<Target> ResolveAsync(string url, bool allowRemote, CancellationToken cancellationToken)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("ws" or "wss" or "tcp"))
        {
            throw new UsageException($"'{url}' is not a ws://, wss:// or tcp:// URL.");
        }

        var secure = uri.Scheme == "wss";
        var port = uri.IsDefaultPort ? (secure ? 443 : 80) : uri.Port;
        IPAddress[] addresses = IPAddress.TryParse(uri.IdnHost, out var literal)
            ? [literal]
            : await Dns.GetHostAddressesAsync(uri.IdnHost, cancellationToken).ConfigureAwait(false);
        if (addresses.Length == 0)
        {
            throw new UsageException($"'{uri.Host}' does not resolve.");
        }

        // Loopback only, unless told otherwise: this tool sends as much traffic as it can.
        if (!allowRemote && !addresses.All(IPAddress.IsLoopback))
        {
            throw new UsageException(
                $"'{uri.Host}' is not a loopback address ({string.Join(", ", addresses.Select(a => a.ToString()))}). " +
                "This load generator only targets this machine unless --allow-remote is given.");
        }

        var address = addresses.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork) ?? addresses[0];
        var hostHeader = uri.IsDefaultPort ? uri.Host : $"{uri.Host}:{uri.Port}";
        return new Target(uri, new IPEndPoint(address, port), secure, hostHeader, uri.PathAndQuery);
    }
}

/// <summary>A mistake in the command line or the environment: printed without a stack trace, exit code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);
