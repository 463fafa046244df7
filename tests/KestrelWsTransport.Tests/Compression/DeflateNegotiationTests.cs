using System.Text;
using KestrelWsTransport.Compression;

namespace KestrelWsTransport.Tests.Compression;

/// <summary>RFC 7692 sections 5 and 7.1: which offer is accepted, and what the server answers.</summary>
[TestFixture]
public class DeflateNegotiationTests
{
    private static string? Negotiate(string header, Action<WebSocketCompressionOptions>? configure = null)
    {
        var options = new WebSocketCompressionOptions { Enabled = true };
        configure?.Invoke(options);
        return DeflateNegotiation.TryNegotiate(Encoding.ASCII.GetBytes(header), options, out var parameters) ? parameters.ToResponse() : null;
    }

    [TestCase("permessage-deflate", "permessage-deflate")]
    [TestCase("permessage-deflate; client_max_window_bits", "permessage-deflate")]
    [TestCase("PerMessage-Deflate ;  server_no_context_takeover ; client_no_context_takeover", "permessage-deflate; server_no_context_takeover; client_no_context_takeover")]
    [TestCase("permessage-deflate; server_max_window_bits=10", "permessage-deflate; server_max_window_bits=10")]
    [TestCase("permessage-deflate; server_max_window_bits=15", "permessage-deflate; server_max_window_bits=15")]
    [TestCase("permessage-deflate; server_max_window_bits=\"12\"", "permessage-deflate; server_max_window_bits=12")]
    [TestCase("permessage-deflate; client_max_window_bits=9", "permessage-deflate; client_max_window_bits=9")]
    [TestCase("x-webkit-deflate-frame, permessage-deflate; client_max_window_bits", "permessage-deflate")]
    [TestCase("permessage-deflate; unknown_param, permessage-deflate; server_no_context_takeover", "permessage-deflate; server_no_context_takeover")]
    [TestCase("permessage-deflate; server_no_context_takeover; server_no_context_takeover, permessage-deflate", "permessage-deflate")]
    public void AcceptsTheFirstValidOffer(string header, string expected) => Assert.That(Negotiate(header), Is.EqualTo(expected));

    [TestCase("permessage-deflate; client_max_window_bits=abc")]
    [TestCase("permessage-deflate; client_max_window_bits=16")]
    [TestCase("permessage-deflate; client_max_window_bits=7")]
    [TestCase("permessage-deflate; client_max_window_bits=09")]
    [TestCase("permessage-deflate; server_max_window_bits")]
    [TestCase("permessage-deflate; server_max_window_bits=8")]
    [TestCase("permessage-deflate; server_no_context_takeover=1")]
    [TestCase("permessage-deflate; client_max_window_bits; client_max_window_bits")]
    [TestCase("permessage-deflate; constructor")]
    [TestCase("permessage-deflate; __proto__=1")]
    [TestCase("x-webkit-deflate-frame")]
    [TestCase("")]
    public void DeclinesOffersItCannotHonour(string header) => Assert.That(Negotiate(header), Is.Null);

    [Test]
    public void ServerOptionsShapeTheAnswer()
    {
        var answer = Negotiate("permessage-deflate; client_max_window_bits", o =>
        {
            o.ServerContextTakeover = false;
            o.ClientContextTakeover = false;
            o.ServerMaxWindowBits = 11;
            o.ClientMaxWindowBits = 10;
        });
        Assert.That(answer, Is.EqualTo("permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=11; client_max_window_bits=10"));
    }

    [Test]
    public void ClientWindowIsOnlyLimitedWhenTheClientSaidItCanBe()
    {
        Assert.That(Negotiate("permessage-deflate", o => o.ClientMaxWindowBits = 10), Is.EqualTo("permessage-deflate"));
    }

    [Test]
    public void SmallerOfferedServerWindowWins()
    {
        Assert.That(Negotiate("permessage-deflate; server_max_window_bits=9", o => o.ServerMaxWindowBits = 12), Is.EqualTo("permessage-deflate; server_max_window_bits=9"));
    }
}
