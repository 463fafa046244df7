using System.Text;
using KestrelWsTransport.Conformance.Client;

namespace KestrelWsTransport.Conformance.SelfTests;

/// <summary>The client's own permessage-deflate pieces, checked without a server.</summary>
[TestFixture]
public sealed class DeflateClientTests
{
    [Test]
    public void MessagesRoundTripWithAndWithoutContextTakeover()
    {
        foreach (var noContext in new[] { false, true })
        {
            var agreement = new DeflateAgreement(noContext, noContext, 15, 15);
            using var sender = new DeflateCodec(agreement, offeredClientNoContextTakeover: noContext);
            using var receiver = new DeflateCodec(agreement, offeredClientNoContextTakeover: noContext);
            foreach (var text in new[] { "hello hello hello", string.Empty, "hello hello again", new string('x', 100_000) })
            {
                var message = Encoding.UTF8.GetBytes(text);
                var compressed = sender.Compress(message);
                Assert.That(compressed.AsSpan().EndsWith(new byte[] { 0x00, 0x00, 0xFF, 0xFF }), Is.False, "the sync-flush tail is removed");
                Assert.That(receiver.Decompress(compressed), Is.EqualTo(message), $"no context takeover: {noContext}, message: {text.Length} chars");
            }
        }
    }

    [Test]
    public void AnswersThatAcceptNoOfferAreRejected()
    {
        var offers = new[] { new DeflateOffer(RequestMaxWindowBits: 15) };
        Assert.That(() => DeflateAgreement.Parse("permessage-deflate", offers), Throws.InstanceOf<InvalidDataException>().With.Message.Contains("7.1.2.1"));
        Assert.That(DeflateAgreement.Parse("permessage-deflate; server_max_window_bits=12", offers)!.ServerMaxWindowBits, Is.EqualTo(12));
        Assert.That(() => DeflateAgreement.Parse("permessage-deflate; client_max_window_bits=9", [new DeflateOffer(AcceptMaxWindowBits: false)]), Throws.InstanceOf<InvalidDataException>());
        Assert.That(() => DeflateAgreement.Parse("permessage-deflate; x_unknown", [new DeflateOffer()]), Throws.InstanceOf<InvalidDataException>());
        Assert.That(DeflateAgreement.Parse(null, [new DeflateOffer()]), Is.Null);
    }
}
