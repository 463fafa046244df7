namespace KestrelWsTransport.Framing;

internal enum FrameReadStatus
{
    /// <summary>Not all header bytes are there yet.</summary>
    NeedMoreData,

    /// <summary>A valid header was read.</summary>
    Header,

    /// <summary>The header breaks the protocol or a limit; the close code says which.</summary>
    Error,
}
