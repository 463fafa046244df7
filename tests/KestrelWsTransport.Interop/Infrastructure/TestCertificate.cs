using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace KestrelWsTransport.Interop.Infrastructure;

/// <summary>
/// A self-signed certificate for localhost, 127.0.0.1 and ::1, made by the test run (never a checked-in key) and written
/// to a temporary folder as a password-protected PKCS#12 file (for the sample) and a PEM certificate (for node's <c>ca</c>).
/// </summary>
public sealed class TestCertificate : IDisposable
{
    public const string Password = "interop-test-only";

    private TestCertificate(X509Certificate2 certificate, string directory)
    {
        Certificate = certificate;
        Directory = directory;
        PfxPath = Path.Combine(directory, "localhost.pfx");
        PemPath = Path.Combine(directory, "localhost.crt.pem");
        File.WriteAllBytes(PfxPath, certificate.Export(X509ContentType.Pkcs12, Password));
        File.WriteAllText(PemPath, certificate.ExportCertificatePem());
    }

    public X509Certificate2 Certificate { get; }

    public string Directory { get; }

    public string PfxPath { get; }

    public string PemPath { get; }

    /// <summary>The SHA-256 thumbprint clients pin instead of turning validation off.</summary>
    public string Thumbprint => Certificate.GetCertHashString(HashAlgorithmName.SHA256);

    public static TestCertificate Create()
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
        using var selfSigned = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        // Round-trip through PKCS#12 so the key is usable by SslStream on every platform.
        var certificate = X509CertificateLoader.LoadPkcs12(selfSigned.Export(X509ContentType.Pkcs12), null);
        var directory = Path.Combine(Path.GetTempPath(), "kestrelws-interop-" + Environment.ProcessId);
        System.IO.Directory.CreateDirectory(directory);
        return new TestCertificate(certificate, directory);
    }

    public void Dispose()
    {
        Certificate.Dispose();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
