using System.Buffers;
using System.Net.WebSockets;
using System.Text;

namespace KestrelWsTransport;

/// <summary>
/// One whole message, or with <see cref="WebSocketConnection.ReceivePartAsync"/> one part of a message. Its
/// <see cref="Payload"/> is valid only until the next receive on the same connection (or until the connection ends): it
/// may point straight into the connection's input buffer. Copy what you need to keep.
/// </summary>
public readonly struct WebSocketMessage
{
    // The close code plus one as a plain int (0, the default: none) rather than a nullable: 40 bytes instead of 48 for
    // a struct that every receive returns and copies, and that the handler's state machine and the ValueTask carry.
    // A data part that is not the end of its message keeps MorePartsFollow here (data has no close code).
    private readonly int _closeStatus;
    private const int MorePartsFollow = -1;

    internal WebSocketMessage(WebSocketMessageType messageType, ReadOnlySequence<byte> payload)
    {
        MessageType = messageType;
        Payload = payload;
        _closeStatus = 0;
        CloseDescription = null;
    }

    internal WebSocketMessage(WebSocketMessageType messageType, ReadOnlySequence<byte> payload, bool endOfMessage)
    {
        MessageType = messageType;
        Payload = payload;
        _closeStatus = endOfMessage ? 0 : MorePartsFollow;
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
    public WebSocketCloseStatus? CloseStatus => _closeStatus <= 0 ? null : (WebSocketCloseStatus)(_closeStatus - 1);

    /// <summary>
    /// False for a part of a message that more parts follow (only from <see cref="WebSocketConnection.ReceivePartAsync"/>);
    /// true for a whole message, the last part of one, and Close.
    /// </summary>
    public bool EndOfMessage => _closeStatus != MorePartsFollow;

    /// <summary>For Close: the reason text, if any.</summary>
    public string? CloseDescription { get; }

    /// <summary>Whether this is the end of the conversation rather than data.</summary>
    public bool IsClose => MessageType == WebSocketMessageType.Close;

    /// <summary>Decodes the payload as UTF-8 (text payloads have already been validated). Allocates the string.</summary>
    public string GetText() => Encoding.UTF8.GetString(Payload);
}
