using System.Buffers;
using System.IO.Pipelines;
using System.Net.WebSockets;
using KestrelWsTransport.Diagnostics;
using Microsoft.Extensions.Logging.Abstractions;

namespace KestrelWsTransport.Tests.Engine;

/// <summary>
/// A send whose connection is aborted between taking the output's memory and committing it (a slow broadcast
/// subscriber dropped at the outgoing limit while another send writes, seen 1 in 5 runs of
/// <c>HostilePeerTests.SlowSubscriberOfABroadcastIsDroppedAtTheOutgoingBufferLimit</c>): the pipe throws
/// ArgumentOutOfRangeException from Advance, and the caller must get the IOException of a send to a gone peer instead.
/// </summary>
[TestFixture]
internal sealed class AbortDuringWriteTests
{
    /// <summary>Aborts the connection when the engine asks for memory, then refuses the commit as a reset pipe does.</summary>
    private sealed class AbortingWriter(PipeWriter inner) : PipeWriter
    {
        public WebSocketConnection? Connection { get; set; }

        private bool _aborted;

        public override Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;

        public override Memory<byte> GetMemory(int sizeHint = 0)
        {
            var memory = inner.GetMemory(sizeHint);
            if (!_aborted && Connection is not null)
            {
                _aborted = true;
                Connection.Abort();
            }

            return memory;
        }

        public override void Advance(int bytes)
        {
            if (_aborted)
            {
                throw new ArgumentOutOfRangeException(nameof(bytes));
            }

            inner.Advance(bytes);
        }

        public override void CancelPendingFlush() => inner.CancelPendingFlush();

        public override void Complete(Exception? exception = null) => inner.Complete(exception);

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default) => inner.FlushAsync(cancellationToken);
    }

    [TestCase(false)]
    [TestCase(true)]
    public void ASendCutShortByAnAbortFailsWithIOException(bool viaTheQueuedPath)
    {
        var input = new Pipe();
        var output = new Pipe();
        var writer = new AbortingWriter(output.Writer);
        var request = new WebSocketRequest("test", "/echo", null, null, null, null, null, false, null, WebSocketRoute.Connection);
        var connection = new WebSocketConnection(
            new DuplexPipe(input.Reader, writer), request, new WebSocketTransportOptions(), new WebSocketTransportMetrics(null), NullLogger.Instance, transportOwner: null);
        writer.Connection = connection;

        var payload = new ReadOnlySequence<byte>(new byte[100_000]);
        var exception = Assert.CatchAsync(async () =>
        {
            if (viaTheQueuedPath)
            {
                // Two sends at once: the second waits for the lock and writes on the async path.
                var first = connection.SendAsync(payload, WebSocketMessageType.Binary, true);
                var second = connection.SendAsync(payload, WebSocketMessageType.Binary, true);
                await first;
                await second;
            }
            else
            {
                await connection.SendAsync(payload, WebSocketMessageType.Binary, true);
            }
        });

        Assert.That(exception, Is.InstanceOf<IOException>().Or.InstanceOf<InvalidOperationException>());
        Assert.That(exception, Is.Not.InstanceOf<ArgumentOutOfRangeException>());
        Assert.That(connection.State, Is.EqualTo(WebSocketState.Aborted));
    }
}
