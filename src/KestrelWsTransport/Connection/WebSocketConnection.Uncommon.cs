using System.Buffers;
using KestrelWsTransport.Framing;

namespace KestrelWsTransport;

public sealed partial class WebSocketConnection
{
    // Allocated the first time a connection takes one of the less common paths: a fragmented or compressed message, a
    // text frame validated while still arriving, a receive in parts, a close with a reason, the WebSocket adapter. An idle
    // connection, or one exchanging whole plain messages, never does, and every byte kept here instead of in the
    // connection is a byte less per idle WebSocket (about 90).
    private UncommonState? _uncommon;

    private UncommonState Uncommon => _uncommon ?? CreateUncommon();

    private UncommonState CreateUncommon()
    {
        // A close reason can be recorded by a send on another task while the receive starts a fragment: one of them wins
        // and both write into the winner.
        Interlocked.CompareExchange(ref _uncommon, new UncommonState(), null);
        return _uncommon!;
    }

    /// <summary>The state of the less common paths (see <see cref="_uncommon"/>); fields, for <c>ref</c> access.</summary>
    private sealed class UncommonState
    {
        // A fragmented message, assembled unmasked in pooled memory.
        public byte[]? Assembly;
        public int AssemblyLength;
        public int FragmentCount;
        public Opcode FragmentedOpcode;
        public bool FragmentedCompressed;

        // The inflated form of the last compressed message handed out.
        public byte[]? Inflated;

        // Payload bytes of the (incomplete) text frame at the front of the buffer that were already unmasked in place and
        // fed to the UTF-8 validator while the rest of the frame was still arriving: invalid UTF-8 fails the connection at
        // the bad byte, not when the frame completes (Autobahn 6.4.x). Zero when no frame is part-read. PartialEnd is where
        // those bytes end in the held sequence, so each new piece is found without walking the segments from the start (a
        // 16 MiB frame comes in thousands of 4 KiB segments). Binary frames are unmasked once whole: measured, unmasking
        // them piece by piece as they arrive made the 1 MiB bulk echo slower, not faster.
        public long PartialPayloadChecked;
        public SequencePosition PartialEnd;

        // The UTF-8 state of a text message checked piece by piece: its fragments, its parts, or a frame still arriving.
        public Utf8Validator Utf8;

        // Receiving in parts: payload bytes of the current frame still to come (its header is consumed), and the
        // announced payload bytes of the message in parts so far, for MaxMessageBytes.
        public long PartRemaining;
        public long PartMessageBytes;
        public int PartMaskKey;
        public byte PartMaskIndex;
        public Opcode PartOpcode;
        public bool PartFrameFin;

        // The close reason recorded with the close code, and the one every receive returns once the connection is over.
        public string? CloseDescription;
        public string? FinalDescription;

        public WebSocketAdapter? Adapter;
    }
}
