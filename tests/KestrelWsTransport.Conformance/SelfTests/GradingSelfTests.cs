using System.Net.Sockets;
using KestrelWsTransport.Conformance.Cases;
using KestrelWsTransport.Conformance.Client;

namespace KestrelWsTransport.Conformance.SelfTests;

/// <summary>
/// The suite graded against servers that are wrong on purpose: a conformance suite is only worth its green if it can
/// go red. Each test runs one real case against a <see cref="FakeServer"/> with one flaw and checks the grade.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class GradingSelfTests
{
    /// <summary>Echoes data frames and answers pings and closes, but checks nothing (no UTF-8 validation, no RSV check).</summary>
    private static async Task NaiveEcho(NetworkStream stream, bool maskFrames, bool dropAfterClose)
    {
        while (await FakeServer.ReadFrameAsync(stream) is { } frame)
        {
            switch (frame.Opcode)
            {
                case FrameEncoder.Text or FrameEncoder.Binary:
                    await FakeServer.WriteFrameAsync(stream, frame.Opcode, frame.Payload, maskFrames);
                    break;
                case FrameEncoder.Ping:
                    await FakeServer.WriteFrameAsync(stream, FrameEncoder.Pong, frame.Payload, maskFrames);
                    break;
                case FrameEncoder.Close:
                    await FakeServer.WriteFrameAsync(stream, FrameEncoder.Close, frame.Payload.Length >= 2 ? frame.Payload[..2] : [], maskFrames);
                    if (dropAfterClose)
                    {
                        return;
                    }

                    break;
            }
        }
    }

    private static async Task<CaseResult> RunAsync(string id, Func<NetworkStream, Task> behavior)
    {
        await using var server = FakeServer.Start(behavior);
        var result = await CaseRun.ExecuteAsync(CaseRegistry.Get(id), server.EndPoint);
        TestContext.Out.WriteLine(result.FailureMessage());
        return result;
    }

    [Test]
    public async Task AnEchoServerThatFollowsTheBasicsPasses()
    {
        var result = await RunAsync("1.1.2", s => NaiveEcho(s, maskFrames: false, dropAfterClose: true));
        Assert.That(result.Grade, Is.EqualTo(Grade.Ok), result.Reason);
    }

    [Test]
    public async Task EchoingInvalidUtf8Fails()
    {
        var result = await RunAsync("6.3.1", s => NaiveEcho(s, maskFrames: false, dropAfterClose: true));
        Assert.That(result.Grade, Is.EqualTo(Grade.Failed));
        Assert.That(result.Reason, Does.Contain("not valid UTF-8"));
    }

    [Test]
    public async Task MaskedServerFramesFail()
    {
        var result = await RunAsync("1.1.2", s => NaiveEcho(s, maskFrames: true, dropAfterClose: true));
        Assert.That(result.Grade, Is.EqualTo(Grade.Failed));
        Assert.That(result.Reason, Does.Contain("masked"));
    }

    [Test]
    public async Task NotDroppingTcpAfterTheClosingHandshakeFailsAsUnclean()
    {
        var result = await RunAsync("7.3.3", s => NaiveEcho(s, maskFrames: false, dropAfterClose: false));
        Assert.That(result.Grade, Is.EqualTo(Grade.Failed));
        Assert.That(result.CloseBehavior, Does.StartWith("UNCLEAN"));
    }

    [Test]
    public async Task IgnoringAProtocolErrorFailsAsHung()
    {
        var result = await RunAsync("3.1", async s =>
        {
            while (await FakeServer.ReadFrameAsync(s) is not null)
            {
            }
        });
        Assert.That(result.Grade, Is.EqualTo(Grade.Failed));
        Assert.That(result.Reason, Does.Contain("hung"));
    }

    /// <summary>Fails every connection with 1000 instead of the code the RFC names.</summary>
    private static async Task CloseWith1000(NetworkStream stream)
    {
        if (await FakeServer.ReadFrameAsync(stream) is not null)
        {
            await FakeServer.WriteFrameAsync(stream, FrameEncoder.Close, FakeServer.CloseCode(1000));
        }
    }

    [Test]
    public async Task AWrongCloseCodeIsNonStrictOutsideSection7()
    {
        var result = await RunAsync("3.1", CloseWith1000);
        Assert.That(result.Grade, Is.EqualTo(Grade.NonStrict));
        Assert.That(result.CloseBehavior, Does.StartWith("WRONG CODE"));
    }

    [Test]
    public async Task AWrongCloseCodeFailsInSection7()
    {
        var result = await RunAsync("7.9.1", CloseWith1000);
        Assert.That(result.Grade, Is.EqualTo(Grade.Failed));
        Assert.That(result.Reason, Does.Contain("close code should have been 1002"));
    }
}
