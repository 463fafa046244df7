using System.Buffers;
using System.Net.WebSockets;
using System.Text;

namespace KestrelWsTransport;

/// <summary>
/// One whole message. Its <see cref="Payload"/> is valid only until the next call to
/// <see cref="WebSocketConnection.ReceiveAsync"/> on the same connection (or until the connection ends): it may point
/// straight into the connection's input buffer. Copy what you need to keep.
/// </summary>
public readonly struct WebSocketMessage
{
    // The close code plus one as a plain int (0, the default: none) rather than a nullable: 40 bytes instead of 48 for
    // a struct that every receive returns and copies, and that the handler's state machine and the ValueTask carry.
    private readonly int _closeStatus;

    internal WebSocketMessage(WebSocketMessageType messageType, ReadOnlySequence<byte> payload)
    {
        MessageType = messageType;
        Payload = payload;
        _closeStatus = 0;
        CloseDescription = null;
    }

    internal WebSocketMessage(WebSocketCloseStatus closeStatus, string? closeDescription)
    {
        MessageType = WebSocketMessageType.Close;
        Payload = default;
        _closeStatus = (int)closeStatus + 1;
        CloseDescription = closeDescription;
    }

    /// <summary>Text, Binary, or Close once the connection is closing or closed.</summary>
    public WebSocketMessageType MessageType { get; }

    /// <summary>The message bytes (unmasked). Empty for Close.</summary>
    public ReadOnlySequence<byte> Payload { get; }

    /// <summary>
    /// For Close: the close code of the connection, the first one recorded: 1000-4999 as the peer sent it;
    /// <see cref="WebSocketCloseStatus.Empty"/> (1005) if it sent none; 1002/1007/1009 if the server failed the
    /// connection; the server's own code if the server closed first; 1006 if the connection ended without any close.
    /// </summary>
    public WebSocketCloseStatus? CloseStatus => _closeStatus == 0 ? null : (WebSocketCloseStatus)(_closeStatus - 1);

    /// <summary>For Close: the reason text, if any.</summary>
    public string? CloseDescription { get; }

    /// <summary>Whether this is the end of the conversation rather than data.</summary>
    public bool IsClose => MessageType == WebSocketMessageType.Close;

    /// <summary>Decodes the payload as UTF-8 (text payloads have already been validated). Allocates the string.</summary>
    public string GetText() => Encoding.UTF8.GetString(Payload);
}
