namespace KestrelWsTransport.Handshake;

internal enum SniffOutcome
{
    /// <summary>Undecided: wait for more bytes.</summary>
    NeedMoreData,

    /// <summary>Not ours: hand the connection, with every byte unread, to HTTP.</summary>
    PassThrough,

    /// <summary>A valid upgrade on a mapped path: answer 101.</summary>
    Upgrade,

    /// <summary>An upgrade on a mapped path that breaks a rule or a limit: answer with an HTTP error and close.</summary>
    Reject,
}
