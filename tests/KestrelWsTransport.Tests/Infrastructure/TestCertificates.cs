using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace KestrelWsTransport.Tests.Infrastructure;

/// <summary>A self-signed localhost certificate made by the test run, never a checked-in key.</summary>
public static class TestCertificates
{
    private static readonly Lazy<X509Certificate2> s_localhost = new(Create);

    public static X509Certificate2 Localhost => s_localhost.Value;

    /// <summary>Writes the certificate with its key as a password-protected PKCS#12 file and returns its path.</summary>
    public static string WritePfx(string directory, string password)
    {
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, "localhost.pfx");
        File.WriteAllBytes(path, Localhost.Export(X509ContentType.Pkcs12, password));
        return path;
    }

    private static X509Certificate2 Create()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("localhost");
        san.AddIpAddress(System.Net.IPAddress.Loopback);
        san.AddIpAddress(System.Net.IPAddress.IPv6Loopback);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, false));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        // Round-trip through PKCS#12 so the key is usable by SslStream on every platform.
        return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), null);
    }
}
