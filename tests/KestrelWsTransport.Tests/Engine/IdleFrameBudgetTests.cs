using System.Reflection;
using System.Runtime.CompilerServices;
using KestrelWsTransport.Connection;

namespace KestrelWsTransport.Tests.Engine;

/// <summary>
/// What an idle WebSocket keeps alive for its whole life: the waiting receive's and the connection-level session's async
/// frames, the connection and its request. Their fields are memory per idle connection (docs/benchmarks.md, "Idle
/// memory"), and they grow silently (a local that becomes live across an await, a new awaiter type, a field added for a
/// rare path), so their size is pinned here.
/// </summary>
[TestFixture]
internal sealed class IdleFrameBudgetTests
{
    private static int FieldBytes(Type owner, string method)
    {
        var stateMachine = owner.GetNestedTypes(BindingFlags.NonPublic)
            .Single(t => t.Name.StartsWith($"<{method}>", StringComparison.Ordinal) && typeof(IAsyncStateMachine).IsAssignableFrom(t));
        return FieldBytes(stateMachine);
    }

    private static int FieldBytes(Type type)
    {
        var sizeOf = typeof(Unsafe).GetMethod(nameof(Unsafe.SizeOf))!;
        return type.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic)
            .Sum(f => f.FieldType.IsValueType ? (int)sizeOf.MakeGenericMethod(f.FieldType).Invoke(null, null)! : IntPtr.Size);
    }

    [Test]
    public void TheWaitingReceiveHoldsOnlyItsBuilderTokenAndTwoAwaiters()
    {
        // state 4, builder 48 (box + the 40-byte result slot), this 8, token 8, the ValueTask awaiter 16, the
        // ValueTask<ReadResult> awaiter 48.
        Assert.That(FieldBytes(typeof(WebSocketConnection), "ReceiveCoreAsync"), Is.LessThanOrEqualTo(132));
    }

    [Test]
    public void TheConnectionLevelSessionFrameStaysSmall()
    {
        // state 4, builder 8, context 8, this 8, the sniffed head 8, one ValueTask awaiter 16, connection 8, close code 4.
        // (The endpoint is not kept, and the session ends after the catch, not in a finally, which would add two slots.)
        Assert.That(FieldBytes(typeof(WebSocketUpgradeMiddleware), "OnConnectionAsync"), Is.LessThanOrEqualTo(64));
    }

    [Test]
    public void TheConnectionKeepsTheStateOfRarePathsOutOfLine()
    {
        // 232 bytes of fields today (248-byte object); fragment assembly, inflation, receiving in parts, partial text
        // checks, close reasons and the adapter live in UncommonState, allocated only when used.
        Assert.That(FieldBytes(typeof(WebSocketConnection)), Is.LessThanOrEqualTo(232));
    }

    [Test]
    public void TheRequestCopiesNothingKestrelKeeps()
    {
        // The connection (Kestrel's context, read when asked), the handshake's rare parts, path, route: 28 bytes (48-byte object).
        Assert.That(FieldBytes(typeof(WebSocketRequest)), Is.LessThanOrEqualTo(32));
    }

    [Test]
    public async Task PlainMessagesAndPingsNeverAllocateTheRarePathState()
    {
        await using var harness = new Engine.EngineHarness();
        var uncommon = typeof(WebSocketConnection).GetField("_uncommon", BindingFlags.Instance | BindingFlags.NonPublic)!;
        for (var i = 0; i < 3; i++)
        {
            await harness.SendAsync(
                Infrastructure.FrameBuilder.TextFrame("hello"),
                Infrastructure.FrameBuilder.Build(Infrastructure.FrameBuilder.Ping, [1, 2]),
                Infrastructure.FrameBuilder.BinaryFrame(new byte[300]));
            Assert.That((await harness.ReceiveAsync()).MessageType, Is.EqualTo(System.Net.WebSockets.WebSocketMessageType.Text));
            Assert.That((await harness.ReceiveAsync()).MessageType, Is.EqualTo(System.Net.WebSockets.WebSocketMessageType.Binary));
            await harness.Connection.SendAsync(new byte[10], System.Net.WebSockets.WebSocketMessageType.Binary, true, CancellationToken.None);
        }

        Assert.That(uncommon.GetValue(harness.Connection), Is.Null, "whole plain messages, pings and sends");

        // A fragmented message is a rare path: it does allocate it (so this test can see the field at all).
        await harness.SendAsync(
            Infrastructure.FrameBuilder.Build(Infrastructure.FrameBuilder.Text, "frag"u8.ToArray(), fin: false),
            Infrastructure.FrameBuilder.Build(Infrastructure.FrameBuilder.Continuation, "ment"u8.ToArray()));
        Assert.That((await harness.ReceiveAsync()).GetText(), Is.EqualTo("fragment"));
        Assert.That(uncommon.GetValue(harness.Connection), Is.Not.Null);
    }
}
