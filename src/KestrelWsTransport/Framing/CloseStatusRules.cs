namespace KestrelWsTransport.Framing;

/// <summary>Which close codes may appear on the wire (RFC 6455 section 7.4).</summary>
internal static class CloseStatusRules
{
    /// <summary>
    /// Codes a peer may send: the defined 1000-1003 and 1007-1011, and 3000-4999 (registered and private use).
    /// 1004 is reserved, 1005, 1006 and 1015 must never be sent, and the rest below 3000 is unassigned.
    /// </summary>
    public static bool IsValidReceived(int code) => code switch
    {
        >= 3000 and <= 4999 => true,
        1000 or 1001 or 1002 or 1003 or 1007 or 1008 or 1009 or 1010 or 1011 => true,
        _ => false,
    };

    /// <summary>Codes the application may send: the same set (1005/1006/1015 are reports, not codes to send).</summary>
    public static bool IsValidToSend(int code) => IsValidReceived(code);
}
