using System.Buffers;
using System.Net.WebSockets;
using System.Runtime.CompilerServices;

namespace KestrelWsTransport.Tests.Engine;

/// <summary>The message struct every receive returns: its size (it is copied per message) and its close fields.</summary>
[TestFixture]
internal sealed class WebSocketMessageTests
{
    [Test]
    public void IsFortyBytes() => Assert.That(Unsafe.SizeOf<WebSocketMessage>(), Is.EqualTo(40));

    [Test]
    public void DataAndDefaultMessagesHaveNoCloseStatus()
    {
        Assert.That(default(WebSocketMessage).CloseStatus, Is.Null);
        var data = new WebSocketMessage(WebSocketMessageType.Binary, new ReadOnlySequence<byte>(new byte[] { 1, 2 }));
        Assert.That(data.CloseStatus, Is.Null);
        Assert.That(data.IsClose, Is.False);
        Assert.That(data.Payload.Length, Is.EqualTo(2));
    }

    [TestCase(WebSocketCloseStatus.NormalClosure)]
    [TestCase(WebSocketCloseStatus.Empty)]
    [TestCase((WebSocketCloseStatus)4999)]
    public void CloseMessagesKeepTheirCodeAndReason(WebSocketCloseStatus status)
    {
        var close = new WebSocketMessage(status, "bye");
        Assert.That(close.IsClose, Is.True);
        Assert.That(close.CloseStatus, Is.EqualTo(status));
        Assert.That(close.CloseDescription, Is.EqualTo("bye"));
    }
}
