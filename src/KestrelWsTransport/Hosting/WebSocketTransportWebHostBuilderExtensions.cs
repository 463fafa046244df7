using System.Net;
using System.Security.Cryptography.X509Certificates;
using KestrelWsTransport;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Microsoft.AspNetCore.Hosting;

/// <summary>
/// Puts the WebSocket transport on every endpoint the host is configured with: <c>--urls</c> / <c>ASPNETCORE_URLS</c>,
/// <c>ASPNETCORE_HTTP_PORTS</c> / <c>HTTPS_PORTS</c>, and <c>Kestrel:Endpoints</c>, always after TLS.
/// </summary>
/// <remarks>
/// Why not <c>ConfigureEndpointDefaults</c>: Kestrel applies endpoint defaults before it adds TLS to a configured https
/// endpoint, so middleware added there sits in front of TLS and sees encrypted records. Instead, configured endpoints get
/// TLS added here first (with the certificate Kestrel loaded for them), then the transport; addresses from
/// <c>urls</c> and <c>*_PORTS</c> become code endpoints built the same way.
/// </remarks>
public static class WebSocketTransportWebHostBuilderExtensions
{
    private const string DefaultUrl = "http://localhost:5000";

    /// <summary>
    /// Serves WebSockets, at connection level, on every configured endpoint, with the options and endpoints registered
    /// through <c>services.AddWebSocketTransport(...)</c>. Without any configured address it listens on
    /// <c>http://localhost:5000</c>, as Kestrel would. An https address from <c>urls</c> uses the certificate in
    /// <c>Kestrel:Certificates:Default</c> (<c>Path</c> and <c>Password</c> for PKCS#12, or <c>Path</c> and <c>KeyPath</c>
    /// for PEM), else the ASP.NET Core development certificate. Endpoints in <c>Kestrel:Endpoints</c> that use SNI are
    /// refused at startup: the transport cannot be placed after SNI's TLS selection.
    /// </summary>
    public static IWebHostBuilder UseWebSocketTransport(this IWebHostBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);

        // Kestrel would bind the configured addresses itself (and warn that code endpoints override them): the filter
        // below empties its address list before it starts, since the endpoints made here already cover them.
        builder.ConfigureServices(services => services.AddSingleton<IStartupFilter, HostingUrlsHandledStartupFilter>());
        builder.ConfigureKestrel((context, kestrel) =>
        {
            var urls = context.Configuration[WebHostDefaults.ServerUrlsKey];
            var httpPorts = context.Configuration[WebHostDefaults.HttpPortsKey];
            var httpsPorts = context.Configuration[WebHostDefaults.HttpsPortsKey];
            var kestrelSection = context.Configuration.GetSection("Kestrel");
            var configured = kestrelSection.GetSection("Endpoints").GetChildren().ToList();
            if (configured.Count > 0)
            {
                var loader = kestrel.ConfigurationLoader ?? kestrel.Configure(kestrelSection, reloadOnChange: false);
                foreach (var endpoint in configured)
                {
                    loader.Endpoint(endpoint.Key, e => ConfigureEndpoint(endpoint.Key, e));
                }

                return;
            }

            foreach (var address in Addresses(urls, httpPorts, httpsPorts))
            {
                Listen(kestrel, kestrelSection, address);
            }
        });

        return builder;
    }

    private static void ConfigureEndpoint(string name, EndpointConfiguration endpoint)
    {
        if (endpoint.IsHttps)
        {
            if (endpoint.ConfigSection.GetSection("Sni").GetChildren().Any())
            {
                throw new InvalidOperationException($"Kestrel endpoint '{name}' uses SNI; the WebSocket transport cannot be placed after its TLS. Map it in code with ListenOptions.UseHttps(...).UseWebSocketTransport().");
            }

            endpoint.ListenOptions.UseHttps(endpoint.HttpsOptions);
        }

        endpoint.ListenOptions.UseWebSocketTransport();
    }

    private static IEnumerable<BindingAddress> Addresses(string? urls, string? httpPorts, string? httpsPorts)
    {
        var list = new List<string>();
        if (!string.IsNullOrWhiteSpace(urls))
        {
            list.AddRange(urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        }
        else
        {
            // ASPNETCORE_HTTP_PORTS / HTTPS_PORTS mean "any IP" on each port (.NET 8+ container defaults).
            if (!string.IsNullOrWhiteSpace(httpPorts))
            {
                list.AddRange(httpPorts.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(p => $"http://*:{p}"));
            }

            if (!string.IsNullOrWhiteSpace(httpsPorts))
            {
                list.AddRange(httpsPorts.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(p => $"https://*:{p}"));
            }
        }

        if (list.Count == 0)
        {
            list.Add(DefaultUrl);
        }

        return list.Select(BindingAddress.Parse);
    }

    private static void Listen(KestrelServerOptions kestrel, IConfigurationSection kestrelSection, BindingAddress address)
    {
        var https = string.Equals(address.Scheme, "https", StringComparison.OrdinalIgnoreCase);
        void Configure(ListenOptions listen)
        {
            if (https)
            {
                var certificate = LoadDefaultCertificate(kestrelSection.GetSection("Certificates:Default"));
                if (certificate is null)
                {
                    listen.UseHttps();
                }
                else
                {
                    listen.UseHttps(certificate);
                }
            }

            listen.UseWebSocketTransport();
        }

        if (address.IsUnixPipe)
        {
            kestrel.ListenUnixSocket(address.UnixPipePath, Configure);
        }
        else if (string.Equals(address.Host, "localhost", StringComparison.OrdinalIgnoreCase))
        {
            kestrel.ListenLocalhost(address.Port, Configure);
        }
        else if (IPAddress.TryParse(address.Host.Trim('[', ']'), out var ip))
        {
            kestrel.Listen(ip, address.Port, Configure);
        }
        else
        {
            // "*", "+" and host names bind every interface, as Kestrel does for them.
            kestrel.ListenAnyIP(address.Port, Configure);
        }
    }

    private static X509Certificate2? LoadDefaultCertificate(IConfigurationSection section)
    {
        var path = section["Path"];
        if (string.IsNullOrEmpty(path))
        {
            return null;
        }

        var keyPath = section["KeyPath"];
        var password = section["Password"];
        if (!string.IsNullOrEmpty(keyPath))
        {
            return password is null
                ? X509Certificate2.CreateFromPemFile(path, keyPath)
                : X509Certificate2.CreateFromEncryptedPemFile(path, password, keyPath);
        }

        return X509CertificateLoader.LoadPkcs12FromFile(path, password);
    }

    /// <summary>Runs after the host copied <c>urls</c> into the server's address list and before the server starts.</summary>
    private sealed class HostingUrlsHandledStartupFilter : IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            var addresses = app.ServerFeatures.Get<IServerAddressesFeature>()?.Addresses;
            if (addresses is { IsReadOnly: false })
            {
                addresses.Clear();
            }

            next(app);
        };
    }
}
