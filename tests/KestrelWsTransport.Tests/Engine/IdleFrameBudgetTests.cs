using System.Reflection;
using System.Runtime.CompilerServices;
using KestrelWsTransport.Connection;

namespace KestrelWsTransport.Tests.Engine;

/// <summary>
/// The async frames an idle WebSocket keeps alive for its whole life: the waiting receive and the connection-level
/// session. Their fields are memory per idle connection (docs/benchmarks.md, "Idle memory"), and the compiler adds one
/// silently (a local that becomes live across an await, a new awaiter type), so their size is pinned here.
/// </summary>
[TestFixture]
internal sealed class IdleFrameBudgetTests
{
    private static int FieldBytes(Type owner, string method)
    {
        var stateMachine = owner.GetNestedTypes(BindingFlags.NonPublic)
            .Single(t => t.Name.StartsWith($"<{method}>", StringComparison.Ordinal) && typeof(IAsyncStateMachine).IsAssignableFrom(t));
        var sizeOf = typeof(Unsafe).GetMethod(nameof(Unsafe.SizeOf))!;
        return stateMachine.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic)
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
        // state, builder, context, this, the sniffed head, one ValueTask awaiter, connection, endpoint, close code, and the
        // compiler's two slots for the finally around the handler.
        Assert.That(FieldBytes(typeof(WebSocketUpgradeMiddleware), "OnConnectionAsync"), Is.LessThanOrEqualTo(84));
    }
}
